//! One handler file per resource, each the same three steps: parse the
//! request into domain types (`request::Fields`), call the token service or
//! the store, render with `response`. Errors go back as `ApiError`.

pub mod docs;
pub mod health;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod me;
pub mod metrics;
pub mod password_change;
pub mod password_reset;
pub mod refresh;
pub mod register;
pub mod sessions;
pub mod verify;

use hyper::body::Incoming;
use hyper::{Method, Request};

use super::edge::RequestInfo;
use super::error::ApiError;
use super::openapi::forms::Documents;
use super::request::{client_info, cookie, Fields};
use super::response::Response;
use super::router::Route;
use crate::app::App;
use crate::domain::{AuditEvent, EventType, Origin};
use crate::metrics::ThrottleOutcome;
use crate::throttle::{Decision, Identity, Scope};

/// The longest an email address can be (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

pub async fn handle(
    app: &App,
    documents: &Documents,
    route: Route,
    request: Request<Incoming>,
    info: RequestInfo,
) -> Result<Response, ApiError> {
    let client = Identity::client(app.throttle.client(info.client_ip));
    let scopes = route.throttle_scopes();
    // Who asked, for the audit log: only the routes that change something
    // record events, so only they pay for it.
    //
    // Every request's future is as large as the largest handler future
    // held inline here, and it is moved (copied) into place per request.
    // So every large handler future is boxed (`let work = Box::pin(..)`, a
    // statement of its own so the unboxed future is not kept beside the
    // box), and only the hottest, small ones (`verify`, `GET /me`) stay
    // inline.
    let asked_by = || origin(&info, request.headers());
    match route {
        Route::Register => {
            let origin = asked_by();
            let work = || register::post(app, request, origin.clone());
            throttled(app, scopes, &client, &origin, work).await
        }
        Route::Login => {
            let origin = asked_by();
            let answer = throttled_by_email(app, scopes, request, client, &origin, |f| {
                login::post(app, f, origin.clone())
            })
            .await;
            let status = answer.as_ref().map_or_else(|e| e.status(), |r| r.status());
            app.metrics.record_login(status.as_u16());
            answer
        }
        Route::PasswordReset => {
            let origin = asked_by();
            throttled_by_email(app, scopes, request, client, &origin, |f| {
                password_reset::request(app, f, origin.clone())
            })
            .await
        }
        Route::PasswordResetConfirm => {
            let origin = asked_by();
            let work = || password_reset::confirm(app, request, origin.clone());
            throttled(app, scopes, &client, &origin, work).await
        }
        Route::Refresh => {
            let origin = asked_by();
            let work = Box::pin(refresh::post(app, request, info.peer, origin));
            work.await
        }
        Route::Verify => verify::post(app, request).await,
        Route::Logout => {
            let origin = asked_by();
            let work = Box::pin(logout::post(app, request, info.peer, origin));
            work.await
        }
        Route::Me if request.method() == Method::PATCH => {
            let origin = asked_by();
            let work = Box::pin(me::patch(app, request, origin));
            work.await
        }
        Route::Me => me::get(app, request).await,
        Route::Sessions => sessions::list(app, request).await,
        Route::Session => {
            let origin = asked_by();
            let work = Box::pin(sessions::delete(app, request, origin));
            work.await
        }
        Route::PasswordChange => {
            // Counted per user: the caller must be known first, and the old
            // password is checked only if the window has room.
            let caller = password_change::authenticate(app, &request).await?;
            let origin = asked_by();
            let user = Identity {
                user: Some(caller.user.id),
                ..client
            };
            let work = || password_change::post(app, caller, request, origin.clone());
            throttled(app, scopes, &user, &origin, work).await
        }
        Route::Jwks => Ok(jwks::get(app, &request)),
        Route::Healthz => Ok(health::healthz()),
        Route::Readyz => {
            let work = Box::pin(health::readyz(app));
            work.await
        }
        Route::Metrics => Ok(metrics::get(app)),
        Route::Schema => docs::schema(documents, &request),
        Route::SwaggerJson => Ok(docs::swagger_json(documents)),
        Route::SwaggerYaml => Ok(docs::swagger_yaml(documents)),
        Route::Swagger => docs::swagger(documents, &request),
        Route::Redoc => Ok(docs::redoc(app)),
    }
}

