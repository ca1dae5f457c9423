//! Accounts in the store, written once for both backends (see `dialect`):
//! each function is one statement, or the statements of one transaction
//! that the backend opens and commits (SQLite's `BEGIN IMMEDIATE`,
//! Postgres's default), since how a transaction starts is the backend's.

use super::dialect::{user_from_row, Conn, ConnExt, Failure, Sql, SqlRow, SqlRowExt, SqlValue};
use super::{StoreError, UserQuery};
use crate::domain::{Email, NewUser, PasswordHash, Timestamp, User, UserId, UserRef, UserUpdate};

static CREATE: Sql = Sql::new(concat!(
    "INSERT INTO users (email, email_lower, full_name, password_hash, is_active, is_staff,
                        is_superuser, date_joined, tokens_valid_after)
     VALUES ($1, $2, $3, $4, TRUE, $5, $6, $7, $7) RETURNING ",
    user_columns!()
));
static BY_ID: Sql = Sql::new(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id = $1"
));
static BY_EMAIL: Sql = Sql::new(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE email_lower = $1"
));
/// Login's look-up (a hot path: Postgres keeps it prepared).
pub(crate) static CREDENTIALS: Sql = Sql::new(concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE email_lower = $1"
));
static LIST: Sql = Sql::new(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users
     WHERE id > $3
       AND (CAST($1 AS TEXT) IS NULL OR email_lower LIKE $1 ESCAPE '\\' OR lower(full_name) LIKE $1 ESCAPE '\\')
     ORDER BY id LIMIT $2"
));
static UPDATE: Sql = Sql::new(concat!(
    "UPDATE users SET full_name = COALESCE($1, full_name), is_staff = COALESCE($2, is_staff),
                      is_superuser = COALESCE($3, is_superuser)
     WHERE id = $4 RETURNING ",
    user_columns!()
));
static ENABLE: Sql = Sql::new(concat!(
    "UPDATE users SET is_active = TRUE WHERE id = $1 RETURNING ",
    user_columns!()
));
static DISABLE: Sql = Sql::new(concat!(
    "UPDATE users SET is_active = FALSE, tokens_valid_after = GREATEST(tokens_valid_after, $2)
     WHERE id = $1 RETURNING ",
    user_columns!()
));
static REVOKE_TOKENS: Sql = Sql::new(
    "UPDATE refresh_tokens SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL",
);
static REVOKE_SESSIONS: Sql = Sql::new(
    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL",
);
static SET_PASSWORD: Sql = Sql::new(
    "UPDATE users SET password_hash = $1, tokens_valid_after = GREATEST(tokens_valid_after, $2) WHERE id = $3",
);
static END_RESET_LINKS: Sql = Sql::new(
    "UPDATE password_reset_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
);
static DELETE: Sql = Sql::new("DELETE FROM users WHERE id = $1");
static SET_EMAIL_KEY: Sql = Sql::new("UPDATE users SET email_lower = $1 WHERE id = $2");

fn not_found(id: UserId) -> StoreError {
    StoreError::UserNotFound(format!("id {id}"))
}

pub(crate) fn create(c: &mut dyn Conn, user: &NewUser) -> Result<User, StoreError> {
    let params = [
        user.email.as_str().into(),
        user.email.lowered().into(),
        user.full_name.as_str().into(),
        user.password_hash.as_str().into(),
        user.is_staff.into(),
        user.is_superuser.into(),
        user.date_joined.into(),
    ];
    match c.row(&CREATE, &params, user_from_row) {
        Ok(user) => user.ok_or_else(|| StoreError::Internal("the insert returned no row".into())),
        Err(Failure::Unique(_)) => Err(StoreError::EmailTaken),
        Err(Failure::Other(e)) => Err(e),
    }
}

pub(crate) fn find(c: &mut dyn Conn, user: &UserRef) -> Result<Option<User>, StoreError> {
    Ok(match user {
        UserRef::Id(id) => c.row(&BY_ID, &[(*id).into()], user_from_row)?,
        UserRef::Email(email) => c.row(&BY_EMAIL, &[email.lowered().into()], user_from_row)?,
    })
}

/// Reads a [`CREDENTIALS`] row.
pub(crate) fn credentials_from_row(row: &dyn SqlRow) -> Result<(User, PasswordHash), StoreError> {
    let hash = row.text_nn(9)?;
    Ok((user_from_row(row)?, PasswordHash::from_stored(hash)))
}

