//! The access line: one event per request under `authd::request` (method,
//! route, status, latency, request id, client ip; never a body, a header
//! value or a token), at the level its kind of request deserves.
//!
//! - Probes (`/healthz`, `/readyz`, `/metrics`) that succeed log at `debug`:
//!   an orchestrator asks every few seconds, and those lines would drown
//!   the requests people look for.
//! - Other successes (status below 400) log at `info`, a share
//!   `log.sample_successes` of them chosen at random.
//! - Errors (4xx, 5xx) always log at `info`, probes' included.
//!
//! The fields are borrowed, never formatted into owned strings, and `serve`
//! writes the line straight into its log queue (`logging::direct`): one
//! formatting pass into a reused buffer, and nothing when its level is off.

use std::net::IpAddr;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use tracing::Level;

use super::router::Route;
use crate::ip_text::IpText;
use crate::logging::{self, AccessFields};

/// What the access line of one request says.
pub struct AccessLine<'a> {
    pub method: &'a Method,
    pub route: Option<Route>,
    pub status: StatusCode,
    pub elapsed: Duration,
    pub request_id: &'a HeaderValue,
    pub client_ip: IpAddr,
}

/// How an access line is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Info,
    Debug,
    Skip,
}

/// Logs `line` as the module doc says; `sample_successes` is
/// `log.sample_successes`.
pub fn log(line: &AccessLine<'_>, sample_successes: f64) {
    // `enabled!` and the event need their level as a constant.
    macro_rules! emit {
        ($level:expr) => {
            if tracing::enabled!(target: logging::ACCESS_TARGET, $level) {
                let fields = fields(line);
                if !logging::write_access_line($level, &fields) {
                    emit_traced!($level, fields);
                }
            }
        };
    }
    match verdict(line.route, line.status, sample_successes, rand::random) {
        Verdict::Info => emit!(Level::INFO),
        Verdict::Debug => emit!(Level::DEBUG),
        Verdict::Skip => {}
    }
}

/// The access event through tracing, where no direct writer is installed
/// (`logging::direct`), and in the tests that hold both to the same bytes.
macro_rules! emit_traced {
    ($level:expr, $fields:expr) => {
        tracing::event!(
            target: crate::logging::ACCESS_TARGET,
            $level,
            method = %$fields.method,
            route = $fields.route,
            status = $fields.status,
            latency_ms = $fields.latency_ms,
            request_id = $fields.request_id,
            client_ip = %IpText($fields.client_ip),
        )
    };
}
use emit_traced;

/// The fields `line` is logged with.
fn fields<'a>(line: &AccessLine<'a>) -> AccessFields<'a> {
    AccessFields {
        method: line.method.as_str(),
        route: line.route.map_or("-", Route::path),
        status: line.status.as_u16(),
        latency_ms: line.elapsed.as_secs_f64() * 1000.0,
        request_id: line.request_id.to_str().unwrap_or("-"),
        client_ip: line.client_ip,
    }
}

