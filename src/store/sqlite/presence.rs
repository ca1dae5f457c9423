//! Live server heartbeats on SQLite (see `store::presence`).

use super::conn::Lite;
use super::{db_error, SqliteStore};
use crate::domain::Timestamp;
use crate::store::presence::{self, PresenceStore};
use crate::store::StoreError;

impl PresenceStore for SqliteStore {
    fn servers_connected(&self, at: Timestamp) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        // Below migration 0002 there is no lock table, hence no heartbeat.
        let table: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'authd_locks')",
                [],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        if !table {
            return Ok(0);
        }
        presence::sql::heartbeats(&mut Lite(&conn), at)
    }
}
