//! `authd blacklist prune|stats`: delete what has expired (refresh tokens,
//! reset tokens, sessions left without tokens) in batches, safe while
//! servers run; and count tokens by state.

use std::io::IsTerminal;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::{self, OutputFormat};
use super::{database, CliError, Context};
use crate::domain;
use crate::store::{self, prune, Expired};

/// Below this many rows no progress bar is drawn: it would only flicker.
const BAR_THRESHOLD: u64 = 10_000;

#[derive(Debug, Subcommand)]
pub enum BlacklistCommand {
    /// Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions.
    Prune {
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rows per transaction: smaller batches block a running server for less time.
        #[arg(long, value_name = "N", default_value_t = prune::DEFAULT_BATCH, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        batch_size: u32,
    },
    /// Count refresh and reset tokens by state (active, revoked, expired).
    Stats,
}

pub fn run(command: BlacklistCommand, context: &Context) -> Result<(), CliError> {
    let store = database::open_current(context)?;
    let store = store.as_ref();
    let now = domain::now();
    match command {
        BlacklistCommand::Prune {
            dry_run,
            batch_size,
        } => {
            let bar = progress_bar(store, now, dry_run)?;
            let report = prune::prune(store, now, batch_size, dry_run, &mut |rows| bar.inc(rows))?;
            bar.finish_and_clear();
            match context.output {
                OutputFormat::Json => {
                    output::print_json(&serde_json::json!({"dry_run": dry_run, "removed": report}))
                }
                OutputFormat::Table => {
                    let verb = if dry_run { "Would delete" } else { "Deleted" };
                    output::print(format!(
                        "{verb} {} expired refresh token(s), {} expired reset token(s) and {} empty session(s).",
                        report.refresh_tokens, report.reset_tokens, report.sessions
                    ))
                }
            }
        }
        BlacklistCommand::Stats => {
            let stats = store.token_stats(now)?;
            match context.output {
                OutputFormat::Json => output::print_json(&serde_json::json!({
                    "refresh_tokens": {"active": stats.refresh_active, "revoked": stats.refresh_revoked, "expired": stats.refresh_expired},
                    "reset_tokens": {"live": stats.reset_live, "used": stats.reset_used, "expired": stats.reset_expired},
                    "sessions": stats.sessions,
                })),
                OutputFormat::Table => {
                    let mut table = output::table(&["", "active", "revoked / used", "expired"]);
                    table.add_row([
                        "refresh tokens".to_string(),
                        stats.refresh_active.to_string(),
                        stats.refresh_revoked.to_string(),
                        stats.refresh_expired.to_string(),
                    ]);
                    table.add_row([
                        "reset tokens (database)".to_string(),
                        stats.reset_live.to_string(),
                        stats.reset_used.to_string(),
                        stats.reset_expired.to_string(),
                    ]);
                    output::print(format!("{table}\n{} session(s) recorded.", stats.sessions))
                }
            }
        }
    }
}

/// A bar on stderr for long prunes on a terminal; hidden otherwise.
fn progress_bar(
    store: &dyn store::Store,
    now: domain::Timestamp,
    dry_run: bool,
) -> Result<ProgressBar, CliError> {
    if dry_run || !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let total = store.count_expired(Expired::RefreshTokens, now)?
        + store.count_expired(Expired::ResetTokens, now)?;
    if total < BAR_THRESHOLD {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} pruning {bar:40} {pos}/{len} rows, {per_sec}, {eta} left",
    ) {
        bar.set_style(style);
    }
    Ok(bar)
}
