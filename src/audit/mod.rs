//! The audit log: who did what, when, from where. Services record an
//! [`AuditEvent`] at the one place each change happens (`accounts`,
//! `auth::tokens`, `reset`, the admin commands), and [`Audit::record`]
//! does three things with it, none of which makes the caller wait:
//!
//! - writes one JSON log line under the target `authd::audit` (with
//!   `log.format = "json"`, one object per line, for log shippers),
//!   whether or not the table is enabled;
//! - counts it in `authd_audit_events_total{type,outcome}`;
//! - with `audit.table` on, queues it for the background writer
//!   (`writer`), which stores queued events in batches, one transaction
//!   each. The queue is bounded (`audit.queue`): when the writer falls
//!   behind, events are dropped and counted
//!   (`authd_audit_events_dropped_total`), never waited for.
//!
//! Two kinds of event are bounded before they reach the queue, so a flood
//! cannot fill the table: a throttle refusal is recorded once per identity
//! and window (`refusals`), and reset requests for unknown emails are
//! counted and stored as one row per writer tick.

mod counters;
mod log_line;
mod refusals;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};

pub use counters::AuditCounters;

use crate::config::AuditConfig;
use crate::db::Db;
use crate::domain::{AuditEvent, EventType, Origin};
use crate::store::Store;

/// A cheap-to-clone handle on the audit log.
#[derive(Clone)]
pub struct Audit(Arc<Inner>);

struct Inner {
    queue: Option<mpsc::Sender<AuditEvent>>,
    /// An admin command's store: its few events are written as they come.
    direct: Option<Arc<dyn Store>>,
    counters: AuditCounters,
    refusals: refusals::Refusals,
    /// Reset requests for unknown emails since the writer last stored them.
    unknown_resets: Arc<AtomicU64>,
    /// Asks the writer to store what is queued and stop.
    stop: Arc<Notify>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Audit {
    /// The audit log of `config`: with `audit.table`, starts the writer on
    /// the current tokio runtime.
    pub fn start(config: &AuditConfig, db: Db) -> Audit {
        Audit::start_with(config, db, writer::AGGREGATE_EVERY)
    }

    /// As [`Audit::start`], storing the aggregate rows every `aggregate_every`.
    pub fn start_with(config: &AuditConfig, db: Db, aggregate_every: Duration) -> Audit {
        if !config.table {
            return Audit::log_only();
        }
        let (sender, receiver) = mpsc::channel(config.queue as usize);
        let stop = Arc::new(Notify::new());
        let counters = AuditCounters::default();
        let unknown_resets = Arc::new(AtomicU64::new(0));
        let task = writer::spawn(writer::Writer {
            db,
            receiver,
            stop: Arc::clone(&stop),
            counters: counters.clone(),
            unknown_resets: Arc::clone(&unknown_resets),
            aggregate_every,
        });
        Audit(Arc::new(Inner {
            queue: Some(sender),
            direct: None,
            counters,
            refusals: refusals::Refusals::default(),
            unknown_resets,
            stop,
            writer: Mutex::new(Some(task)),
        }))
    }

    /// An admin command's audit log: each event is written to `store` when
    /// recorded (a command records a few, and must not exit with one queued).
    pub fn for_command(config: &AuditConfig, store: Arc<dyn Store>) -> Audit {
        let audit = Audit::log_only();
        if !config.table {
            return audit;
        }
        let mut inner = Arc::into_inner(audit.0).expect("just made");
        inner.direct = Some(store);
        Audit(Arc::new(inner))
    }

    /// Log lines and metrics only (`audit.table = false`).
    pub fn log_only() -> Audit {
        Audit(Arc::new(Inner {
            queue: None,
            direct: None,
            counters: AuditCounters::default(),
            refusals: refusals::Refusals::default(),
            unknown_resets: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(Notify::new()),
            writer: Mutex::new(None),
        }))
    }

    /// Records `event`: log line, metric and (with the table) the queue.
    pub fn record(&self, event: AuditEvent) {
        if event.kind == EventType::ResetRequested {
            self.0.counters.reset_requested();
        }
        log_line::emit(&event);
        self.0.counters.counted(&event);
        if let Some(store) = &self.0.direct {
            // On a thread of its own: a command may record from async code,
            // where the blocking Postgres client must not run.
            let stored = std::thread::scope(|scope| {
                scope
                    .spawn(|| store.insert_audit_events(std::slice::from_ref(&event)))
                    .join()
            });
            match stored {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    self.dropped(1, "write_failed");
                    tracing::warn!(target: "authd::audit", error = %crate::error_chain::Chain(&error), "the audit event could not be stored");
                }
                Err(_) => self.dropped(1, "write_failed"),
            }
            return;
        }
        let Some(queue) = &self.0.queue else {
            return;
        };
        match queue.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped(1, "queue_full"),
            Err(TrySendError::Closed(_)) => self.dropped(1, "stopped"),
        }
    }

    /// A throttle scope refused `key` (a window key, which names no
    /// address); recorded when it is the first refusal this instance saw
    /// of that window, which frees in `until_free`.
    pub fn throttle_refused(
        &self,
        key: &str,
        until_free: Duration,
        event: impl FnOnce() -> AuditEvent,
    ) {
        if self.0.refusals.first_refusal(key, until_free) {
            self.record(event());
        }
    }

    /// A reset was asked for an email no active account has: counted, and
    /// stored (and logged) as one aggregate row per writer tick; without
    /// the table, logged as one line per request.
    pub fn reset_requested_for_unknown_email(&self, origin: &Origin) {
        if self.0.queue.is_some() && self.0.direct.is_none() {
            self.0.counters.reset_requested();
            self.0.unknown_resets.fetch_add(1, Ordering::Relaxed);
        } else {
            self.record(AuditEvent::failure(
                EventType::ResetRequested,
                UNKNOWN_EMAIL,
                origin,
            ));
        }
    }

    /// The counters `/metrics` exports.
    pub fn counters(&self) -> &AuditCounters {
        &self.0.counters
    }

    /// Stores what is queued and stops the writer, waiting at most `grace`.
    pub async fn close(&self, grace: Duration) {
        let task = self.0.writer.lock().expect("not poisoned").take();
        let Some(task) = task else { return };
        self.0.stop.notify_one();
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!(target: "authd::audit", "the audit writer did not finish within {grace:?}; queued events are lost");
        }
    }

    fn dropped(&self, events: u64, reason: &'static str) {
        self.0.counters.dropped(events, reason);
    }
}

