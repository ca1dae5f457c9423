//! How `authd audit` shows events and counts: a table fitted to the
//! terminal (`list`), one line per event (`tail`, which streams), and JSON
//! carrying every stored field (an array for `list`, one object per line for
//! `tail`). The JSON shapes are documented in the README and are stable.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::output::{self, OutputFormat};
use super::CliError;
use crate::domain::{rfc3339, Timestamp};
use crate::store::{AuditStats, StoredAuditEvent};

/// An event as JSON: every column of the table.
#[derive(Serialize)]
pub struct EventJson<'a> {
    id: i64,
    at: String,
    #[serde(rename = "type")]
    kind: &'a str,
    outcome: &'a str,
    reason: Option<&'a str>,
    user_id: Option<i64>,
    email: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
    session_id: Option<&'a str>,
    actor: &'a str,
    actor_name: Option<&'a str>,
    detail: Option<&'a str>,
    count: i64,
}

impl<'a> From<&'a StoredAuditEvent> for EventJson<'a> {
    fn from(event: &'a StoredAuditEvent) -> EventJson<'a> {
        EventJson {
            id: event.id,
            at: rfc3339(&event.at),
            kind: &event.kind,
            outcome: &event.outcome,
            reason: event.reason.as_deref(),
            user_id: event.user_id,
            email: event.email.as_deref(),
            ip: event.ip.as_deref(),
            user_agent: event.user_agent.as_deref(),
            request_id: event.request_id.as_deref(),
            session_id: event.session_id.as_deref(),
            actor: &event.actor,
            actor_name: event.actor_name.as_deref(),
            detail: event.detail.as_deref(),
            count: event.count,
        }
    }
}

pub fn json(events: &[StoredAuditEvent]) -> Vec<EventJson<'_>> {
    events.iter().map(EventJson::from).collect()
}

const COLUMNS: [&str; 8] = [
    "time", "type", "outcome", "reason", "user", "ip", "actor", "detail",
];

/// The cells of an event, in [`COLUMNS`] order. The user agent and request
/// id are left to JSON: they would crowd the columns people scan.
fn cells(event: &StoredAuditEvent) -> [String; 8] {
    let user = match (event.user_id, &event.email) {
        (Some(id), Some(email)) => format!("{id} <{email}>"),
        (Some(id), None) => id.to_string(),
        (None, Some(email)) => email.clone(),
        (None, None) => "-".into(),
    };
    let actor = match &event.actor_name {
        Some(name) => format!("{}:{name}", event.actor),
        None => event.actor.clone(),
    };
    let mut detail = Vec::new();
    if let Some(text) = &event.detail {
        detail.push(text.clone());
    }
    if let Some(session) = &event.session_id {
        detail.push(format!("session {session}"));
    }
    if event.count != 1 {
        detail.push(format!("{} times", event.count));
    }
    [
        rfc3339(&event.at),
        event.kind.clone(),
        event.outcome.clone(),
        event.reason.clone().unwrap_or_else(|| "-".into()),
        user,
        event.ip.clone().unwrap_or_else(|| "-".into()),
        actor,
        if detail.is_empty() {
            "-".into()
        } else {
            detail.join(", ")
        },
    ]
}

/// `audit list`'s table: reason and detail wrap, the rest stay whole.
pub fn table(events: &[StoredAuditEvent]) -> comfy_table::Table {
    let mut table = output::table(&COLUMNS);
    for event in events {
        table.add_row(cells(event));
    }
    table
}

/// Where `tail` writes: one event per line, flushed as it goes.
pub struct Stream {
    format: OutputFormat,
}

impl Stream {
    pub fn new(format: OutputFormat) -> Stream {
        Stream { format }
    }

    /// Prints `events`; `false` when the reader has closed the pipe
    /// (`authd audit tail -f | head`), which ends a follow.
    pub fn events(&mut self, events: &[StoredAuditEvent]) -> Result<bool, CliError> {
        let mut out = std::io::stdout().lock();
        for event in events {
            let line = match self.format {
                OutputFormat::Json => serde_json::to_string(&EventJson::from(event))
                    .map_err(|e| CliError::Failed(format!("cannot render JSON: {e}")))?,
                OutputFormat::Table => cells(event).join("  "),
            };
            match writeln!(out, "{line}") {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(false),
                other => other?,
            }
        }
        match out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            other => other.map(|()| true).map_err(CliError::from),
        }
    }
}

#[derive(Serialize)]
pub struct StatsJson<'a> {
    /// `null`: all time.
    since: Option<String>,
    by_type: Vec<TypeCount<'a>>,
    failed_login_ips: Vec<IpCount<'a>>,
}

#[derive(Serialize)]
struct TypeCount<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    outcome: &'a str,
    events: i64,
}

#[derive(Serialize)]
struct IpCount<'a> {
    ip: &'a str,
    failed_logins: i64,
}

pub fn stats_json(since: Option<Timestamp>, stats: &AuditStats) -> StatsJson<'_> {
    StatsJson {
        since: since.as_ref().map(rfc3339),
        by_type: stats
            .by_type
            .iter()
            .map(|(kind, outcome, events)| TypeCount {
                kind,
                outcome,
                events: *events,
            })
            .collect(),
        failed_login_ips: stats
            .failed_login_ips
            .iter()
            .map(|(ip, failed_logins)| IpCount {
                ip,
                failed_logins: *failed_logins,
            })
            .collect(),
    }
}

/// One row per type with its successes and failures, most events first;
/// then the IPs by failed logins.
pub fn print_stats(since: Option<Timestamp>, stats: &AuditStats) -> Result<(), CliError> {
    let period = match &since {
        Some(since) => format!("since {}", rfc3339(since)),
        None => "all time".into(),
    };
    if stats.by_type.is_empty() {
        return output::print(format!("No events ({period})."));
    }
    let mut by_type: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (kind, outcome, events) in &stats.by_type {
        let counts = by_type.entry(kind).or_default();
        if outcome == "success" {
            counts.0 += events;
        } else {
            counts.1 += events;
        }
    }
    let mut rows: Vec<_> = by_type.into_iter().collect();
    rows.sort_by_key(|(_, (success, failure))| std::cmp::Reverse(success + failure));
    let mut table = output::table(&["type", "success", "failure", "total"]);
    for (kind, (success, failure)) in rows {
        table.add_row([
            kind.to_string(),
            success.to_string(),
            failure.to_string(),
            (success + failure).to_string(),
        ]);
    }
    output::print(format!("Events by type ({period}):"))?;
    output::print(table)?;
    if stats.failed_login_ips.is_empty() {
        return output::print("No failed logins.");
    }
    let mut ips = output::table(&["ip", "failed logins"]);
    for (ip, failed) in &stats.failed_login_ips {
        ips.add_row([ip.clone(), failed.to_string()]);
    }
    output::print("")?;
    output::print("IPs by failed logins:")?;
    output::print(ips)
}
