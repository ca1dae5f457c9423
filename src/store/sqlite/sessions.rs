//! Sessions and refresh tokens on SQLite. Every write runs in a `BEGIN
//! IMMEDIATE` transaction: SQLite has one writer at a time, so the
//! conditional UPDATE of a rotation sees every earlier rotation.

use std::time::Duration;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{
    db_error, from_micros, revoke_all, to_micros, user_from_row, SqliteStore, ACCESS_STATE,
};
use crate::domain::PasswordHash;
use crate::domain::{ClientInfo, Timestamp, UserId};
use crate::store::sessions::{client_agent, client_ip};
use crate::store::sessions::{
    reason, AccessState, NewSession, RevokeScope, RotateOutcome, Rotation, SessionQuery,
    SessionStore,
};
use crate::store::{RefreshInfo, SessionInfo, StoreError};

/// An [`AccessState`] from a row of the user's columns then the revoked flag.
pub(super) fn access_state_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccessState> {
    Ok(AccessState {
        user: user_from_row(row)?,
        session_revoked: row.get(9)?,
    })
}

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Records a session and its first refresh token.
pub(super) fn insert_session(
    tx: &rusqlite::Transaction<'_>,
    session: &NewSession,
) -> rusqlite::Result<()> {
    let at = to_micros(session.created_at);
    let user = session.user_id.get();
    tx.prepare_cached(
        "INSERT INTO sessions (id, user_id, created_at, created_ip, created_user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        session.sid,
        user,
        at,
        client_ip(&session.client),
        client_agent(&session.client)
    ])?;
    tx.prepare_cached(INSERT_REFRESH)?.execute(params![
        session.refresh.jti,
        user,
        session.sid,
        at,
        to_micros(session.refresh.expires_at)
    ])?;
    Ok(())
}

