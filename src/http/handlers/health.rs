//! `GET /healthz` (the process serves) and `GET /readyz` (its stores answer).
//!
//! Readiness is 503 when the database is down, or when Redis is down and
//! throttling is configured to refuse without it (`deny`). With the
//! `memory` or `allow` fallback a Redis outage is reported (`"redis":
//! "unavailable"`, and the fallback in use) but the instance stays ready:
//! taking every instance out of the load balancer would be worse. With
//! Redis configured, `redis_errors` counts the throttle's failed Redis
//! operations since start.

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::tokens::blocking;
use crate::config::ThrottleFallback;
use crate::http::error::ApiError;
use crate::http::response::{json, Response};

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
    let mut body = serde_json::Map::new();
    body.insert(
        "database".into(),
        Value::from(if database_up { "ok" } else { "unavailable" }),
    );
    body.insert(
        "redis".into(),
        Value::from(match redis_up {
            None => "disabled",
            Some(true) => "ok",
            Some(false) => "unavailable",
        }),
    );
    if redis_up.is_some() {
        body.insert(
            "redis_errors".into(),
            Value::from(app.throttle.redis_errors()),
        );
    }
    if redis_up == Some(false) {
        let name = match fallback {
            ThrottleFallback::Memory => "memory",
            ThrottleFallback::Allow => "allow",
            ThrottleFallback::Deny => "deny",
        };
        body.insert("throttle_fallback".into(), Value::from(name));
    }
    let ready = database_up && !(redis_up == Some(false) && fallback == ThrottleFallback::Deny);
    if ready {
        body.insert("status".into(), Value::from("ok"));
        return Ok(json(StatusCode::OK, &body));
    }
    let detail = if database_up {
        "Redis is unavailable."
    } else {
        "The database is unavailable."
    };
    Ok(ApiError::Unavailable {
        detail,
        retry_after: 5,
    }
    .into_response_with(body))
}
