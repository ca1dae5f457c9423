//! The audit log's table (`audit_events`): events written in batches by
//! the background writer (`audit::writer`), read by `authd audit`, pruned
//! after `audit.retention` by the maintenance loop.
//!
//! A batch is one transaction (one statement up to [`INSERT_ROWS`] events),
//! so a row is never half-written and a batch is never half-stored. Reads are keyset-paged by id, newest first.

use std::net::IpAddr;

pub(crate) use super::dialect::SqlValue;
use super::dialect::{SqlRow, SqlRowExt};
use super::StoreError;
use crate::domain::{AuditEvent, EventType, Outcome, Timestamp, UserId};

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    pub id: i64,
    pub at: Timestamp,
    pub kind: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub user_id: Option<i64>,
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub session_id: Option<String>,
    /// `api` or `cli`.
    pub actor: String,
    /// The OS user of a command.
    pub actor_name: Option<String>,
    pub detail: Option<String>,
    pub count: i64,
}

/// Who an `audit list` is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSubject {
    Id(UserId),
    /// Compared without regard to letter case; finds events of deleted
    /// accounts too.
    Email(String),
    /// An existing account and its email: events naming either, so those
    /// recorded with the id alone (a session revoked by sid) are found
    /// beside those naming the email alone (a failed login before it
    /// registered, an earlier account of that address).
    Account(UserId, String),
}

/// Filters of `authd audit list` (all of them must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub subject: Option<AuditSubject>,
    /// Any of these types; empty: every type.
    pub kinds: Vec<EventType>,
    pub outcome: Option<Outcome>,
    pub ip: Option<IpAddr>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only events with a greater id (`audit tail --follow`), oldest first.
    pub after_id: Option<i64>,
    pub limit: u32,
}

/// Counts of `authd audit stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// (type, outcome, events), most first; aggregate rows count as their `count`.
    pub by_type: Vec<(String, String, i64)>,
    /// (ip, failed logins), most first, at most `top` of them.
    pub failed_login_ips: Vec<(String, i64)>,
}

pub trait AuditStore {
    /// Writes `events` in one transaction, [`INSERT_ROWS`] per statement.
    fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// Events matching `query`: newest first, or oldest first after
    /// `after_id`; at most `limit`.
    fn list_audit_events(&self, query: &AuditQuery) -> Result<Vec<StoredAuditEvent>, StoreError>;

    /// Counts since `since` (all time when `None`), with the `top` IPs by
    /// failed logins.
    fn audit_stats(&self, since: Option<Timestamp>, top: u32) -> Result<AuditStats, StoreError>;

    /// Deletes up to `batch` events older than `before`; returns how many
    /// (the caller loops until fewer than `batch`, so no transaction holds
    /// the table long).
    fn prune_audit_events(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError>;
}

/// Most events one insert statement writes (14 values each: 3,584, within
/// both databases' limits); a longer slice takes several, in one transaction.
pub const INSERT_ROWS: usize = 256;

/// Rows one prune statement deletes.
pub const PRUNE_BATCH: u32 = 1_000;

/// Deletes the events older than `before`, one batch per statement so no
/// transaction holds the table long, at most `max_batches` of them (the
/// next run goes on); returns how many.
pub fn prune_older_than(
    store: &dyn AuditStore,
    before: Timestamp,
    max_batches: u32,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for _ in 0..max_batches {
        let batch = store.prune_audit_events(before, PRUNE_BATCH)?;
        deleted += batch;
        if batch < u64::from(PRUNE_BATCH) {
            break;
        }
    }
    Ok(deleted)
}

/// The stored form of an event's IP.
pub fn ip_text(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| ip.to_string())
}

/// A statement written once for both backends: they differ only in how a
/// placeholder is spelled, which `placeholder` gives (`?1` or `$1`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

impl Statement {
    fn new() -> Statement {
        Statement {
            sql: String::new(),
            params: Vec::new(),
        }
    }

    /// Appends a placeholder bound to `value`.
    fn bind(&mut self, value: SqlValue, placeholder: fn(usize) -> String) {
        self.params.push(value);
        self.sql.push_str(&placeholder(self.params.len()));
    }
}

/// The columns of a [`StoredAuditEvent`], in the order backends read them.
pub(crate) const COLUMNS: &str = "id, at, type, outcome, reason, user_id, email, ip, user_agent, request_id, session_id, actor, actor_name, detail, count";

/// An event read back from a row of [`COLUMNS`], on either backend.
pub(crate) fn event_from_row(row: &dyn SqlRow) -> Result<StoredAuditEvent, StoreError> {
    Ok(StoredAuditEvent {
        id: row.int_nn(0)?,
        at: row.time_nn(1)?,
        kind: row.text_nn(2)?,
        outcome: row.text_nn(3)?,
        reason: row.text(4)?,
        user_id: row.int(5)?,
        email: row.text(6)?,
        ip: row.text(7)?,
        user_agent: row.text(8)?,
        request_id: row.text(9)?,
        session_id: row.text(10)?,
        actor: row.text_nn(11)?,
        actor_name: row.text(12)?,
        detail: row.text(13)?,
        count: row.int_nn(14)?,
    })
}

