//! The one place that turns an error into an HTTP answer: an RFC 9457
//! `application/problem+json` body with the `code` and `detail` that
//! SimpleJWT clients read, and the status and headers API.md gives each code.
//! Messages are fixed texts: no error ever carries SQL, a token or a hash.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, StatusCode};
use serde::Serialize;

use super::response::Response;
use crate::accounts::AccountError;
use crate::auth::tokens::AuthError;
use crate::error_chain::Chain;
use crate::store::StoreError;

/// Field name -> messages, for `validation_error`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug)]
pub enum ApiError {
    Validation(FieldErrors),
    MalformedJson(&'static str),
    UnsupportedMediaType,
    PayloadTooLarge(u64),
    InvalidCredentials,
    NotAuthenticated,
    TokenNotValid,
    EmailTaken,
    NotFound,
    MethodNotAllowed(&'static [Method]),
    DisallowedHost,
    /// The refresh cookie came with a request from another origin's page.
    CsrfFailed,
    /// A throttle rule is exhausted; one more request passes in N seconds.
    Throttled(u64),
    ResetTokenInvalid,
    /// A store or pool the request needs is down or full; retry after N seconds.
    Unavailable {
        detail: &'static str,
        retry_after: u32,
    },
    Internal,
}

/// An RFC 9457 problem: every error body, as `application/problem+json`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"type": "about:blank", "title": "Bad Request", "status": 400,
    "detail": "email: Enter a valid email address.", "code": "validation_error",
    "errors": {"email": ["Enter a valid email address."]}}))]
pub struct Problem<'a> {
    /// Extension members, e.g. `/readyz` naming the store that is down.
    #[serde(flatten)]
    #[schema(ignore)]
    extensions: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    kind: &'static str,
    /// The status's reason phrase.
    title: &'a str,
    status: u16,
    /// Human readable and safe to show; never a token, hash or SQL.
    detail: String,
    /// Machine readable: `validation_error`, `invalid_credentials`,
    /// `token_not_valid`, `throttled`, ... (see API.md).
    code: &'static str,
    /// Field name -> messages; only for `validation_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>, required = false)]
    errors: Option<&'a FieldErrors>,
}

