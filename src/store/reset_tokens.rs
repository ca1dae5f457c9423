//! Password-reset tokens in the SQL store: the path used when no Redis is
//! configured (`reset.store = "database"`) or while it is down. Only the
//! sha256 of a token is kept. Consuming a token and setting the password is
//! one transaction whose conditional UPDATE (`used_at IS NULL AND
//! expires_at > now`) lets exactly one of concurrent confirms through.

use super::StoreError;
use crate::domain::PasswordHash;
use crate::domain::{Timestamp, UserId};

pub trait ResetTokenStore {
    /// Records a token (by its sha256, hex) for a user until `expires_at`.
    fn insert_reset_token(
        &self,
        token_sha256: &str,
        user_id: UserId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The user of a token that is unused and unexpired at `at`.
    fn reset_token_user(
        &self,
        token_sha256: &str,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError>;

    /// Marks the token used and, in the same transaction, sets the user's
    /// password (revoking every token of the user). `None` when the token is
    /// not live: unknown, expired, or used by a concurrent confirm.
    fn consume_reset_token(
        &self,
        token_sha256: &str,
        new_hash: &PasswordHash,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError>;
}

/// The statements, written once for both backends (see `dialect`).
pub(crate) mod sql {
    use crate::domain::{PasswordHash, Timestamp, UserId};
    use crate::store::dialect::{Conn, ConnExt, Sql, SqlRowExt};
    use crate::store::{revoked_reason, users, StoreError};

    static INSERT: Sql = Sql::new(
        "INSERT INTO password_reset_tokens (token_sha256, user_id, expires_at) VALUES ($1, $2, $3)",
    );
    static USER: Sql = Sql::new(
        "SELECT user_id FROM password_reset_tokens WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $2",
    );
    static CONSUME: Sql = Sql::new(
        "UPDATE password_reset_tokens SET used_at = $1
         WHERE token_sha256 = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    );

    pub(crate) fn insert(
        c: &mut dyn Conn,
        token_sha256: &str,
        user: UserId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        c.execute(
            &INSERT,
            &[token_sha256.into(), user.into(), expires_at.into()],
        )?;
        Ok(())
    }

    pub(crate) fn user(
        c: &mut dyn Conn,
        token_sha256: &str,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        Ok(c.row(&USER, &[token_sha256.into(), at.into()], |row| {
            row.user_id(0)
        })?)
    }

    /// In the caller's transaction. The token's row references its user
    /// (deleted with it), so a consumed token always finds its user.
    pub(crate) fn consume(
        tx: &mut dyn Conn,
        token_sha256: &str,
        new_hash: &PasswordHash,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let consumed = tx.row(&CONSUME, &[at.into(), token_sha256.into()], |row| {
            row.user_id(0)
        })?;
        let Some(id) = consumed else {
            return Ok(None);
        };
        let reason = revoked_reason::PASSWORD_RESET;
        Ok(users::replace_password(tx, id, new_hash, at, reason)?.then_some(id))
    }
}
