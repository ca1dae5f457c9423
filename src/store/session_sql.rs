//! The sessions store's statements, written once for both backends (see
//! `dialect`; the trait, its types and the rotation's rules are in
//! `sessions`). Each function is one statement, or the statements of one
//! transaction that the backend opens and commits (SQLite's `BEGIN
//! IMMEDIATE` after the process's write turn, Postgres's default).
//!
//! Revocations update refresh tokens before sessions: the order a Postgres
//! rotation locks them in, so a logout racing a refresh of the same session
//! waits rather than deadlocks (SQLite has one writer, so there it is moot).
//!
//! Not here: Postgres starts a session and rotates a token each in one
//! statement of data-modifying CTEs (one round trip), which SQLite cannot
//! spell; those two are in `postgres::sessions`, and SQLite runs the same
//! steps one statement at a time ([`start`], [`rotate`]).

use std::time::Duration;

use super::dialect::{user_from_row, Conn, ConnExt, Sql, SqlRow, SqlRowExt, SqlValue};
use super::sessions::{
    client_agent, client_ip, reason, AccessState, NewSession, RefreshInfo, RevokeScope,
    RotateOutcome, Rotation, SessionInfo, SessionQuery,
};
use super::{users, StoreError};
use crate::domain::{ClientInfo, PasswordHash, Timestamp, UserId};

/// The check every authenticated request makes: the user, and whether the
/// token's session is revoked (or not the user's).
static ACCESS_STATE: Sql = Sql::new(access_check!(
    "NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = $2 AND s.user_id = u.id AND s.revoked_at IS NULL)"
));
static INSERT_SESSION: Sql = Sql::new(
    "INSERT INTO sessions (id, user_id, created_at, created_ip, created_user_agent)
     VALUES ($1, $2, $3, $4, $5)",
);
static INSERT_REFRESH: Sql = Sql::new(
    "INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
);
static SET_LAST_LOGIN: Sql = Sql::new("UPDATE users SET last_login = $1 WHERE id = $2");
/// The session and user checks are correlated on their primary keys:
/// SQLite plans an `IN (SELECT ...)` over those tables as a scan of every row.
static ROTATE: Sql = Sql::new(
    "UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2, replaced_by = $3
     WHERE jti = $4 AND revoked_at IS NULL AND expires_at > $1
       AND EXISTS (SELECT 1 FROM sessions s
                   WHERE s.id = refresh_tokens.family AND s.revoked_at IS NULL)
       AND EXISTS (SELECT 1 FROM users u
                   WHERE u.id = refresh_tokens.user_id AND u.is_active = TRUE)
     RETURNING user_id, family",
);
static TOUCH: Sql = Sql::new(
    "UPDATE sessions SET last_refreshed_at = $1, last_ip = $2, last_user_agent = $3 WHERE id = $4",
);
static PREVIOUS: Sql =
    Sql::new("SELECT revoked_reason, revoked_at, family FROM refresh_tokens WHERE jti = $1");
static REVOKE_FAMILY: Sql = Sql::new(
    "UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2 WHERE family = $3 AND revoked_at IS NULL",
);
static REVOKE_SESSION: Sql = Sql::new(
    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
);
static OWNED: Sql =
    Sql::new("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2)");
