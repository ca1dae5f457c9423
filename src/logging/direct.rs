//! The access line written straight into `serve`'s log queue, in the bytes
//! tracing-subscriber would write for the same event, without going
//! through it.
//!
//! Why: one access line per request cost about 6,500 instructions through
//! tracing (bench/callgrind.sh), a fifth of a `GET /api/auth/me/`: the
//! dispatch, a visitor call and a `dyn Debug` formatting pass per field,
//! the level and target painted through styles even with colour off. Here
//! the six fields are written in place into a reused per-thread buffer.
//! The line is still handed to the same bounded, lossy queue (one copy,
//! as tracing-appender takes every line), so ordering with other lines,
//! drops and their count are unchanged.
//!
//! The caller asks tracing whether the line is enabled first
//! (`tracing::enabled!`), so `log.level` and `RUST_LOG` decide as before.
//! Only `serve`'s queued output with colour off is written here; on a
//! terminal, for the admin commands and in tests without `init` the line
//! goes through tracing. `http::access_log`'s tests hold the bytes equal to
//! tracing-subscriber's in both formats.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Level;
use tracing_appender::non_blocking::NonBlocking;

use crate::config::LogFormat;
use crate::ip_text::IpText;

/// The access line's target, as its tracing event names it.
pub const ACCESS_TARGET: &str = "authd::request";

/// Where and how lines are written directly, once `serve` installed it.
static DIRECT: OnceLock<Direct> = OnceLock::new();

struct Direct {
    queue: NonBlocking,
    format: LogFormat,
}

thread_local! {
    /// The line being written, kept for the next one on this thread.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What an access line says, as its fields are named.
pub struct AccessFields<'a> {
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub request_id: &'a str,
    pub client_ip: IpAddr,
}

/// Makes [`write_access_line`] write into `queue` in `format`.
pub(super) fn install(queue: NonBlocking, format: LogFormat) {
    let _ = DIRECT.set(Direct { queue, format });
}

/// Writes the access line at `level` into the log queue; `false` when no
/// direct writer is installed, and the caller logs it through tracing.
pub fn write_access_line(level: Level, fields: &AccessFields<'_>) -> bool {
    let Some(direct) = DIRECT.get() else {
        return false;
    };
    // A clock before 1970 is written as the epoch, as `Clock` does.
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        if format_access_line(&mut line, direct.format, level, fields, since).is_ok() {
            // Lossy: a full queue drops the line and counts it.
            let _ = direct.queue.clone().write_all(&line);
        }
    });
    true
}

/// The line tracing-subscriber writes for the access event, in `format`
/// without colour, at the instant `since` the epoch. Constant text is
/// copied as it is and the fields written piece by piece: through one
/// `write!` the line cost 3,500 instructions, half of them the formatting
/// machinery's (callgrind).
pub fn format_access_line(
    line: &mut Vec<u8>,
    format: LogFormat,
    level: Level,
    fields: &AccessFields<'_>,
    since: Duration,
) -> fmt::Result {
    match format {
        LogFormat::Pretty => {
            super::clock::write_time(&mut Utf8(line), since)?;
            // The level padded to five, as tracing-subscriber's `FmtLevel`.
            line.push(b' ');
            line.extend_from_slice(padded(level).as_bytes());
            line.push(b' ');
            line.extend_from_slice(ACCESS_TARGET.as_bytes());
            line.extend_from_slice(b": method=");
            line.extend_from_slice(fields.method.as_bytes());
            line.extend_from_slice(b" route=");
            debug_str(line, fields.route)?;
            line.extend_from_slice(b" status=");
            decimal(line, fields.status);
            line.extend_from_slice(b" latency_ms=");
            write!(Utf8(line), "{:?}", fields.latency_ms)?;
            line.extend_from_slice(b" request_id=");
            debug_str(line, fields.request_id)?;
            line.extend_from_slice(b" client_ip=");
            write!(Utf8(line), "{}", IpText(fields.client_ip))?;
            line.push(b'\n');
        }
        LogFormat::Json => {
            line.extend_from_slice(b"{\"timestamp\":\"");
            super::clock::write_time(&mut Utf8(line), since)?;
            line.extend_from_slice(b"\",\"level\":\"");
            line.extend_from_slice(level.as_str().as_bytes());
            line.extend_from_slice(b"\",\"method\":");
            json_str(line, fields.method)?;
            line.extend_from_slice(b",\"route\":");
            json_str(line, fields.route)?;
            line.extend_from_slice(b",\"status\":");
            decimal(line, fields.status);
            line.extend_from_slice(b",\"latency_ms\":");
            // As tracing-subscriber's JSON visitor: a number, or null when
            // not finite.
            match serde_json::Number::from_f64(fields.latency_ms) {
                Some(number) => write!(Utf8(line), "{number}")?,
                None => line.extend_from_slice(b"null"),
            }
            line.extend_from_slice(b",\"request_id\":");
            json_str(line, fields.request_id)?;
            line.extend_from_slice(b",\"client_ip\":\"");
            write!(Utf8(line), "{}", IpText(fields.client_ip))?;
            line.extend_from_slice(b"\",\"target\":\"");
            line.extend_from_slice(ACCESS_TARGET.as_bytes());
            line.extend_from_slice(b"\"}\n");
        }
    }
    Ok(())
}

/// `level` as tracing-subscriber's text format writes it: right-aligned
/// in five columns.
fn padded(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// `text` as `{:?}` writes it: quoted, escaped. Printable ASCII other than
/// a quote or a backslash (every route, every request id) stands for
/// itself, so only other text goes through the formatter.
fn debug_str(line: &mut Vec<u8>, text: &str) -> fmt::Result {
    if text
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        line.push(b'"');
        line.extend_from_slice(text.as_bytes());
        line.push(b'"');
        Ok(())
    } else {
        write!(Utf8(line), "{text:?}")
    }
}

/// `text` as a JSON string.
fn json_str(line: &mut Vec<u8>, text: &str) -> fmt::Result {
    serde_json::to_writer(&mut *line, text).map_err(|_| fmt::Error)
}

/// `n` in decimal.
fn decimal(line: &mut Vec<u8>, n: u16) {
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    line.extend_from_slice(&digits[at..]);
}

/// A byte buffer written through `fmt::Write` (which only writes UTF-8).
struct Utf8<'a>(&'a mut Vec<u8>);

impl fmt::Write for Utf8<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
