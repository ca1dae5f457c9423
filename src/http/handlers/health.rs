//! `GET /healthz` (the process serves) and `GET /readyz` (its stores answer).
//!
//! Readiness is 503 when the database is down, or when Redis is down and
//! throttling is configured to refuse without it (`deny`). With the
//! `memory` or `allow` fallback a Redis outage is reported (`"redis":
//! "unavailable"`, and the fallback in use) but the instance stays ready:
//! taking every instance out of the load balancer would be worse.

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::tokens::blocking;
use crate::config::ThrottleFallback;
use crate::http::error::ApiError;
use crate::http::response::{json, json_with_type, Response};

pub fn healthz() -> Response {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

pub async fn readyz(app: &App) -> Result<Response, ApiError> {
    let database_up = match blocking(app.tokens.store(), |s| s.ping()).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "readiness check: database unavailable");
            false
        }
    };
    let redis_up = match &app.kv {
        None => None,
        Some(kv) => Some(kv.ping().await.is_ok()),
    };
    let fallback = app.throttle.fallback();
    let mut body = json!({
        "database": if database_up { "ok" } else { "unavailable" },
        "redis": match redis_up { None => "disabled", Some(true) => "ok", Some(false) => "unavailable" },
    });
    if redis_up == Some(false) {
        body["throttle_fallback"] = Value::from(match fallback {
            ThrottleFallback::Memory => "memory",
            ThrottleFallback::Allow => "allow",
            ThrottleFallback::Deny => "deny",
        });
    }
    let ready = database_up && !(redis_up == Some(false) && fallback == ThrottleFallback::Deny);
    if ready {
        body["status"] = "ok".into();
        return Ok(json(StatusCode::OK, &body));
    }
    let down = if database_up { "Redis" } else { "The database" };
    let problem = json!({
        "type": "about:blank", "title": "Service Unavailable", "status": 503,
        "detail": format!("{down} is unavailable."), "code": "service_unavailable",
    });
    let mut problem = problem.as_object().cloned().unwrap_or_default();
    problem.extend(body.as_object().cloned().unwrap_or_default());
    let mut response = json_with_type(
        StatusCode::SERVICE_UNAVAILABLE,
        &problem,
        "application/problem+json",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("5"));
    Ok(response)
}
