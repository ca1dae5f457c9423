//! `POST /api/auth/register/`: create an account; 201 with the user object.
//! Throttled per client IP (scope `registration`) before the body is read.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::fields;
use crate::app::App;
use crate::auth::tokens::blocking;
use crate::domain::{self, Email, FullName, NewPassword, NewUser, Password};
use crate::http::error::ApiError;
use crate::http::response::{json, Response, UserBody};

pub async fn post(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let mut fields = fields(app, request).await?;
    let email = fields.string("email").and_then(|raw| {
        Email::parse(&raw)
            .map_err(|e| fields.error("email", e.to_string()))
            .ok()
    });
    let full_name = match fields.optional_string("full_name") {
        Some(raw) => FullName::parse(&raw)
            .map_err(|e| fields.error("full_name", e.to_string()))
            .ok(),
        None => Some(FullName::default()),
    };
    let password = fields.secret("password");
    let new_password = match (&email, &full_name, password) {
        (Some(email), Some(full_name), Some(password)) => {
            match NewPassword::parse(Password::new(password), email, full_name) {
                Ok(password) => Some(password),
                Err(rejected) => {
                    rejected
                        .messages
                        .into_iter()
                        .for_each(|m| fields.error("password", m));
                    None
                }
            }
        }
        _ => None,
    };
    fields.finish()?;
    let (Some(email), Some(full_name), Some(password)) = (email, full_name, new_password) else {
        return Err(ApiError::Internal);
    };
    let password_hash = app
        .tokens
        .pool()
        .hash(password)
        .await
        .map_err(crate::auth::tokens::AuthError::from)?;
    let new_user = NewUser {
        email,
        full_name,
        password_hash,
        is_staff: false,
        is_superuser: false,
        date_joined: domain::now(),
    };
    let user = blocking(app.tokens.store(), move |s| s.create_user(&new_user)).await?;
    Ok(json(StatusCode::CREATED, &UserBody::from(&user)))
}