static REVOKE_OTHER_TOKENS: Sql = Sql::new(
    "UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2
     WHERE user_id = $3 AND family <> $4 AND revoked_at IS NULL",
);
static REVOKE_OTHER_SESSIONS: Sql = Sql::new(
    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
     WHERE user_id = $3 AND id <> $4 AND revoked_at IS NULL",
);
static CUT_OFF: Sql = Sql::new(
    "UPDATE users SET tokens_valid_after = GREATEST(tokens_valid_after, $1) WHERE id = $2",
);
static REFRESH_IS_LIVE: Sql = Sql::new(
    "SELECT EXISTS (
         SELECT 1 FROM refresh_tokens t
         JOIN sessions s ON s.id = t.family AND s.revoked_at IS NULL
         JOIN users u ON u.id = t.user_id AND u.is_active = TRUE
         WHERE t.jti = $1 AND t.revoked_at IS NULL AND t.expires_at > $2)",
);
static REVOKE_TOKEN: Sql = Sql::new(
    "UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2 WHERE jti = $3 AND revoked_at IS NULL",
);
static LIST: Sql = Sql::new(
    "SELECT s.id, s.created_at, s.created_ip, s.created_user_agent, s.last_refreshed_at,
            s.last_ip, s.last_user_agent, s.revoked_at, s.revoked_reason
     FROM sessions s
     WHERE s.user_id = $1 AND (NOT $2 OR (s.revoked_at IS NULL AND EXISTS (
         SELECT 1 FROM refresh_tokens t WHERE t.family = s.id AND t.revoked_at IS NULL AND t.expires_at > $3)))
     ORDER BY s.created_at DESC, s.id LIMIT $4",
);
static TOKENS: Sql = Sql::new(
    "SELECT jti, issued_at, expires_at, revoked_at, revoked_reason, replaced_by FROM refresh_tokens
     WHERE family = $1 ORDER BY issued_at, jti",
);
static SESSION_USER: Sql = Sql::new("SELECT user_id FROM sessions WHERE id = $1");
static TOKEN_KNOWN: Sql = Sql::new("SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE jti = $1)");
static UPGRADE_HASH: Sql =
    Sql::new("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3");

/// The answer of a `SELECT EXISTS (...)`.
fn exists(c: &mut dyn Conn, sql: &'static Sql, params: &[SqlValue]) -> Result<bool, StoreError> {
    Ok(c.row(sql, params, |row| row.flag(0))?.unwrap_or(false))
}

/// Records a session and its first refresh token, in the caller's
/// transaction (a login on SQLite, a legacy token's redemption on both).
pub(crate) fn insert_session(tx: &mut dyn Conn, session: &NewSession) -> Result<(), StoreError> {
    let at = session.created_at;
    let params = [
        session.sid.as_str().into(),
        session.user_id.into(),
        at.into(),
        SqlValue::Text(client_ip(&session.client)),
        client_agent(&session.client).into(),
    ];
    tx.execute(&INSERT_SESSION, &params)?;
    let token = &session.refresh;
    insert_refresh(
        tx,
        &token.jti,
        session.user_id,
        &session.sid,
        at,
        token.expires_at,
    )
}

fn insert_refresh(
    tx: &mut dyn Conn,
    jti: &str,
    user: UserId,
    sid: &str,
    issued_at: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    let params = [
        jti.into(),
        user.into(),
        sid.into(),
        issued_at.into(),
        expires_at.into(),
    ];
    tx.execute(&INSERT_REFRESH, &params)?;
    Ok(())
}

/// A login's session, first token and `last_login`, in the caller's
/// transaction (SQLite; Postgres has one statement for it).
pub(crate) fn start(tx: &mut dyn Conn, session: &NewSession) -> Result<(), StoreError> {
    insert_session(tx, session)?;
    let params = [session.created_at.into(), session.user_id.into()];
    tx.execute(&SET_LAST_LOGIN, &params)?;
    Ok(())
}

/// A rotation in the caller's transaction, a statement at a time (SQLite;
/// Postgres has one statement for the success path): the conditional
/// UPDATE, the successor, who refreshed; when nothing was rotated, the reuse
/// check on the same transaction's view.
pub(crate) fn rotate(tx: &mut dyn Conn, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
    let at = rotation.at;
    let params = [
        at.into(),
        reason::ROTATED.into(),
        rotation.next.jti.as_str().into(),
        rotation.jti.as_str().into(),
    ];
    let Some((user_id, sid)) = tx.row(&ROTATE, &params, rotated_from_row)? else {
        return not_rotated(tx, rotation);
    };
    let next = &rotation.next;
    insert_refresh(tx, &next.jti, user_id, &sid, at, next.expires_at)?;
    let params = [
        at.into(),
        SqlValue::Text(client_ip(&rotation.client)),
        client_agent(&rotation.client).into(),
        sid.as_str().into(),
    ];
    tx.execute(&TOUCH, &params)?;
    Ok(RotateOutcome::Rotated { user_id, sid })
}

