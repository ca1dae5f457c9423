//! The SQLite store: rusqlite connections in an r2d2 pool.
//!
//! Every connection runs in WAL mode (readers never wait for the writer),
//! with foreign keys on and a busy timeout (`database.busy_timeout`), so
//! writers from several processes (a server and admin commands) queue for
//! the lock instead of failing; within a process, writers take turns first
//! (see [`Writer`]). Times are stored as INTEGER microseconds since the
//! epoch.
//!
//! The account operations are `store::users`, run on `conn::Lite`; the
//! migrations and `non_ascii_email_keys` stay here (SQLite's catalog, and a
//! partial index named with `INDEXED BY`, have no Postgres spelling).

mod audit;
mod batched_writes;
mod conn;
mod group_commit;
mod import;
mod legacy_tokens;
mod presence;
mod prune;
mod reset_queue;
mod reset_tokens;
mod sessions;

use std::sync::Arc;
use std::{path::PathBuf, time::Duration};

use chrono::DateTime;
use parking_lot::{Mutex, MutexGuard};
use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, ErrorCode, TransactionBehavior};

use conn::Lite;

use crate::config::DatabaseConfig;
use crate::domain::PasswordHash;
use crate::domain::{Email, NewUser, Timestamp, User, UserId, UserRef, UserUpdate};
use crate::store::migrate::{self, AppliedMigration, Migration, Step};
use crate::store::{
    stored_user_id, users, Backend, CallCounts, DriverError, PoolState, StepDecision, Store,
    StoreError, UserQuery,
};

const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS authd_schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    checksum   TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// The file a `sqlite://PATH` URL names (relative to the working directory
/// unless absolute).
pub fn path_of(url: &str) -> PathBuf {
    PathBuf::from(url.split_once("://").map_or(url, |(_, path)| path))
}

pub struct SqliteStore {
    access: Access,
    counts: CallCounts,
    /// Refresh rotations and audit batches, written in batches by a thread
    /// of their own (`group_commit`, `batched_writes`).
    batches:
        group_commit::GroupCommit<batched_writes::Job, Result<batched_writes::Written, StoreError>>,
}

/// The pool and this process's turn to write: what the store's calls and
/// the writer thread share.
#[derive(Clone)]
struct Access {
    pool: Pool<SqliteConnectionManager>,
    /// This process's turn to write (see [`Writer`]).
    writes: Arc<Mutex<()>>,
}

/// A pooled connection that holds this process's turn to write. SQLite
/// lets one writer in at a time, and a writer that finds the lock taken
/// sleeps and retries within `busy_timeout` with growing sleeps, so under
/// 16 concurrent refresh chains some waited hundreds of milliseconds while
/// others got in. Writers of this process instead wait here, asleep until
/// the turn frees, and take it the moment the last one commits.
/// parking_lot's mutex hands the turn to a waiter that has waited past
/// about half a millisecond (eventual fairness), which bounds the wait
/// without the context switch a strictly fair queue forces on every
/// hand-off. Other processes on the same file (the admin commands, other instances) still
/// meet at SQLite's lock, with `busy_timeout`.
pub(super) struct Writer<'a> {
    // Dropped in this order: the connection (and any transaction left on
    // it) goes back to the pool before the turn passes on.
    conn: PooledConnection<SqliteConnectionManager>,
    _turn: MutexGuard<'a, ()>,
}

impl std::ops::Deref for Writer<'_> {
    type Target = rusqlite::Connection;

    fn deref(&self) -> &rusqlite::Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Writer<'_> {
    fn deref_mut(&mut self) -> &mut rusqlite::Connection {
        &mut self.conn
    }
}

impl SqliteStore {
    pub fn open(config: &DatabaseConfig) -> Result<SqliteStore, StoreError> {
        let path = path_of(config.url.expose());
        let busy_timeout: Duration = *config.busy_timeout;
        let manager = SqliteConnectionManager::file(path).with_init(move |conn| {
            conn.busy_timeout(busy_timeout)?;
            #[cfg(test)]
            super::plan_guard::trace_sqlite(conn);
            // A larger page cache and memory-mapped reads keep a lookup in
            // a million-user database from paying a read(2) per B-tree page
            // (bench/scale.sh); mapped pages are the OS's, shared and
            // reclaimable, so they cost no private memory.
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;
                 PRAGMA cache_size = -8192; PRAGMA mmap_size = 268435456;",
            )
        });
        // One direct connection first, so a bad path fails now with its
        // reason instead of after the pool's connect timeout.
        r2d2::ManageConnection::connect(&manager)
            .map_err(|e| StoreError::Unavailable(DriverError::new(e.to_string())))?;
        let pool = Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(1))
            .connection_timeout(*config.connect_timeout)
            // Failures reach the caller as StoreError; r2d2's own log lines would repeat them.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
            .map_err(|e| StoreError::Unavailable(DriverError::new(e.to_string())))?;
        let access = Access {
            pool,
            writes: Arc::new(Mutex::new(())),
        };
        let batches = group_commit::GroupCommit::start("authd-writer", {
            let access = access.clone();
            move |batch: &[batched_writes::Job]| batched_writes::write_batch(&access, batch)
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the SQLite writer: {e}")))?;
        Ok(SqliteStore {
            access,
            counts: CallCounts::default(),
            batches,
        })
    }

    fn conn(&self) -> Result<PooledConnection<SqliteConnectionManager>, StoreError> {
        self.access.conn()
    }

    fn writer(&self) -> Result<Writer<'_>, StoreError> {
        self.access.writer()
    }

    /// Queues `job` with the writer thread. A full queue answers at once
    /// with `Busy`: the request is shed as if every connection were in use,
    /// rather than queued behind more than a few batches.
    fn queue(&self, job: batched_writes::Job) -> Result<batched_writes::Answer, StoreError> {
        self.batches
            .submit(job)
            .map_err(|group_commit::Full(_)| StoreError::Busy)
    }
}