impl SessionStore for SqliteStore {
    fn start_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        insert_session(&tx, session).map_err(db_error)?;
        tx.prepare_cached("UPDATE users SET last_login = ?1 WHERE id = ?2")
            .and_then(|mut update| {
                update.execute(params![
                    to_micros(session.created_at),
                    session.user_id.get()
                ])
            })
            .map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    fn rotate_refresh(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let at = to_micros(rotation.at);
        // Cached statements: every refresh runs these two. The session and
        // user checks are correlated on their primary keys: SQLite plans an
        // `IN (SELECT ...)` over those tables as a scan of every row.
        let rotated: Option<(i64, String)> = tx
            .prepare_cached(
                "UPDATE refresh_tokens SET revoked_at = ?1, revoked_reason = ?2, replaced_by = ?3
                 WHERE jti = ?4 AND revoked_at IS NULL AND expires_at > ?1
                   AND EXISTS (SELECT 1 FROM sessions s
                               WHERE s.id = refresh_tokens.family AND s.revoked_at IS NULL)
                   AND EXISTS (SELECT 1 FROM users u
                               WHERE u.id = refresh_tokens.user_id AND u.is_active = 1)
                 RETURNING user_id, family",
            )
            .and_then(|mut update| {
                update
                    .query_row(
                        params![at, reason::ROTATED, rotation.next.jti, rotation.jti],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
            })
            .map_err(db_error)?;
        if let Some((user_id, sid)) = rotated {
            tx.prepare_cached(INSERT_REFRESH)
                .and_then(|mut insert| {
                    insert.execute(params![
                        rotation.next.jti,
                        user_id,
                        sid,
                        at,
                        to_micros(rotation.next.expires_at)
                    ])
                })
                .map_err(db_error)?;
            // By primary key, in the rotation's transaction: who refreshed last.
            tx.prepare_cached(
                "UPDATE sessions SET last_refreshed_at = ?1, last_ip = ?2, last_user_agent = ?3
                 WHERE id = ?4",
            )
            .and_then(|mut touch| {
                touch.execute(params![
                    at,
                    client_ip(&rotation.client),
                    client_agent(&rotation.client),
                    sid
                ])
            })
            .map_err(db_error)?;
            tx.commit().map_err(db_error)?;
            let user_id = UserId::new(user_id)
                .ok_or_else(|| StoreError::Internal("invalid user id".into()))?;
            return Ok(RotateOutcome::Rotated { user_id, sid });
        }
        match revoke_if_reused(&tx, &rotation.jti, at, rotation.reuse_grace).map_err(db_error)? {
            Some(sid) => {
                tx.commit().map_err(db_error)?;
                Ok(RotateOutcome::ReuseDetected { sid })
            }
            None => Ok(RotateOutcome::Refused),
        }
    }

    fn revoke_if_reused(
        &self,
        jti: &str,
        at: Timestamp,
        grace: Duration,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let revoked = revoke_if_reused(&tx, jti, to_micros(at), grace).map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(revoked)
    }

    fn revoke_sessions(
        &self,
        scope: &RevokeScope,
        why: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let at = to_micros(at);
        let revoked = match scope {
            RevokeScope::Session(sid) => revoke_session_rows(&tx, sid, why, at),
            RevokeScope::OwnSession { user_id, sid } => tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1 AND user_id = ?2)",
                    params![sid, user_id.get()],
                    |row| row.get::<_, bool>(0),
                )
                .and_then(|owned| match owned {
                    true => revoke_session_rows(&tx, sid, why, at),
                    false => Ok(0),
                }),
            RevokeScope::OtherSessions { user_id, keep } => {
                let sessions = tx.execute(
                    "UPDATE sessions SET revoked_at = ?1, revoked_reason = ?2
                     WHERE user_id = ?3 AND id <> ?4 AND revoked_at IS NULL",
                    params![at, why, user_id.get(), keep],
                );
                sessions.and_then(|count| {
                    tx.execute(
                        "UPDATE refresh_tokens SET revoked_at = ?1, revoked_reason = ?2
                         WHERE user_id = ?3 AND family <> ?4 AND revoked_at IS NULL",
                        params![at, why, user_id.get(), keep],
                    )?;
                    Ok(count)
                })
            }
            RevokeScope::AllSessions(user_id) => revoke_all(&tx, *user_id, at, why).and_then(|count| {
                tx.execute(
                    "UPDATE users SET tokens_valid_after = max(tokens_valid_after, ?1) WHERE id = ?2",
                    params![at, user_id.get()],
                )?;
                Ok(count)
            }),
        }
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(revoked as u64)
    }

    fn access_state(&self, user_id: UserId, sid: &str) -> Result<Option<AccessState>, StoreError> {
        let conn = self.conn()?;
        // Cached: this runs on every authenticated request.
        let mut statement = conn.prepare_cached(ACCESS_STATE).map_err(db_error)?;
        statement
            .query_row(params![user_id.get(), sid], access_state_from_row)
            .optional()
            .map_err(db_error)
    }

    fn refresh_is_live(&self, jti: &str, at: Timestamp) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        // Cached: token/verify runs this for every refresh token it checks.
        let mut statement = conn
            .prepare_cached(
                "SELECT EXISTS (
                     SELECT 1 FROM refresh_tokens t
                     JOIN sessions s ON s.id = t.family AND s.revoked_at IS NULL
                     JOIN users u ON u.id = t.user_id AND u.is_active = 1
                     WHERE t.jti = ?1 AND t.revoked_at IS NULL AND t.expires_at > ?2)",
            )
            .map_err(db_error)?;
        statement
            .query_row(params![jti, to_micros(at)], |row| row.get(0))
            .map_err(db_error)
    }

    fn revoke_refresh_token(
        &self,
        jti: &str,
        why: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = self
            .writer()?
            .execute(
                "UPDATE refresh_tokens SET revoked_at = ?1, revoked_reason = ?2 WHERE jti = ?3 AND revoked_at IS NULL",
                params![to_micros(at), why, jti],
            )
            .map_err(db_error)?;
        Ok(changed == 1)
    }

    fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<SessionInfo>, StoreError> {
        let conn = self.conn()?;
        let limit = query.limit.map_or(-1, i64::from);
        let mut sessions = conn
            .prepare_cached(
                "SELECT s.id, s.created_at, s.created_ip, s.created_user_agent, s.last_refreshed_at,
                        s.last_ip, s.last_user_agent, s.revoked_at, s.revoked_reason
                 FROM sessions s
                 WHERE s.user_id = ?1 AND (?2 = 0 OR (s.revoked_at IS NULL AND EXISTS (
                     SELECT 1 FROM refresh_tokens t WHERE t.family = s.id AND t.revoked_at IS NULL AND t.expires_at > ?3)))
                 ORDER BY s.created_at DESC, s.id LIMIT ?4",
            )
            .map_err(db_error)?
            .query_map(
                params![query.user_id.get(), query.live_only, to_micros(query.at), limit],
                session_from_row,
            )
            .map_err(db_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error)?;
        if !query.with_tokens {
            return Ok(sessions);
        }
        let mut tokens = conn
            .prepare(
                "SELECT jti, issued_at, expires_at, revoked_at, revoked_reason, replaced_by FROM refresh_tokens
                 WHERE family = ?1 ORDER BY issued_at, jti",
            )
            .map_err(db_error)?;
        for session in &mut sessions {
            session.tokens = tokens
                .query_map(params![session.sid], |row| {
                    Ok(RefreshInfo {
                        jti: row.get(0)?,
                        issued_at: from_micros(row.get(1)?)?,
                        expires_at: from_micros(row.get(2)?)?,
                        revoked_at: row.get::<_, Option<i64>>(3)?.map(from_micros).transpose()?,
                        revoked_reason: row.get(4)?,
                        replaced_by: row.get(5)?,
                    })
                })
                .map_err(db_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db_error)?;
        }
        Ok(sessions)
    }

    fn session_user(&self, sid: &str) -> Result<Option<UserId>, StoreError> {
        let id: Option<i64> = self
            .conn()?
            .query_row(
                "SELECT user_id FROM sessions WHERE id = ?1",
                params![sid],
                |row| row.get(0),
            )
            .optional()
            .map_err(db_error)?;
        Ok(id.and_then(UserId::new))
    }

    fn refresh_token_known(&self, jti: &str) -> Result<bool, StoreError> {
        self.conn()?
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE jti = ?1)",
                params![jti],
                |row| row.get(0),
            )
            .map_err(db_error)
    }

    fn upgrade_password_hash(
        &self,
        user_id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<(), StoreError> {
        let conn = self.writer()?;
        conn.execute(
            "UPDATE users SET password_hash = ?1 WHERE id = ?2 AND password_hash = ?3",
            params![new.as_str(), user_id.get(), old.as_str()],
        )
        .map_err(db_error)?;
        Ok(())
    }
}

