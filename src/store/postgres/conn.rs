//! The dialect layer's Postgres side (see `store::dialect`): shared
//! statements as written, values mapped to the driver's types (times as
//! `timestamptz`), rows read through `SqlRow`. A transaction runs them on
//! [`Pg`]; a pooled connection ([`PgConnection`]) runs them itself, keeping
//! them prepared for its life (see `connection`), for the hot paths.

use postgres::error::SqlState;
use postgres::types::ToSql;
use std::collections::HashMap;

use postgres::{GenericClient, Row, Statement};

use super::connection::PgConnection;
use super::db_error;
use crate::domain::Timestamp;
use crate::store::dialect::{Conn, Failure, Sql, SqlRow, SqlValue};
use crate::store::StoreError;

/// A Postgres client or transaction, with the statements prepared through
/// it: given text, the driver would prepare a statement anew on every call
/// (a round trip), so a batch that runs one statement per row (an import)
/// prepares each once. A one-statement call costs what it did.
pub(super) struct Pg<'a, C: GenericClient> {
    client: &'a mut C,
    prepared: HashMap<&'static str, Statement>,
}

impl<'a, C: GenericClient> Pg<'a, C> {
    pub(super) fn new(client: &'a mut C) -> Pg<'a, C> {
        Pg {
            client,
            prepared: HashMap::new(),
        }
    }
}

/// A client that keeps the shared statements it prepares: [`Pg`] for a
/// call or transaction, a pooled [`PgConnection`] for its life. Both run
/// them the same way, as [`Conn`]s.
trait Prepares {
    type Client: GenericClient;

    /// `sql` prepared, and the client to run it on.
    fn prepare(&mut self, sql: &'static Sql) -> Result<(Statement, &mut Self::Client), Failure>;
}

impl<C: GenericClient> Prepares for Pg<'_, C> {
    type Client = C;

    fn prepare(&mut self, sql: &'static Sql) -> Result<(Statement, &mut C), Failure> {
        let text = sql.postgres();
        let statement = match self.prepared.get(text) {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.client.prepare(text).map_err(failure)?;
                self.prepared.insert(text, statement.clone());
                statement
            }
        };
        Ok((statement, &mut *self.client))
    }
}

impl Prepares for PgConnection {
    type Client = postgres::Client;

    fn prepare(
        &mut self,
        sql: &'static Sql,
    ) -> Result<(Statement, &mut postgres::Client), Failure> {
        let statement = self.prepared(sql.postgres()).map_err(failure)?;
        Ok((statement, &mut **self))
    }
}

pub(super) fn values(params: &[SqlValue]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|value| -> Box<dyn ToSql + Sync + Send> {
            match value {
                SqlValue::Int(n) => Box::new(*n),
                SqlValue::Text(s) => Box::new(s.clone()),
                SqlValue::Bool(b) => Box::new(*b),
                SqlValue::Time(at) => Box::new(*at),
            }
        })
        .collect()
}

pub(super) fn refs(values: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn failure(error: postgres::Error) -> Failure {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        Failure::Unique(db_error(error))
    } else {
        Failure::Other(db_error(error))
    }
}

impl<P: Prepares> Conn for P {
    fn execute(&mut self, sql: &'static Sql, params: &[SqlValue]) -> Result<u64, Failure> {
        let (statement, client) = self.prepare(sql)?;
        let values = values(params);
        client.execute(&statement, &refs(&values)).map_err(failure)
    }

    fn query(
        &mut self,
        sql: &'static Sql,
        params: &[SqlValue],
        each: &mut dyn FnMut(&dyn SqlRow) -> Result<(), StoreError>,
    ) -> Result<(), Failure> {
        let (statement, client) = self.prepare(sql)?;
        let values = values(params);
        let rows = client.query(&statement, &refs(&values)).map_err(failure)?;
        for row in &rows {
            each(row)?;
        }
        Ok(())
    }
}

impl SqlRow for Row {
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(i).map_err(db_error)
    }

    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(db_error)
    }

    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.try_get(i).map_err(db_error)
    }

    fn time(&self, i: usize) -> Result<Option<Timestamp>, StoreError> {
        self.try_get(i).map_err(db_error)
    }
}

impl super::PostgresStore {
    /// Runs `f` in one transaction and commits when it succeeds.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut Pg<'_, postgres::Transaction<'_>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        transaction(&mut **self.conn()?, f)
    }
}

/// [`PostgresStore::write`](super::PostgresStore::write) on a connection
/// the caller already holds (a checkout costs a round trip: r2d2 tests it).
pub(super) fn transaction<T>(
    client: &mut postgres::Client,
    f: impl FnOnce(&mut Pg<'_, postgres::Transaction<'_>>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tx = client.transaction().map_err(db_error)?;
    let result = f(&mut Pg::new(&mut tx))?;
    tx.commit().map_err(db_error)?;
    Ok(result)
}
