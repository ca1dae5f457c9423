//! Reset tokens on SQLite: the shared statements (`store::reset_tokens::sql`),
//! the consume in a `BEGIN IMMEDIATE` transaction.

use super::conn::Lite;
use super::SqliteStore;
use crate::domain::PasswordHash;
use crate::domain::{Timestamp, UserId};
use crate::store::reset_tokens::{sql, ResetTokenStore};
use crate::store::StoreError;

impl ResetTokenStore for SqliteStore {
    fn insert_reset_token(
        &self,
        token_sha256: &str,
        user: UserId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        sql::insert(&mut Lite(&*self.writer()?), token_sha256, user, expires_at)
    }

    fn reset_token_user(
        &self,
        token_sha256: &str,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        sql::user(&mut Lite(&*self.conn()?), token_sha256, at)
    }

    fn consume_reset_token(
        &self,
        token_sha256: &str,
        new_hash: &PasswordHash,
        at: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        self.write(|tx| sql::consume(tx, token_sha256, new_hash, at))
    }
}
