//! Prometheus metrics (the official `prometheus-client` crate), served as
//! text at `/metrics`: requests by route, method and status; latency
//! histograms by route; throttle decisions by scope and outcome; logins by
//! outcome; the hashing pool's wait times; and, read at each scrape
//! (`live`), the hashing queue, the database pool, Redis, the reset
//! requests and the latest readiness check; and the audit log's events by
//! type and outcome, and those it dropped. Label values come from closed sets (routes, scopes, outcomes,
//! status codes), so the series stay bounded whatever clients send.

mod live;

use std::time::Duration;

use hyper::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use live::{LastReadiness, Sources};

/// The exposition's `Content-Type` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Latency bounds in seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThrottleLabels {
    scope: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// What a throttle check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleOutcome {
    Allowed,
    Throttled,
    /// Redis down and `throttle.on_redis_error = "allow"`: not counted.
    Bypassed,
    /// Redis down and `throttle.on_redis_error = "deny"`: refused with 503.
    Unavailable,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    throttle: Family<ThrottleLabels, Counter>,
    logins: Family<OutcomeLabels, Counter>,
    readiness: std::sync::Arc<LastReadiness>,
}

impl Metrics {
    /// A registry with every metric, reading `sources` at each scrape.
    pub fn new(sources: Sources) -> Metrics {
        let mut registry = Registry::with_prefix("authd");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        let throttle = Family::<ThrottleLabels, Counter>::default();
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            latency.clone(),
        );
        registry.register(
            "throttle_decisions",
            "Throttle checks, by scope and outcome (allowed, throttled, bypassed, unavailable)",
            throttle.clone(),
        );
        registry.register(
            "logins",
            "Login attempts, by outcome (success, invalid_credentials, invalid_request, throttled, unavailable, error)",
            logins.clone(),
        );
        registry.register(
            "hashing_wait_seconds",
            "Time an admitted password hash waited for a hashing worker",
            sources.hashing.wait_seconds(),
        );
        registry.register(
            "build",
            "The authd build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "audit_events",
            "Audit events recorded, by type and outcome (aggregate rows count as what they stand for)",
            sources.audit.events.clone(),
        );
        registry.register(
            "audit_events_dropped",
            "Audit events not stored, by reason (queue_full: the writer fell behind; write_failed: the database refused the batch)",
            sources.audit.dropped.clone(),
        );
        let readiness = std::sync::Arc::clone(&sources.readiness);
        registry.register_collector(Box::new(sources));
        Metrics {
            registry,
            requests,
            latency,
            throttle,
            logins,
            readiness,
        }
    }

    /// One answered request; `route` is `None` for unknown paths.
    pub fn record_request(
        &self,
        route: Option<&'static str>,
        method: &Method,
        status: u16,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or("unmatched");
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    pub fn record_throttle(&self, scope: &'static str, outcome: ThrottleOutcome) {
        let outcome = match outcome {
            ThrottleOutcome::Allowed => "allowed",
            ThrottleOutcome::Throttled => "throttled",
            ThrottleOutcome::Bypassed => "bypassed",
            ThrottleOutcome::Unavailable => "unavailable",
        };
        self.throttle
            .get_or_create(&ThrottleLabels { scope, outcome })
            .inc();
    }

    /// One login, classified by the status it was answered with.
    pub fn record_login(&self, status: u16) {
        let outcome = match status {
            200 => "success",
            401 => "invalid_credentials",
            400 | 413 | 415 => "invalid_request",
            429 => "throttled",
            503 => "unavailable",
            _ => "error",
        };
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The answer of a `/readyz` check (`authd_ready`).
    pub fn record_readiness(&self, ready: bool) {
        self.readiness.record(ready);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Methods from a closed set, so a client cannot mint label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
