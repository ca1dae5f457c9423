//! `POST /api/auth/register/`: create an account; 201 with the user object.
//! Throttled per client IP (scope `registration`, applied by the dispatcher).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use utoipa::ToSchema;

use super::fields;
use crate::accounts::Registration;
use crate::app::App;
use crate::domain::{Email, FullName, Origin, Password};
use crate::http::error::{password_field, ApiError, Problem};
use crate::http::request::Fields;
use crate::http::response::{json, Response, UserBody};

/// A new account.
#[derive(ToSchema)]
pub struct RegisterRequest {
    /// Trimmed, domain lower-cased, unique case-insensitively.
    #[schema(value_type = String, format = Email, max_length = 254, example = "ada@example.com")]
    email: Email,
    #[schema(value_type = String, format = Password, write_only, min_length = 8, max_length = 1024,
        example = "correct horse battery staple")]
    password: Password,
    #[schema(value_type = Option<String>, max_length = 150, example = "Ada Lovelace")]
    full_name: FullName,
}

impl RegisterRequest {
    /// Every field checked for form; the password policy is the accounts
    /// service's, applied once the email and name it compares with parse.
    fn parse(mut fields: Fields) -> Result<RegisterRequest, ApiError> {
        let email = fields.string("email").and_then(|raw| {
            Email::parse(&raw)
                .map_err(|e| fields.error("email", e.to_string()))
                .ok()
        });
        let full_name = match fields.optional_string("full_name") {
            Some(raw) => FullName::parse(&raw)
                .map_err(|e| fields.error("full_name", e.to_string()))
                .ok(),
            None => Some(FullName::default()),
        };
        let password = fields.secret("password").map(Password::new);
        fields.finish()?;
        match (email, password, full_name) {
            (Some(email), Some(password), Some(full_name)) => Ok(RegisterRequest {
                email,
                password,
                full_name,
            }),
            _ => Err(ApiError::Internal),
        }
    }
}

/// Create an account.
///
/// The password must pass the policy: at least 8 characters, at most 1024
/// bytes, not entirely numeric, not a common password, not too similar to
/// the email or full name.
#[utoipa::path(
    post,
    path = "/api/auth/register/",
    operation_id = "register",
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new account.", body = UserBody),
        (status = 409, description = "`email_taken`: an account has this email (in any letter case).",
            body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
pub async fn post(
    app: &App,
    request: Request<Incoming>,
    origin: Origin,
) -> Result<Response, ApiError> {
    let request = RegisterRequest::parse(fields(app, request).await?)?;
    let registration = Registration {
        email: request.email,
        full_name: request.full_name,
        password: request.password,
        is_staff: false,
        is_superuser: false,
    };
    let user = app
        .accounts
        .register(registration, &origin)
        .await
        .map_err(password_field("password"))?;
    Ok(json(StatusCode::CREATED, &UserBody::from(&user)))
}
