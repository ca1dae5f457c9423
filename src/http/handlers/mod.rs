//! One handler file per resource, each the same three steps: parse the
//! request into domain types (`request::Fields`), call the token service or
//! the store, render with `response`. Errors go back as `ApiError`.

pub mod docs;
pub mod health;
pub mod login;
pub mod logout;
pub mod me;
pub mod metrics;
pub mod password_change;
pub mod password_reset;
pub mod refresh;
pub mod register;
pub mod verify;

use hyper::body::Incoming;
use hyper::{Method, Request};

use super::edge::RequestInfo;
use super::error::ApiError;
use super::request::{cookie, Fields};
use super::response::Response;
use super::router::Route;
use crate::app::App;
use crate::metrics::ThrottleOutcome;
use crate::throttle::{Identity, Scope};

pub async fn handle(
    app: &App,
    route: Route,
    request: Request<Incoming>,
    info: RequestInfo,
) -> Result<Response, ApiError> {
    let ip_only = Identity {
        ip: info.client_ip,
        email: None,
    };
    match (route, route.throttle_scope()) {
        (Route::Register, Some(scope)) => {
            throttled(app, scope, &ip_only, register::post(app, request)).await
        }
        (Route::Login, Some(scope)) => {
            let answer =
                throttled_by_email(app, scope, request, info, |f| login::post(app, f)).await;
            let status = answer.as_ref().map_or_else(|e| e.status(), |r| r.status());
            app.metrics.record_login(status.as_u16());
            answer
        }
        (Route::PasswordReset, Some(scope)) => {
            throttled_by_email(app, scope, request, info, |f| {
                password_reset::request(app, f)
            })
            .await
        }
        (Route::PasswordResetConfirm, Some(scope)) => {
            throttled(app, scope, &ip_only, password_reset::confirm(app, request)).await
        }
        (Route::Refresh, _) => refresh::post(app, request).await,
        (Route::Verify, _) => verify::post(app, request).await,
        (Route::Logout, _) => logout::post(app, request).await,
        (Route::Me, _) if request.method() == Method::PATCH => me::patch(app, request).await,
        (Route::Me, _) => me::get(app, request).await,
        (Route::PasswordChange, _) => password_change::post(app, request).await,
        (Route::Healthz, _) => Ok(health::healthz()),
        (Route::Readyz, _) => health::readyz(app).await,
        (Route::Metrics, _) => Ok(metrics::get(app)),
        (Route::Schema, _) => Ok(docs::schema(app)),
        (Route::Swagger, _) => docs::swagger(super::router::swagger_asset(request.uri().path())),
        (Route::Redoc, _) => Ok(docs::redoc(app)),
        // The route table gives each of these a scope (tested in `router`).
        (
            Route::Register | Route::Login | Route::PasswordReset | Route::PasswordResetConfirm,
            None,
        ) => Err(ApiError::Internal),
    }
}

/// The body of a request (bounded by `http.max_body_bytes`), as fields.
async fn fields(app: &App, request: Request<Incoming>) -> Result<Fields, ApiError> {
    super::request::read_json(request, app.config.http.max_body_bytes)
        .await
        .map(Fields::new)
}

/// The refresh token of a refresh or logout: the body's `refresh` field
/// wins over the cookie. Reads the body; returns the remaining fields.
async fn refresh_token(
    app: &App,
    request: Request<Incoming>,
) -> Result<(Option<String>, Fields), ApiError> {
    let from_cookie =
        cookie(request.headers(), &app.config.http.refresh_cookie).map(str::to_string);
    let mut fields = fields(app, request).await?;
    let token = match fields.optional_string("refresh") {
        Some(token) if !token.is_empty() => Some(token),
        Some(_) => {
            fields.error("refresh", "This field may not be blank.");
            None
        }
        None if from_cookie.is_some() => from_cookie,
        None => {
            fields.error("refresh", "This field is required.");
            None
        }
    };
    Ok((token, fields))
}

/// Runs `work` under `scope`'s throttle: a refused request gets 429 before
/// any work is done (no SQL, no hashing), and every answer, success or
/// error, carries the rate-limit headers.
async fn throttled(
    app: &App,
    scope: Scope,
    identity: &Identity,
    work: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Result<Response, ApiError> {
    let decision = app.throttle.check(scope, identity).await.map_err(|_| {
        app.metrics
            .record_throttle(scope.name(), ThrottleOutcome::Unavailable);
        ApiError::Unavailable {
            detail: "Throttling is unavailable; retry later.",
            retry_after: 5,
        }
    })?;
    let Some(decision) = decision else {
        app.metrics
            .record_throttle(scope.name(), ThrottleOutcome::Bypassed);
        return work.await;
    };
    let mut response = if decision.allowed() {
        app.metrics
            .record_throttle(scope.name(), ThrottleOutcome::Allowed);
        work.await.unwrap_or_else(ApiError::into_response)
    } else {
        app.metrics
            .record_throttle(scope.name(), ThrottleOutcome::Throttled);
        ApiError::Throttled(decision.retry_after()).into_response()
    };
    decision.write_headers(response.headers_mut());
    Ok(response)
}

/// Reads the body, then runs `work` under `scope`'s throttle counted per
/// client IP and the body's `email`: the body must be read to know whom to
/// count, and any parseable attempt counts, before validation, SQL or hashing.
async fn throttled_by_email<Work>(
    app: &App,
    scope: Scope,
    request: Request<Incoming>,
    info: RequestInfo,
    work: impl FnOnce(Fields) -> Work,
) -> Result<Response, ApiError>
where
    Work: std::future::Future<Output = Result<Response, ApiError>>,
{
    let fields = fields(app, request).await?;
    let identity = Identity {
        ip: info.client_ip,
        email: fields.peek_string("email"),
    };
    throttled(app, scope, &identity, work(fields)).await
}
