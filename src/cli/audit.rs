//! `authd audit list|tail|stats`: the audit log's table read from the
//! shell. Filters are parsed into an [`AuditQuery`] here, at the edge;
//! `audit_render` turns the rows into tables, lines and JSON.
//!
//! `tail --follow` polls (every second, for ids above the last one seen)
//! rather than listening: both databases serve it the same way, and each
//! poll is bounded, so a burst is read in pages, never at once.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Subcommand;

use super::audit_render::{self as render, Stream};
use super::output::{self, OutputFormat};
use super::{database, CliError, Context};
use crate::db::Db;
use crate::domain::{self, EventType, Outcome, Timestamp, UserRef};
use crate::store::{AuditQuery, AuditSubject, Store, StoredAuditEvent};

/// Most events one poll of `tail --follow` reads; more wait for the next.
const POLL_LIMIT: u32 = 1000;
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long a stopped `tail --follow` waits for a store call in flight.
const STOP_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List events, newest first, that match every filter given.
    List {
        #[command(flatten)]
        filters: Filters,
        /// At most this many events.
        #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones.
    Tail {
        /// How many of the latest events to print first.
        #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=10_000))]
        lines: u32,
        /// Keep printing events as they are stored (polling every second) until interrupted (Ctrl-C or SIGTERM: exit 0).
        #[arg(short, long)]
        follow: bool,
    },
    /// Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins.
    Stats {
        /// Count events since then: a duration before now (24h, 7d) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN", default_value = "24h", value_parser = parse_when)]
        since: Timestamp,
        /// Count every stored event instead (a scan of the whole table).
        #[arg(long, conflicts_with = "since")]
        all: bool,
        /// How many IPs to show.
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
        top: u32,
    },
}

#[derive(Debug, clap::Args)]
pub struct Filters {
    /// Events of this account: its numeric id, or an email (any case; events of deleted accounts too).
    #[arg(long, value_name = "ID|EMAIL", value_parser = parse_user)]
    user: Option<UserRef>,
    /// Events of this type; repeat for several.
    #[arg(long = "type", value_name = "TYPE", value_parser = event_type())]
    kinds: Vec<EventType>,
    /// Only successes or only failures.
    #[arg(long, value_name = "OUTCOME", value_parser = outcome())]
    outcome: Option<Outcome>,
    /// Events of requests from this client IP.
    #[arg(long, value_name = "IP")]
    ip: Option<IpAddr>,
    /// Events at or after then: a duration before now (2h, 30m, 7d) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    since: Option<Timestamp>,
    /// Events before then: a duration before now or an RFC 3339 time.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    until: Option<Timestamp>,
}

/// `2h` (that long before now) or an RFC 3339 instant.
fn parse_when(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc).trunc_subsecs(6));
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!("{text:?} is neither a duration (2h, 30m, 7d) nor an RFC 3339 time (2026-12-04T10:00:00Z)")
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| domain::now().checked_sub_signed(ago))
        .ok_or_else(|| format!("{text} before now is out of range"))
}

fn parse_user(text: &str) -> Result<UserRef, String> {
    UserRef::parse(text).map_err(|_| format!("{text:?} is neither a user id nor an email"))
}

/// The event type names as possible values, so `--help` lists them and
/// shell completions offer them.
fn event_type() -> impl TypedValueParser<Value = EventType> {
    PossibleValuesParser::new(EventType::ALL.map(EventType::name))
        .map(|name| EventType::parse(&name).expect("every possible value is a type's name"))
}

fn outcome() -> impl TypedValueParser<Value = Outcome> {
    PossibleValuesParser::new([Outcome::Success, Outcome::Failure].map(Outcome::name))
        .map(|name| Outcome::parse(&name).expect("every possible value is an outcome's name"))
}

pub fn run(command: AuditCommand, context: &Context) -> Result<(), CliError> {
    let store = database::open_current(context)?;
    match command {
        AuditCommand::List { filters, limit } => {
            let query = query(store.as_ref(), filters, limit)?;
            let events = store.list_audit_events(&query)?;
            match context.output {
                OutputFormat::Json => output::print_json(&render::json(&events)),
                OutputFormat::Table if events.is_empty() => output::print(nothing(context)),
                OutputFormat::Table => output::print(render::table(&events)),
            }
        }
        AuditCommand::Tail { lines, follow } => tail(store, context, lines, follow),
        AuditCommand::Stats { since, all, top } => {
            let since = (!all).then_some(since);
            let stats = store.audit_stats(since, top)?;
            match context.output {
                OutputFormat::Json => output::print_json(&render::stats_json(since, &stats)),
                OutputFormat::Table => render::print_stats(since, &stats),
            }
        }
    }
}

