//! The SQL store: one [`Store`] interface with a SQLite and a Postgres
//! implementation, chosen by the database URL.
//!
//! Every method is one atomic operation: a single statement or one
//! transaction. Invariants that concurrency could break (email uniqueness,
//! "set a password and cut off every token") are enforced here by the
//! database, never by a read-then-write in the caller. Methods block; async
//! callers run them on tokio's blocking pool. Connections come from an r2d2
//! pool bounded by `database.pool_size`; a caller waits at most
//! `database.pool_timeout` for one, then gets [`StoreError::Busy`] (the pool
//! is full) or [`StoreError::Unavailable`] (the database cannot be reached).
//!
//! An operation's SQL is written once, in the module that owns it (`users`,
//! `session_sql` for `sessions`, and the `sql` module of `reset_tokens`,
//! `reset_queue`, `prune`, `presence`, `legacy_tokens`, `import`, `audit`),
//! on the small `dialect` layer; the `sqlite` and `postgres` modules open
//! connections and transactions and keep only what has no common spelling
//! or depends on the database's locking (each says which).

/// The columns of a `User`, in the order both backends' `user_from_row`
/// read them; a macro so queries can be built with `concat!` at compile time.
macro_rules! user_columns {
    () => {
        "id, email, full_name, is_active, is_staff, is_superuser, date_joined, last_login, tokens_valid_after"
    };
}

/// An access check's statement (`session_sql::access_check`): the user `$1`
/// (as `u`), then `$revoked`, true when the token may no longer be used.
macro_rules! access_check {
    ($revoked:literal) => {
        concat!(
            "SELECT ",
            user_columns!(),
            ", ",
            $revoked,
            " FROM users u WHERE u.id = $1"
        )
    };
}

pub mod audit;
mod dialect;
mod error;
pub mod import;
pub mod legacy_tokens;
pub mod migrate;
#[cfg(test)]
mod plan_guard;
mod postgres;
pub mod presence;
pub mod prune;
pub mod reset_queue;
pub mod reset_tokens;
mod session_sql;
pub mod sessions;
mod sqlite;
mod users;

use std::sync::Arc;

use crate::config::Config;
use crate::domain::PasswordHash;
use crate::domain::{Email, NewUser, Timestamp, User, UserId, UserRef, UserUpdate};
pub use audit::{AuditQuery, AuditStats, AuditStore, AuditSubject, StoredAuditEvent};
pub use error::{DriverError, StoreError};
pub use import::{ImportOutcome, ImportStore, ImportedUser, OnConflict};
pub use legacy_tokens::{LegacyBlacklistEntry, LegacyRedemption, LegacyTokenStore};
pub use migrate::{AppliedMigration, Migration, MigrationError, MigrationState, Step};
pub use postgres::tls as postgres_tls;
pub use presence::{PresenceStore, Role};
pub use prune::{Expired, PruneReport, PruneStore, TokenStats};
pub use reset_queue::{Claimed, Finished, QueuedReset, ResetQueueStore};
pub use reset_tokens::ResetTokenStore;
pub use sessions::{
    AccessState, NewRefreshToken, NewSession, RefreshInfo, RevokeScope, RotateOutcome, Rotation,
    SessionInfo, SessionQuery, SessionStore,
};

/// The connection pool at one moment, and the store's calls so far
/// (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolState {
    pub in_use: u32,
    pub idle: u32,
    /// Calls made since the store opened.
    pub calls: u64,
    /// Calls that failed with a database error since the store opened.
    pub errors: u64,
}

/// Counts of a store's calls, kept by each backend and reported through
/// [`Store::pool_state`].
#[derive(Debug, Default)]
pub struct CallCounts {
    calls: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
}

impl CallCounts {
    pub fn note(&self, failed: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.calls.fetch_add(1, Relaxed);
        if failed {
            self.errors.fetch_add(1, Relaxed);
        }
    }

    /// The pool state with these counts.
    pub fn with_pool(&self, in_use: u32, idle: u32) -> PoolState {
        use std::sync::atomic::Ordering::Relaxed;
        PoolState {
            in_use,
            idle,
            calls: self.calls.load(Relaxed),
            errors: self.errors.load(Relaxed),
        }
    }
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Filters of `user list`.
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// Case-insensitive substring of the email or full name.
    pub search: Option<String>,
    pub limit: u32,
    /// Only ids above this one: keyset paging, an index range at any depth.
    pub after: Option<UserId>,
}

/// Decides one migration step from the applied versions (see `migrate`).
pub type StepDecision<'a> =
    dyn FnMut(&[AppliedMigration]) -> Result<Option<Step>, MigrationError> + 'a;

