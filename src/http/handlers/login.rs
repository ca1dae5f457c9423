//! `POST /api/auth/login/` (alias `/api/auth/token/`): credentials for a
//! token pair, the user, and the refresh cookie; throttled per client IP
//! and email (scope `login`, applied by the dispatcher).

use crate::app::App;
use crate::domain::{Email, Password};
use crate::http::error::ApiError;
use crate::http::request::Fields;
use crate::http::response::{token_pair, Response};

pub async fn post(app: &App, mut fields: Fields) -> Result<Response, ApiError> {
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
