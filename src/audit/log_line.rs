//! The audit event as a log line under the target `authd::audit`: its
//! fields as the event's fields, so `log.format = "json"` writes one flat
//! JSON object per event (`type`, `outcome`, `user_id`, `ip`, ...).

use crate::domain::{AuditEvent, UserId};

pub fn emit(event: &AuditEvent) {
    let origin = &event.origin;
    tracing::info!(
        target: "authd::audit",
        r#type = event.kind.name(),
        outcome = event.outcome.name(),
        reason = event.reason,
        user_id = event.user_id.map(UserId::get),
        email = event.email.as_deref(),
        ip = origin.ip().map(tracing::field::display),
        user_agent = origin.user_agent(),
        request_id = origin.request_id.as_deref(),
        session_id = event.session_id.as_deref(),
        actor = origin.actor.kind(),
        actor_name = origin.actor.os_user(),
        detail = event.detail.as_deref(),
        count = event.count,
        "audit event"
    );
}
