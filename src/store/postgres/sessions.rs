//! Sessions and refresh tokens on Postgres: the shared statements
//! (`store::session_sql`), and the two that SQLite cannot share. A session
//! start (the session, its first token, `last_login`) and a successful
//! rotation (revoke the presented token, insert its successor, record who
//! refreshed) are each one statement of data-modifying CTEs: one prepared
//! round trip and one commit, where a transaction of separate statements
//! took several. SQLite has no data-modifying CTEs and runs their steps
//! one by one (`session_sql::start`, `session_sql::rotate`).
//!
//! A rotation's conditional UPDATE takes the row lock: a concurrent
//! rotation of the same token waits, then re-checks `revoked_at IS NULL`
//! against the committed row and finds nothing to update (READ COMMITTED
//! semantics), so exactly one wins. Its lock order (token row, then session
//! row) is why the shared revocations update tokens first.
//!
//! Calls outside a transaction run on the pooled connection itself, which
//! keeps their statements prepared (see `connection`): most are hot paths
//! (the access check, a refresh, a login, token checks), and the cache
//! holds one statement per `Sql`, so the few others cost nothing to keep.

use std::time::Duration;

use super::conn::transaction;
use super::PostgresStore;
use crate::domain::PasswordHash;
use crate::domain::{Timestamp, UserId};
use crate::store::dialect::{Conn, ConnExt, Sql, SqlValue};
use crate::store::session_sql as sql;
use crate::store::sessions::{
    client_agent, client_ip, reason, AccessState, NewSession, RevokeScope, RotateOutcome, Rotation,
    SessionQuery, SessionStore,
};
use crate::store::{SessionInfo, StoreError};

/// Postgres only (see the module doc). The token row's foreign key is
/// checked at the end of the statement, when the session row is there.
static START: Sql = Sql::new(
    "WITH session AS (
         INSERT INTO sessions (id, user_id, created_at, created_ip, created_user_agent)
         VALUES ($1, $2, $3, $4, $5)),
     token AS (
         INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at)
         VALUES ($6, $2, $1, $3, $7))
     UPDATE users SET last_login = $3 WHERE id = $2",
);

/// Postgres only (see the module doc).
static ROTATE: Sql = Sql::new(
    "WITH rotated AS (
         UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2, replaced_by = $3
         WHERE jti = $4 AND revoked_at IS NULL AND expires_at > $1
           AND family IN (SELECT id FROM sessions WHERE revoked_at IS NULL)
           AND user_id IN (SELECT id FROM users WHERE is_active)
         RETURNING user_id, family),
     touched AS (
         UPDATE sessions SET last_refreshed_at = $1, last_ip = $6, last_user_agent = $7
         WHERE id = (SELECT family FROM rotated))
     INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at)
     SELECT $3, user_id, family, $1, $5 FROM rotated
     RETURNING user_id, family",
);

impl SessionStore for PostgresStore {
    fn start_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let params = [
            session.sid.as_str().into(),
            session.user_id.into(),
            session.created_at.into(),
            SqlValue::Text(client_ip(&session.client)),
            client_agent(&session.client).into(),
            session.refresh.jti.as_str().into(),
            session.refresh.expires_at.into(),
        ];
        Conn::execute(&mut *self.conn()?, &START, &params)?;
        Ok(())
    }

    fn rotate_refresh(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let mut client = self.conn()?;
        let params = [
            rotation.at.into(),
            reason::ROTATED.into(),
            rotation.next.jti.as_str().into(),
            rotation.jti.as_str().into(),
            rotation.next.expires_at.into(),
            SqlValue::Text(client_ip(&rotation.client)),
            client_agent(&rotation.client).into(),
        ];
        if let Some((user_id, sid)) = client.row(&ROTATE, &params, sql::rotated_from_row)? {
            return Ok(RotateOutcome::Rotated { user_id, sid });
        }
        // Not rotated: decide between a plain refusal and reuse detection
        // on the committed rows, in a transaction of its own.
        transaction(&mut client, |tx| sql::not_rotated(tx, rotation))
    }

    fn revoke_if_reused(
        &self,
        jti: &str,
        at: Timestamp,
        grace: Duration,
    ) -> Result<Option<String>, StoreError> {
        self.write(|tx| sql::revoke_if_reused(tx, jti, at, grace))
    }

    fn revoke_sessions(
        &self,
        scope: &RevokeScope,
        why: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        self.write(|tx| sql::revoke_sessions(tx, scope, why, at))
    }

    fn access_state(&self, user_id: UserId, sid: &str) -> Result<Option<AccessState>, StoreError> {
        sql::access_state(&mut *self.conn()?, user_id, sid)
    }

    fn refresh_is_live(&self, jti: &str, at: Timestamp) -> Result<bool, StoreError> {
        sql::refresh_is_live(&mut *self.conn()?, jti, at)
    }

    fn revoke_refresh_token(
        &self,
        jti: &str,
        why: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        sql::revoke_refresh_token(&mut *self.conn()?, jti, why, at)
    }

    fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<SessionInfo>, StoreError> {
        sql::list(&mut *self.conn()?, query)
    }

    fn session_user(&self, sid: &str) -> Result<Option<UserId>, StoreError> {
        sql::session_user(&mut *self.conn()?, sid)
    }

    fn refresh_token_known(&self, jti: &str) -> Result<bool, StoreError> {
        sql::refresh_token_known(&mut *self.conn()?, jti)
    }

    fn upgrade_password_hash(
        &self,
        user_id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<(), StoreError> {
        sql::upgrade_password_hash(&mut *self.conn()?, user_id, old, new)
    }
}
