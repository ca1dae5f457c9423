//! Pooled Postgres connections that keep their prepared statements.
//!
//! Given SQL text, the driver prepares it anew on every call: a
//! Parse/Describe round trip before the query's own. The statements of the
//! hot paths (the access check, a refresh rotation, a login, a session
//! start) are instead prepared once per connection with
//! [`PgConnection::prepared`] and reused for the connection's life. The
//! cache holds only `&'static str` SQL, so it is bounded by the number of
//! such constants in the code.
//!
//! A connection is checked before it is handed out (an empty query, a
//! round trip) only when it has not proved itself for [`TRUSTED_FOR`]:
//! r2d2 checks on every checkout by default, and that round trip was a
//! second one on every store call, a quarter of a refresh's database cost
//! (`bench/cpu_split.sh --postgres`). A connection that answered within
//! the window is handed out as it is, as HikariCP does within its
//! `aliveBypassWindowMs`; one that died in that window (the server
//! restarted a moment ago) fails its call with a 503 and is dropped, since
//! the driver marks a client whose socket failed as closed.
//!
//! Connecting goes through a backoff shared by the whole pool: after a
//! failed attempt, the next one waits a capped, jittered, doubling delay,
//! and r2d2's own retries in between fail at once without reaching the
//! database. A database at `max_connections` (or down) thus sees a few
//! attempts a second from a pool, not one per checkout.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postgres::{Client, Statement};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;
use rand::Rng;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The first pause after a failed connection attempt.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);

/// The longest pause between two connection attempts of one pool. A
/// database back from a short outage is used again within this, so it is
/// kept under a second (tests/it/faults_postgres.rs holds recovery to 1.25 s);
/// with the jitter that is still at most a few attempts a second per pool.
pub const BACKOFF_CAP: Duration = Duration::from_millis(800);

/// How long a connection that answered is handed out without a check.
pub const TRUSTED_FOR: Duration = Duration::from_millis(500);

/// r2d2's manager for [`PgConnection`]s: connecting and health checks are
/// r2d2_postgres's; the statement cache and the backoff are added.
pub struct Manager {
    inner: PostgresConnectionManager<MakeRustlsConnect>,
    backoff: Mutex<Backoff>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Manager")
    }
}

impl Manager {
    pub fn new(config: postgres::Config, tls: MakeRustlsConnect) -> Manager {
        Manager {
            inner: PostgresConnectionManager::new(config, tls),
            backoff: Mutex::new(Backoff::default()),
        }
    }
}

/// Failed attempts in a row and when the next may run.
#[derive(Default)]
struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
}

impl Backoff {
    fn delay(failures: u32) -> Duration {
        let doubled = BACKOFF_FIRST.saturating_mul(1 << failures.min(16));
        let capped = doubled.min(BACKOFF_CAP);
        // Jitter (50-100%) keeps the pools of a fleet from retrying in step.
        capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// Why a connection was not made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    #[error("waiting {0:?} before connecting again after a failed attempt")]
    BackingOff(Duration),
}

/// A client, the statements prepared on it so far, and when it last
/// answered.
pub struct PgConnection {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    answered_at: Instant,
}

impl PgConnection {
    /// `sql` prepared on this connection (the first call prepares it).
    pub fn prepared(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl Deref for PgConnection {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConnection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<PgConnection, ConnectError> {
        let now = Instant::now();
        if let Some(next) = self.backoff.lock().expect("backoff lock").next_attempt {
            if now < next {
                return Err(ConnectError::BackingOff(next - now));
            }
        }
        match self.inner.connect() {
            Ok(client) => {
                *self.backoff.lock().expect("backoff lock") = Backoff::default();
                Ok(PgConnection {
                    client,
                    statements: HashMap::new(),
                    answered_at: Instant::now(),
                })
            }
            Err(error) => {
                let mut backoff = self.backoff.lock().expect("backoff lock");
                backoff.next_attempt = Some(Instant::now() + Backoff::delay(backoff.failures));
                backoff.failures = backoff.failures.saturating_add(1);
                Err(error.into())
            }
        }
    }

    fn is_valid(&self, connection: &mut PgConnection) -> Result<(), ConnectError> {
        if connection.answered_at.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        self.inner.is_valid(&mut connection.client)?;
        connection.answered_at = Instant::now();
        Ok(())
    }

    /// Called as a connection comes back to the pool: one whose socket is
    /// still open answered its call (an error from the server is an
    /// answer too; a failed socket closes the client).
    fn has_broken(&self, connection: &mut PgConnection) -> bool {
        let broken = self.inner.has_broken(&mut connection.client);
        if !broken {
            connection.answered_at = Instant::now();
        }
        broken
    }
}
