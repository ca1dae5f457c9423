//! The audit log on SQLite: the statements of `store::audit`, with `?N`
//! placeholders and times as microseconds.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::batched_writes::{self, Job};
use super::conn::value;
use super::group_commit::Full;
use super::{db_error, SqliteStore};
use crate::domain::{AuditEvent, Timestamp};
use crate::store::audit::{self, Statement};
use crate::store::{AuditQuery, AuditStats, AuditStore, StoreError, StoredAuditEvent};

pub(super) fn placeholder(n: usize) -> String {
    format!("?{n}")
}

pub(super) fn values(statement: &Statement) -> Vec<Value> {
    statement.params.iter().map(value).collect()
}

impl AuditStore for SqliteStore {
    /// Queued with the writer thread, so the batch joins the rotations'
    /// transaction instead of taking the write turn for one of its own
    /// (`batched_writes`).
    fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        match self.batches.submit(Job::StoreAudit(events.to_vec())) {
            Ok(answer) => batched_writes::answered(answer.blocking_recv())?.into_audit(),
            // The queue is full of rotations being shed with 503s; the
            // log's rows are not shed with them but written on this thread,
            // which takes its write turn like any other writer.
            Err(Full(job)) => batched_writes::write_batch(&self.access, &[job])
                .remove(0)?
                .into_audit(),
        }
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
