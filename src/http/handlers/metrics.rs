//! `GET /metrics`: the Prometheus text exposition (see `crate::metrics`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};

use crate::app::App;
use crate::http::response::Response;

/// Prometheus metrics.
///
/// Served on `metrics.bind` when that is set; otherwise here, to clients in
/// `metrics.allow` only (default: loopback; the client IP as resolved
/// through `http.trusted_proxies`). Anyone else gets `404`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4.",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)),
    security(()),
)]
pub fn get(app: &App) -> Response {
    let mut response = hyper::Response::new(Full::new(Bytes::from(app.metrics.render())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    response
}
