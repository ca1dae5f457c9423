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
