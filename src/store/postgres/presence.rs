//! Connected servers on Postgres: live heartbeats in this schema, and other
//! backends of this database whose application name is a server's of this
//! schema (see `store::presence`).

use super::conn::Pg;
use super::{db_error, PostgresStore};
use crate::domain::Timestamp;
use crate::store::presence::{self, PresenceStore};
use crate::store::StoreError;

/// Heartbeats when the lock table exists (from migration 0002), and other
/// connections named like a server of the current schema.
const CONNECTED: &str = "SELECT
    (SELECT COUNT(*) FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()
        AND application_name = left('authd serve ' || current_schema(), 63)),
    to_regclass('authd_locks') IS NOT NULL";

impl PresenceStore for PostgresStore {
    fn servers_connected(&self, at: Timestamp) -> Result<u64, StoreError> {
        let mut client = self.conn()?;
        let row = client.query_one(CONNECTED, &[]).map_err(db_error)?;
        let named: i64 = row.try_get(0).map_err(db_error)?;
        let table: bool = row.try_get(1).map_err(db_error)?;
        let mut beating: u64 = 0;
        if table {
            beating = presence::sql::heartbeats(&mut Pg::new(&mut **client), at)?;
        }
        // A server has one heartbeat but may hold several connections:
        // either count proves a server is there; the larger is the better guess.
        Ok((named as u64).max(beating))
    }
}
