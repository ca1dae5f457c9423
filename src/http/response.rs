//! Building responses: JSON bodies and the refresh cookie.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, SET_COOKIE};
use hyper::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::tokens::TokenPair;
use crate::domain::{rfc3339, User};

pub type Response = hyper::Response<Full<Bytes>>;

/// A JSON response.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response {
    json_with_type(status, body, "application/json")
}

pub fn json_with_type(
    status: StatusCode,
    body: &impl Serialize,
    content_type: &'static str,
) -> Response {
    let bytes = serde_json::to_vec(body).expect("response types serialize");
    let mut response = hyper::Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The API's user object.
#[derive(Serialize, ToSchema)]
#[schema(as = User, example = json!({"id": 1, "email": "ada@example.com", "full_name": "Ada Lovelace",
    "is_active": true, "is_staff": false, "date_joined": "2026-11-24T10:00:00Z", "last_login": null}))]
pub struct UserBody<'a> {
    #[schema(minimum = 1)]
    id: i64,
    #[schema(format = Email)]
    email: &'a str,
    full_name: &'a str,
    is_active: bool,
    is_staff: bool,
    #[schema(format = DateTime)]
    date_joined: String,
    #[schema(format = DateTime)]
    last_login: Option<String>,
}

impl<'a> From<&'a User> for UserBody<'a> {
    fn from(user: &'a User) -> UserBody<'a> {
        UserBody {
            id: user.id.get(),
            email: user.email.as_str(),
            full_name: user.full_name.as_str(),
            is_active: user.is_active,
            is_staff: user.is_staff,
            date_joined: rfc3339(&user.date_joined),
            last_login: user.last_login.as_ref().map(rfc3339),
        }
    }
}

/// A token pair, with the user for login.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenPair)]
pub struct PairBody<'a> {
    /// The access token: send it as `Authorization: Bearer <access>`.
    access: &'a str,
    /// The refresh token, also set as the refresh cookie.
    refresh: &'a str,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds the access token is valid for (`jwt.access_ttl`).
    #[schema(example = 3600)]
    expires_in: u64,
    /// Seconds the refresh token is valid for (`jwt.refresh_ttl`).
    #[schema(example = 604800)]
    refresh_expires_in: u64,
    /// The account; login only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<UserBody>, required = false)]
    user: Option<UserBody<'a>>,
}

/// `{"detail": "..."}`: what happened, safe to show.
#[derive(Serialize, ToSchema)]
pub struct DetailBody {
    pub detail: &'static str,
}

/// `{}`: done, nothing to say.
#[derive(Serialize, ToSchema)]
pub struct EmptyBody {}

/// 200 with the pair (and user) and the refresh cookie set.
pub fn token_pair(app: &App, pair: &TokenPair, user: Option<&User>) -> Response {
    let settings = app.tokens.keys().settings();
    let body = PairBody {
        access: &pair.access.token,
        refresh: &pair.refresh.token,
        token_type: "Bearer",
        expires_in: settings.access_ttl.as_secs(),
        refresh_expires_in: settings.refresh_ttl.as_secs(),
        user: user.map(UserBody::from),
    };
    let mut response = json(StatusCode::OK, &body);
    set_refresh_cookie(app, &mut response, Some(&pair.refresh.token));
    response
}

/// Sets the refresh cookie to `token`, or clears it.
pub fn set_refresh_cookie(app: &App, response: &mut Response, token: Option<&str>) {
    let name = &app.config.http.refresh_cookie;
    let max_age = match token {
        Some(_) => app.tokens.keys().settings().refresh_ttl.as_secs(),
        None => 0,
    };
    let secure = if app.cookie_secure() { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={}; HttpOnly{secure}; SameSite=Strict; Path=/api/auth/; Max-Age={max_age}",
        token.unwrap_or("")
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// `{}`.
pub fn empty_object() -> Response {
    json(StatusCode::OK, &EmptyBody {})
}
