//! Instants as authd stores and shows them: UTC, microsecond precision (what
//! both SQLite and Postgres keep), rendered as RFC 3339 with a `Z`.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

/// An instant in UTC.
pub type Timestamp = DateTime<Utc>;

/// The current instant, truncated to what the stores can hold, so a value
/// read back equals the value written.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// `2026-11-24T10:00:00Z`: the form the API's user object uses.
pub fn rfc3339(instant: &Timestamp) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}
