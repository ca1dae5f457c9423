//! `POST /api/auth/logout/` (alias `/api/auth/token/blacklist/`): revoke the
//! session of the refresh token (`scope` `local`, the default), every other
//! session of its user (`others`) or all of them (`global`); clears the
//! cookie except for `others`.

use hyper::body::Incoming;
use hyper::Request;

use super::refresh_token;
use crate::app::App;
use crate::auth::tokens::LogoutScope;
use crate::http::error::ApiError;
use crate::http::response::{empty_object, set_refresh_cookie, Response};

pub async fn post(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let (token, mut fields) = refresh_token(app, request).await?;
    let scope = match fields.optional_string("scope").as_deref() {
        None | Some("local") => Some(LogoutScope::Local),
        Some("others") => Some(LogoutScope::Others),
        Some("global") => Some(LogoutScope::Global),
        Some(other) => {
            let shown: String = other.chars().take(32).filter(|c| !c.is_control()).collect();
            fields.error(
                "scope",
                format!("\"{shown}\" is not a valid choice (local, others, global)."),
            );
            None
        }
    };
    fields.finish()?;
    let (Some(token), Some(scope)) = (token, scope) else {
        return Err(ApiError::Internal);
    };
    app.tokens.logout(&token, scope).await?;
    let mut response = empty_object();
    if scope != LogoutScope::Others {
        set_refresh_cookie(app, &mut response, None);
    }
    Ok(response)
}
