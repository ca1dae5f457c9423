//! `POST /api/auth/password/reset/` (`email`): always the same 202, decided
//! before the account is looked up (throttled per client IP and email);
//! `POST /api/auth/password/reset/confirm/` (`token`, `new_password`): a
//! new password that fails the policy is refused without using the token;
//! otherwise the token is consumed atomically and every token of the user
//! stops working.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::fields;
use crate::app::App;
use crate::domain::{Email, FullName, NewPassword, Password};
use crate::http::error::ApiError;
use crate::http::request::Fields;
use crate::http::response::{json, Response};
use crate::reset::ResetToken;

const REQUESTED: &str = "If an account exists for this email, a reset link has been sent.";

pub async fn request(app: &App, mut fields: Fields) -> Result<Response, ApiError> {
    let email = fields.string("email").and_then(|raw| {
        Email::parse(&raw)
            .map_err(|e| fields.error("email", e.to_string()))
            .ok()
    });
    fields.finish()?;
    app.reset.request(email.ok_or(ApiError::Internal)?);
    Ok(json(StatusCode::ACCEPTED, &json!({"detail": REQUESTED})))
}

pub async fn confirm(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let mut fields = fields(app, request).await?;
    let token = fields.secret("token");
    let new_password = fields.secret("new_password");
    fields.finish()?;
    let (Some(token), Some(new_password)) = (token, new_password) else {
        return Err(ApiError::Internal);
    };
    let token = ResetToken::parse(&token).ok_or(ApiError::ResetTokenInvalid)?;
    let (user, place) = app
        .reset
        .places()
        .find(&token)
        .await?
        .ok_or(ApiError::ResetTokenInvalid)?;
    let email = Email::parse(&user.email).map_err(|_| ApiError::ResetTokenInvalid)?;
    let full_name = FullName::parse(&user.full_name).unwrap_or_default();
    let new_password = NewPassword::parse(Password::new(new_password), &email, &full_name)
        .map_err(|rejected| {
            ApiError::Validation([("new_password".to_string(), rejected.messages)].into())
        })?;
    let hash = app
        .tokens
        .pool()
        .hash(new_password)
        .await
        .map_err(crate::auth::tokens::AuthError::from)?;
    if !app
        .reset
        .places()
        .consume(&token, place, &user, hash)
        .await?
    {
        return Err(ApiError::ResetTokenInvalid);
    }
    Ok(json(
        StatusCode::OK,
        &json!({"detail": "Password has been reset."}),
    ))
}
