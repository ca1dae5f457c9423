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

use std::net::IpAddr;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

use super::router::Route;
use crate::ip_text::IpText;

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
                client_ip = %IpText(line.client_ip),
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
