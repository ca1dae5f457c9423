//! Reset tokens on SQLite.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{db_error, replace_password, to_micros, SqliteStore};
use crate::domain::PasswordHash;
use crate::domain::{Timestamp, UserId};
use crate::store::reset_tokens::ResetTokenStore;
use crate::store::{revoked_reason, stored_user_id, StoreError};

impl ResetTokenStore for SqliteStore {
    fn insert_reset_token(
        &self,
        token_sha256: &str,
        user: UserId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.writer()?
            .execute(
                "INSERT INTO password_reset_tokens (token_sha256, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![token_sha256, user.get(), to_micros(expires_at)],
            )
            .map_err(db_error)?;
        Ok(())
    }

    fn reset_token_user(
        &self,
        token_sha256: &str,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let id: Option<i64> = self
            .conn()?
            .query_row(
                "SELECT user_id FROM password_reset_tokens WHERE token_sha256 = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![token_sha256, to_micros(at)],
                |row| row.get(0),
            )
            .optional()
            .map_err(db_error)?;
        id.map(stored_user_id).transpose()
    }

    fn consume_reset_token(
        &self,
        token_sha256: &str,
        new_hash: &PasswordHash,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let at = to_micros(at);
        let consumed: Option<i64> = tx
            .query_row(
                "UPDATE password_reset_tokens SET used_at = ?1
                 WHERE token_sha256 = ?2 AND used_at IS NULL AND expires_at > ?1 RETURNING user_id",
                params![at, token_sha256],
                |row| row.get(0),
            )
            .optional()
            .map_err(db_error)?;
        let Some(id) = consumed else {
            return Ok(None);
        };
        let id = stored_user_id(id)?;
        if !replace_password(&tx, id, new_hash, at, revoked_reason::PASSWORD_RESET)
            .map_err(db_error)?
        {
            return Ok(None);
        }
        tx.commit().map_err(db_error)?;
        Ok(Some(id))
    }
}
