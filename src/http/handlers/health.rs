//! `GET /healthz` (the process serves) and `GET /readyz` (its stores answer).

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::StatusCode;
use serde_json::json;

use crate::app::App;
use crate::auth::tokens::blocking;
use crate::http::error::ApiError;
use crate::http::response::{json, json_with_type, Response};

pub fn healthz() -> Response {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

/// 200 when the database answers; 503 naming the store that does not.
pub async fn readyz(app: &App) -> Result<Response, ApiError> {
    let database = blocking(app.tokens.store(), |s| s.ping()).await;
    let redis = "disabled";
    match database {
        Ok(()) => Ok(json(
            StatusCode::OK,
            &json!({"status": "ok", "database": "ok", "redis": redis}),
        )),
        Err(error) => {
            tracing::warn!(%error, "readiness check: database unavailable");
            let body = json!({
                "type": "about:blank", "title": "Service Unavailable", "status": 503,
                "detail": "The database is unavailable.", "code": "service_unavailable",
                "database": "unavailable", "redis": redis,
            });
            let mut response = json_with_type(
                StatusCode::SERVICE_UNAVAILABLE,
                &body,
                "application/problem+json",
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
            Ok(response)
        }
    }
}
