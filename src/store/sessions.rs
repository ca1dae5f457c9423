//! Login sessions and refresh tokens in the SQL store.
//!
//! A login starts a session (`sid`) with its first refresh token. A refresh
//! rotates that token: one conditional UPDATE revokes the presented token
//! only if it is still live, and the new token is inserted in the same
//! transaction, so of concurrent refreshes with one token exactly one wins.
//! Presenting a token that was already rotated is refused; if it was rotated
//! longer ago than the reuse grace, the whole session is revoked (the token
//! was probably stolen). Access tokens are stateless; they are checked
//! against [`AccessState`]: the session's revocation and the user's
//! `tokens_valid_after` and `is_active`.
//!
//! The statements are `session_sql`'s, shared by both backends.

use std::time::Duration;

use super::StoreError;
use crate::domain::{ClientInfo, Timestamp, User, UserId};

/// A refresh token to record.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub jti: String,
    pub expires_at: Timestamp,
}

/// A session to start, with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub sid: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
    /// Who logged in: recorded as the session's `created_ip` and
    /// `created_user_agent` (`None`: not known, as for an import).
    pub client: Option<ClientInfo>,
    pub refresh: NewRefreshToken,
}

/// One refresh rotation.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The presented token.
    pub jti: String,
    /// Its successor.
    pub next: NewRefreshToken,
    pub at: Timestamp,
    /// `jwt.refresh_reuse_grace`.
    pub reuse_grace: Duration,
    /// Who refreshed: on success, the session's `last_ip` and
    /// `last_user_agent`, with `at` as its `last_refreshed_at`.
    pub client: Option<ClientInfo>,
}

/// The answer to a queued rotation ([`SessionStore::queue_rotation`]),
/// once the store's writer has written it.
pub type RotationTicket =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<RotateOutcome, StoreError>> + Send>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token is revoked and its successor recorded.
    Rotated { user_id: UserId, sid: String },
    /// Unknown, expired, revoked, or rotated within the grace period.
    Refused,
    /// Rotated longer ago than the grace: the session is now revoked.
    ReuseDetected { sid: String },
}

/// Which sessions a revocation reaches.
#[derive(Debug, Clone)]
pub enum RevokeScope {
    /// One session (logout `local`, `authd token revoke --session`).
    Session(String),
    /// One session, only if it is `user_id`'s (the owner ending one of
    /// their sessions): another user's session is left alone and counts 0.
    OwnSession { user_id: UserId, sid: String },
    /// Every session of the user but one (logout `others`).
    OtherSessions { user_id: UserId, keep: String },
    /// Every session of the user, and `tokens_valid_after` moved to now
    /// (logout `global`), so even tokens without a session stop working.
    AllSessions(UserId),
}

/// What an access token is checked against.
#[derive(Debug, Clone)]
pub struct AccessState {
    pub user: User,
    /// True when the session is revoked or does not belong to the user.
    pub session_revoked: bool,
}

/// A session, with its refresh tokens when asked for (`authd token list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub sid: String,
    pub created_at: Timestamp,
    /// Who started it; `None` for sessions started before authd recorded it.
    pub created_by: Option<ClientInfo>,
    /// The last successful refresh; `None` until the first.
    pub last_refreshed_at: Option<Timestamp>,
    /// Who made the last refresh; `None` until the first.
    pub last_refreshed_by: Option<ClientInfo>,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
    /// Oldest first; empty unless [`SessionQuery::with_tokens`].
    pub tokens: Vec<RefreshInfo>,
}

/// Which of a user's sessions to list, newest first.
#[derive(Debug, Clone)]
pub struct SessionQuery {
    pub user_id: UserId,
    /// Only sessions that are not revoked and still hold an unrevoked,
    /// unexpired refresh token at `at`.
    pub live_only: bool,
    pub at: Timestamp,
    /// At most this many sessions (the newest); `None` for all.
    pub limit: Option<u32>,
    /// Also load each session's refresh tokens.
    pub with_tokens: bool,
}

/// One refresh token row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshInfo {
    pub jti: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
    pub replaced_by: Option<String>,
}

/// Why a revocation happened, recorded on the rows (`authd token list`).
pub mod reason {
    pub const ROTATED: &str = "rotated";
    pub const REUSE_DETECTED: &str = "reuse_detected";
    pub const LOGOUT: &str = "logout";
    pub const PASSWORD_CHANGE: &str = "password_change";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const ADMIN_PASSWORD_SET: &str = "admin_password_set";
    pub const ADMIN_REVOKED: &str = "admin_revoked";
    pub const ACCOUNT_DISABLED: &str = "account_disabled";
    /// The owner ended it (`DELETE /api/auth/sessions/{id}/`).
    pub const ENDED_BY_OWNER: &str = "ended_by_owner";
}

pub trait SessionStore {
    /// Records a new session and its first refresh token, and sets the
    /// user's `last_login`.
    fn start_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// Rotates a refresh token atomically (see the module doc).
    fn rotate_refresh(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError>;

    /// Hands `rotation` to the store's own writer, where it has one
    /// (SQLite's group commit): the ticket is answered once it is written,
    /// and no thread waits for it meanwhile. `None` when the store has no
    /// such writer; `Db` then runs [`SessionStore::rotate_refresh`] like
    /// any other call.
    fn queue_rotation(&self, _rotation: &Rotation) -> Option<RotationTicket> {
        None
    }

    /// Reuse detection for a token presented other than to refresh (a
    /// logout with a dead token): when `jti` was rotated longer than
    /// `grace` before `at`, its session is revoked as on a refresh, and
    /// returned.
    fn revoke_if_reused(
        &self,
        jti: &str,
        at: Timestamp,
        grace: Duration,
    ) -> Result<Option<String>, StoreError>;

    /// Revokes the sessions in `scope` and their refresh tokens; returns how
    /// many sessions were live. Revoking a revoked session is not an error.
    fn revoke_sessions(
        &self,
        scope: &RevokeScope,
        reason: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError>;

    /// The user and session an access token names; `None` when the user is gone.
    fn access_state(&self, user_id: UserId, sid: &str) -> Result<Option<AccessState>, StoreError>;

    /// True when the refresh token is recorded, unrevoked, unexpired, its
    /// session live and its user active.
    fn refresh_is_live(&self, jti: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// Revokes one refresh token (not its session); false when it is
    /// unknown or already revoked.
    fn revoke_refresh_token(
        &self,
        jti: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// The sessions `query` names, newest first (ties by id).
    fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<SessionInfo>, StoreError>;

    /// The user a session belongs to.
    fn session_user(&self, sid: &str) -> Result<Option<UserId>, StoreError>;

    /// Whether a refresh token is recorded (revoked or not).
    fn refresh_token_known(&self, jti: &str) -> Result<bool, StoreError>;

    /// Replaces a password hash without revoking anything: a login that found
    /// a hash with outdated parameters stores a fresh one. Only if the hash
    /// is still `old`, so a concurrent password change wins.
    fn upgrade_password_hash(
        &self,
        user_id: UserId,
        old: &crate::domain::PasswordHash,
        new: &crate::domain::PasswordHash,
    ) -> Result<(), StoreError>;
}

/// The stored form of a client's IP.
pub(crate) fn client_ip(client: &Option<ClientInfo>) -> Option<String> {
    client.as_ref().map(|client| client.ip().to_string())
}

/// The stored user agent of a client.
pub(crate) fn client_agent(client: &Option<ClientInfo>) -> Option<&str> {
    client.as_ref().and_then(ClientInfo::user_agent)
}
