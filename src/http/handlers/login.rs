//! `POST /api/auth/login/` (alias `/api/auth/token/`): credentials for a
//! token pair, the user, and the refresh cookie; throttled per client IP
//! and email (scope `login`, applied by the dispatcher).

use utoipa::ToSchema;

use crate::app::App;
use crate::domain::{Email, Origin, Password};
use crate::http::error::{ApiError, Problem};
use crate::http::request::Fields;
use crate::http::response::{token_pair, PairBody, Response};

/// Credentials for a token pair.
#[derive(ToSchema)]
pub struct LoginRequest {
    /// The account's email; compared case-insensitively.
    #[schema(value_type = String, format = Email, example = "ada@example.com")]
    email: String,
    #[schema(value_type = String, format = Password, write_only, example = "correct horse battery staple")]
    password: Password,
}

impl LoginRequest {
    fn parse(mut fields: Fields) -> Result<LoginRequest, ApiError> {
        let email = fields.string("email");
        let password = fields.secret("password");
        fields.finish()?;
        match (email, password) {
            (Some(email), Some(password)) => Ok(LoginRequest {
                email,
                password: Password::new(password),
            }),
            _ => Err(ApiError::Internal),
        }
    }
}

/// Log in with email and password.
///
/// Answers a token pair and the user, sets the refresh cookie and updates
/// `last_login`. Unknown email, wrong password and disabled account get the
/// same `401 invalid_credentials`, after the same hashing work.
#[utoipa::path(
    post,
    path = "/api/auth/login/",
    operation_id = "login",
    tag = "tokens",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A token pair, the user; the refresh cookie is set.", body = PairBody,
            headers(("Set-Cookie" = String, description = "The refresh cookie (HttpOnly, SameSite=Strict, Path=/api/auth/)."))),
        (status = 401, description = "`invalid_credentials`: unknown email, wrong password or disabled account.",
            body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
pub async fn post(app: &App, fields: Fields, origin: Origin) -> Result<Response, ApiError> {
    let request = LoginRequest::parse(fields)?;
    // No account can have an address that does not parse: the same answer as a wrong password.
    let email = Email::parse(&request.email).map_err(|_| ApiError::InvalidCredentials)?;
    let (user, pair) = app.tokens.login(email, request.password, &origin).await?;
    Ok(token_pair(app, &pair, Some(&user)))
}