pub(crate) fn credentials(
    c: &mut dyn Conn,
    email: &Email,
) -> Result<Option<(User, PasswordHash)>, StoreError> {
    Ok(c.row(
        &CREDENTIALS,
        &[email.lowered().into()],
        credentials_from_row,
    )?)
}

pub(crate) fn list(c: &mut dyn Conn, query: &UserQuery) -> Result<Vec<User>, StoreError> {
    let pattern = query.search.as_deref().map(like_pattern);
    let params = [
        SqlValue::Text(pattern),
        i64::from(query.limit).into(),
        query.after.map_or(0, UserId::get).into(),
    ];
    Ok(c.rows(&LIST, &params, user_from_row)?)
}

pub(crate) fn update(
    c: &mut dyn Conn,
    id: UserId,
    update: &UserUpdate,
) -> Result<User, StoreError> {
    let params = [
        update.full_name.as_ref().map(|n| n.as_str()).into(),
        update.is_staff.into(),
        update.is_superuser.into(),
        id.into(),
    ];
    c.row(&UPDATE, &params, user_from_row)?
        .ok_or_else(|| not_found(id))
}

/// The statements of `set_active`, in the caller's transaction.
pub(crate) fn set_active(
    tx: &mut dyn Conn,
    id: UserId,
    active: bool,
    at: Timestamp,
) -> Result<User, StoreError> {
    let user = if active {
        tx.row(&ENABLE, &[id.into()], user_from_row)?
    } else {
        tx.row(&DISABLE, &[id.into(), at.into()], user_from_row)?
    }
    .ok_or_else(|| not_found(id))?;
    if !active {
        revoke_all(tx, id, at, super::revoked_reason::ACCOUNT_DISABLED)?;
    }
    Ok(user)
}

/// Revokes every live session and refresh token of a user; returns how
/// many sessions were live. Tokens before sessions, the order a Postgres
/// rotation locks them in, so a refresh racing this waits rather than
/// deadlocks.
pub(crate) fn revoke_all(
    tx: &mut dyn Conn,
    id: UserId,
    at: Timestamp,
    reason: &str,
) -> Result<u64, StoreError> {
    let params = [at.into(), reason.into(), id.into()];
    tx.execute(&REVOKE_TOKENS, &params)?;
    Ok(tx.execute(&REVOKE_SESSIONS, &params)?)
}

/// Sets the hash, moves `tokens_valid_after` and revokes every session and
/// refresh token, in the caller's transaction; false when the user does not
/// exist.
pub(crate) fn replace_password(
    tx: &mut dyn Conn,
    id: UserId,
    hash: &PasswordHash,
    at: Timestamp,
    reason: &str,
) -> Result<bool, StoreError> {
    let changed = tx.execute(&SET_PASSWORD, &[hash.as_str().into(), at.into(), id.into()])?;
    if changed == 0 {
        return Ok(false);
    }
    revoke_all(tx, id, at, reason)?;
    // A new password ends every reset link sent for the old one.
    tx.execute(&END_RESET_LINKS, &[at.into(), id.into()])?;
    Ok(true)
}

/// `replace_password`, with a missing user as an error.
pub(crate) fn set_password(
    tx: &mut dyn Conn,
    id: UserId,
    hash: &PasswordHash,
    at: Timestamp,
    reason: &str,
) -> Result<(), StoreError> {
    if replace_password(tx, id, hash, at, reason)? {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

pub(crate) fn delete(c: &mut dyn Conn, id: UserId) -> Result<(), StoreError> {
    match c.execute(&DELETE, &[id.into()])? {
        0 => Err(not_found(id)),
        _ => Ok(()),
    }
}

pub(crate) fn set_email_key(c: &mut dyn Conn, id: UserId, key: &str) -> Result<bool, StoreError> {
    match c.execute(&SET_EMAIL_KEY, &[key.into(), id.into()]) {
        Ok(_) => Ok(true),
        Err(Failure::Unique(_)) => Ok(false),
        Err(Failure::Other(e)) => Err(e),
    }
}

/// `%text%` for LIKE, lower-cased, with `%`, `_` and `\` taken literally.
pub(crate) fn like_pattern(search: &str) -> String {
    let mut pattern = String::from("%");
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