/// The reason of reset requests for emails no active account has.
const UNKNOWN_EMAIL: &str = "unknown_email";

/// The aggregate row of `count` reset requests for unknown emails.
fn unknown_resets_event(count: u64) -> AuditEvent {
    AuditEvent::failure(
        EventType::ResetRequested,
        UNKNOWN_EMAIL,
        &Origin {
            actor: crate::domain::Actor::Api,
            client: None,
            request_id: None,
        },
    )
    .count(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConnectionUrl};
    use crate::store::AuditQuery;

    fn store(dir: &std::path::Path) -> Arc<dyn Store> {
        let mut config = Config::default();
        config.database.url =
            ConnectionUrl::new(format!("sqlite://{}", dir.join("authd.db").display()));
        let store = crate::store::open(&config).unwrap();
        crate::store::migrate::migrate_up(store.as_ref()).unwrap();
        store
    }

    /// A writer that cannot keep up (here: not yet run) never makes a
    /// caller wait: past `audit.queue`, events are dropped and counted;
    /// what was queued is stored when the writer closes, with the count
    /// of unknown-email reset requests as one row.
    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_and_counts_and_close_stores_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let config = AuditConfig {
            queue: 2,
            ..AuditConfig::default()
        };
        let audit = Audit::start(&config, Db::new(Arc::clone(&store)));
        let origin = Origin::cli();
        // No await in between: the writer task gets no turn.
        for _ in 0..10 {
            audit.record(AuditEvent::success(EventType::KeyGenerated, &origin));
        }
        for _ in 0..3 {
            audit.reset_requested_for_unknown_email(&origin);
        }
        assert_eq!(audit.counters().dropped_total(), 8);
        audit.close(Duration::from_secs(10)).await;
        let stored = store
            .list_audit_events(&AuditQuery {
                limit: 100,
                ..AuditQuery::default()
            })
            .unwrap();
        let kinds: Vec<(&str, i64)> = stored.iter().map(|e| (e.kind.as_str(), e.count)).collect();
        assert_eq!(
            kinds,
            [
                ("reset_requested", 3),
                ("key_generated", 1),
                ("key_generated", 1)
            ]
        );
    }
}
