//! `GET /api/auth/me/` and `PATCH /api/auth/me/` (`full_name`): the
//! authenticated user's own account.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::fields;
use crate::app::App;
use crate::auth::tokens::blocking;
use crate::domain::{FullName, UserUpdate};
use crate::http::error::ApiError;
use crate::http::request::bearer_token;
use crate::http::response::{json, Response, UserBody};

pub async fn get(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers())?;
    let caller = app.tokens.authenticate(token).await?;
    Ok(json(StatusCode::OK, &UserBody::from(&caller.user)))
}

pub async fn patch(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers())?.to_string();
    let caller = app.tokens.authenticate(&token).await?;
    let mut fields = fields(app, request).await?;
    let full_name = fields.optional_string("full_name").and_then(|raw| {
        FullName::parse(&raw)
            .map_err(|e| fields.error("full_name", e.to_string()))
            .ok()
    });
    fields.finish()?;
    let update = UserUpdate {
        full_name,
        ..Default::default()
    };
    let id = caller.user.id;
    let user = blocking(app.tokens.store(), move |s| s.update_user(id, &update)).await?;
    Ok(json(StatusCode::OK, &UserBody::from(&user)))
}