/// Reads the `user_id, family` a rotation returns.
pub(crate) fn rotated_from_row(row: &dyn SqlRow) -> Result<(UserId, String), StoreError> {
    Ok((row.user_id(0)?, row.text_nn(1)?))
}

/// The outcome of a rotation that found no live token to revoke: reuse
/// detected (the session revoked) or a plain refusal.
pub(crate) fn not_rotated(
    tx: &mut dyn Conn,
    rotation: &Rotation,
) -> Result<RotateOutcome, StoreError> {
    Ok(
        match revoke_if_reused(tx, &rotation.jti, rotation.at, rotation.reuse_grace)? {
            Some(sid) => RotateOutcome::ReuseDetected { sid },
            None => RotateOutcome::Refused,
        },
    )
}

/// Revokes the session of `jti` when that token was rotated longer than
/// `grace` before `at` (a replayed, probably stolen token); returns it.
pub(crate) fn revoke_if_reused(
    tx: &mut dyn Conn,
    jti: &str,
    at: Timestamp,
    grace: Duration,
) -> Result<Option<String>, StoreError> {
    let previous = tx.row(&PREVIOUS, &[jti.into()], |row| {
        Ok((row.text(0)?, row.time(1)?, row.text_nn(2)?))
    })?;
    let Some((Some(why), Some(revoked_at), sid)) = previous else {
        return Ok(None);
    };
    // A negative span (revoked "after" `at`) is not outside the grace.
    let outside_grace = (at - revoked_at).to_std().is_ok_and(|since| since > grace);
    if why != reason::ROTATED || !outside_grace {
        return Ok(None);
    }
    revoke_session(tx, &sid, reason::REUSE_DETECTED, at)?;
    Ok(Some(sid))
}

/// Revokes one session and every live refresh token in it; 1 when the
/// session was live.
fn revoke_session(
    tx: &mut dyn Conn,
    sid: &str,
    why: &str,
    at: Timestamp,
) -> Result<u64, StoreError> {
    let params = [at.into(), why.into(), sid.into()];
    tx.execute(&REVOKE_FAMILY, &params)?;
    Ok(tx.execute(&REVOKE_SESSION, &params)?)
}

/// `SessionStore::revoke_sessions`, in the caller's transaction.
pub(crate) fn revoke_sessions(
    tx: &mut dyn Conn,
    scope: &RevokeScope,
    why: &str,
    at: Timestamp,
) -> Result<u64, StoreError> {
    match scope {
        RevokeScope::Session(sid) => revoke_session(tx, sid, why, at),
        RevokeScope::OwnSession { user_id, sid } => {
            let owned = exists(tx, &OWNED, &[sid.as_str().into(), (*user_id).into()])?;
            match owned {
                true => revoke_session(tx, sid, why, at),
                false => Ok(0),
            }
        }
        RevokeScope::OtherSessions { user_id, keep } => {
            let params = [
                at.into(),
                why.into(),
                (*user_id).into(),
                keep.as_str().into(),
            ];
            tx.execute(&REVOKE_OTHER_TOKENS, &params)?;
            Ok(tx.execute(&REVOKE_OTHER_SESSIONS, &params)?)
        }
        RevokeScope::AllSessions(user_id) => {
            let count = users::revoke_all(tx, *user_id, at, why)?;
            tx.execute(&CUT_OFF, &[at.into(), (*user_id).into()])?;
            Ok(count)
        }
    }
}

pub(crate) fn access_state(
    c: &mut dyn Conn,
    user_id: UserId,
    sid: &str,
) -> Result<Option<AccessState>, StoreError> {
    access_check(c, &ACCESS_STATE, user_id, sid)
}

