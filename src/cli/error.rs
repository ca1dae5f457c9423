//! The one place that turns errors into what a shell user sees: a single
//! line on stderr and an exit code. 0 ok, 1 the operation failed (duplicate
//! email, unknown user, database down), 2 usage or configuration error (bad
//! argument, invalid email, weak password, bad config).

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::domain::{EmailError, FullNameError, PasswordRejected};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command was asked wrongly: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The command could not do what was asked: exit 1.
    #[error("{0}")]
    Failed(String),
    /// The store failed (exit 1); its cause stays attached for the error line.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Failed(_) | CliError::Store(_) => ExitCode::from(1),
            CliError::Usage(_) => ExitCode::from(2),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> CliError {
        CliError::Usage(error.to_string())
    }
}

impl From<EmailError> for CliError {
    fn from(error: EmailError) -> CliError {
        CliError::Usage(format!("invalid email: {error}"))
    }
}

impl From<FullNameError> for CliError {
    fn from(error: FullNameError) -> CliError {
        CliError::Usage(format!("invalid full name: {error}"))
    }
}

impl From<PasswordRejected> for CliError {
    fn from(error: PasswordRejected) -> CliError {
        CliError::Usage(format!("password rejected: {error}"))
    }
}

impl From<crate::auth::HashingError> for CliError {
    fn from(error: crate::auth::HashingError) -> CliError {
        CliError::Failed(error.to_string())
    }
}

impl From<crate::accounts::AccountError> for CliError {
    fn from(error: crate::accounts::AccountError) -> CliError {
        use crate::accounts::AccountError;
        match error {
            AccountError::PasswordRejected(rejected) => rejected.into(),
            AccountError::WrongOldPassword => CliError::Usage(error.to_string()),
            AccountError::Store(error) => error.into(),
            AccountError::Busy(_) => CliError::Failed(error.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        CliError::Failed(format!("i/o error: {error}"))
    }
}
