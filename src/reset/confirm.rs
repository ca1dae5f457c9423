//! Setting a new password with a reset token: the token found (Redis or the
//! database), the new password through the accounts service (the one
//! place the policy and the hash are made), then the token consumed with
//! the password stored, atomically where it lives. A password that fails
//! the policy is refused before the token is touched, so the user can try
//! again with the same link.

use super::{ResetError, ResetService, ResetToken};
use crate::accounts::{AccountError, Accounts};
use crate::domain::{AuditEvent, EventType, Origin, Password};

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Unknown, expired or already used.
    #[error("the reset token is not valid")]
    InvalidToken,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Reset(#[from] ResetError),
}

impl ResetService {
    /// Sets `new_password` on the account `token` was issued for; every
    /// token of the account stops working.
    pub async fn confirm(
        &self,
        accounts: &Accounts,
        token: &str,
        new_password: Password,
        origin: &Origin,
    ) -> Result<(), ConfirmError> {
        let token = ResetToken::parse(token).ok_or(ConfirmError::InvalidToken)?;
        let (user, place) = self
            .places
            .find(&token)
            .await?
            .ok_or(ConfirmError::InvalidToken)?;
        let hash = accounts.new_password_hash_for(&user, new_password).await?;
        if !self.places.consume(&token, place, &user, hash).await? {
            return Err(ConfirmError::InvalidToken);
        }
        accounts.forget(user.id);
        self.audit
            .record(AuditEvent::success(EventType::ResetConfirmed, origin).user(&user));
        Ok(())
    }
}