impl ApiError {
    /// One validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Validation(BTreeMap::from([(field.to_string(), vec![message.into()])]))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_)
            | ApiError::MalformedJson(_)
            | ApiError::DisallowedHost
            | ApiError::ResetTokenInvalid => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidCredentials | ApiError::NotAuthenticated | ApiError::TokenNotValid => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::EmailTaken => StatusCode::CONFLICT,
            ApiError::CsrfFailed => StatusCode::FORBIDDEN,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_error",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::NotAuthenticated => "not_authenticated",
            ApiError::TokenNotValid => "token_not_valid",
            ApiError::EmailTaken => "email_taken",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::DisallowedHost => "disallowed_host",
            ApiError::CsrfFailed => "csrf_failed",
            ApiError::Throttled(_) => "throttled",
            ApiError::ResetTokenInvalid => "reset_token_invalid",
            ApiError::Unavailable { .. } => "service_unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => errors.iter().next().map_or_else(
                || "Invalid input.".into(),
                |(field, messages)| format!("{field}: {}", messages.join(" ")),
            ),
            ApiError::MalformedJson(why) => (*why).into(),
            ApiError::UnsupportedMediaType => {
                "The request body must be JSON (Content-Type: application/json).".into()
            }
            ApiError::PayloadTooLarge(limit) => {
                format!("The request body is larger than {limit} bytes.")
            }
            ApiError::InvalidCredentials => {
                "No active account found with the given credentials".into()
            }
            ApiError::NotAuthenticated => "Authentication credentials were not provided.".into(),
            ApiError::TokenNotValid => "Token is invalid or expired".into(),
            ApiError::EmailTaken => "A user with this email already exists.".into(),
            ApiError::NotFound => "Not found.".into(),
            ApiError::ResetTokenInvalid => {
                "The reset token is invalid, expired or already used.".into()
            }
            ApiError::Throttled(seconds) => {
                format!("Request was throttled. Expected available in {seconds} seconds.")
            }
            ApiError::MethodNotAllowed(_) => "Method not allowed.".into(),
            ApiError::DisallowedHost => "The Host header is not one this server answers to.".into(),
            ApiError::CsrfFailed => {
                "The refresh cookie was sent from a page of another origin.".into()
            }
            ApiError::Unavailable { detail, .. } => (*detail).into(),
            ApiError::Internal => {
                "Internal server error; the log has the details under this request's X-Request-Id."
                    .into()
            }
        }
    }

    /// The problem+json response.
    pub fn into_response(self) -> Response {
        self.into_response_with(serde_json::Map::new())
    }

    fn problem(&self, extensions: serde_json::Map<String, serde_json::Value>) -> Problem<'_> {
        let status = self.status();
        let errors = match self {
            ApiError::Validation(errors) => Some(errors),
            _ => None,
        };
        Problem {
            extensions,
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code(),
            errors,
        }
    }

    /// The problem+json response with extension members (RFC 9457 §3.2),
    /// e.g. `/readyz` naming the store that is down.
    pub fn into_response_with(
        self,
        extensions: serde_json::Map<String, serde_json::Value>,
    ) -> Response {
        let status = self.status();
        let body = self.problem(extensions).to_json();
        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::NotAuthenticated => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TokenNotValid => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ApiError::MethodNotAllowed(methods) => {
                headers.insert(ALLOW, allow_header(methods));
            }
            ApiError::Unavailable { retry_after, .. } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Throttled(seconds) => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*seconds));
            }
            // The rest of the body was not read: the connection cannot be reused.
            ApiError::PayloadTooLarge(_) => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl Problem<'_> {
    /// The body. A problem with neither extension members nor field errors
    /// (a 401, 404, 429: what floods get) is written directly, its two free
    /// texts escaped by serde_json: `#[serde(flatten)]` makes the derived
    /// serializer go through a map, several times the cost. The bytes are
    /// the same either way (a test compares every kind of error).
    fn to_json(&self) -> Vec<u8> {
        if !self.extensions.is_empty() || self.errors.is_some() {
            return serde_json::to_vec(self).expect("a problem serializes");
        }
        let mut body = Vec::with_capacity(96 + self.detail.len());
        let text = |body: &mut Vec<u8>, text: &str| {
            serde_json::to_writer(&mut *body, text).expect("a string serializes into memory");
        };
        body.extend_from_slice(b"{\"type\":");
        text(&mut body, self.kind);
        body.extend_from_slice(b",\"title\":");
        text(&mut body, self.title);
        body.extend_from_slice(format!(",\"status\":{},\"detail\":", self.status).as_bytes());
        text(&mut body, &self.detail);
        body.extend_from_slice(b",\"code\":");
        text(&mut body, self.code);
        body.push(b'}');
        body
    }
}

/// `GET, HEAD, OPTIONS` style list of the methods a route answers.
pub fn allow_header(methods: &[Method]) -> HeaderValue {
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    names.push("OPTIONS");
    HeaderValue::from_str(&names.join(", ")).expect("method names are valid header text")
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::EmailTaken => ApiError::EmailTaken,
            StoreError::Busy => ApiError::Unavailable {
                detail: "Every database connection is in use; retry shortly.",
                retry_after: 1,
            },
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %Chain(&error), "database unavailable");
                ApiError::Unavailable {
                    detail: "The database is unavailable; retry later.",
                    retry_after: 5,
                }
            }
            other => {
                tracing::error!(error = %Chain(&other), "store error");
                ApiError::Internal
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        match error {
            AuthError::InvalidCredentials => ApiError::InvalidCredentials,
            AuthError::TokenNotValid => ApiError::TokenNotValid,
            AuthError::UnknownSession => ApiError::NotFound,
            AuthError::Busy(busy) => busy.into(),
            AuthError::Store(error) => error.into(),
        }
    }
}

