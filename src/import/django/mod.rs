//! `authd import django`: accounts, password hashes and the token blacklist
//! of the Django REST Framework + SimpleJWT service, so its users switch to
//! authd without a password reset and without being logged out.
//!
//! A [`Source`] (the Django database itself, `database`, or a `manage.py
//! dumpdata` file, `dumpdata`) yields rows in batches; each row is mapped
//! into an [`ImportedUser`] (`mapping`) or rejected with a reason, and each
//! batch is written in one transaction by the store, keeping the Django ids.
//! Password hashes are copied, never computed: they are verified and
//! replaced by argon2id at each user's first login. SimpleJWT's blacklist
//! (`blacklist`) is copied too, so a token revoked before the switch stays
//! revoked. Running the import again is safe: existing ids are skipped,
//! updated or stop the import (`--on-conflict`).

mod blacklist;
mod database;
mod dumpdata;
mod mapping;

use serde::Serialize;

use crate::domain::UserId;
use crate::store::{
    ImportOutcome, ImportedUser, LegacyBlacklistEntry, OnConflict, Store, StoreError,
};

pub use blacklist::BlacklistedToken;
pub use database::DatabaseSource;
pub use dumpdata::DumpdataSource;
pub use mapping::{DjangoUser, Rejected};

/// Why an import could not run (rows that cannot be imported are not
/// errors: they are listed in the report).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input is not what an import needs (no user table, unreadable file).
    #[error("{0}")]
    Input(String),
    /// The Django database could not be read.
    #[error("cannot read the Django database: {0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("user id {0} exists already (--on-conflict fail): the import stopped at its batch; rerun with --on-conflict skip or update")]
    Conflict(UserId),
}

/// Where rows come from.
pub trait Source {
    /// A description for the report (never a password).
    fn describe(&self) -> String;
    /// The user table or model read.
    fn table(&self) -> &str;
    /// How many user rows there are, for the progress bar.
    fn count(&mut self) -> Result<u64, ImportError>;
    /// The next at most `size` rows, in id order; empty at the end.
    fn next_batch(&mut self, size: usize)
        -> Result<Vec<Result<DjangoUser, Rejected>>, ImportError>;
    /// SimpleJWT's blacklisted tokens (none when its tables are absent).
    fn blacklist(&mut self) -> Result<Vec<BlacklistedToken>, ImportError>;
}

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub on_conflict: OnConflict,
    pub dry_run: bool,
    /// Rows per transaction.
    pub batch_size: usize,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub source: String,
    pub table: String,
    pub read: u64,
    pub imported: u64,
    pub updated: u64,
    pub skipped: u64,
    /// Imported or updated accounts whose password is unusable: they log in
    /// after a password reset.
    pub unusable_passwords: u64,
    pub rejected: Vec<Rejected>,
    pub blacklist: BlacklistReport,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlacklistReport {
    /// Blacklisted tokens found that have not expired yet.
    pub read: u64,
    /// Of those, how many were not recorded already.
    pub imported: u64,
}

/// Runs the import; `progress` is told how many rows each batch handled.
pub fn run(
    store: &dyn Store,
    source: &mut dyn Source,
    options: Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Report, ImportError> {
    let mut report = Report {
        dry_run: options.dry_run,
        source: source.describe(),
        table: source.table().to_string(),
        ..Report::default()
    };
    let now = crate::domain::now();
    loop {
        let rows = source.next_batch(options.batch_size.max(1))?;
        if rows.is_empty() {
            break;
        }
        let count = rows.len() as u64;
        report.read += count;
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            match row.and_then(|raw| mapping::map_user(raw, now)) {
                Ok(user) => users.push(user),
                Err(rejected) => report.rejected.push(rejected),
            }
        }
        let outcomes = store.import_users(&users, options.on_conflict, options.dry_run)?;
        for (user, outcome) in users.iter().zip(outcomes) {
            record(&mut report, user, outcome)?;
        }
        progress(count);
    }
    let blacklisted: Vec<LegacyBlacklistEntry> = source
        .blacklist()?
        .into_iter()
        .filter_map(|token| token.entry(now))
        .collect();
    report.blacklist.read = blacklisted.len() as u64;
    for chunk in blacklisted.chunks(options.batch_size.max(1)) {
        report.blacklist.imported += store.import_legacy_blacklist(chunk, options.dry_run)?;
    }
    Ok(report)
}

fn record(
    report: &mut Report,
    user: &ImportedUser,
    outcome: ImportOutcome,
) -> Result<(), ImportError> {
    let written = match outcome {
        ImportOutcome::Imported => {
            report.imported += 1;
            true
        }
        ImportOutcome::Updated => {
            report.updated += 1;
            true
        }
        ImportOutcome::Skipped => {
            report.skipped += 1;
            false
        }
        ImportOutcome::EmailTaken(by) => {
            let reason = match by {
                Some(other) => format!("the email belongs to authd user {other}"),
                None => "the email was registered while the import ran".to_string(),
            };
            report.rejected.push(Rejected::new(user.id.get(), reason));
            false
        }
        ImportOutcome::Conflict => return Err(ImportError::Conflict(user.id)),
    };
    if written && !user.password_hash.is_usable() {
        report.unusable_passwords += 1;
    }
    Ok(())
}
