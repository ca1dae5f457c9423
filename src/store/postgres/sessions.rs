//! Sessions and refresh tokens on Postgres. A rotation's conditional UPDATE
//! takes the row lock: a concurrent rotation of the same token waits, then
//! re-checks `revoked_at IS NULL` against the committed row and finds nothing
//! to update (READ COMMITTED semantics), so exactly one wins. The UPDATE and
//! the INSERT of the next token are one statement (a data-modifying CTE), so
//! a successful rotation is one prepared round trip and one commit; the
//! same statement records who refreshed on the session row.
//!
//! Lock order: a rotation locks its token row, then its session row. Every
//! revocation therefore updates refresh tokens before sessions, so a logout
//! racing a refresh of the same session waits rather than deadlocks.

use std::time::Duration;

use postgres::Transaction;

use super::{db_error, revoke_all, user_from_row, PostgresStore, ACCESS_STATE};
use crate::domain::PasswordHash;
use crate::domain::{ClientInfo, Timestamp, UserId};
use crate::store::sessions::{client_agent, client_ip};
use crate::store::sessions::{
    reason, AccessState, NewSession, RevokeScope, RotateOutcome, Rotation, SessionQuery,
    SessionStore,
};
use crate::store::{RefreshInfo, SessionInfo, StoreError};

/// An [`AccessState`] from a row of the user's columns then the revoked flag.
pub(super) fn access_state_from_row(row: &postgres::Row) -> Result<AccessState, StoreError> {
    Ok(AccessState {
        user: user_from_row(row)?,
        session_revoked: row.try_get(9).map_err(db_error)?,
    })
}

/// Records a session and its first refresh token.
pub(super) fn insert_session(
    tx: &mut Transaction<'_>,
    session: &NewSession,
) -> Result<(), StoreError> {
    let user = session.user_id.get();
    let at = session.created_at;
    tx.execute(
        "INSERT INTO sessions (id, user_id, created_at, created_ip, created_user_agent)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &session.sid,
            &user,
            &at,
            &client_ip(&session.client),
            &client_agent(&session.client),
        ],
    )
    .map_err(db_error)?;
    tx.execute(
        "INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        &[&session.refresh.jti, &user, &session.sid, &at, &session.refresh.expires_at],
    )
    .map_err(db_error)?;
    Ok(())
}

