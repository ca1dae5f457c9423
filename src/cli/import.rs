//! `authd import django`: copy the Django service's users (ids, emails,
//! names, flags, dates and password hashes as they are) and SimpleJWT's
//! blacklist into authd's database, from the Django database or from a
//! `manage.py dumpdata` file. Batches of `--batch-size` rows, each one
//! transaction; safe to run again (`--on-conflict`); `--dry-run` runs every
//! batch and rolls it back. Rows that cannot be imported are listed with
//! the reason; the import goes on without them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::{self, OutputFormat};
use super::{database, CliError, Context};
use crate::audit::Audit;
use crate::domain::{AuditEvent, EventType, Origin};
use crate::import::django::{self, DatabaseSource, DumpdataSource, ImportError, Report, Source};
use crate::store::OnConflict;

/// Rejected rows shown in the table output; JSON lists them all.
const SHOWN_REJECTED: usize = 50;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import the users of the Django REST Framework + SimpleJWT service authd replaces.
    ///
    /// Keeps their ids (so the user_id of live SimpleJWT tokens still names
    /// them) and their password hashes (verified and replaced by argon2id at
    /// each user's first login); imports SimpleJWT's blacklist so tokens
    /// revoked before the switch stay revoked. Nothing is hashed here.
    Django(DjangoArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(false))]
pub struct DjangoArgs {
    /// The Django database: sqlite://PATH or postgres://user:pass@host/db (read only).
    #[arg(long, value_name = "URL", group = "source")]
    from_database: Option<String>,
    /// A `manage.py dumpdata <app>.<user model> [token_blacklist]` JSON file.
    #[arg(long, value_name = "FILE", group = "source")]
    from_dumpdata: Option<PathBuf>,
    /// The user table (default: the one table with id, email, password and last_login columns).
    #[arg(long, value_name = "NAME", requires = "from_database")]
    table: Option<String>,
    /// What to do with an account whose id exists already in authd.
    #[arg(long, value_enum, default_value_t = ConflictArg::Skip)]
    on_conflict: ConflictArg,
    /// Check everything and report what would happen; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Rows per transaction.
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ConflictArg {
    /// Leave the existing account as it is.
    Skip,
    /// Overwrite it with Django's values, password hash included (before the cut-over only).
    Update,
    /// Stop the import.
    Fail,
}

pub fn run(command: ImportCommand, context: &Context) -> Result<(), CliError> {
    let ImportCommand::Django(args) = command;
    let mut source: Box<dyn Source> = match (&args.from_database, &args.from_dumpdata) {
        (Some(url), _) => Box::new(DatabaseSource::open(url, args.table.as_deref())?),
        (None, Some(path)) => Box::new(DumpdataSource::open(path)?),
        (None, None) => {
            return Err(CliError::Usage(
                "give --from-database or --from-dumpdata".into(),
            ))
        }
    };
    let store = database::open_current(context)?;
    let options = django::Options {
        on_conflict: match args.on_conflict {
            ConflictArg::Skip => OnConflict::Skip,
            ConflictArg::Update => OnConflict::Update,
            ConflictArg::Fail => OnConflict::Fail,
        },
        dry_run: args.dry_run,
        batch_size: args.batch_size as usize,
    };
    let bar = progress_bar(source.as_mut())?;
    let report = django::run(store.as_ref(), source.as_mut(), options, &mut |rows| {
        bar.inc(rows)
    });
    bar.finish_and_clear();
    let report = report?;
    if !report.dry_run {
        let audit = Audit::for_command(&context.config.audit, Arc::clone(&store));
        audit.record(
            AuditEvent::success(EventType::DjangoImport, &Origin::cli()).detail(format!(
                "read={} imported={} updated={} skipped={} rejected={} blacklisted_tokens={}",
                report.read,
                report.imported,
                report.updated,
                report.skipped,
                report.rejected.len(),
                report.blacklist.imported
            )),
        );
    }
    render(&report, context.output)
}

impl From<ImportError> for CliError {
    fn from(error: ImportError) -> CliError {
        match error {
            ImportError::Input(_) => CliError::Usage(error.to_string()),
            ImportError::Source(_) | ImportError::Store(_) | ImportError::Conflict(_) => {
                CliError::Failed(error.to_string())
            }
        }
    }
}

/// A bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(source: &mut dyn Source) -> Result<ProgressBar, CliError> {
    if !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(source.count()?), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} importing {bar:40} {pos}/{len} users, {per_sec}, {eta} left",
    ) {
        bar.set_style(style);
    }
    Ok(bar)
}

fn render(report: &Report, format: OutputFormat) -> Result<(), CliError> {
    if format == OutputFormat::Json {
        return output::print_json(report);
    }
    let mut table = output::table(&["", "users"]);
    let rows = [
        ("read", report.read),
        ("imported", report.imported),
        ("updated", report.updated),
        ("skipped (id exists)", report.skipped),
        ("rejected", report.rejected.len() as u64),
        (
            "unusable passwords (reset needed)",
            report.unusable_passwords,
        ),
        ("blacklisted tokens (live)", report.blacklist.read),
        ("blacklisted tokens recorded", report.blacklist.imported),
    ];
    for (label, count) in rows {
        table.add_row([label.to_string(), count.to_string()]);
    }
    let heading = if report.dry_run {
        format!(
            "Dry run (nothing written): {} from {}",
            report.table, report.source
        )
    } else {
        format!("Imported {} from {}", report.table, report.source)
    };
    let mut text = format!("{heading}\n{table}");
    if !report.rejected.is_empty() {
        let mut rejected = output::table(&["rejected row", "reason"]);
        for row in report.rejected.iter().take(SHOWN_REJECTED) {
            rejected.add_row([row.row.as_str(), row.reason.as_str()]);
        }
        text.push_str(&format!("\n{rejected}"));
        if report.rejected.len() > SHOWN_REJECTED {
            text.push_str(&format!(
                "\n... and {} more (--output json lists them all)",
                report.rejected.len() - SHOWN_REJECTED
            ));
        }
    }
    output::print(text)
}