/// The level of a request's line; `draw` gives a uniform number in [0, 1)
/// and is only called for successes when some are sampled away.
fn verdict(
    route: Option<Route>,
    status: StatusCode,
    sample_successes: f64,
    draw: impl FnOnce() -> f64,
) -> Verdict {
    let error = status.is_client_error() || status.is_server_error();
    if error {
        Verdict::Info
    } else if matches!(route, Some(Route::Healthz | Route::Readyz | Route::Metrics)) {
        Verdict::Debug
    } else if sample_successes >= 1.0 || draw() < sample_successes {
        Verdict::Info
    } else {
        Verdict::Skip
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::FormatTime;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::EnvFilter;

    use super::*;
    use crate::config::LogFormat;

    /// A clock stopped at one instant.
    struct Stopped(Duration);

    impl FormatTime for Stopped {
        fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
            logging::write_time(w, self.0)
        }
    }

    /// Lines written through tracing, kept.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// The line tracing-subscriber writes for `fields` at `level` in
    /// `format`, configured as `serve` configures it, at `since`.
    fn traced(
        format: LogFormat,
        level: Level,
        fields: &AccessFields<'_>,
        since: Duration,
    ) -> String {
        let captured = Captured::default();
        let subscriber = logging::subscriber(
            EnvFilter::new("trace"),
            format,
            false,
            Stopped(since),
            captured.clone(),
        );
        tracing::subscriber::with_default(subscriber, || match level {
            Level::INFO => emit_traced!(Level::INFO, fields),
            Level::DEBUG => emit_traced!(Level::DEBUG, fields),
            other => panic!("access lines are never {other}"),
        });
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// The direct access line is byte for byte the line tracing-subscriber
    /// writes for the same event, in both formats and at both levels, for
    /// latencies that need many digits or an exponent (or are not a
    /// number), both address families, and text that needs escaping.
    #[test]
    fn direct_lines_are_the_bytes_tracing_writes() {
        let since = Duration::new(1_796_442_772, 123_456_789);
        let cases = [
            AccessFields {
                method: "GET",
                route: "/api/auth/me/",
                status: 200,
                latency_ms: 0.033819999999999996,
                request_id: "b418a69d3a0339fa0000000000000000",
                client_ip: [127, 0, 0, 1].into(),
            },
            AccessFields {
                method: "POST",
                route: "-",
                status: 429,
                latency_ms: 1234.5,
                request_id: "client.id:with-odd_chars",
                client_ip: "2001:db8::1".parse().unwrap(),
            },
            AccessFields {
                method: "PROPFIND",
                route: "/healthz",
                status: 503,
                latency_ms: 0.00001,
                request_id: "-",
                client_ip: "::ffff:192.0.2.1".parse().unwrap(),
            },
            AccessFields {
                method: "GET",
                route: "/odd \"route\"\\",
                status: 7,
                latency_ms: f64::NAN,
                request_id: "tab\there, é, \u{7f} and \u{200b}",
                client_ip: [0, 0, 0, 0].into(),
            },
            AccessFields {
                method: "OPTIONS",
                route: "/api/auth/token/refresh/",
                status: 204,
                latency_ms: 3.0,
                request_id: "x",
                client_ip: [10, 255, 0, 9].into(),
            },
        ];
        for format in [LogFormat::Pretty, LogFormat::Json] {
            for level in [Level::INFO, Level::DEBUG] {
                for fields in &cases {
                    let mut direct = Vec::new();
                    logging::format_access_line(&mut direct, format, level, fields, since).unwrap();
                    assert_eq!(
                        String::from_utf8(direct).unwrap(),
                        traced(format, level, fields, since),
                        "{format:?} {level}"
                    );
                }
            }
        }
    }

    fn never() -> f64 {
        panic!("no draw is needed for this line")
    }

    #[test]
    fn errors_are_always_logged_whatever_the_sampling() {
        for status in [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS] {
            assert_eq!(verdict(Some(Route::Me), status, 0.0, never), Verdict::Info);
        }
        let unready = StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(
            verdict(Some(Route::Readyz), unready, 0.0, never),
            Verdict::Info
        );
        assert_eq!(
            verdict(None, StatusCode::NOT_FOUND, 0.0, never),
            Verdict::Info
        );
    }

    #[test]
    fn successful_probes_log_at_debug() {
        for route in [Route::Healthz, Route::Readyz, Route::Metrics] {
            assert_eq!(
                verdict(Some(route), StatusCode::OK, 1.0, never),
                Verdict::Debug
            );
        }
        assert_eq!(
            verdict(Some(Route::Me), StatusCode::OK, 1.0, never),
            Verdict::Info
        );
    }

    #[test]
    fn successes_are_kept_in_the_configured_share() {
        let ok = StatusCode::OK;
        assert_eq!(verdict(Some(Route::Me), ok, 0.1, || 0.05), Verdict::Info);
        assert_eq!(verdict(Some(Route::Me), ok, 0.1, || 0.5), Verdict::Skip);
        assert_eq!(verdict(Some(Route::Me), ok, 0.0, || 0.0), Verdict::Skip);
    }
}