/// The audit origin of an API request.
fn origin(info: &RequestInfo, headers: &hyper::HeaderMap) -> Origin {
    let request_id = info.request_id.to_str().ok().map(str::to_string);
    Origin::api(client_info(info.client_ip, headers), request_id)
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
    peer: std::net::IpAddr,
) -> Result<(Option<String>, Fields), ApiError> {
    let from_cookie =
        cookie(request.headers(), &app.config.http.refresh_cookie).map(str::to_string);
    let cookie_check = from_cookie
        .as_ref()
        .map(|_| super::csrf::check_cookie_request(&app.config.http, request.headers(), peer));
    let mut fields = fields(app, request).await?;
    let token = match fields.optional_string("refresh") {
        Some(token) if !token.is_empty() => Some(token),
        Some(_) => {
            fields.error("refresh", "This field may not be blank.");
            None
        }
        None if from_cookie.is_some() => {
            // Only the cookie path: a token in the body is no browser's doing.
            cookie_check.unwrap_or(Ok(()))?;
            from_cookie
        }
        None => {
            fields.error("refresh", "This field is required.");
            None
        }
    };
    Ok((token, fields))
}

/// Runs `work` under the throttle of every scope in `scopes`: a request
/// refused by any gets 429 before any work is done (no SQL, no hashing) and
/// is counted by none, and every answer, success or error, carries the
/// rate-limit headers of the scope that binds.
///
/// The work's future is made, on the heap, only once the request may pass:
/// held inline it would make every request's future as large as the
/// largest handler's (kilobytes), and a refusal would carry it for nothing.
async fn throttled<Work>(
    app: &App,
    scopes: &[Scope],
    identity: &Identity,
    origin: &Origin,
    work: impl FnOnce() -> Work,
) -> Result<Response, ApiError>
where
    Work: std::future::Future<Output = Result<Response, ApiError>>,
{
    let record = |outcome| {
        for scope in scopes {
            app.metrics.record_throttle(scope.name(), outcome);
        }
    };
    let verdict = app.throttle.check(scopes, identity).await.map_err(|_| {
        record(ThrottleOutcome::Unavailable);
        ApiError::Unavailable {
            detail: "Throttling is unavailable; retry later.",
            retry_after: 5,
        }
    })?;
    let Some(verdict) = verdict else {
        record(ThrottleOutcome::Bypassed);
        let work = Box::pin(work());
        return work.await;
    };
    let headline = verdict.headline();
    let mut response = if verdict.allowed() {
        record(ThrottleOutcome::Allowed);
        let work = Box::pin(work());
        work.await.unwrap_or_else(ApiError::into_response)
    } else {
        // Counted as throttled by the scopes that refused; the others did
        // not count the request at all.
        for decision in verdict.decisions.iter().filter(|d| !d.allowed()) {
            app.metrics
                .record_throttle(decision.scope.name(), ThrottleOutcome::Throttled);
            record_refusal(app, decision, identity, origin);
        }
        ApiError::Throttled(headline.retry_after()).into_response()
    };
    headline.write_headers(response.headers_mut());
    Ok(response)
}

/// Reads the body, then runs `work` under the throttle of `scopes`, which
/// count the client and the body's `email`: the body must be read to know
/// whom to count, and any parseable attempt counts, before validation, SQL
/// or hashing.
async fn throttled_by_email<Work>(
    app: &App,
    scopes: &[Scope],
    request: Request<Incoming>,
    client: Identity,
    origin: &Origin,
    work: impl FnOnce(Fields) -> Work,
) -> Result<Response, ApiError>
where
    Work: std::future::Future<Output = Result<Response, ApiError>>,
{
    let fields = fields(app, request).await?;
    let identity = Identity {
        email: fields.peek_string("email"),
        ..client
    };
    throttled(app, scopes, &identity, origin, || work(fields)).await
}

/// The audit event of a scope that refused: one per identity and window
/// (see `audit::refusals`). The email is the one the client sent, cut to
/// what an address can be, since it may be anything.
fn record_refusal(app: &App, decision: &Decision, identity: &Identity, origin: &Origin) {
    app.audit
        .throttle_refused(&decision.key, decision.outcome.until_free, || {
            // The reason is the scope that refused.
            let scope = decision.scope.name();
            let mut event = AuditEvent::failure(EventType::ThrottleRefused, scope, origin);
            if let Some(user) = identity.user {
                event = event.user_id(user);
            }
            if let Some(email) = &identity.email {
                event = event.email(&email.chars().take(MAX_EMAIL_CHARS).collect::<String>());
            }
            event
        });
}
