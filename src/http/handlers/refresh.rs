//! `POST /api/auth/token/refresh/`: rotate a refresh token (from the body's
//! `refresh`, else the cookie) into a new pair.

use hyper::body::Incoming;
use hyper::Request;

use super::refresh_token;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::response::{token_pair, Response};

pub async fn post(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let (token, fields) = refresh_token(app, request).await?;
    fields.finish()?;
    let token = token.ok_or(ApiError::Internal)?;
    let pair = app.tokens.refresh(&token).await?;
    Ok(token_pair(app, &pair, None))
}
