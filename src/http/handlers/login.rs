//! `POST /api/auth/login/` (alias `/api/auth/token/`): credentials for a
//! token pair, the user, and the refresh cookie; throttled per client IP
//! and email (scope `login`).

use hyper::body::Incoming;
use hyper::Request;

use super::{fields, throttled};
use crate::app::App;
use crate::domain::{Email, Password};
use crate::http::edge::RequestInfo;
use crate::http::error::ApiError;
use crate::http::request::Fields;
use crate::http::response::{token_pair, Response};
use crate::throttle::{Identity, Scope};

pub async fn post(
    app: &App,
    request: Request<Incoming>,
    info: RequestInfo,
) -> Result<Response, ApiError> {
    let fields = fields(app, request).await?;
    // The window is per client IP and email, so the body is read first; any
    // parseable attempt counts, before validation, SQL or hashing.
    let identity = Identity {
        ip: info.client_ip,
        email: fields.peek_string("email"),
    };
    throttled(app, Scope::Login, &identity, login(app, fields)).await
}

async fn login(app: &App, mut fields: Fields) -> Result<Response, ApiError> {
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