impl SessionStore for PostgresStore {
    fn start_session(&self, session: &NewSession) -> Result<(), StoreError> {
        // One prepared statement: the session, its first token and
        // `last_login` commit together in one round trip, where a
        // transaction of three unprepared statements took eight. The token
        // row's foreign key is checked at the end of the statement, when
        // the session row is there.
        const START: &str = "WITH session AS (
                 INSERT INTO sessions (id, user_id, created_at, created_ip, created_user_agent)
                 VALUES ($1, $2, $3, $4, $5)),
             token AS (
                 INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at)
                 VALUES ($6, $2, $1, $3, $7))
             UPDATE users SET last_login = $3 WHERE id = $2";
        let mut client = self.conn()?;
        let start = client.prepared(START).map_err(db_error)?;
        client
            .execute(
                &start,
                &[
                    &session.sid,
                    &session.user_id.get(),
                    &session.created_at,
                    &client_ip(&session.client),
                    &client_agent(&session.client),
                    &session.refresh.jti,
                    &session.refresh.expires_at,
                ],
            )
            .map_err(db_error)?;
        Ok(())
    }

    fn rotate_refresh(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        const ROTATE: &str = "WITH rotated AS (
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
             RETURNING user_id, family";
        let mut client = self.conn()?;
        let at = rotation.at;
        let rotate = client.prepared(ROTATE).map_err(db_error)?;
        let rotated = client
            .query_opt(
                &rotate,
                &[
                    &at,
                    &reason::ROTATED,
                    &rotation.next.jti,
                    &rotation.jti,
                    &rotation.next.expires_at,
                    &client_ip(&rotation.client),
                    &client_agent(&rotation.client),
                ],
            )
            .map_err(db_error)?;
        if let Some(row) = rotated {
            let user_id: i64 = row.try_get(0).map_err(db_error)?;
            let sid: String = row.try_get(1).map_err(db_error)?;
            let user_id = UserId::new(user_id)
                .ok_or_else(|| StoreError::Internal("invalid user id".into()))?;
            return Ok(RotateOutcome::Rotated { user_id, sid });
        }
        // Not rotated: decide between a plain refusal and reuse detection
        // on the committed rows, in a transaction of its own.
        Ok(
            match revoke_if_reused(&mut client, &rotation.jti, at, rotation.reuse_grace)? {
                Some(sid) => RotateOutcome::ReuseDetected { sid },
                None => RotateOutcome::Refused,
            },
        )
    }

    fn revoke_if_reused(
        &self,
        jti: &str,
        at: Timestamp,
        grace: Duration,
    ) -> Result<Option<String>, StoreError> {
        let mut client = self.conn()?;
        revoke_if_reused(&mut client, jti, at, grace)
    }

    fn revoke_sessions(
        &self,
        scope: &RevokeScope,
        why: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db_error)?;
        let revoked = match scope {
            RevokeScope::Session(sid) => revoke_session_rows(&mut tx, sid, why, at)?,
            RevokeScope::OwnSession { user_id, sid } => {
                let owned: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2)",
                        &[sid, &user_id.get()],
                    )
                    .and_then(|row| row.try_get(0))
                    .map_err(db_error)?;
                match owned {
                    true => revoke_session_rows(&mut tx, sid, why, at)?,
                    false => 0,
                }
            }
            RevokeScope::OtherSessions { user_id, keep } => {
                // Tokens before sessions: see the module doc.
                tx.execute(
                    "UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2
                     WHERE user_id = $3 AND family <> $4 AND revoked_at IS NULL",
                    &[&at, &why, &user_id.get(), keep],
                )
                .map_err(db_error)?;
                tx.execute(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
                     WHERE user_id = $3 AND id <> $4 AND revoked_at IS NULL",
                    &[&at, &why, &user_id.get(), keep],
                )
                .map_err(db_error)?
            }
            RevokeScope::AllSessions(user_id) => {
                let count = revoke_all(&mut tx, *user_id, at, why)?;
                tx.execute(
                    "UPDATE users SET tokens_valid_after = GREATEST(tokens_valid_after, $1) WHERE id = $2",
                    &[&at, &user_id.get()],
                )
                .map_err(db_error)?;
                count
            }
        };
        tx.commit().map_err(db_error)?;
        Ok(revoked)
    }

    fn access_state(&self, user_id: UserId, sid: &str) -> Result<Option<AccessState>, StoreError> {
        let mut client = self.conn()?;
        let statement = client.prepared(ACCESS_STATE).map_err(db_error)?;
        let row = client
            .query_opt(&statement, &[&user_id.get(), &sid])
            .map_err(db_error)?;
        row.as_ref().map(access_state_from_row).transpose()
    }

    fn refresh_is_live(&self, jti: &str, at: Timestamp) -> Result<bool, StoreError> {
        const REFRESH_IS_LIVE: &str = "SELECT EXISTS (
                     SELECT 1 FROM refresh_tokens t
                     JOIN sessions s ON s.id = t.family AND s.revoked_at IS NULL
                     JOIN users u ON u.id = t.user_id AND u.is_active
                     WHERE t.jti = $1 AND t.revoked_at IS NULL AND t.expires_at > $2)";
        let mut client = self.conn()?;
        let statement = client.prepared(REFRESH_IS_LIVE).map_err(db_error)?;
        client
            .query_one(&statement, &[&jti, &at])
            .and_then(|row| row.try_get(0))
            .map_err(db_error)
    }

    fn revoke_refresh_token(
        &self,
        jti: &str,
        why: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = self
            .conn()?
            .execute(
                "UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2 WHERE jti = $3 AND revoked_at IS NULL",
                &[&at, &why, &jti],
            )
            .map_err(db_error)?;
        Ok(changed == 1)
    }

    fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<SessionInfo>, StoreError> {
        const LIST: &str = "SELECT s.id, s.created_at, s.created_ip, s.created_user_agent, s.last_refreshed_at,
                    s.last_ip, s.last_user_agent, s.revoked_at, s.revoked_reason
             FROM sessions s
             WHERE s.user_id = $1 AND (NOT $2 OR (s.revoked_at IS NULL AND EXISTS (
                 SELECT 1 FROM refresh_tokens t WHERE t.family = s.id AND t.revoked_at IS NULL AND t.expires_at > $3)))
             ORDER BY s.created_at DESC, s.id LIMIT $4";
        let mut client = self.conn()?;
        let limit = query.limit.map(i64::from);
        let statement = client.prepared(LIST).map_err(db_error)?;
        let rows = client
            .query(
                &statement,
                &[&query.user_id.get(), &query.live_only, &query.at, &limit],
            )
            .map_err(db_error)?;
        let mut sessions = rows
            .iter()
            .map(session_from_row)
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(db_error)?;
        if !query.with_tokens {
            return Ok(sessions);
        }
        for session in &mut sessions {
            session.tokens = client
                .query(
                    "SELECT jti, issued_at, expires_at, revoked_at, revoked_reason, replaced_by FROM refresh_tokens
                     WHERE family = $1 ORDER BY issued_at, jti",
                    &[&session.sid],
                )
                .map_err(db_error)?
                .iter()
                .map(|t| {
                    Ok(RefreshInfo {
                        jti: t.try_get(0)?,
                        issued_at: t.try_get(1)?,
                        expires_at: t.try_get(2)?,
                        revoked_at: t.try_get(3)?,
                        revoked_reason: t.try_get(4)?,
                        replaced_by: t.try_get(5)?,
                    })
                })
                .collect::<Result<Vec<_>, postgres::Error>>()
                .map_err(db_error)?;
        }
        Ok(sessions)
    }

    fn session_user(&self, sid: &str) -> Result<Option<UserId>, StoreError> {
        let row = self
            .conn()?
            .query_opt("SELECT user_id FROM sessions WHERE id = $1", &[&sid])
            .map_err(db_error)?;
        Ok(row
            .and_then(|r| r.try_get::<_, i64>(0).ok())
            .and_then(UserId::new))
    }

    fn refresh_token_known(&self, jti: &str) -> Result<bool, StoreError> {
        self.conn()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE jti = $1)",
                &[&jti],
            )
            .and_then(|row| row.try_get(0))
            .map_err(db_error)
    }

    fn upgrade_password_hash(
        &self,
        user_id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<(), StoreError> {
        let mut client = self.conn()?;
        client
            .execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
                &[&new.as_str(), &user_id.get(), &old.as_str()],
            )
            .map_err(db_error)?;
        Ok(())
    }
}

