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
//! The fields are borrowed, never formatted into owned strings: the line
//! costs one formatting pass into the subscriber's buffer, and nothing when
//! its level is off.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

use super::router::Route;

/// What the access line of one request says.
pub struct AccessLine<'a> {
    pub method: &'a Method,
    pub route: Option<Route>,
    pub status: StatusCode,
    pub elapsed: Duration,
    pub request_id: &'a HeaderValue,
    pub client_ip: IpAddr,
}

/// The client address, written as `IpAddr`'s `Display` writes it. A v4
/// address is written digit by digit: the standard formatter first writes
/// it into a buffer of its own to honour a width, and cost ~1k
/// instructions a line (bench/callgrind.sh).
struct ClientIp(IpAddr);

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let IpAddr::V4(v4) = self.0 else {
            return fmt::Display::fmt(&self.0, f);
        };
        let mut text = [0u8; 15];
        let mut len = 0;
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                text[len] = b'.';
                len += 1;
            }
            if octet >= 100 {
                text[len] = b'0' + octet / 100;
                len += 1;
            }
            if octet >= 10 {
                text[len] = b'0' + octet / 10 % 10;
                len += 1;
            }
            text[len] = b'0' + octet % 10;
            len += 1;
        }
        f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
    }
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
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "authd::request",
                $level,
                method = %line.method,
                route = line.route.map_or("-", Route::path),
                status = line.status.as_u16(),
                latency_ms = line.elapsed.as_secs_f64() * 1000.0,
                request_id = line.request_id.to_str().unwrap_or("-"),
                client_ip = %ClientIp(line.client_ip),
            )
        };
    }
    match verdict(line.route, line.status, sample_successes, rand::random) {
        Verdict::Info => emit!(tracing::Level::INFO),
        Verdict::Debug => emit!(tracing::Level::DEBUG),
        Verdict::Skip => {}
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
    use super::*;

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
    fn client_addresses_are_written_as_their_display() {
        let addresses: [IpAddr; 7] = [
            [127, 0, 0, 1].into(),
            [0, 0, 0, 0].into(),
            [255, 255, 255, 255].into(),
            [10, 100, 9, 99].into(),
            [192, 0, 2, 250].into(),
            "2001:db8::1".parse().unwrap(),
            "::ffff:192.0.2.1".parse().unwrap(),
        ];
        for address in addresses {
            assert_eq!(ClientIp(address).to_string(), address.to_string());
        }
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
