//! `GET /api/auth/sessions/` and `DELETE /api/auth/sessions/{id}/`: the
//! caller's live sessions (where each was started and last refreshed from),
//! and ending one of them. Another user's session id is answered as an
//! unknown one, `404`, so the answer never tells that it exists.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::MAX_LISTED_SESSIONS;
use crate::domain::{rfc3339, ClientInfo, Origin};
use crate::http::error::{ApiError, Problem};
use crate::http::request::bearer_token;
use crate::http::response::{json, Response};
use crate::http::router::Route;
use crate::store::SessionInfo;

/// Longer than any `sid` authd issues: refused without asking the store.
const MAX_SESSION_ID_CHARS: usize = 64;

/// One live session of the caller.
#[derive(Serialize, ToSchema)]
#[schema(as = Session, example = json!({"id": "5f0c8d7e9a1b2c3d4e5f60718293a4b5",
    "created_at": "2026-11-24T10:05:00Z", "last_refreshed_at": "2026-11-24T11:02:13Z",
    "created_ip": "192.0.2.7", "created_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    "last_ip": "198.51.100.23", "last_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    "current": true}))]
pub struct SessionBody<'a> {
    /// The session's id: the `sid` claim of its tokens.
    id: &'a str,
    /// When the login that started it happened.
    #[schema(format = DateTime)]
    created_at: String,
    /// When its refresh token was last rotated; `null` until the first refresh.
    #[schema(format = DateTime)]
    last_refreshed_at: Option<String>,
    /// The client IP of the login (through the server's trusted proxies);
    /// `null` for sessions started before authd recorded it.
    created_ip: Option<String>,
    /// The login's `User-Agent`, cut to 256 characters; `null` when it sent none.
    created_user_agent: Option<&'a str>,
    /// The client IP of the last refresh; `null` until the first refresh.
    last_ip: Option<String>,
    /// The last refresh's `User-Agent`, cut to 256 characters.
    last_user_agent: Option<&'a str>,
    /// True for the session of the access token of this request.
    current: bool,
}

/// The caller's live sessions, newest first.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionList)]
pub struct SessionsBody<'a> {
    /// At most 100 (the newest).
    sessions: Vec<SessionBody<'a>>,
}

impl<'a> SessionBody<'a> {
    fn new(session: &'a SessionInfo, current: Option<&str>) -> SessionBody<'a> {
        let ip = |client: &Option<ClientInfo>| client.as_ref().map(|c| c.ip().to_string());
        let agent =
            |client: &'a Option<ClientInfo>| client.as_ref().and_then(ClientInfo::user_agent);
        SessionBody {
            id: &session.sid,
            created_at: rfc3339(&session.created_at),
            last_refreshed_at: session.last_refreshed_at.as_ref().map(rfc3339),
            created_ip: ip(&session.created_by),
            created_user_agent: agent(&session.created_by),
            last_ip: ip(&session.last_refreshed_by),
            last_user_agent: agent(&session.last_refreshed_by),
            current: current == Some(session.sid.as_str()),
        }
    }
}

/// The caller's live sessions.
///
/// Live: not ended, and holding a refresh token that is neither revoked nor
/// expired. Newest first, at most 100. `current` marks the session of the
/// access token this request carries (none does for a token of the Django
/// service).
#[utoipa::path(
    get,
    path = "/api/auth/sessions/",
    operation_id = "sessions",
    tag = "sessions",
    responses((status = 200, description = "The caller's live sessions, newest first.", body = SessionsBody)),
    security(("bearer" = [])),
)]
pub async fn list(app: &App, request: Request<Incoming>) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers())?;
    let caller = app.tokens.authenticate(token).await?;
    let sessions = app.tokens.own_sessions(&caller).await?;
    debug_assert!(sessions.len() <= MAX_LISTED_SESSIONS as usize);
    let body = SessionsBody {
        sessions: sessions
            .iter()
            .map(|s| SessionBody::new(s, caller.sid.as_deref()))
            .collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// End one of the caller's sessions.
///
/// Its refresh token stops working at once, its access tokens within the
/// revocation bound (1 s; at once on the instance that answered). The
/// caller may end its own current session. An id that is not one of the
/// caller's live sessions, another user's included, is `404 not_found`.
#[utoipa::path(
    delete,
    path = "/api/auth/sessions/{id}/",
    operation_id = "session_end",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id, as the session list gives it (the tokens' `sid`).")),
    responses(
        (status = 204, description = "The session is ended."),
        (status = 404, description = "`not_found`: not one of the caller's live sessions.",
            body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn delete(
    app: &App,
    request: Request<Incoming>,
    origin: Origin,
) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers())?;
    let caller = app.tokens.authenticate(token).await?;
    let sid = Route::Session
        .param(request.uri().path())
        .filter(|sid| sid.len() <= MAX_SESSION_ID_CHARS)
        .ok_or(ApiError::NotFound)?;
    app.tokens.end_own_session(&caller, sid, &origin).await?;
    let mut response = Response::default();
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
