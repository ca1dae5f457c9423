//! The audit log's metrics: events by type and outcome, and events dropped
//! (queue full, write failed) by reason. Label values come from closed sets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::domain::{AuditEvent, EventType};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    r#type: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct AuditCounters {
    /// `authd_audit_events_total`.
    pub events: Family<EventLabels, Counter>,
    /// `authd_audit_events_dropped_total`.
    pub dropped: Family<DropLabels, Counter>,
    dropped_total: Arc<AtomicU64>,
}

impl AuditCounters {
    pub(super) fn counted(&self, event: &AuditEvent) {
        if event.kind == EventType::ResetRequested {
            // Counted when asked, known or not: see `reset_requested`.
            return;
        }
        self.events
            .get_or_create(&EventLabels {
                r#type: event.kind.name(),
                outcome: event.outcome.name(),
            })
            .inc_by(event.count);
    }

    /// A reset request, counted the same whether an account has the email:
    /// `/metrics` must not tell which addresses exist (the reset metrics
    /// move alike too). The audit log itself keeps the difference.
    pub(super) fn reset_requested(&self) {
        self.events
            .get_or_create(&EventLabels {
                r#type: EventType::ResetRequested.name(),
                outcome: "requested",
            })
            .inc();
    }

    pub(super) fn dropped(&self, events: u64, reason: &'static str) {
        self.dropped
            .get_or_create(&DropLabels { reason })
            .inc_by(events);
        self.dropped_total.fetch_add(events, Ordering::Relaxed);
    }

    /// Events dropped since start, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }
}
