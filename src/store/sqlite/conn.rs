//! The dialect layer's SQLite side (see `store::dialect`): shared statements
//! in SQLite's spelling, values mapped to rusqlite's (times as INTEGER
//! microseconds), rows read through `SqlRow`. Statements go through the
//! connection's prepared-statement cache.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Row};

use super::{db_error, from_micros, is_unique_violation, to_micros};
use crate::domain::Timestamp;
use crate::store::dialect::{Conn, Failure, Sql, SqlRow, SqlValue};
use crate::store::StoreError;

/// A SQLite connection or transaction (a transaction derefs to its connection).
pub(super) struct Lite<'a>(pub &'a rusqlite::Connection);

pub(super) fn value(value: &SqlValue) -> Value {
    match value {
        SqlValue::Int(Some(n)) => Value::Integer(*n),
        SqlValue::Text(Some(s)) => Value::Text(s.clone()),
        SqlValue::Bool(Some(b)) => Value::Integer(i64::from(*b)),
        SqlValue::Time(Some(at)) => Value::Integer(to_micros(*at)),
        SqlValue::Int(None)
        | SqlValue::Text(None)
        | SqlValue::Bool(None)
        | SqlValue::Time(None) => Value::Null,
    }
}

fn failure(error: rusqlite::Error) -> Failure {
    if is_unique_violation(&error) {
        Failure::Unique(db_error(error))
    } else {
        Failure::Other(db_error(error))
    }
}

impl Conn for Lite<'_> {
    fn execute(&mut self, sql: &'static Sql, params: &[SqlValue]) -> Result<u64, Failure> {
        let mut statement = self.0.prepare_cached(sql.sqlite()).map_err(failure)?;
        let changed = statement
            .execute(params_from_iter(params.iter().map(value)))
            .map_err(failure)?;
        Ok(changed as u64)
    }

    fn query(
        &mut self,
        sql: &'static Sql,
        params: &[SqlValue],
        each: &mut dyn FnMut(&dyn SqlRow) -> Result<(), StoreError>,
    ) -> Result<(), Failure> {
        let mut statement = self.0.prepare_cached(sql.sqlite()).map_err(failure)?;
        let mut rows = statement
            .query(params_from_iter(params.iter().map(value)))
            .map_err(failure)?;
        while let Some(row) = rows.next().map_err(failure)? {
            each(row)?;
        }
        Ok(())
    }
}

impl SqlRow for Row<'_> {
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get(i).map_err(db_error)
    }

    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i).map_err(db_error)
    }

    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.get(i).map_err(db_error)
    }

    fn time(&self, i: usize) -> Result<Option<Timestamp>, StoreError> {
        self.get::<_, Option<i64>>(i)
            .map_err(db_error)?
            .map(from_micros)
            .transpose()
            .map_err(db_error)
    }
}

impl super::SqliteStore {
    /// Runs `f` in one `BEGIN IMMEDIATE` transaction (SQLite has one writer
    /// at a time; taking the lock first means no read inside waits on it
    /// later) and commits when it succeeds.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut Lite<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let result = f(&mut Lite(&tx))?;
        tx.commit().map_err(db_error)?;
        Ok(result)
    }
}
