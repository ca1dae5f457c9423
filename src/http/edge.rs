//! What happens to every request, around its handler: the `X-Request-Id`,
//! the `ALLOWED_HOSTS` check, CORS (preflight and response headers), the
//! request timeout, the security headers, and the access line (see
//! `access_log`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ALLOW, CACHE_CONTROL, ORIGIN,
    REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, VARY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{HeaderMap, Method, Request, StatusCode};

use super::access_log::{self, AccessLine};
use super::client_ip::client_ip;
use super::error::{allow_header, ApiError};
use super::handlers;
use super::host;
use super::request_id::{request_id, REQUEST_ID};
use super::response::Response;
use super::router::{self, Route};
use super::site::Site;
use crate::app::App;

/// What a handler may need to know about the request beyond its body.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub client_ip: IpAddr,
    /// The TCP peer (a proxy, when there is one).
    pub peer: IpAddr,
    /// The request's `X-Request-Id` (the client's, or minted).
    pub request_id: HeaderValue,
}

/// Which of the server's listeners a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `http.bind`: the API (and `/metrics` for `metrics.allow`, unless
    /// `metrics.bind` is set).
    Public,
    /// `metrics.bind`: `/metrics` only.
    Metrics,
}

/// Serves one request.
pub async fn handle(
    site: Arc<Site>,
    request: Request<Incoming>,
    peer: SocketAddr,
    listener: Listener,
) -> Response {
    let app = &site.app;
    let started = Instant::now();
    let request_id = request_id(request.headers());
    let info = RequestInfo {
        client_ip: client_ip(
            peer.ip(),
            request.headers(),
            &app.config.http.trusted_proxies,
            app.config.http.forwarded_header,
        ),
        peer: peer.ip(),
        request_id: request_id.clone(),
    };
    let client_ip = info.client_ip;
    let method = request.method().clone();
    let path = request.uri().path();
    let route =
        router::resolve(path).filter(|route| served_on(app, *route, listener, info.client_ip));
    let is_api = path.starts_with("/api/auth/");
    let origin = allowed_origin(app, request.headers());

    let probe = matches!(route, Some(Route::Healthz | Route::Readyz));
    let mut response = if !probe
        && !host::host_allowed(
            &app.config.http.allowed_hosts,
            request.headers(),
            request.uri(),
        ) {
        ApiError::DisallowedHost.into_response()
    } else if method == Method::OPTIONS {
        options(route, origin.is_some(), request.headers())
    } else {
        let timeout = *app.config.http.request_timeout;
        // Boxed: the dispatch future holds the state of the largest handler,
        // and moving it by value into the timeout copied kilobytes per request.
        match tokio::time::timeout(timeout, Box::pin(dispatch(&site, request, route, info))).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => error.into_response(),
            Err(_) => ApiError::Unavailable {
                detail: "The request took too long; retry later.",
                retry_after: 1,
            }
            .into_response(),
        }
    };
    decorate(app, &mut response, &request_id, origin, is_api);
    let elapsed = started.elapsed();
    app.metrics.record_request(
        route.map(Route::path),
        &method,
        response.status().as_u16(),
        elapsed,
    );
    let line = AccessLine {
        method: &method,
        route,
        status: response.status(),
        elapsed,
        request_id: &request_id,
        client_ip,
    };
    access_log::log(&line, app.config.log.sample_successes);
    response
}

/// `/metrics` lives on `metrics.bind` when that is set, and only it does;
/// otherwise the public listener serves it to the clients of
/// `metrics.allow` alone (judged by the IP resolved through trusted
/// proxies, so a public request relayed by a local proxy is not let in).
/// Anyone else gets the 404 of an unknown path.
fn served_on(app: &App, route: Route, listener: Listener, client: IpAddr) -> bool {
    let metrics = &app.config.metrics;
    match listener {
        Listener::Metrics => route == Route::Metrics,
        Listener::Public if route == Route::Metrics => {
            let client = client.to_canonical();
            metrics.bind.is_none() && metrics.allow.iter().any(|net| net.contains(&client))
        }
        Listener::Public => true,
    }
}

async fn dispatch(
    site: &Site,
    request: Request<Incoming>,
    route: Option<Route>,
    info: RequestInfo,
) -> Result<Response, ApiError> {
    let route = route.ok_or(ApiError::NotFound)?;
    if !route.methods().contains(request.method()) {
        return Err(ApiError::MethodNotAllowed(route.methods()));
    }
    handlers::handle(&site.app, &site.docs, route, request, info).await
}

/// OPTIONS: a CORS preflight for allowed origins, else the `Allow` list.
fn options(route: Option<Route>, origin_allowed: bool, headers: &HeaderMap) -> Response {
    let Some(route) = route else {
        return ApiError::NotFound.into_response();
    };
    let mut response = Response::default();
    *response.status_mut() = StatusCode::NO_CONTENT;
    let allow = allow_header(route.methods());
    if origin_allowed && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
        let h = response.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, allow.clone());
        h.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type, X-Request-Id"),
        );
        h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response.headers_mut().insert(ALLOW, allow);
    response
}

/// The request's `Origin`, if it is in `http.cors_allowed_origins`.
fn allowed_origin(app: &App, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(ORIGIN)?;
    let text = origin.to_str().ok()?;
    app.config
        .http
        .cors_allowed_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

/// Headers every response carries.
fn decorate(
    app: &App,
    response: &mut Response,
    request_id: &HeaderValue,
    origin: Option<HeaderValue>,
    is_api: bool,
) {
    let h = response.headers_mut();
    h.insert(REQUEST_ID, request_id.clone());
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if is_api {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if app.config.http.hsts {
        h.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if let Some(origin) = origin {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("X-Request-Id, Retry-After, RateLimit, RateLimit-Policy, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"),
        );
        h.append(VARY, HeaderValue::from_static("Origin"));
    }
}
