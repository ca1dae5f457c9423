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
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::tokens::blocking;
use crate::config::ThrottleFallback;
use crate::http::error::ApiError;
use crate::http::response::{json, Response};

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// The state of the stores a request may need.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when ready (on a 503 the problem carries the other members).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ok", required = false)]
    status: Option<&'static str>,
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    database: &'static str,
    /// `ok`, `unavailable`, or `disabled` when no Redis is configured.
    #[schema(example = "disabled")]
    redis: &'static str,
    /// Failed Redis operations of the throttle since start (Redis configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    redis_errors: Option<u64>,
    /// While Redis is down: `memory`, `allow` or `deny` (`throttle.on_redis_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    throttle_fallback: Option<&'static str>,
}

/// Liveness: the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "The process serves.", body = Health)),
    security(()),
)]
pub fn healthz() -> Response {
    json(StatusCode::OK, &Health { status: "ok" })
}

/// Readiness: the database (and Redis, when configured) answer.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses((status = 200, description = "Ready.", body = Readiness)),
    security(()),
)]
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
    let ready = database_up && !(redis_up == Some(false) && fallback == ThrottleFallback::Deny);
    let readiness = Readiness {
        status: ready.then_some("ok"),
        database: if database_up { "ok" } else { "unavailable" },
        redis: match redis_up {
            None => "disabled",
            Some(true) => "ok",
            Some(false) => "unavailable",
        },
        redis_errors: redis_up.map(|_| app.throttle.redis_errors()),
        throttle_fallback: (redis_up == Some(false)).then_some(match fallback {
            ThrottleFallback::Memory => "memory",
            ThrottleFallback::Allow => "allow",
            ThrottleFallback::Deny => "deny",
        }),
    };
    if ready {
        return Ok(json(StatusCode::OK, &readiness));
    }
    let detail = if database_up {
        "Redis is unavailable."
    } else {
        "The database is unavailable."
    };
    let serde_json::Value::Object(members) =
        serde_json::to_value(&readiness).expect("readiness serializes")
    else {
        unreachable!("a struct serializes to an object")
    };
    Ok(ApiError::Unavailable {
        detail,
        retry_after: 5,
    }
    .into_response_with(members))
}
