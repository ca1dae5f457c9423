//! Periodic work a server does besides serving: every
//! `blacklist.auto_prune_interval` (off with `0s`) it prunes expired tokens
//! with the same batched code as `authd blacklist prune`. A lease row in the
//! database (`authd_locks`) makes sure the fleet sharing the database
//! prunes once per interval: taken (at most `LEASE` long) to prune, then
//! kept until one interval after the prune finished, so the other
//! instances skip until the interval has passed. A failed prune gives the
//! lease back, so another instance tries at its next tick.
//!
//! The same run deletes audit events older than `audit.retention`.
//!
//! Each instance counts the rows it pruned and when it last pruned
//! ([`PruneStats`], exported as metrics).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::app::App;
use crate::domain;
use crate::store::{audit, prune};

const LEASE_NAME: &str = "auto_prune";
/// Most batches of audit events one run deletes (a million rows): a first
/// run over a large backlog finishes over several intervals, not in one.
const MAX_AUDIT_BATCHES: u32 = 1_000;
/// Longest a crashed pruner can keep others waiting.
const LEASE: Duration = Duration::from_secs(15 * 60);

/// What this instance's auto-prune did, for metrics.
#[derive(Debug, Default)]
pub struct PruneStats {
    /// Rows removed since start.
    pub rows: AtomicU64,
    /// Prunes run since start.
    pub runs: AtomicU64,
    /// Unix time (seconds) of the last prune that finished; 0: none yet.
    pub last_run_unix: AtomicU64,
}

/// Starts the periodic prune, unless it is switched off; the server aborts
/// the task when it stops.
pub fn spawn_auto_prune(app: &App) -> Option<tokio::task::JoinHandle<()>> {
    let interval = *app.config.blacklist.auto_prune_interval;
    if interval.is_zero() {
        return None;
    }
    let app = app.clone();
    let holder = crate::auth::jwt::new_id();
    // Up to a tenth of the interval (at most 5 s) of jitter, so instances
    // started together do not all reach for the lease at once.
    let max_jitter_ms = (interval.as_millis() / 10).clamp(1, 5_000) as u64;
    Some(tokio::spawn(async move {
        loop {
            let jitter = Duration::from_millis(rand::random::<u64>() % max_jitter_ms);
            tokio::time::sleep(interval + jitter).await;
            run_once(&app, &holder).await;
        }
    }))
}

/// Audit events past `audit.retention` (none when it is `0s`), at most
/// [`MAX_AUDIT_BATCHES`] batches a run; failures are logged, not fatal to
/// the token prune.
async fn prune_audit_events(app: &App) -> u64 {
    let retention = *app.config.audit.retention;
    if retention.is_zero() {
        return 0;
    }
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return 0;
    };
    let before = domain::now() - retention;
    let result = app
        .db
        .call(move |s| audit::prune_older_than(s, before, MAX_AUDIT_BATCHES))
        .await;
    result.unwrap_or_else(|error| {
        tracing::warn!(error = %crate::error_chain::Chain(&error), "auto-prune: could not prune audit events");
        0
    })
}

pub async fn run_once(app: &App, holder: &str) {
    let db = &app.db;
    let (name, me) = (LEASE_NAME, holder.to_string());
    let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX);
    let taken = db
        .call(move |s| {
            let now = domain::now();
            s.try_lease(name, &me, now + lease, now)
        })
        .await;
    match taken {
        Ok(true) => {}
        Ok(false) => return tracing::debug!("another instance is pruning"),
        Err(error) => {
            return tracing::warn!(error = %crate::error_chain::Chain(&error), "auto-prune: could not take the lease")
        }
    }
    let result = db
        .call(|s| prune::prune(s, domain::now(), prune::DEFAULT_BATCH, false, &mut |_| {}))
        .await;
    let audit_rows = prune_audit_events(app).await;
    match result {
        Ok(report) => {
            let rows = report.refresh_tokens + report.reset_tokens + report.sessions + audit_rows;
            let stats = &app.prune;
            stats.rows.fetch_add(rows, Ordering::Relaxed);
            stats.runs.fetch_add(1, Ordering::Relaxed);
            let now = domain::now();
            stats.last_run_unix.store(
                u64::try_from(now.timestamp()).unwrap_or(0),
                Ordering::Relaxed,
            );
            tracing::info!(
                refresh_tokens = report.refresh_tokens,
                reset_tokens = report.reset_tokens,
                sessions = report.sessions,
                audit_events = audit_rows,
                "auto-prune removed expired rows"
            );
            // Keep the lease for one interval from now: it records this run,
            // and the others skip until the interval has passed.
            let interval = chrono::Duration::from_std(*app.config.blacklist.auto_prune_interval)
                .unwrap_or(chrono::Duration::MAX);
            let me = holder.to_string();
            let kept = db
                .call(move |s| s.try_lease(name, &me, now + interval, now))
                .await;
            if !matches!(kept, Ok(true)) {
                tracing::warn!("auto-prune: could not keep the lease; another instance may prune before the interval has passed");
            }
            return;
        }
        Err(error) => {
            tracing::warn!(error = %crate::error_chain::Chain(&error), "auto-prune failed; it will try again next interval")
        }
    }
    let me = holder.to_string();
    if let Err(error) = db.call(move |s| s.release_lease(name, &me)).await {
        tracing::warn!(error = %crate::error_chain::Chain(&error), "auto-prune: could not release the lease (it expires by itself)");
    }
}
