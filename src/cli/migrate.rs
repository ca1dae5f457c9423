//! `authd migrate`: apply pending migrations; `migrate status`: every
//! version with its state; `migrate down --to N`: run down scripts to N,
//! after a confirmation and only while no server uses the database.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::confirm::confirm;
use super::output::{self, OutputFormat};
use super::{database, CliError, Context};
use crate::domain::rfc3339;
use crate::store::{self, migrate, Migration};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    action: Option<MigrateAction>,
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Show every migration: applied (when), pending, or modified.
    Status,
    /// Run down scripts, newest first, until the schema is at version N (0: empty).
    ///
    /// This drops tables with their data (version 0: every account). It asks
    /// on a terminal, and refuses while an `authd serve` is using the
    /// database (its heartbeat, or on Postgres its connections).
    Down {
        /// The version to stop at.
        #[arg(long, value_name = "N")]
        to: u32,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// Revert even while servers are using the database (their requests will fail).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Serialize)]
struct MigrationJson {
    version: u32,
    name: &'static str,
}

#[derive(Serialize)]
struct RunJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<Vec<MigrationJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverted: Option<Vec<MigrationJson>>,
    /// The schema version afterwards.
    version: u32,
}

#[derive(Serialize)]
struct StatusJson {
    version: u32,
    name: String,
    state: &'static str,
    applied_at: Option<String>,
}

pub fn run(args: MigrateArgs, context: &Context) -> Result<(), CliError> {
    // Only applying migrations may create a database; `status` and `down`
    // on a missing SQLite file would report an empty schema.
    let store = match args.action {
        None => store::open(&context.config)?,
        Some(_) => database::open_existing(context)?,
    };
    match args.action {
        None => {
            let applied = migrate::migrate_up(store.as_ref())?;
            report(context.output, "Applied", applied, store.as_ref())
        }
        Some(MigrateAction::Down { to, yes, force }) => {
            let current = schema_version(store.as_ref())?;
            if to < current {
                if !force {
                    refuse_under_servers(store.as_ref())?;
                }
                if !yes {
                    confirm(
                        &format!(
                            "Revert the {} schema from version {current} to {to}? The tables of the reverted migrations are dropped with their data{}.",
                            store.backend().name(),
                            if to == 0 { " (every account)" } else { "" }
                        ),
                        "migrate down",
                        "nothing reverted",
                    )?;
                }
            }
            let reverted = migrate::migrate_down(store.as_ref(), to)?;
            report(context.output, "Reverted", reverted, store.as_ref())
        }
        Some(MigrateAction::Status) => {
            let applied = store.applied_migrations()?;
            let states = migrate::status(&applied, store.migrations());
            match context.output {
                OutputFormat::Json => output::print_json(
                    &states
                        .into_iter()
                        .map(|s| StatusJson {
                            version: s.version,
                            name: s.name,
                            state: s.state,
                            applied_at: s.applied_at.as_ref().map(rfc3339),
                        })
                        .collect::<Vec<_>>(),
                ),
                OutputFormat::Table => {
                    let mut table = output::table(&["version", "name", "state", "applied at"]);
                    for s in states {
                        let at = s.applied_at.as_ref().map(rfc3339).unwrap_or_default();
                        table.add_row([
                            format!("{:04}", s.version),
                            s.name,
                            s.state.to_string(),
                            at,
                        ]);
                    }
                    output::print(table)
                }
            }
        }
    }
}

/// The highest applied version (0: none).
fn schema_version(store: &dyn store::Store) -> Result<u32, CliError> {
    Ok(store
        .applied_migrations()?
        .iter()
        .map(|a| a.version)
        .max()
        .unwrap_or(0))
}

/// Fails while a server is using the database: pulling its schema away
/// would turn every request into a 500.
fn refuse_under_servers(store: &dyn store::Store) -> Result<(), CliError> {
    let servers = store.servers_connected(crate::domain::now())?;
    if servers == 0 {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "refusing to migrate down: {servers} authd server{} using this {} database; stop {} first, or pass --force (a server that crashed stops counting {} s after its last heartbeat)",
        if servers == 1 { " is" } else { "s are" },
        store.backend().name(),
        if servers == 1 { "it" } else { "them" },
        store::presence::HEARTBEAT_TTL.as_secs()
    )))
}

fn report(
    format: OutputFormat,
    verb: &str,
    ran: Vec<&'static Migration>,
    store: &dyn store::Store,
) -> Result<(), CliError> {
    let version = schema_version(store)?;
    match format {
        OutputFormat::Json => {
            let list = Some(
                ran.iter()
                    .map(|m| MigrationJson {
                        version: m.version,
                        name: m.name,
                    })
                    .collect(),
            );
            let (applied, reverted) = if verb == "Applied" {
                (list, None)
            } else {
                (None, list)
            };
            output::print_json(&RunJson {
                applied,
                reverted,
                version,
            })
        }
        OutputFormat::Table if ran.is_empty() => output::print(format!(
            "Nothing to do: the {} schema is at version {version}.",
            store.backend().name()
        )),
        OutputFormat::Table => {
            for migration in ran {
                output::print(format!("{verb} {}", migration.label()))?;
            }
            output::print(format!(
                "The {} schema is at version {version}.",
                store.backend().name()
            ))
        }
    }
}
