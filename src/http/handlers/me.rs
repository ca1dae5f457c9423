//! `GET /api/auth/me/` and `PATCH /api/auth/me/` (`full_name`): the
//! authenticated user's own account.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use utoipa::ToSchema;

use super::fields;
use crate::app::App;
use crate::domain::{FullName, Origin, UserUpdate};
use crate::http::error::ApiError;
use crate::http::request::bearer_token;
use crate::http::response::{json, Response, UserBody};

/// Changes to the caller's account.
#[derive(ToSchema)]
pub struct MeUpdate {
    #[schema(value_type = Option<String>, max_length = 150, example = "Ada King")]
    full_name: Option<FullName>,
}

/// The caller's account.
#[utoipa::path(
    get,
    path = "/api/auth/me/",
    operation_id = "me",
    tag = "accounts",
    responses((status = 200, description = "The caller's account.", body = UserBody)),
    security(("bearer" = [])),
)]
pub async fn get(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers())?;
    let caller = app.tokens.authenticate(token).await?;
    Ok(json(StatusCode::OK, &UserBody::from(&caller.user)))
}

/// Change the caller's full name.
#[utoipa::path(
    patch,
    path = "/api/auth/me/",
    operation_id = "me_update",
    tag = "accounts",
    request_body = MeUpdate,
    responses((status = 200, description = "The updated account.", body = UserBody)),
    security(("bearer" = [])),
)]
pub async fn patch(
    app: &App,
    request: Request<Incoming>,
    origin: Origin,
) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers())?.to_string();
    let caller = app.tokens.authenticate(&token).await?;
    let mut fields = fields(app, request).await?;
    let full_name = fields.optional_string("full_name").and_then(|raw| {
        FullName::parse(&raw)
            .map_err(|e| fields.error("full_name", e.to_string()))
            .ok()
    });
    fields.finish()?;
    let request = MeUpdate { full_name };
    let update = UserUpdate {
        full_name: request.full_name,
        ..Default::default()
    };
    let user = app.accounts.update(caller.user.id, update, &origin).await?;
    Ok(json(StatusCode::OK, &UserBody::from(&user)))
}
