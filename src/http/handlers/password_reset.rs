//! `POST /api/auth/password/reset/` (`email`): always the same 202, after
//! one store call that queues an email for an active account and does
//! nothing for any other (throttled per client IP and email);
//! `POST /api/auth/password/reset/confirm/` (`token`, `new_password`): a
//! new password that fails the policy is refused without using the token;
//! otherwise the token is consumed atomically and every token of the user
//! stops working.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use utoipa::ToSchema;

use super::fields;
use crate::app::App;
use crate::domain::{Email, Origin, Password};
use crate::http::error::ApiError;
use crate::http::request::Fields;
use crate::http::response::{json, DetailBody, Response};

const REQUESTED: &str = "If an account exists for this email, a reset link has been sent.";
const DONE: &str = "Password has been reset.";

/// The email of the account to reset.
#[derive(ToSchema)]
pub struct PasswordResetRequest {
    #[schema(value_type = String, format = Email, example = "ada@example.com")]
    email: Email,
}

/// A reset token from the email, and the new password.
#[derive(ToSchema)]
pub struct PasswordResetConfirmRequest {
    /// The token of the emailed link (43 characters, base64url).
    #[schema(value_type = String, example = "q0bM1tA6Gk3dXx9YfQ2wV8nR5sL7pH4cJ1eZ0uK3iT8")]
    token: String,
    /// Must pass the password policy (see `register`).
    #[schema(value_type = String, format = Password, write_only, min_length = 8, max_length = 1024)]
    new_password: Password,
}

/// Ask for a password reset email.
///
/// Always the same `202` and body, whether or not the account exists; an
/// active account gets an email with a link holding a single-use token,
/// valid for `reset.token_ttl` (10 minutes) from when it is sent. The email
/// is queued in the database before the answer, so a `202` always leads to
/// it (retried while the mail server is down, across restarts); `503` when
/// the queue cannot be written, for any email.
#[utoipa::path(
    post,
    path = "/api/auth/password/reset/",
    operation_id = "password_reset",
    tag = "password reset",
    request_body = PasswordResetRequest,
    responses((status = 202, description = "Accepted; an email is sent if an active account has this email.",
        body = DetailBody, example = json!({"detail": REQUESTED}))),
    security(()),
)]
pub async fn request(app: &App, mut fields: Fields, origin: Origin) -> Result<Response, ApiError> {
    let email = fields.string("email").and_then(|raw| {
        Email::parse(&raw)
            .map_err(|e| fields.error("email", e.to_string()))
            .ok()
    });
    fields.finish()?;
    let request = PasswordResetRequest {
        email: email.ok_or(ApiError::Internal)?,
    };
    app.reset.request(request.email, &origin).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &DetailBody { detail: REQUESTED },
    ))
}

/// Set a new password with a reset token.
///
/// A new password that fails the policy answers `400 validation_error` and
/// does not use the token. Otherwise the token is consumed and every session
/// and token of the user stops working. An unknown, expired or used token is
/// `400 reset_token_invalid`.
#[utoipa::path(
    post,
    path = "/api/auth/password/reset/confirm/",
    operation_id = "password_reset_confirm",
    tag = "password reset",
    request_body = PasswordResetConfirmRequest,
    responses((status = 200, description = "The password is reset.", body = DetailBody,
        example = json!({"detail": DONE}))),
    security(()),
)]
pub async fn confirm(
    app: &App,
    request: Request<Incoming>,
    origin: Origin,
) -> Result<Response, ApiError> {
    let mut fields = fields(app, request).await?;
    let token = fields.secret("token");
    let new_password = fields.secret("new_password");
    fields.finish()?;
    let request = match (token, new_password) {
        (Some(token), Some(new_password)) => PasswordResetConfirmRequest {
            token,
            new_password: Password::new(new_password),
        },
        _ => return Err(ApiError::Internal),
    };
    app.reset
        .confirm(&app.accounts, &request.token, request.new_password, &origin)
        .await?;
    Ok(json(StatusCode::OK, &DetailBody { detail: DONE }))
}