/// The query of `filters`; an email naming an existing account also finds
/// the events recorded with its id alone.
fn query(store: &dyn Store, filters: Filters, limit: u32) -> Result<AuditQuery, CliError> {
    let subject = match filters.user {
        None => None,
        Some(UserRef::Id(id)) => Some(AuditSubject::Id(id)),
        Some(UserRef::Email(email)) => {
            let account = store.find_user(&UserRef::Email(email.clone()))?;
            Some(match account {
                Some(user) => AuditSubject::Account(user.id, email.as_str().to_string()),
                None => AuditSubject::Email(email.as_str().to_string()),
            })
        }
    };
    if let (Some(since), Some(until)) = (filters.since, filters.until) {
        if since >= until {
            return Err(CliError::Usage(format!(
                "--since ({}) must be before --until ({})",
                domain::rfc3339(&since),
                domain::rfc3339(&until)
            )));
        }
    }
    Ok(AuditQuery {
        subject,
        kinds: filters.kinds,
        outcome: filters.outcome,
        ip: filters.ip,
        since: filters.since,
        until: filters.until,
        after_id: None,
        limit,
    })
}

/// What an empty table says: with `audit.table` off, why.
fn nothing(context: &Context) -> &'static str {
    if context.config.audit.table {
        "No events."
    } else {
        "No events. (audit.table is off in this configuration: events go to the log only.)"
    }
}

fn tail(
    store: Arc<dyn Store>,
    context: &Context,
    lines: u32,
    follow: bool,
) -> Result<(), CliError> {
    let mut out = Stream::new(context.output);
    // The newest `lines` events, plus one to learn where following starts
    // when none are asked for.
    let mut latest = store.list_audit_events(&AuditQuery {
        limit: lines.max(1),
        ..AuditQuery::default()
    })?;
    let last_id = latest.first().map_or(0, |event| event.id);
    latest.truncate(lines as usize);
    latest.reverse();
    if !out.events(&latest)? || !follow {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let followed = runtime.block_on(follow_from(Db::new(store), last_id, &mut out));
    // A poll still running on the blocking pool is not waited for.
    runtime.shutdown_timeout(STOP_GRACE);
    followed
}

/// Prints events stored after `last_id` as they come, until a signal or
/// until the reader of stdout goes away.
async fn follow_from(db: Db, mut last_id: i64, out: &mut Stream) -> Result<(), CliError> {
    let stop = crate::http::shutdown_signal()?;
    tokio::pin!(stop);
    loop {
        let query = AuditQuery {
            after_id: Some(last_id),
            limit: POLL_LIMIT,
            ..AuditQuery::default()
        };
        let events: Vec<StoredAuditEvent> = tokio::select! {
            () = &mut stop => return Ok(()),
            events = db.call(move |store| store.list_audit_events(&query)) => events?,
        };
        if let Some(last) = events.last() {
            last_id = last.id;
        }
        if !out.events(&events)? {
            return Ok(());
        }
        // A full page means more are waiting: read on without pausing.
        if events.len() < POLL_LIMIT as usize {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(POLL_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_that_long_before_now_and_a_time_is_itself() {
        let before = domain::now();
        let two_hours_ago = parse_when("2h").unwrap();
        let after = domain::now();
        assert!(two_hours_ago >= before - chrono::Duration::hours(2));
        assert!(two_hours_ago <= after - chrono::Duration::hours(2));
        assert_eq!(
            domain::rfc3339(&parse_when("2026-12-04T10:00:00+01:00").unwrap()),
            "2026-12-04T09:00:00Z"
        );
        for bad in ["yesterday", "2026-12-04", "", "-2h"] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_duration_past_the_calendar_is_refused_not_wrapped() {
        assert!(parse_when("100000000000d").is_err());
    }
}
