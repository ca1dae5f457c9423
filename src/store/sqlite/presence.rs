//! Live server heartbeats on SQLite (see `store::presence`).

use rusqlite::params;

use super::{db_error, to_micros, SqliteStore};
use crate::domain::Timestamp;
use crate::store::presence::{PresenceStore, HEARTBEAT_PREFIX};
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
        let live: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM authd_locks WHERE substr(name, 1, length(?1)) = ?1 AND expires_at > ?2",
                params![HEARTBEAT_PREFIX, to_micros(at)],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        Ok(live as u64)
    }
}