/// A [`SessionInfo`] (without tokens) from the columns `list_sessions` selects.
fn session_from_row(row: &postgres::Row) -> Result<SessionInfo, postgres::Error> {
    Ok(SessionInfo {
        sid: row.try_get(0)?,
        created_at: row.try_get(1)?,
        created_by: client(row.try_get(2)?, row.try_get(3)?),
        last_refreshed_at: row.try_get(4)?,
        last_refreshed_by: client(row.try_get(5)?, row.try_get(6)?),
        revoked_at: row.try_get(7)?,
        revoked_reason: row.try_get(8)?,
        tokens: Vec::new(),
    })
}

/// The client of a session's `*_ip` and `*_user_agent` columns; `None`
/// without an address (rows from before they were recorded).
fn client(ip: Option<String>, user_agent: Option<String>) -> Option<ClientInfo> {
    let ip = ip?.parse().ok()?;
    Some(ClientInfo::new(ip, user_agent.as_deref()))
}

/// Revokes the session of `jti` when that token was rotated longer than
/// `grace` before `at` (a replayed, probably stolen token); returns it.
fn revoke_if_reused(
    client: &mut postgres::Client,
    jti: &str,
    at: Timestamp,
    grace: Duration,
) -> Result<Option<String>, StoreError> {
    let mut tx = client.transaction().map_err(db_error)?;
    let previous = tx
        .query_opt(
            "SELECT revoked_reason, revoked_at, family FROM refresh_tokens WHERE jti = $1",
            &[&jti],
        )
        .map_err(db_error)?;
    let Some(row) = previous else {
        return Ok(None);
    };
    let why: Option<String> = row.try_get(0).map_err(db_error)?;
    let revoked_at: Option<Timestamp> = row.try_get(1).map_err(db_error)?;
    let sid: String = row.try_get(2).map_err(db_error)?;
    let outside_grace = revoked_at
        .and_then(|revoked| (at - revoked).to_std().ok())
        .is_some_and(|since| since > grace);
    if why.as_deref() == Some(reason::ROTATED) && outside_grace {
        revoke_session_rows(&mut tx, &sid, reason::REUSE_DETECTED, at)?;
        tx.commit().map_err(db_error)?;
        return Ok(Some(sid));
    }
    Ok(None)
}

/// Revokes one session and every live refresh token in it, tokens first
/// (see the module doc).
fn revoke_session_rows(
    tx: &mut Transaction<'_>,
    sid: &str,
    why: &str,
    at: Timestamp,
) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2 WHERE family = $3 AND revoked_at IS NULL",
        &[&at, &why, &sid],
    )
    .map_err(db_error)?;
    tx.execute(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        &[&at, &why, &sid],
    )
    .map_err(db_error)
}
