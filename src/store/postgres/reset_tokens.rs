//! Reset tokens on Postgres.

use super::{db_error, replace_password, PostgresStore};
use crate::domain::PasswordHash;
use crate::domain::{Timestamp, UserId};
use crate::store::reset_tokens::ResetTokenStore;
use crate::store::{revoked_reason, stored_user_id, StoreError};

impl ResetTokenStore for PostgresStore {
    fn insert_reset_token(
        &self,
        token_sha256: &str,
        user: UserId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT INTO password_reset_tokens (token_sha256, user_id, expires_at) VALUES ($1, $2, $3)",
                &[&token_sha256, &user.get(), &expires_at],
            )
            .map_err(db_error)?;
        Ok(())
    }

    fn reset_token_user(
        &self,
        token_sha256: &str,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT user_id FROM password_reset_tokens WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $2",
                &[&token_sha256, &at],
            )
            .map_err(db_error)?;
        row.map(|row| {
            row.try_get::<_, i64>(0)
                .map_err(db_error)
                .and_then(stored_user_id)
        })
        .transpose()
    }

    fn consume_reset_token(
        &self,
        token_sha256: &str,
        new_hash: &PasswordHash,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db_error)?;
        let consumed = tx
            .query_opt(
                "UPDATE password_reset_tokens SET used_at = $1
                 WHERE token_sha256 = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
                &[&at, &token_sha256],
            )
            .map_err(db_error)?;
        let Some(row) = consumed else {
            return Ok(None);
        };
        let id = stored_user_id(row.try_get(0).map_err(db_error)?)?;
        if !replace_password(&mut tx, id, new_hash, at, revoked_reason::PASSWORD_RESET)? {
            return Ok(None);
        }
        tx.commit().map_err(db_error)?;
        Ok(Some(id))
    }
}