impl Access {
    fn conn(&self) -> Result<PooledConnection<SqliteConnectionManager>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(DriverError::new(e.to_string())))
    }

    /// A connection to write with, once this process's earlier writers are
    /// done. The turn is taken before the connection, so a waiting writer
    /// holds no connection a reader could use.
    fn writer(&self) -> Result<Writer<'_>, StoreError> {
        let turn = self.writes.lock();
        Ok(Writer {
            conn: self.conn()?,
            _turn: turn,
        })
    }
}

/// The readiness write (rolled back): a lease row nobody else names.
const PROBE_WRITE: &str = "INSERT INTO authd_locks (name, holder, expires_at) VALUES ('authd:readyz-probe', '', 0) ON CONFLICT (name) DO NOTHING";

fn to_micros(at: Timestamp) -> i64 {
    at.timestamp_micros()
}

fn from_micros(micros: i64) -> rusqlite::Result<Timestamp> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(0, micros))
}

/// Maps a rusqlite error; lock contention past the busy timeout is
/// "unavailable" (retryable), anything else a database error.
fn db_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(DriverError::new("the database is locked by another writer"))
        }
        Some(ErrorCode::CannotOpen) => StoreError::Unavailable(DriverError::new(error.to_string())),
        _ => StoreError::Database(DriverError::new(error.to_string())),
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.code == ErrorCode::ConstraintViolation
            && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

fn read_applied(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<AppliedMigration>> {
    let mut statement = conn.prepare(
        "SELECT version, name, checksum, applied_at FROM authd_schema_migrations ORDER BY version",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(AppliedMigration {
            version: row.get(0)?,
            name: row.get(1)?,
            checksum: row.get(2)?,
            applied_at: from_micros(row.get(3)?)?,
        })
    })?;
    rows.collect()
}

impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.conn()?
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(db_error)
    }

    fn probe_write(&self) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        let tx = conn.transaction().map_err(db_error)?;
        tx.execute(PROBE_WRITE, []).map_err(db_error)?;
        // Dropped without commit: rolled back.
        Ok(())
    }

    fn pool_state(&self) -> PoolState {
        let state = self.access.pool.state();
        self.counts.with_pool(
            state.connections - state.idle_connections,
            state.idle_connections,
        )
    }

    fn note_call(&self, failed: bool) {
        self.counts.note(failed);
    }

    fn migrations(&self) -> &'static [Migration] {
        migrate::SQLITE
    }

    fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let conn = self.conn()?;
        let exists: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'authd_schema_migrations')",
                [],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        if !exists {
            return Ok(Vec::new());
        }
        read_applied(&conn).map_err(db_error)
    }

    fn migration_step(&self, decide: &mut StepDecision<'_>) -> Result<Option<Step>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        tx.execute_batch(MIGRATIONS_TABLE).map_err(db_error)?;
        let applied = read_applied(&tx).map_err(db_error)?;
        let Some(step) = decide(&applied)? else {
            return Ok(None);
        };
        let migration = step.migration();
        let failed = |e: rusqlite::Error| {
            StoreError::from(migrate::MigrationError::Failed {
                label: migration.label(),
                message: e.to_string(),
            })
        };
        match step {
            Step::Apply(m) => {
                tx.execute_batch(m.up).map_err(failed)?;
                tx.execute(
                    "INSERT INTO authd_schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                    params![m.version, m.name, m.checksum(), to_micros(crate::domain::now())],
                )
                .map_err(db_error)?;
            }
            Step::Revert(m) => {
                tx.execute_batch(m.down).map_err(failed)?;
                tx.execute(
                    "DELETE FROM authd_schema_migrations WHERE version = ?1",
                    params![m.version],
                )
                .map_err(db_error)?;
            }
        }
        tx.commit().map_err(db_error)?;
        Ok(Some(step))
    }

    fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        users::create(&mut Lite(&*self.writer()?), user)
    }

    fn find_user(&self, user: &UserRef) -> Result<Option<User>, StoreError> {
        users::find(&mut Lite(&*self.conn()?), user)
    }

    fn find_credentials(&self, email: &Email) -> Result<Option<(User, PasswordHash)>, StoreError> {
        users::credentials(&mut Lite(&*self.conn()?), email)
    }

    fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        users::list(&mut Lite(&*self.conn()?), query)
    }

    fn update_user(&self, id: UserId, update: &UserUpdate) -> Result<User, StoreError> {
        users::update(&mut Lite(&*self.writer()?), id, update)
    }

    fn set_active(&self, id: UserId, active: bool, at: Timestamp) -> Result<User, StoreError> {
        self.write(|tx| users::set_active(tx, id, active, at))
    }

    fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| users::set_password(tx, id, hash, at, reason))
    }

    fn delete_user(&self, id: UserId) -> Result<(), StoreError> {
        users::delete(&mut Lite(&*self.writer()?), id)
    }

    fn non_ascii_email_keys(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(UserId, String)>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn
            .prepare(
                "SELECT id, email FROM users INDEXED BY users_email_lower_non_ascii
                 WHERE length(CAST(email_lower AS BLOB)) <> length(email_lower) AND id > ?1
                 ORDER BY id LIMIT ?2",
            )
            .map_err(db_error)?;
        let rows = statement
            .query_map(params![after, limit], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(db_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error)?;
        rows.into_iter()
            .map(|(id, email)| Ok((stored_user_id(id)?, email)))
            .collect()
    }

    fn set_email_key(&self, id: UserId, key: &str) -> Result<bool, StoreError> {
        users::set_email_key(&mut Lite(&*self.writer()?), id, key)
    }
}
