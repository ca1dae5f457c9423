//! What can go wrong in the store, and the driver's side of it.
//!
//! A failure of the database keeps the driver's account of it as the
//! error's `source`, so a log line or the CLI's one-line message (both
//! through [`crate::error_chain::Chain`]) says what happened underneath:
//! `database unavailable: error connecting to server: Connection refused`.
//! The message quotes the source as well: a store error is wrapped in many
//! messages (`cannot open the database: {error}`), and each of them should
//! still say why; `Chain` does not repeat words the line already holds.
//!
//! The source is a [`DriverError`], not the driver's error itself. The
//! postgres driver's error displays the server's `DETAIL` line, which can
//! quote a whole row (`Key (email)=(...) already exists`, a password hash
//! in a failed insert), and a source is printed wherever the chain is
//! logged. A `DriverError` is made by each backend's one mapping function
//! from what is safe to show: the SQLSTATE and the primary message, or the
//! driver's text for failures that carry no row (I/O, a closed connection,
//! SQLite's messages, which name columns but never values). It is also
//! cheap to clone, so the access cache's single flight can hand one failure
//! to every waiter.

use std::sync::Arc;

use super::MigrationError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error("no such user: {0}")]
    UserNotFound(String),
    /// The database cannot be reached or refuses work for now (retryable).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DriverError),
    /// Every pooled connection stayed in use for `database.pool_timeout`.
    #[error("every database connection is in use")]
    Busy,
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// The database refused a statement.
    #[error("database error: {0}")]
    Database(#[source] DriverError),
    /// The store broke one of its own rules: a row it cannot read (a NULL
    /// where the schema forbids one, an id out of range), a store call that
    /// panicked. A bug or a database edited by hand, never the caller's
    /// input.
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    /// A failure of the database itself (as opposed to a refused request):
    /// what the store-call metrics count as an error.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Busy
                | StoreError::Database(_)
                | StoreError::Internal(_)
        )
    }

    /// The same error again, for another waiter of the query that failed.
    pub fn echo(&self) -> StoreError {
        match self {
            StoreError::EmailTaken => StoreError::EmailTaken,
            StoreError::UserNotFound(who) => StoreError::UserNotFound(who.clone()),
            StoreError::Unavailable(driver) => StoreError::Unavailable(driver.clone()),
            StoreError::Busy => StoreError::Busy,
            StoreError::Database(driver) => StoreError::Database(driver.clone()),
            // Migrations do not run under a single flight; keep the words.
            StoreError::Migration(error) => StoreError::Internal(error.to_string()),
            StoreError::Internal(what) => StoreError::Internal(what.clone()),
        }
    }
}

/// The driver's account of a failure, in words safe for a log (see the
/// module doc for what is left out and why).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DriverError(Arc<str>);

impl DriverError {
    pub(crate) fn new(text: impl Into<String>) -> DriverError {
        DriverError(Arc::from(text.into()))
    }
}
