//! The database of an admin command. Only `authd migrate` may create one:
//! every other command run against a SQLite file that does not exist (the
//! wrong directory, a typo in the path) would otherwise create an empty
//! database there, migrate it, and report an empty success.

use std::sync::Arc;

use super::{CliError, Context};
use crate::store::{self, Role, Store};

/// Opens the configured database for an admin command, with its schema
/// current; a missing SQLite file is a configuration error naming the path
/// and where it came from.
pub fn open_current(context: &Context) -> Result<Arc<dyn Store>, CliError> {
    require_existing(context)?;
    Ok(store::open_current(&context.config, Role::Admin)?)
}

/// Opens the configured database for an admin command without looking at
/// its schema; a missing SQLite file is an error as in [`open_current`].
pub fn open_existing(context: &Context) -> Result<Arc<dyn Store>, CliError> {
    require_existing(context)?;
    Ok(store::open(&context.config)?)
}

fn require_existing(context: &Context) -> Result<(), CliError> {
    let Some(path) = store::sqlite_file(&context.config) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    let absolute = std::path::absolute(&path).unwrap_or(path);
    let chosen = match &context.database_url_source {
        Some(source) => format!("database.url from {source}"),
        None => format!(
            "the default database.url {}, relative to the working directory",
            crate::config::Config::default().database.url.expose()
        ),
    };
    Err(CliError::Usage(format!(
        "no SQLite database at {} ({chosen}): point DATABASE_URL or database.url at the existing file, or run `authd migrate` to create a new one",
        absolute.display()
    )))
}