/// Runs an access check, an `access_check!` statement whose `$2` is the
/// token's session (or a legacy token's id, whose check is `legacy_tokens`').
pub(crate) fn access_check(
    c: &mut dyn Conn,
    sql: &'static Sql,
    user_id: UserId,
    token: &str,
) -> Result<Option<AccessState>, StoreError> {
    let state = c.row(sql, &[user_id.into(), token.into()], |row| {
        Ok(AccessState {
            user: user_from_row(row)?,
            session_revoked: row.flag(9)?,
        })
    })?;
    Ok(state)
}

pub(crate) fn refresh_is_live(
    c: &mut dyn Conn,
    jti: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    exists(c, &REFRESH_IS_LIVE, &[jti.into(), at.into()])
}

pub(crate) fn revoke_refresh_token(
    c: &mut dyn Conn,
    jti: &str,
    why: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    Ok(c.execute(&REVOKE_TOKEN, &[at.into(), why.into(), jti.into()])? == 1)
}

pub(crate) fn list(c: &mut dyn Conn, query: &SessionQuery) -> Result<Vec<SessionInfo>, StoreError> {
    // No limit is the largest one: SQLite refuses a NULL limit, Postgres a
    // negative one.
    let limit = query.limit.map_or(i64::MAX, i64::from);
    let params = [
        query.user_id.into(),
        query.live_only.into(),
        query.at.into(),
        limit.into(),
    ];
    let mut sessions = c.rows(&LIST, &params, session_from_row)?;
    if query.with_tokens {
        for session in &mut sessions {
            session.tokens = c.rows(&TOKENS, &[session.sid.as_str().into()], refresh_from_row)?;
        }
    }
    Ok(sessions)
}

/// A [`SessionInfo`] (without tokens) from the columns of [`LIST`].
fn session_from_row(row: &dyn SqlRow) -> Result<SessionInfo, StoreError> {
    Ok(SessionInfo {
        sid: row.text_nn(0)?,
        created_at: row.time_nn(1)?,
        created_by: client(row.text(2)?, row.text(3)?),
        last_refreshed_at: row.time(4)?,
        last_refreshed_by: client(row.text(5)?, row.text(6)?),
        revoked_at: row.time(7)?,
        revoked_reason: row.text(8)?,
        tokens: Vec::new(),
    })
}

/// A [`RefreshInfo`] from the columns of [`TOKENS`].
fn refresh_from_row(row: &dyn SqlRow) -> Result<RefreshInfo, StoreError> {
    Ok(RefreshInfo {
        jti: row.text_nn(0)?,
        issued_at: row.time_nn(1)?,
        expires_at: row.time_nn(2)?,
        revoked_at: row.time(3)?,
        revoked_reason: row.text(4)?,
        replaced_by: row.text(5)?,
    })
}

/// The client of a session's `*_ip` and `*_user_agent` columns; `None`
/// without an address (rows from before they were recorded).
fn client(ip: Option<String>, user_agent: Option<String>) -> Option<ClientInfo> {
    let ip = ip?.parse().ok()?;
    Some(ClientInfo::new(ip, user_agent.as_deref()))
}

pub(crate) fn session_user(c: &mut dyn Conn, sid: &str) -> Result<Option<UserId>, StoreError> {
    let id = c.row(&SESSION_USER, &[sid.into()], |row| row.int_nn(0))?;
    Ok(id.and_then(UserId::new))
}

pub(crate) fn refresh_token_known(c: &mut dyn Conn, jti: &str) -> Result<bool, StoreError> {
    exists(c, &TOKEN_KNOWN, &[jti.into()])
}

pub(crate) fn upgrade_password_hash(
    c: &mut dyn Conn,
    user_id: UserId,
    old: &PasswordHash,
    new: &PasswordHash,
) -> Result<(), StoreError> {
    let params = [new.as_str().into(), user_id.into(), old.as_str().into()];
    c.execute(&UPGRADE_HASH, &params)?;
    Ok(())
}
