//! `GET /healthz` (the process serves) and `GET /readyz` (it can do its
//! work, and in which modes).
//!
//! Readiness is 503 when the database cannot serve requests (down, its
//! schema not at this binary's version, or read-only: a write is tried and
//! rolled back), or when Redis is down and throttling is configured to
//! refuse without it (`deny`). With the `memory` or `allow` fallback a
//! Redis outage keeps the instance ready (taking every instance out of the
//! load balancer would be worse), but the modes in force say so:
//! `throttle` is `fallback_memory` or `fallback_allow`, `reset_tokens`
//! `fallback_database`. Redis counts as down when it does not answer a
//! PING or when the throttle's own operations fail (a Cluster node that
//! answers PING but refuses keys outside its slots).

use hyper::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::config::{ResetFallback, ResetStore, ThrottleFallback};
use crate::http::error::ApiError;
use crate::http::response::{json, Response};
use crate::throttle::RedisState;

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// The state of the stores a request may need, and the modes in force.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when ready (on a 503 the problem carries the other members).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ok", required = false)]
    status: Option<&'static str>,
    /// `ok`, `unavailable`, `read_only` (a write fails) or `schema_mismatch`.
    #[schema(example = "ok")]
    database: &'static str,
    /// The schema version of the database (the latest migration applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    schema_version: Option<u32>,
    /// The schema version this binary needs.
    schema_expected: u32,
    /// `ok`, `unavailable`, or `disabled` when no Redis is configured.
    #[schema(example = "disabled")]
    redis: &'static str,
    /// Failed Redis operations of the throttle since start (Redis configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    redis_errors: Option<u64>,
    /// Where throttle windows are counted now: `redis` (shared by every
    /// instance), `memory` (no Redis configured), or while Redis is down
    /// `fallback_memory` (per instance), `fallback_allow` or `fallback_deny`.
    #[schema(example = "redis")]
    throttle: &'static str,
    /// While Redis is down: `memory`, `allow` or `deny` (`throttle.on_redis_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    throttle_fallback: Option<&'static str>,
    /// Where reset tokens are issued now: `redis`, `database`, or while
    /// Redis is down `fallback_database` or `unavailable`.
    #[schema(example = "redis")]
    reset_tokens: &'static str,
}

/// The database as readiness sees it.
struct DatabaseState {
    state: &'static str,
    schema_version: Option<u32>,
    schema_expected: u32,
}

fn database_state(store: &dyn crate::store::Store) -> DatabaseState {
    let schema_expected = store.migrations().last().map_or(0, |m| m.version);
    let mut result = DatabaseState {
        state: "unavailable",
        schema_version: None,
        schema_expected,
    };
    let applied = match store.applied_migrations() {
        Ok(applied) => applied,
        Err(error) => {
            tracing::warn!(error = %crate::error_chain::Chain(&error), "readiness check: database unavailable");
            return result;
        }
    };
    result.schema_version = applied.iter().map(|a| a.version).max();
    if let Err(error) = crate::store::migrate::ensure_current(store) {
        tracing::warn!(error = %crate::error_chain::Chain(&error), "readiness check: the schema is not this binary's");
        result.state = "schema_mismatch";
        return result;
    }
    result.state = match store.probe_write() {
        Ok(()) => "ok",
        Err(crate::store::StoreError::Database(error)) => {
            tracing::warn!(error = %crate::error_chain::Chain(&error), "readiness check: the database refuses writes");
            "read_only"
        }
        Err(error) => {
            tracing::warn!(error = %crate::error_chain::Chain(&error), "readiness check: database unavailable");
            "unavailable"
        }
    };
    result
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
    let db = app
        .db
        .call(|s| Ok(database_state(s)))
        .await
        .unwrap_or(DatabaseState {
            state: "unavailable",
            schema_version: None,
            schema_expected: 0,
        });
    let redis_up = match &app.kv {
        None => None,
        Some(kv) => Some(kv.ping().await.is_ok() && app.throttle.redis_state() != RedisState::Down),
    };
    let fallback = app.throttle.fallback();
    let database_up = db.state == "ok";
    let ready = database_up && !(redis_up == Some(false) && fallback == ThrottleFallback::Deny);
    app.metrics.record_readiness(ready);
    let fallback_name = match fallback {
        ThrottleFallback::Memory => "memory",
        ThrottleFallback::Allow => "allow",
        ThrottleFallback::Deny => "deny",
    };
    let readiness = Readiness {
        status: ready.then_some("ok"),
        database: db.state,
        schema_version: db.schema_version,
        schema_expected: db.schema_expected,
        redis: match redis_up {
            None => "disabled",
            Some(true) => "ok",
            Some(false) => "unavailable",
        },
        redis_errors: redis_up.map(|_| app.throttle.redis_errors()),
        throttle: match redis_up {
            None => "memory",
            Some(true) => "redis",
            Some(false) => match fallback {
                ThrottleFallback::Memory => "fallback_memory",
                ThrottleFallback::Allow => "fallback_allow",
                ThrottleFallback::Deny => "fallback_deny",
            },
        },
        throttle_fallback: (redis_up == Some(false)).then_some(fallback_name),
        reset_tokens: match (app.config.reset_store(), redis_up) {
            (ResetStore::Database, _) | (ResetStore::Redis, None) => "database",
            (ResetStore::Redis, Some(true)) => "redis",
            (ResetStore::Redis, Some(false)) => match app.config.reset.on_redis_error {
                ResetFallback::Database => "fallback_database",
                ResetFallback::Unavailable => "unavailable",
            },
        },
    };
    if ready {
        return Ok(json(StatusCode::OK, &readiness));
    }
    let detail = match db.state {
        "ok" => "Redis is unavailable.",
        "read_only" => "The database refuses writes.",
        "schema_mismatch" => "The database schema is not at this binary's version.",
        _ => "The database is unavailable.",
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
