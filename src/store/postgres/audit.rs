//! The audit log on Postgres: the statements of `store::audit`, with `$N`
//! placeholders and times as `timestamptz`.

use postgres::types::ToSql;

use super::conn::{self, refs};
use super::{db_error, PostgresStore};
use crate::domain::{AuditEvent, Timestamp};
use crate::store::audit::{self, Statement};
use crate::store::{AuditQuery, AuditStats, AuditStore, StoreError, StoredAuditEvent};

fn placeholder(n: usize) -> String {
    format!("${n}")
}

fn values(statement: &Statement) -> Vec<Box<dyn ToSql + Sync + Send>> {
    conn::values(&statement.params)
}

impl AuditStore for PostgresStore {
    fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(db_error)?;
        for chunk in events.chunks(audit::INSERT_ROWS) {
            let statement = audit::insert(chunk, placeholder);
            let values = values(&statement);
            tx.execute(statement.sql.as_str(), &refs(&values))
                .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)
    }

    fn list_audit_events(&self, query: &AuditQuery) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let statement = audit::select(query, placeholder);
        let values = values(&statement);
        let rows = self
            .conn()?
            .query(statement.sql.as_str(), &refs(&values))
            .map_err(db_error)?;
        rows.iter().map(|row| audit::event_from_row(row)).collect()
    }

    fn audit_stats(&self, since: Option<Timestamp>, top: u32) -> Result<AuditStats, StoreError> {
        let mut conn = self.conn()?;
        let by_type = audit::counts_by_type(since, placeholder);
        let values_by_type = values(&by_type);
        let by_type = conn
            .query(by_type.sql.as_str(), &refs(&values_by_type))
            .map_err(db_error)?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get::<_, i64>(2)?)))
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(db_error)?;
        let ips = audit::failed_login_ips(since, top, placeholder);
        let values_ips = values(&ips);
        let failed_login_ips = conn
            .query(ips.sql.as_str(), &refs(&values_ips))
            .map_err(db_error)?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get::<_, i64>(1)?)))
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(db_error)?;
        Ok(AuditStats {
            by_type,
            failed_login_ips,
        })
    }

    fn prune_audit_events(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        let statement = audit::prune(before, batch, placeholder);
        let values = values(&statement);
        self.conn()?
            .execute(statement.sql.as_str(), &refs(&values))
            .map_err(db_error)
    }
}
