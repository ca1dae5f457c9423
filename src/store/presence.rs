//! Which servers are using a database, so that `authd migrate down` can
//! refuse to pull a schema out from under them.
//!
//! Every running server keeps a heartbeat row in `authd_locks` (named
//! `server:<id>`, expiring [`HEARTBEAT_TTL`] after its last beat, deleted
//! at a clean shutdown), on both backends: the row lives in the server's own
//! schema, so servers of another schema in the same Postgres database do
//! not count. On Postgres, a server's connections also carry the
//! application name [`server_application_name`], seen in `pg_stat_activity`
//! even when a server has not beaten yet.

use std::time::Duration;

use super::{Store, StoreError};
use crate::domain::Timestamp;

/// How often a server renews its heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// How long a heartbeat counts: a crashed server stops counting after this.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(30);

/// The prefix of heartbeat rows in `authd_locks`.
pub const HEARTBEAT_PREFIX: &str = "server:";

/// Who opens a store: the application name its Postgres connections carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `authd serve` (and servers embedded in tests).
    Server,
    /// Admin commands and everything else.
    Admin,
}

/// The application name of a server's connections to `schema` (Postgres
/// keeps the first 63 bytes; the query compares the same prefix).
pub fn server_application_name(schema: &str) -> String {
    let mut name = format!("authd serve {schema}");
    while name.len() > 63 {
        name.pop();
    }
    name
}

/// The application name of an admin command's connections.
pub const ADMIN_APPLICATION_NAME: &str = "authd admin";

pub trait PresenceStore {
    /// Servers using this database (this schema) at `at`: live heartbeats,
    /// or on Postgres other connections named as a server's, whichever is more.
    fn servers_connected(&self, at: Timestamp) -> Result<u64, StoreError>;
}

/// Records that server `holder` is up, until [`HEARTBEAT_TTL`] from `at`.
pub fn beat(store: &dyn Store, holder: &str, at: Timestamp) -> Result<(), StoreError> {
    let ttl = chrono::Duration::from_std(HEARTBEAT_TTL).unwrap_or(chrono::Duration::MAX);
    let name = format!("{HEARTBEAT_PREFIX}{holder}");
    store.try_lease(&name, holder, at + ttl, at).map(|_| ())
}

/// Removes server `holder`'s heartbeat (a clean shutdown).
pub fn forget(store: &dyn Store, holder: &str) -> Result<(), StoreError> {
    store.release_lease(&format!("{HEARTBEAT_PREFIX}{holder}"), holder)
}

/// The statement both backends share (see `dialect`); finding out whether
/// the lock table exists, and Postgres's connection count, are theirs.
pub(crate) mod sql {
    use super::HEARTBEAT_PREFIX;
    use crate::domain::Timestamp;
    use crate::store::dialect::{Conn, ConnExt, Sql, SqlRowExt};
    use crate::store::StoreError;

    static HEARTBEATS: Sql = Sql::new(
        "SELECT COUNT(*) FROM authd_locks WHERE substr(name, 1, length($1)) = $1 AND expires_at > $2",
    );

    /// Live heartbeats at `at`.
    pub(crate) fn heartbeats(c: &mut dyn Conn, at: Timestamp) -> Result<u64, StoreError> {
        let count = c.row(&HEARTBEATS, &[HEARTBEAT_PREFIX.into(), at.into()], |row| {
            row.int_nn(0)
        })?;
        Ok(count.unwrap_or(0) as u64)
    }
}