/// A [`SessionInfo`] (without tokens) from the columns `list_sessions` selects.
fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionInfo> {
    let micros = |index| -> rusqlite::Result<Option<Timestamp>> {
        row.get::<_, Option<i64>>(index)?
            .map(from_micros)
            .transpose()
    };
    Ok(SessionInfo {
        sid: row.get(0)?,
        created_at: from_micros(row.get(1)?)?,
        created_by: client(row.get(2)?, row.get(3)?),
        last_refreshed_at: micros(4)?,
        last_refreshed_by: client(row.get(5)?, row.get(6)?),
        revoked_at: micros(7)?,
        revoked_reason: row.get(8)?,
        tokens: Vec::new(),
    })
}

/// The client of a session's `*_ip` and `*_user_agent` columns; `None`
/// without an address (rows from before they were recorded).
pub(crate) fn client(ip: Option<String>, user_agent: Option<String>) -> Option<ClientInfo> {
    let ip = ip?.parse().ok()?;
    Some(ClientInfo::new(ip, user_agent.as_deref()))
}

/// Revokes the session of `jti` when that token was rotated longer than
/// `grace` before `at` (a replayed, probably stolen token); returns it.
fn revoke_if_reused(
    tx: &rusqlite::Transaction<'_>,
    jti: &str,
    at: i64,
    grace: Duration,
) -> rusqlite::Result<Option<String>> {
    let previous: Option<(Option<String>, Option<i64>, String)> = tx
        .query_row(
            "SELECT revoked_reason, revoked_at, family FROM refresh_tokens WHERE jti = ?1",
            params![jti],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let grace = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
    match previous {
        Some((Some(why), Some(revoked_at), sid))
            if why == reason::ROTATED && at - revoked_at > grace =>
        {
            revoke_session_rows(tx, &sid, reason::REUSE_DETECTED, at)?;
            Ok(Some(sid))
        }
        _ => Ok(None),
    }
}

/// Revokes one session and every live refresh token in it.
fn revoke_session_rows(
    tx: &rusqlite::Transaction<'_>,
    sid: &str,
    why: &str,
    at: i64,
) -> rusqlite::Result<usize> {
    let count = tx.execute(
        "UPDATE sessions SET revoked_at = ?1, revoked_reason = ?2 WHERE id = ?3 AND revoked_at IS NULL",
        params![at, why, sid],
    )?;
    tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ?1, revoked_reason = ?2 WHERE family = ?3 AND revoked_at IS NULL",
        params![at, why, sid],
    )?;
    Ok(count)
}
