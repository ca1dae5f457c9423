//! `POST /api/auth/login/` (alias `/api/auth/token/`): credentials for a
//! token pair, the user, and the refresh cookie.

use hyper::body::Incoming;
use hyper::Request;

use super::fields;
use crate::app::App;
use crate::domain::{Email, Password};
use crate::http::error::ApiError;
use crate::http::response::{token_pair, Response};

pub async fn post(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let mut fields = fields(app, request).await?;
    let email = fields.string("email");
    let password = fields.secret("password");
    fields.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Internal);
    };
    // No account can have an address that does not parse: the same answer as a wrong password.
    let email = Email::parse(&email).map_err(|_| ApiError::InvalidCredentials)?;
    let (user, pair) = app.tokens.login(email, Password::new(password)).await?;
    Ok(token_pair(app, &pair, Some(&user)))
}
