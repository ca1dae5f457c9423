//! The background writer: takes queued events in batches (whatever is
//! waiting, up to [`BATCH`]) and stores each batch in one transaction, so
//! no request waits on the database for its audit event and a row is never
//! half-written. Every [`AGGREGATE_EVERY`] it also stores the count of reset
//! requests for unknown emails as one row, and reports events dropped since
//! its last report in one log line. A batch the database refuses is
//! dropped and counted rather than retried: retrying would hold the queue
//! while requests keep coming, and the dropped count says what was lost.
//!
//! On [`Audit::close`](super::Audit::close) it stores what is queued and
//! stops; when every handle is gone, it does the same.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use super::{log_line, unknown_resets_event, AuditCounters};
use crate::db::Db;
use crate::domain::AuditEvent;

/// Most events stored in one transaction.
pub const BATCH: usize = crate::store::audit::INSERT_ROWS;
/// How often the aggregate rows are stored and drops reported.
pub const AGGREGATE_EVERY: Duration = Duration::from_secs(5);

pub struct Writer {
    pub db: Db,
    pub receiver: mpsc::Receiver<AuditEvent>,
    pub stop: Arc<Notify>,
    pub counters: AuditCounters,
    pub unknown_resets: Arc<AtomicU64>,
    pub aggregate_every: Duration,
}

pub fn spawn(writer: Writer) -> tokio::task::JoinHandle<()> {
    tokio::spawn(writer.run())
}

impl Writer {
    async fn run(mut self) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut tick = tokio::time::interval(self.aggregate_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut reported_drops = 0;
        loop {
            tokio::select! {
                received = self.receiver.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break;
                    }
                    self.store(&mut batch).await;
                }
                _ = tick.tick() => {
                    self.aggregate(&mut batch);
                    self.store(&mut batch).await;
                    reported_drops = self.report_drops(reported_drops);
                }
                _ = self.stop.notified() => break,
            }
        }
        // Stopping: what is queued, then the aggregates.
        while let Ok(event) = self.receiver.try_recv() {
            batch.push(event);
            if batch.len() == BATCH {
                self.store(&mut batch).await;
            }
        }
        self.aggregate(&mut batch);
        self.store(&mut batch).await;
        self.report_drops(reported_drops);
    }

    /// Adds the aggregate row of unknown-email reset requests, if any.
    fn aggregate(&self, batch: &mut Vec<AuditEvent>) {
        let count = self.unknown_resets.swap(0, Ordering::Relaxed);
        if count > 0 {
            let event = unknown_resets_event(count);
            log_line::emit(&event);
            self.counters.counted(&event);
            batch.push(event);
        }
    }

    async fn store(&self, batch: &mut Vec<AuditEvent>) {
        if batch.is_empty() {
            return;
        }
        let events = std::mem::take(batch);
        let count = events.len() as u64;
        // Uncounted, like the heartbeat: the database metrics show what
        // requests cost, and a batch is the log's, not any request's.
        let result = self
            .db
            .call_uncounted(move |s| s.insert_audit_events(&events).map(|()| events))
            .await;
        match result {
            Ok(mut events) => {
                // Keep the allocation for the next batch.
                events.clear();
                *batch = events;
            }
            Err(error) => {
                self.counters.dropped(count, "write_failed");
                tracing::warn!(target: "authd::audit", error = %crate::error_chain::Chain(&error), events = count, "audit events could not be stored; dropped");
            }
        }
    }

    /// Logs the events dropped since the last report (one line, not one
    /// per event); returns the total reported so far.
    fn report_drops(&self, reported: u64) -> u64 {
        let total = self.counters.dropped_total();
        if total > reported {
            tracing::warn!(
                target: "authd::audit",
                dropped = total - reported,
                "audit events were dropped: the writer fell behind or the database refused them (authd_audit_events_dropped_total)"
            );
        }
        total
    }
}