/// The insert of a batch of events, as one statement: one round trip and
/// one parse for the batch, however many rows (at most the writer's batch
/// of 256, 3,584 values, within both databases' limits).
pub(crate) fn insert(events: &[AuditEvent], placeholder: fn(usize) -> String) -> Statement {
    let mut statement = Statement::new();
    statement.sql.push_str("INSERT INTO audit_events (at, type, outcome, reason, user_id, email, ip, user_agent, request_id, session_id, actor, actor_name, detail, count) VALUES ");
    let text = |s: Option<&str>| SqlValue::Text(s.map(str::to_string));
    for (row, event) in events.iter().enumerate() {
        let origin = &event.origin;
        let values = [
            SqlValue::Time(Some(event.at)),
            text(Some(event.kind.name())),
            text(Some(event.outcome.name())),
            text(event.reason),
            SqlValue::Int(event.user_id.map(UserId::get)),
            text(event.email.as_deref()),
            SqlValue::Text(ip_text(origin.ip())),
            text(origin.user_agent()),
            text(origin.request_id.as_deref()),
            text(event.session_id.as_deref()),
            text(Some(origin.actor.kind())),
            text(origin.actor.os_user()),
            text(event.detail.as_deref()),
            SqlValue::Int(Some(i64::try_from(event.count).unwrap_or(i64::MAX))),
        ];
        statement.sql.push_str(if row == 0 { "(" } else { ", (" });
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                statement.sql.push_str(", ");
            }
            statement.bind(value, placeholder);
        }
        statement.sql.push(')');
    }
    statement
}

/// The select of `audit list` / `audit tail`.
pub(crate) fn select(query: &AuditQuery, placeholder: fn(usize) -> String) -> Statement {
    let mut s = Statement::new();
    s.sql = format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1");
    match &query.subject {
        Some(AuditSubject::Id(id)) => {
            s.sql.push_str(" AND user_id = ");
            s.bind(SqlValue::Int(Some(id.get())), placeholder);
        }
        Some(AuditSubject::Email(email)) => {
            s.sql.push_str(" AND lower(email) = ");
            s.bind(SqlValue::Text(Some(email.to_lowercase())), placeholder);
        }
        Some(AuditSubject::Account(id, email)) => {
            s.sql.push_str(" AND (user_id = ");
            s.bind(SqlValue::Int(Some(id.get())), placeholder);
            s.sql.push_str(" OR lower(email) = ");
            s.bind(SqlValue::Text(Some(email.to_lowercase())), placeholder);
            s.sql.push(')');
        }
        None => {}
    }
    if !query.kinds.is_empty() {
        s.sql.push_str(" AND type IN (");
        for (i, kind) in query.kinds.iter().enumerate() {
            if i > 0 {
                s.sql.push_str(", ");
            }
            s.bind(SqlValue::Text(Some(kind.name().to_string())), placeholder);
        }
        s.sql.push(')');
    }
    if let Some(outcome) = query.outcome {
        s.sql.push_str(" AND outcome = ");
        s.bind(
            SqlValue::Text(Some(outcome.name().to_string())),
            placeholder,
        );
    }
    if let Some(ip) = query.ip {
        s.sql.push_str(" AND ip = ");
        s.bind(
            SqlValue::Text(ip_text(Some(ip.to_canonical()))),
            placeholder,
        );
    }
    if let Some(since) = query.since {
        s.sql.push_str(" AND at >= ");
        s.bind(SqlValue::Time(Some(since)), placeholder);
    }
    if let Some(until) = query.until {
        s.sql.push_str(" AND at < ");
        s.bind(SqlValue::Time(Some(until)), placeholder);
    }
    match query.after_id {
        Some(after) => {
            s.sql.push_str(" AND id > ");
            s.bind(SqlValue::Int(Some(after)), placeholder);
            s.sql.push_str(" ORDER BY id ASC");
        }
        None => s.sql.push_str(" ORDER BY id DESC"),
    }
    s.sql.push_str(&format!(" LIMIT {}", query.limit));
    s
}

/// Counts by type and outcome since `since`.
pub(crate) fn counts_by_type(
    since: Option<Timestamp>,
    placeholder: fn(usize) -> String,
) -> Statement {
    let mut s = Statement::new();
    s.sql
        .push_str("SELECT type, outcome, CAST(SUM(count) AS BIGINT) FROM audit_events");
    since_clause(&mut s, " WHERE ", since, placeholder);
    s.sql
        .push_str(" GROUP BY type, outcome ORDER BY 3 DESC, type, outcome");
    s
}

/// The `top` IPs by failed logins since `since`.
pub(crate) fn failed_login_ips(
    since: Option<Timestamp>,
    top: u32,
    placeholder: fn(usize) -> String,
) -> Statement {
    let mut s = Statement::new();
    s.sql.push_str("SELECT ip, CAST(SUM(count) AS BIGINT) FROM audit_events WHERE type = 'login' AND outcome = 'failure' AND ip IS NOT NULL");
    since_clause(&mut s, " AND ", since, placeholder);
    s.sql
        .push_str(&format!(" GROUP BY ip ORDER BY 2 DESC, ip LIMIT {top}"));
    s
}

fn since_clause(
    s: &mut Statement,
    joiner: &str,
    since: Option<Timestamp>,
    placeholder: fn(usize) -> String,
) {
    if let Some(since) = since {
        s.sql.push_str(joiner);
        s.sql.push_str("at >= ");
        s.bind(SqlValue::Time(Some(since)), placeholder);
    }
}

/// One batch of the prune: the oldest `batch` events before `before`.
pub(crate) fn prune(before: Timestamp, batch: u32, placeholder: fn(usize) -> String) -> Statement {
    let mut s = Statement::new();
    s.sql
        .push_str("DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ");
    s.bind(SqlValue::Time(Some(before)), placeholder);
    s.sql.push_str(&format!(" ORDER BY id LIMIT {batch})"));
    s
}