/// The SQL store.
pub trait Store:
    SessionStore
    + AuditStore
    + ResetTokenStore
    + ResetQueueStore
    + PruneStore
    + PresenceStore
    + LegacyTokenStore
    + ImportStore
    + Send
    + Sync
{
    fn backend(&self) -> Backend;

    /// One round trip to the database (for `/readyz`).
    fn ping(&self) -> Result<(), StoreError>;

    /// Whether a write would succeed: one insert in a transaction that is
    /// rolled back (a read-only file, a standby or a read-only role fail it).
    fn probe_write(&self) -> Result<(), StoreError>;

    /// The pool's connections and the error count.
    fn pool_state(&self) -> PoolState;

    /// Counts a call, and whether it failed with a database error (callers
    /// report them: see `db::Db`).
    fn note_call(&self, failed: bool);

    /// The embedded migrations of this backend.
    fn migrations(&self) -> &'static [Migration];

    /// The schema-migrations table (empty when it does not exist yet).
    fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError>;

    /// In one exclusive transaction: read the applied versions, let `decide`
    /// pick a step, run and record it. `Ok(None)` when there is nothing to do.
    fn migration_step(&self, decide: &mut StepDecision<'_>) -> Result<Option<Step>, StoreError>;

    /// Creates an account; [`StoreError::EmailTaken`] when the email exists
    /// in any letter case.
    fn create_user(&self, user: &NewUser) -> Result<User, StoreError>;

    fn find_user(&self, user: &UserRef) -> Result<Option<User>, StoreError>;

    /// The account and its password hash, for login.
    fn find_credentials(&self, email: &Email) -> Result<Option<(User, PasswordHash)>, StoreError>;

    /// Accounts in id order.
    fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError>;

    fn update_user(&self, id: UserId, update: &UserUpdate) -> Result<User, StoreError>;

    /// Enables or disables an account. Disabling also cuts off every token
    /// of the account (sessions and refresh tokens revoked,
    /// `tokens_valid_after` moved to `at`), so re-enabling does not revive them.
    fn set_active(&self, id: UserId, active: bool, at: Timestamp) -> Result<User, StoreError>;

    /// Stores a new password hash and, in the same transaction, cuts off
    /// every token issued before `at` (sessions and refresh tokens revoked
    /// with `reason`).
    fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// Deletes an account with its sessions and tokens.
    fn delete_user(&self, id: UserId) -> Result<(), StoreError>;

    /// Accounts above `after` whose email key still holds a non-ASCII
    /// character (keys written before they took the IDNA form), found
    /// through a partial index; at most `limit`, in id order, with emails.
    fn non_ascii_email_keys(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(UserId, String)>, StoreError>;

    /// Sets an account's email key; false when another account holds it.
    fn set_email_key(&self, id: UserId, key: &str) -> Result<bool, StoreError>;
}

/// A user id read from a row; a non-positive one means the row is corrupt.
pub(crate) fn stored_user_id(id: i64) -> Result<UserId, StoreError> {
    UserId::new(id)
        .ok_or_else(|| StoreError::Internal(format!("invalid user id {id} in the database")))
}

/// The file of a SQLite `database.url`; `None` for another database.
pub fn sqlite_file(config: &Config) -> Option<std::path::PathBuf> {
    let url = &config.database.url;
    (url.scheme().as_deref() == Some("sqlite")).then(|| sqlite::path_of(url.expose()))
}

/// Opens the store named by `database.url` for an admin command (or a
/// test), without looking at its schema.
pub fn open(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    open_as(config, Role::Admin)
}

/// Opens the store named by `database.url` for `role`, without looking at
/// its schema.
pub fn open_as(config: &Config, role: Role) -> Result<Arc<dyn Store>, StoreError> {
    let db = &config.database;
    match db.url.scheme().as_deref() {
        Some("sqlite") => Ok(Arc::new(sqlite::SqliteStore::open(db)?)),
        Some("postgres" | "postgresql") => Ok(Arc::new(postgres::PostgresStore::open(db, role)?)),
        _ => Err(StoreError::Database(DriverError::new(format!(
            "unsupported database URL {}",
            db.url
        )))),
    }
}

/// Opens the store and makes sure its schema is current: migrating it when
/// `database.auto_migrate` is on, refusing with a clear message otherwise.
pub fn open_current(config: &Config, role: Role) -> Result<Arc<dyn Store>, StoreError> {
    let store = open_as(config, role)?;
    if config.auto_migrate() {
        let applied = migrate::migrate_up(store.as_ref())?;
        for migration in applied {
            tracing::info!(migration = %migration.label(), "applied migration");
        }
    }
    migrate::ensure_current(store.as_ref())?;
    Ok(store)
}

pub use sessions::reason as revoked_reason;
