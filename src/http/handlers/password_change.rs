//! `POST /api/auth/password/change/`: with the Bearer token and the old
//! password, set a new one; every other token of the user stops working and
//! the caller gets a fresh pair.

use hyper::body::Incoming;
use hyper::Request;

use super::fields;
use crate::app::App;
use crate::domain::Password;
use crate::http::error::ApiError;
use crate::http::request::bearer_token;
use crate::http::response::{token_pair, Response};

pub async fn post(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers())?.to_string();
    let caller = app.tokens.authenticate(&token).await?;
    let mut fields = fields(app, request).await?;
    let old = fields.secret("old_password");
    let new = fields.secret("new_password");
    fields.finish()?;
    let (Some(old), Some(new)) = (old, new) else {
        return Err(ApiError::Internal);
    };
    let pair = app
        .tokens
        .change_password(&caller.user, Password::new(old), Password::new(new))
        .await?;
    Ok(token_pair(app, &pair, None))
}
