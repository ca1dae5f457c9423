//! The dialect layer: what lets a store operation's SQL be written once for
//! both backends.
//!
//! Shared SQL is written in Postgres's spelling (`$1` placeholders,
//! `GREATEST`, `TRUE`/`FALSE`) as a [`Sql`] static; SQLite gets it
//! rewritten once, on first use (`?1`, `max`; SQLite reads `TRUE` as 1).
//! Values are bound as [`SqlValue`]s, which each backend maps to its own
//! types (a time is INTEGER microseconds on SQLite, `timestamptz` on
//! Postgres), and rows are read through [`SqlRow`], so one row reader
//! serves both. A backend's connection and transaction implement [`Conn`].
//!
//! What stays per backend, in the backend's files: control flow that
//! depends on the database's locking (SQLite's `BEGIN IMMEDIATE` against
//! Postgres's row locks and `FOR UPDATE SKIP LOCKED`), and statements with
//! no common spelling (`INDEXED BY`, `rowid`, arrays, `pg_stat_activity`,
//! the data-modifying CTEs that make a Postgres session start and refresh
//! one round trip each). Such a statement of Postgres's is a [`Sql`] too,
//! in the Postgres files, so it binds and reads like the shared ones.

use std::sync::OnceLock;

use super::StoreError;
use crate::domain::{Email, FullName};
use crate::domain::{Timestamp, User, UserId};

/// A statement written once; see the module doc for its spelling.
pub(crate) struct Sql {
    text: &'static str,
    sqlite: OnceLock<String>,
}

impl Sql {
    pub(crate) const fn new(text: &'static str) -> Sql {
        Sql {
            text,
            sqlite: OnceLock::new(),
        }
    }

    pub(crate) fn postgres(&'static self) -> &'static str {
        self.text
    }

    pub(crate) fn sqlite(&'static self) -> &'static str {
        self.sqlite.get_or_init(|| to_sqlite(self.text))
    }
}

/// `$N` to `?N` and `GREATEST(` to `max(`: the only differences the shared
/// statements have (none holds a `$` or that word inside a string).
fn to_sqlite(text: &str) -> String {
    text.replace('$', "?").replace("GREATEST(", "max(")
}

/// A value bound to a statement, before a backend maps it to its own type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlValue {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Time(Option<Timestamp>),
}

impl From<i64> for SqlValue {
    fn from(n: i64) -> SqlValue {
        SqlValue::Int(Some(n))
    }
}

impl From<UserId> for SqlValue {
    fn from(id: UserId) -> SqlValue {
        SqlValue::Int(Some(id.get()))
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> SqlValue {
        SqlValue::Text(Some(s.to_string()))
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> SqlValue {
        SqlValue::Text(Some(s))
    }
}

impl From<Option<&str>> for SqlValue {
    fn from(s: Option<&str>) -> SqlValue {
        SqlValue::Text(s.map(str::to_string))
    }
}

impl From<Option<bool>> for SqlValue {
    fn from(b: Option<bool>) -> SqlValue {
        SqlValue::Bool(b)
    }
}

impl From<bool> for SqlValue {
    fn from(b: bool) -> SqlValue {
        SqlValue::Bool(Some(b))
    }
}

impl From<Timestamp> for SqlValue {
    fn from(at: Timestamp) -> SqlValue {
        SqlValue::Time(Some(at))
    }
}

impl From<Option<Timestamp>> for SqlValue {
    fn from(at: Option<Timestamp>) -> SqlValue {
        SqlValue::Time(at)
    }
}

/// A row of either backend, read by column index.
pub(crate) trait SqlRow {
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
    fn time(&self, i: usize) -> Result<Option<Timestamp>, StoreError>;
}

fn null(i: usize) -> StoreError {
    StoreError::Internal(format!("unexpected NULL in column {i}"))
}

/// Readers of NOT NULL columns.
pub(crate) trait SqlRowExt: SqlRow {
    fn int_nn(&self, i: usize) -> Result<i64, StoreError> {
        self.int(i)?.ok_or_else(|| null(i))
    }
    fn text_nn(&self, i: usize) -> Result<String, StoreError> {
        self.text(i)?.ok_or_else(|| null(i))
    }
    fn time_nn(&self, i: usize) -> Result<Timestamp, StoreError> {
        self.time(i)?.ok_or_else(|| null(i))
    }
    fn user_id(&self, i: usize) -> Result<UserId, StoreError> {
        super::stored_user_id(self.int_nn(i)?)
    }
}

impl<R: SqlRow + ?Sized> SqlRowExt for R {}

/// A statement failed; `Unique` when it broke a unique constraint (the
/// caller may have a meaning for that, such as a taken email).
#[derive(Debug)]
pub(crate) enum Failure {
    Unique(StoreError),
    Other(StoreError),
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> StoreError {
        match failure {
            Failure::Unique(e) | Failure::Other(e) => e,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Other(error)
    }
}

/// A connection or transaction of either backend.
pub(crate) trait Conn {
    /// Runs a statement that returns no rows; how many rows it changed.
    fn execute(&mut self, sql: &'static Sql, params: &[SqlValue]) -> Result<u64, Failure>;

    /// Runs a statement and hands each row it returns to `each`.
    fn query(
        &mut self,
        sql: &'static Sql,
        params: &[SqlValue],
        each: &mut dyn FnMut(&dyn SqlRow) -> Result<(), StoreError>,
    ) -> Result<(), Failure>;
}

/// Helpers over [`Conn`].
pub(crate) trait ConnExt: Conn {
    /// The rows of a statement, each read by `read`.
    fn rows<T>(
        &mut self,
        sql: &'static Sql,
        params: &[SqlValue],
        mut read: impl FnMut(&dyn SqlRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, Failure> {
        let mut rows = Vec::new();
        self.query(sql, params, &mut |row| {
            rows.push(read(row)?);
            Ok(())
        })?;
        Ok(rows)
    }

    /// The first row of a statement, if any.
    fn row<T>(
        &mut self,
        sql: &'static Sql,
        params: &[SqlValue],
        mut read: impl FnMut(&dyn SqlRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, Failure> {
        let mut first = None;
        self.query(sql, params, &mut |row| {
            if first.is_none() {
                first = Some(read(row)?);
            }
            Ok(())
        })?;
        Ok(first)
    }
}

impl<C: Conn + ?Sized> ConnExt for C {}

/// Reads the [`user_columns!`] starting at column 0.
pub(crate) fn user_from_row(row: &dyn SqlRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.user_id(0)?,
        email: Email::from_stored(row.text_nn(1)?),
        full_name: FullName::from_stored(row.text_nn(2)?),
        is_active: row.flag(3)?,
        is_staff: row.flag(4)?,
        is_superuser: row.flag(5)?,
        date_joined: row.time_nn(6)?,
        last_login: row.time(7)?,
        tokens_valid_after: row.time_nn(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_spelling_numbers_placeholders_and_uses_max() {
        static SQL: Sql =
            Sql::new("UPDATE t SET a = GREATEST(a, $2), b = TRUE WHERE id = $1 AND c = $12");
        assert_eq!(
            SQL.sqlite(),
            "UPDATE t SET a = max(a, ?2), b = TRUE WHERE id = ?1 AND c = ?12"
        );
        assert_eq!(
            SQL.postgres(),
            "UPDATE t SET a = GREATEST(a, $2), b = TRUE WHERE id = $1 AND c = $12"
        );
    }
}
