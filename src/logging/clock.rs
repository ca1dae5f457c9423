//! The timestamp that starts every log line, written as tracing-subscriber's
//! default clock writes it (RFC 3339 in UTC with microseconds,
//! `2026-12-05T03:52:52.123456Z`), but with the date and time of day
//! formatted once a second per thread instead of on every line. At one
//! line per request, the default's calendar arithmetic and six padded
//! integers were a sixth of what an access line cost (bench/callgrind.sh).

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The log lines' clock (see the module doc).
pub(super) struct Clock;

thread_local! {
    /// The second last formatted on this thread, and its text up to the
    /// fraction.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for Clock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        // A clock before 1970 is written as the epoch: nothing to order by.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        write_time(w, since)
    }
}

/// Writes the instant `since` the epoch.
pub fn write_time(w: &mut impl Write, since: Duration) -> fmt::Result {
    let seconds = since.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != seconds {
            let at = i64::try_from(seconds)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            cached.1.clear();
            write!(cached.1, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
            cached.0 = seconds;
        }
        w.write_str(&cached.1)
    })?;
    let mut fraction = *b".000000Z";
    let mut micros = since.subsec_micros();
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    w.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;

    fn written(since: Duration) -> String {
        let mut line = String::new();
        write_time(&mut line, since).unwrap();
        line
    }

    fn rfc3339(since: Duration) -> String {
        chrono::DateTime::from_timestamp(since.as_secs() as i64, since.subsec_nanos())
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// The same text as the default clock's RFC 3339 with microseconds,
    /// within a second, across seconds, days and years, on one thread (so
    /// through the cache and past it).
    #[test]
    fn instants_are_written_in_rfc3339_with_microseconds() {
        let instants = [
            Duration::new(1_796_442_772, 123_456_789),
            Duration::new(1_796_442_772, 999_999),
            Duration::new(1_796_442_772, 0),
            Duration::new(1_796_442_773, 5_000),
            Duration::new(1_796_515_199, 999_999_999),
            Duration::new(1_796_515_200, 0),
            Duration::new(0, 1_000),
            Duration::new(4_102_444_800, 42_000),
        ];
        for since in instants {
            assert_eq!(written(since), rfc3339(since), "{since:?}");
        }
        assert_eq!(
            written(Duration::new(1_796_442_772, 7_000)),
            "2026-12-05T03:52:52.000007Z"
        );
    }
}