impl From<crate::auth::PoolBusy> for ApiError {
    fn from(_: crate::auth::PoolBusy) -> ApiError {
        ApiError::Unavailable {
            detail: "Too many password checks are in progress; retry shortly.",
            retry_after: 1,
        }
    }
}

/// Maps an accounts error, naming `field` for a password the policy
/// rejected (`password` on registration, `new_password` elsewhere).
pub fn password_field(field: &'static str) -> impl Fn(AccountError) -> ApiError {
    move |error| match error {
        AccountError::PasswordRejected(rejected) => {
            ApiError::Validation(BTreeMap::from([(field.to_string(), rejected.messages)]))
        }
        other => other.into(),
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> ApiError {
        match error {
            AccountError::PasswordRejected(rejected) => ApiError::Validation(BTreeMap::from([(
                "new_password".to_string(),
                rejected.messages,
            )])),
            AccountError::WrongOldPassword => ApiError::field(
                "old_password",
                "Your old password was entered incorrectly. Please enter it again.",
            ),
            AccountError::Busy(busy) => busy.into(),
            AccountError::Store(error) => error.into(),
        }
    }
}

impl From<crate::reset::ConfirmError> for ApiError {
    fn from(error: crate::reset::ConfirmError) -> ApiError {
        match error {
            crate::reset::ConfirmError::InvalidToken => ApiError::ResetTokenInvalid,
            crate::reset::ConfirmError::Account(error) => password_field("new_password")(error),
            crate::reset::ConfirmError::Reset(error) => error.into(),
        }
    }
}

impl From<crate::reset::ResetError> for ApiError {
    fn from(error: crate::reset::ResetError) -> ApiError {
        match error {
            crate::reset::ResetError::Unavailable => ApiError::Unavailable {
                detail: "Password reset is unavailable; retry later.",
                retry_after: 5,
            },
            crate::reset::ResetError::Store(error) => error.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<ApiError> {
        vec![
            ApiError::field("email", "Enter a valid email address."),
            ApiError::MalformedJson("The body is not valid JSON."),
            ApiError::UnsupportedMediaType,
            ApiError::PayloadTooLarge(65_536),
            ApiError::InvalidCredentials,
            ApiError::NotAuthenticated,
            ApiError::TokenNotValid,
            ApiError::EmailTaken,
            ApiError::NotFound,
            ApiError::MethodNotAllowed(&[Method::GET]),
            ApiError::DisallowedHost,
            ApiError::CsrfFailed,
            ApiError::Throttled(1),
            ApiError::Throttled(u64::MAX),
            ApiError::ResetTokenInvalid,
            ApiError::Unavailable {
                detail: "The database is unavailable; retry later.",
                retry_after: 5,
            },
            ApiError::Internal,
        ]
    }

    #[test]
    fn a_problem_written_directly_is_what_the_serializer_writes() {
        for error in every_kind() {
            let problem = error.problem(serde_json::Map::new());
            let serialized = serde_json::to_vec(&problem).unwrap();
            assert_eq!(
                String::from_utf8(problem.to_json()).unwrap(),
                String::from_utf8(serialized).unwrap(),
                "{error:?}"
            );
        }
    }

    #[test]
    fn free_text_is_escaped_as_json() {
        let problem = Problem {
            extensions: serde_json::Map::new(),
            kind: "about:blank",
            title: "Bad \"Request\"",
            status: 400,
            detail: "a \\ b\n\u{1}\u{e9}".into(),
            code: "validation_error",
            errors: None,
        };
        let body = problem.to_json();
        assert_eq!(body, serde_json::to_vec(&problem).unwrap());
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["detail"], "a \\ b\n\u{1}\u{e9}");
    }
}
