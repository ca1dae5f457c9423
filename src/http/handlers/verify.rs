//! `POST /api/auth/token/verify/`: `{}` if the access or refresh token is
//! valid now (signature, expiry, not revoked), else `token_not_valid`.

use hyper::body::Incoming;
use hyper::Request;
use utoipa::ToSchema;

use super::fields;
use crate::app::App;
use crate::http::error::{ApiError, Problem};
use crate::http::response::{empty_object, EmptyBody, Response};

/// A token to check.
#[derive(ToSchema)]
pub struct VerifyRequest {
    /// An access or refresh token.
    #[schema(example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9...")]
    token: String,
}

/// Check that a token is valid now.
///
/// Valid means: signed by a configured key, not expired, and not revoked
/// (its session alive, its user active).
#[utoipa::path(
    post,
    path = "/api/auth/token/verify/",
    operation_id = "token_verify",
    tag = "tokens",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The token is valid.", body = EmptyBody),
        (status = 401, description = "`token_not_valid`.", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
pub async fn post(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let mut fields = fields(app, request).await?;
    let token = fields.secret("token");
    fields.finish()?;
    let request = VerifyRequest {
        token: token.ok_or(ApiError::Internal)?,
    };
    app.tokens.verify(&request.token).await?;
    Ok(empty_object())
}
