//! What the accounts service can refuse. The HTTP edge maps each to one
//! answer (`http::error`), the CLI to one exit code (`cli::error`).

use crate::auth::PoolBusy;
use crate::domain::PasswordRejected;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The new password breaks the policy; the edge names the field.
    #[error("password rejected: {0}")]
    PasswordRejected(#[source] PasswordRejected),
    /// A password change whose old password did not verify.
    #[error("the old password is wrong")]
    WrongOldPassword,
    #[error(transparent)]
    Busy(#[from] PoolBusy),
    #[error(transparent)]
    Store(#[from] StoreError),
}
