//! The Postgres store: `postgres` (sync) connections in an r2d2 pool.
//!
//! The connection string is libpq-style (`postgres://user@host/db?options=...`);
//! `options=-csearch_path=NAME` puts authd's tables in their own schema.
//! Migrations serialize on a transaction-scoped advisory lock keyed by the
//! schema, so instances starting together migrate once. TLS follows libpq's
//! `sslmode` and friends in the URL (see `tls`).
//!
//! The account operations are `store::users`, run on `conn::Pg` (login's
//! look-up stays prepared on the connection); the migrations (advisory
//! lock, `to_regclass`) and `non_ascii_email_keys` (`octet_length`) stay here.

mod audit;
mod bootstrap;
mod conn;
mod connection;
mod import;
mod legacy_tokens;
mod presence;
mod prune;
mod reset_queue;
mod reset_tokens;
mod sessions;
pub mod tls;

use r2d2::{Pool, PooledConnection};

use bootstrap::{current_schema, first_connection};
use conn::Pg;
use connection::Manager;

use crate::config::DatabaseConfig;
use crate::domain::PasswordHash;
use crate::domain::{Email, NewUser, Timestamp, User, UserId, UserRef, UserUpdate};
use crate::store::migrate::{self, AppliedMigration, Migration, Step};
use crate::store::presence::{self as presence_names, Role};
use crate::store::{
    stored_user_id, users, Backend, CallCounts, DriverError, PoolState, StepDecision, Store,
    StoreError, UserQuery,
};

const MIGRATIONS_TABLE: &str = "CREATE TABLE authd_schema_migrations (
    version    INTEGER     PRIMARY KEY,
    name       TEXT        NOT NULL,
    checksum   TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)";

/// Taken before reading or changing the migrations table.
const MIGRATION_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext('authd_migrate:' || current_schema()))";

/// How often r2d2 looks for connections to add when the pool is below
/// `min_idle`. Each attempt goes through the manager's backoff (see
/// `connection`), which does the real pacing.
const POOL_CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

pub struct PostgresStore {
    /// Always `Some` until dropped (see `Drop`).
    pool: Option<Pool<Manager>>,
    counts: CallCounts,
    /// `database.pool_timeout`: how long a checkout waits for a connection.
    checkout_timeout: std::time::Duration,
}

/// The sync `postgres` client closes its connection by blocking on its own
/// runtime, which panics on an async worker thread. The last handle to the
/// store can be dropped there (a server shutting down), so the pool is
/// released on a thread of its own in that case.
impl Drop for PostgresStore {
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::Builder::new()
                .name("authd-pg-close".into())
                .spawn(move || drop(pool));
        }
    }
}

impl PostgresStore {
    pub fn open(config: &DatabaseConfig, role: Role) -> Result<PostgresStore, StoreError> {
        let tls::PgTarget {
            config: mut pg_config,
            tls,
            ..
        } = tls::target(config.url.expose()).map_err(|e| {
            StoreError::Unavailable(DriverError::new(format!(
                "invalid database URL {}: {e}",
                config.url
            )))
        })?;
        pg_config.connect_timeout(*config.connect_timeout);
        #[cfg(test)]
        pg_config.notice_callback(super::plan_guard::record_postgres_notice);
        // One direct connection first: the pool would only report "timed
        // out", while the driver's error chain says why (refused, auth, TLS).
        let mut first = first_connection(&pg_config, &tls, *config.connect_timeout)?;
        let schema = current_schema(&mut first)?;
        if pg_config.get_application_name().is_none() {
            // A server's name carries its schema, so `migrate down` of one
            // schema is not stopped by servers of another (see `presence`).
            pg_config.application_name(&match role {
                Role::Server => presence_names::server_application_name(&schema),
                Role::Admin => presence_names::ADMIN_APPLICATION_NAME.to_string(),
            });
        }
        // Unchecked: the connection above proved the database answers.
        let pool = Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(config.min_idle))
            .idle_timeout(Some(*config.idle_timeout).filter(|t| !t.is_zero()))
            .connection_timeout(POOL_CONNECTION_TIMEOUT)
            // Failures reach the caller as StoreError; r2d2's own log lines would repeat them.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(Manager::new(pg_config, tls));
        Ok(PostgresStore {
            pool: Some(pool),
            checkout_timeout: *config.pool_timeout,
            counts: CallCounts::default(),
        })
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        let pool = self
            .pool
            .as_ref()
            .expect("the pool lives until the store is dropped");
        pool.get_timeout(self.checkout_timeout).map_err(|e| {
            let state = pool.state();
            if state.connections >= pool.max_size() && state.idle_connections == 0 {
                StoreError::Busy
            } else {
                StoreError::Unavailable(DriverError::new(e.to_string()))
            }
        })
    }
}

/// Maps a driver error. Only the server's code and message are kept: its
/// DETAIL line can quote a whole row (a password hash included).
fn db_error(error: postgres::Error) -> StoreError {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let message = format!("{}: {}", code, db.message());
        // Class 08 connection exceptions, 53 insufficient resources, 57 operator intervention.
        let driver = DriverError::new(message);
        return if code.starts_with("08") || code.starts_with("53") || code.starts_with("57") {
            StoreError::Unavailable(driver)
        } else {
            StoreError::Database(driver)
        };
    }
    let io = std::error::Error::source(&error).is_some_and(|s| s.is::<std::io::Error>());
    // Not a server's answer: the driver's text quotes no row.
    let driver = DriverError::new(error.to_string());
    if error.is_closed() || io {
        StoreError::Unavailable(driver)
    } else {
        StoreError::Database(driver)
    }
}

