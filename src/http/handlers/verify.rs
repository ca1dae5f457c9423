//! `POST /api/auth/token/verify/`: `{}` if the access or refresh token is
//! valid now (signature, expiry, not revoked), else `token_not_valid`.

use hyper::body::Incoming;
use hyper::Request;

use super::fields;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::response::{empty_object, Response};

pub async fn post(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let mut fields = fields(app, request).await?;
    let token = fields.secret("token");
    fields.finish()?;
    app.tokens.verify(&token.ok_or(ApiError::Internal)?).await?;
    Ok(empty_object())
}
