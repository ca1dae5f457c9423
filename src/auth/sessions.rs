//! A user's own sessions: the list of their live ones, and ending one of
//! them (`GET` and `DELETE /api/auth/sessions/`). Ending one goes through
//! the same revocation as a `local` logout, so its refresh token and its
//! access tokens stop working, on this instance at once (the access cache
//! forgets the user) and elsewhere within `jwt.revocation_cache_ttl`.

use super::tokens::{AuthError, Authenticated, TokenService};
use crate::domain::{self, AuditEvent, EventType, Origin};
use crate::store::{revoked_reason, RevokeScope, SessionInfo, SessionQuery};

/// The most sessions the list answers: the newest. A user with more live
/// sessions than this has logged in from a script, and can end them all
/// with a `global` logout.
pub const MAX_LISTED_SESSIONS: u32 = 100;

impl TokenService {
    /// The caller's live sessions, newest first, at most
    /// [`MAX_LISTED_SESSIONS`].
    pub async fn own_sessions(
        &self,
        caller: &Authenticated,
    ) -> Result<Vec<SessionInfo>, AuthError> {
        let query = SessionQuery {
            user_id: caller.user.id,
            live_only: true,
            at: domain::now(),
            limit: Some(MAX_LISTED_SESSIONS),
            with_tokens: false,
        };
        Ok(self.db.call(move |s| s.list_sessions(&query)).await?)
    }

    /// Ends the caller's session `sid`: its refresh tokens and access
    /// tokens. [`AuthError::UnknownSession`] when it is not one of the
    /// caller's sessions, or is already ended; another user's session is
    /// left untouched and answered the same as an unknown one.
    pub async fn end_own_session(
        &self,
        caller: &Authenticated,
        sid: &str,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let scope = RevokeScope::OwnSession {
            user_id: caller.user.id,
            sid: sid.to_string(),
        };
        let ended = self
            .db
            .call(move |s| s.revoke_sessions(&scope, revoked_reason::ENDED_BY_OWNER, domain::now()))
            .await?;
        if ended == 0 {
            return Err(AuthError::UnknownSession);
        }
        self.forget_user(caller.user.id);
        self.audit.record(
            AuditEvent::success(EventType::SessionEnded, origin)
                .user(&caller.user)
                .session(sid),
        );
        Ok(())
    }
}