fn read_applied(
    client: &mut impl postgres::GenericClient,
) -> Result<Vec<AppliedMigration>, StoreError> {
    let rows = client
        .query("SELECT version, name, checksum, applied_at FROM authd_schema_migrations ORDER BY version", &[])
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            let version: i32 = row.try_get(0).map_err(db_error)?;
            Ok(AppliedMigration {
                version: u32::try_from(version).map_err(|_| {
                    StoreError::Internal(format!("bad migration version {version}"))
                })?,
                name: row.try_get(1).map_err(db_error)?,
                checksum: row.try_get(2).map_err(db_error)?,
                applied_at: row.try_get(3).map_err(db_error)?,
            })
        })
        .collect()
}

impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.conn()?
            .simple_query("SELECT 1")
            .map(|_| ())
            .map_err(db_error)
    }

    fn probe_write(&self) -> Result<(), StoreError> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db_error)?;
        tx.execute(
            "INSERT INTO authd_locks (name, holder, expires_at) VALUES ('authd:readyz-probe', '', now()) ON CONFLICT (name) DO NOTHING",
            &[],
        )
        .map_err(db_error)?;
        tx.rollback().map_err(db_error)
    }

    fn pool_state(&self) -> PoolState {
        let Some(pool) = self.pool.as_ref() else {
            return PoolState::default();
        };
        let state = pool.state();
        self.counts.with_pool(
            state.connections - state.idle_connections,
            state.idle_connections,
        )
    }

    fn note_call(&self, failed: bool) {
        self.counts.note(failed);
    }

    fn migrations(&self) -> &'static [Migration] {
        migrate::POSTGRES
    }

    fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let mut client = self.conn()?;
        let exists: bool = client
            .query_one(
                "SELECT to_regclass('authd_schema_migrations') IS NOT NULL",
                &[],
            )
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        if !exists {
            return Ok(Vec::new());
        }
        read_applied(&mut **client)
    }

    fn migration_step(&self, decide: &mut StepDecision<'_>) -> Result<Option<Step>, StoreError> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db_error)?;
        tx.batch_execute(MIGRATION_LOCK).map_err(db_error)?;
        // Checked first (under the lock) so Postgres has no "already exists" notice to log.
        let exists: bool = tx
            .query_one(
                "SELECT to_regclass('authd_schema_migrations') IS NOT NULL",
                &[],
            )
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        if !exists {
            tx.batch_execute(MIGRATIONS_TABLE).map_err(db_error)?;
        }
        let applied = read_applied(&mut tx)?;
        let Some(step) = decide(&applied)? else {
            return Ok(None);
        };
        let migration = step.migration();
        let failed = |e: postgres::Error| {
            let message = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_string());
            StoreError::from(migrate::MigrationError::Failed {
                label: migration.label(),
                message,
            })
        };
        let version = i32::try_from(migration.version).expect("migration versions are small");
        match step {
            Step::Apply(m) => {
                tx.batch_execute(m.up).map_err(failed)?;
                tx.execute(
                    "INSERT INTO authd_schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                    &[&version, &m.name, &m.checksum(), &crate::domain::now()],
                )
                .map_err(db_error)?;
            }
            Step::Revert(m) => {
                tx.batch_execute(m.down).map_err(failed)?;
                tx.execute(
                    "DELETE FROM authd_schema_migrations WHERE version = $1",
                    &[&version],
                )
                .map_err(db_error)?;
            }
        }
        tx.commit().map_err(db_error)?;
        Ok(Some(step))
    }

    fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        users::create(&mut Pg::new(&mut **self.conn()?), user)
    }

    fn find_user(&self, user: &UserRef) -> Result<Option<User>, StoreError> {
        users::find(&mut Pg::new(&mut **self.conn()?), user)
    }

    fn find_credentials(&self, email: &Email) -> Result<Option<(User, PasswordHash)>, StoreError> {
        // Login's statement stays prepared on the connection (see `connection`).
        let mut client = self.conn()?;
        let statement = client
            .prepared(users::CREDENTIALS.postgres())
            .map_err(db_error)?;
        let row = client
            .query_opt(&statement, &[&email.lowered()])
            .map_err(db_error)?;
        row.as_ref()
            .map(|row| users::credentials_from_row(row))
            .transpose()
    }

    fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        users::list(&mut Pg::new(&mut **self.conn()?), query)
    }

    fn update_user(&self, id: UserId, update: &UserUpdate) -> Result<User, StoreError> {
        users::update(&mut Pg::new(&mut **self.conn()?), id, update)
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
        users::delete(&mut Pg::new(&mut **self.conn()?), id)
    }

    fn non_ascii_email_keys(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(UserId, String)>, StoreError> {
        let rows = self
            .conn()?
            .query(
                "SELECT id, email FROM users
                 WHERE octet_length(email_lower) <> char_length(email_lower) AND id > $1
                 ORDER BY id LIMIT $2",
                &[&after, &i64::from(limit)],
            )
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get(0).map_err(db_error)?;
                Ok((stored_user_id(id)?, row.try_get(1).map_err(db_error)?))
            })
            .collect()
    }

    fn set_email_key(&self, id: UserId, key: &str) -> Result<bool, StoreError> {
        users::set_email_key(&mut Pg::new(&mut **self.conn()?), id, key)
    }
}
