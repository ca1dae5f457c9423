//! `POST /api/auth/password/change/`: with the Bearer token and the old
//! password, set a new one; every other token of the user stops working and
//! the caller gets a fresh pair. Throttled per user (scope
//! `password_change`, applied by the dispatcher between [`authenticate`]
//! and [`post`]), so a stolen access token cannot guess the old password
//! without limit.

use hyper::body::Incoming;
use hyper::Request;
use utoipa::ToSchema;

use super::fields;
use crate::app::App;
use crate::auth::tokens::Authenticated;
use crate::domain::{Origin, Password};
use crate::http::error::{password_field, ApiError};
use crate::http::request::bearer_token;
use crate::http::response::{token_pair, PairBody, Response};

/// The current password and the new one.
#[derive(ToSchema)]
pub struct PasswordChangeRequest {
    #[schema(value_type = String, format = Password, write_only)]
    old_password: Password,
    /// Must pass the password policy (see `register`).
    #[schema(value_type = String, format = Password, write_only, min_length = 8, max_length = 1024)]
    new_password: Password,
}

/// The caller, from the Bearer token (before the body is read).
pub async fn authenticate(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Authenticated, ApiError> {
    let token = bearer_token(request.headers())?;
    Ok(app.tokens.authenticate(token).await?)
}

/// Change the caller's password.
///
/// Every other session and token of the user stops working; the caller gets
/// a new pair. A wrong old password or a new one that fails the policy is a
/// `400 validation_error` on that field. Throttled per user (`password_change`).
#[utoipa::path(
    post,
    path = "/api/auth/password/change/",
    operation_id = "password_change",
    tag = "accounts",
    request_body = PasswordChangeRequest,
    responses(
        (status = 200, description = "A new token pair; the refresh cookie is set.", body = PairBody,
            headers(("Set-Cookie" = String, description = "The new refresh token's cookie."))),
    ),
    security(("bearer" = [])),
)]
pub async fn post(
    app: &App,
    caller: Authenticated,
    request: Request<Incoming>,
    origin: Origin,
) -> Result<Response, ApiError> {
    let mut fields = fields(app, request).await?;
    let old = fields.secret("old_password");
    let new = fields.secret("new_password");
    fields.finish()?;
    let request = match (old, new) {
        (Some(old), Some(new)) => PasswordChangeRequest {
            old_password: Password::new(old),
            new_password: Password::new(new),
        },
        _ => return Err(ApiError::Internal),
    };
    app.accounts
        .change_password(
            &caller.user,
            request.old_password,
            request.new_password,
            &origin,
        )
        .await
        .map_err(password_field("new_password"))?;
    let pair = app.tokens.new_session(&caller.user, &origin).await?;
    Ok(token_pair(app, &pair, None))
}
