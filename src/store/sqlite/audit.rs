//! The audit log on SQLite: the statements of `store::audit`, with `?N`
//! placeholders and times as microseconds.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, TransactionBehavior};

use super::conn::value;
use super::{db_error, SqliteStore};
use crate::domain::{AuditEvent, Timestamp};
use crate::store::audit::{self, Statement};
use crate::store::{AuditQuery, AuditStats, AuditStore, StoreError, StoredAuditEvent};

fn placeholder(n: usize) -> String {
    format!("?{n}")
}

fn values(statement: &Statement) -> Vec<Value> {
    statement.params.iter().map(value).collect()
}

impl AuditStore for SqliteStore {
    fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        for chunk in events.chunks(audit::INSERT_ROWS) {
            let statement = audit::insert(chunk, placeholder);
            tx.prepare_cached(&statement.sql)
                .and_then(|mut insert| insert.execute(params_from_iter(values(&statement))))
                .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)
    }

    fn list_audit_events(&self, query: &AuditQuery) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let statement = audit::select(query, placeholder);
        let conn = self.conn()?;
        let mut select = conn.prepare(&statement.sql).map_err(db_error)?;
        let mut rows = select
            .query(params_from_iter(values(&statement)))
            .map_err(db_error)?;
        let mut events = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            events.push(audit::event_from_row(row)?);
        }
        Ok(events)
    }

    fn audit_stats(&self, since: Option<Timestamp>, top: u32) -> Result<AuditStats, StoreError> {
        let conn = self.conn()?;
        let by_type = audit::counts_by_type(since, placeholder);
        let mut select = conn.prepare(&by_type.sql).map_err(db_error)?;
        let by_type = select
            .query_map(params_from_iter(values(&by_type)), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(db_error)?;
        let ips = audit::failed_login_ips(since, top, placeholder);
        let mut select = conn.prepare(&ips.sql).map_err(db_error)?;
        let failed_login_ips = select
            .query_map(params_from_iter(values(&ips)), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(db_error)?;
        Ok(AuditStats {
            by_type,
            failed_login_ips,
        })
    }

    fn prune_audit_events(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        let statement = audit::prune(before, batch, placeholder);
        let deleted = self
            .writer()?
            .execute(&statement.sql, params_from_iter(values(&statement)))
            .map_err(db_error)?;
        Ok(deleted as u64)
    }
}
