//! `POST /api/auth/logout/` (alias `/api/auth/token/blacklist/`): revoke the
//! session of the refresh token (`scope` `local`, the default), every other
//! session of its user (`others`) or all of them (`global`); clears the
//! cookie except for `others`.

use hyper::body::Incoming;
use hyper::Request;
use utoipa::ToSchema;

use super::refresh_token;
use crate::app::App;
use crate::auth::tokens::LogoutScope;
use crate::domain::Origin;
use crate::http::error::{ApiError, Problem};
use crate::http::response::{empty_object, set_refresh_cookie, EmptyBody, Response};

/// A refresh token whose session(s) to end.
#[derive(ToSchema)]
pub struct LogoutRequest {
    /// The refresh token; may be left out when the refresh cookie carries it.
    #[schema(value_type = Option<String>, example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9...")]
    refresh: String,
    /// `local` (default): this session; `others`: every other session of the
    /// user; `global`: all of them.
    #[schema(value_type = Option<LogoutScope>)]
    scope: LogoutScope,
}

impl LogoutRequest {
    async fn read(
        app: &App,
        request: Request<Incoming>,
        peer: std::net::IpAddr,
    ) -> Result<LogoutRequest, ApiError> {
        let (refresh, mut fields) = refresh_token(app, request, peer).await?;
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
        match (refresh, scope) {
            (Some(refresh), Some(scope)) => Ok(LogoutRequest { refresh, scope }),
            _ => Err(ApiError::Internal),
        }
    }
}

/// Log out: revoke sessions, refresh and access tokens alike.
///
/// `local` is idempotent: a token this server signed that is already dead
/// answers `{}` and changes nothing (but a rotated token replayed past the
/// reuse grace still revokes its session). `others` and `global` need a
/// live refresh token, else `token_not_valid`. Clears the refresh cookie,
/// except for `scope: others`.
#[utoipa::path(
    post,
    path = "/api/auth/logout/",
    operation_id = "logout",
    tag = "tokens",
    request_body = LogoutRequest,
    responses(
        (status = 200, description = "The session(s) are revoked.", body = EmptyBody,
            headers(("Set-Cookie" = String, description = "Clears the refresh cookie (not for `others`)."))),
        (status = 403, description = "`csrf_failed`: the token came from the refresh cookie, and the request says it comes from a page of another origin.",
            body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`token_not_valid`: not a refresh token this server signed, or (for `others` and `global`) not a live one.",
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
    let request = LogoutRequest::read(app, request, peer).await?;
    app.tokens
        .logout(&request.refresh, request.scope, &origin)
        .await?;
    let mut response = empty_object();
    if request.scope != LogoutScope::Others {
        set_refresh_cookie(app, &mut response, None);
    }
    Ok(response)
}
