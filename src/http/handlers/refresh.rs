//! `POST /api/auth/token/refresh/`: rotate a refresh token (from the body's
//! `refresh`, else the cookie) into a new pair.

use hyper::body::Incoming;
use hyper::Request;
use utoipa::ToSchema;

use super::refresh_token;
use crate::app::App;
use crate::domain::Origin;
use crate::http::error::{ApiError, Problem};
use crate::http::response::{token_pair, PairBody, Response};

/// A refresh token to rotate.
#[derive(ToSchema)]
pub struct RefreshRequest {
    /// The refresh token; may be left out when the refresh cookie carries it.
    #[schema(value_type = Option<String>, example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9...")]
    refresh: String,
}

impl RefreshRequest {
    async fn read(
        app: &App,
        request: Request<Incoming>,
        peer: std::net::IpAddr,
    ) -> Result<RefreshRequest, ApiError> {
        let (refresh, fields) = refresh_token(app, request, peer).await?;
        fields.finish()?;
        Ok(RefreshRequest {
            refresh: refresh.ok_or(ApiError::Internal)?,
        })
    }
}

/// Rotate a refresh token into a new pair.
///
/// The presented refresh token is revoked. Presenting it again answers
/// `401 token_not_valid`; more than `jwt.refresh_reuse_grace` (10 s) after
/// its rotation, that also revokes its whole session (reuse detection).
#[utoipa::path(
    post,
    path = "/api/auth/token/refresh/",
    operation_id = "token_refresh",
    tag = "tokens",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair; the refresh cookie is set.", body = PairBody,
            headers(("Set-Cookie" = String, description = "The new refresh token's cookie."))),
        (status = 403, description = "`csrf_failed`: the token came from the refresh cookie, and the request says it comes from a page of another origin.",
            body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`token_not_valid`: bad signature, expired, revoked, reused, or not a refresh token.",
            body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("refresh_cookie" = [])),
)]
pub async fn post(
    app: &App,
    request: Request<Incoming>,
    peer: std::net::IpAddr,
    origin: Origin,
) -> Result<Response, ApiError> {
    let request = RefreshRequest::read(app, request, peer).await?;
    let pair = app.tokens.refresh(&request.refresh, &origin).await?;
    Ok(token_pair(app, &pair, None))
}
