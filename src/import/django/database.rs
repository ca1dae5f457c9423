//! The Django database itself, SQLite or Postgres, read directly (and only
//! read: SQLite is opened read-only, Postgres only gets SELECTs).
//!
//! The user table is `--table`, or discovered: the one table with the
//! columns of Django's `AbstractBaseUser` that authd needs (`id`, `email`,
//! `password`, `last_login`). Optional columns (`full_name` or
//! `first_name`/`last_name`, `is_active`, `is_staff`, `is_superuser`,
//! `date_joined`) are used when present. Rows are read in id order, one
//! batch at a time (keyset pagination), so memory stays bounded however
//! many users there are.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;

use super::mapping::{compose_name, parse_time, DjangoUser, Rejected};
use super::{BlacklistedToken, ImportError, Source};
use crate::config::ConnectionUrl;
use crate::domain::Timestamp;

/// Columns a user table must have.
const REQUIRED: [&str; 4] = ["id", "email", "password", "last_login"];
/// Columns used when present, in the order the queries select them.
const OPTIONAL: [&str; 7] = [
    "full_name",
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
];
const OUTSTANDING: &str = "token_blacklist_outstandingtoken";
const BLACKLISTED: &str = "token_blacklist_blacklistedtoken";

enum Connection {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

pub struct DatabaseSource {
    url: ConnectionUrl,
    connection: Connection,
    table: String,
    /// Which of `OPTIONAL` the table has.
    present: [bool; OPTIONAL.len()],
    /// The last id read: the next batch starts after it.
    after: i64,
}

impl DatabaseSource {
    /// Connects and finds the user table (`table`, or the only candidate).
    pub fn open(url: &str, table: Option<&str>) -> Result<DatabaseSource, ImportError> {
        let url = ConnectionUrl::new(url);
        let mut connection = match url.scheme().as_deref() {
            Some("sqlite") => {
                let raw = url.expose();
                let path = raw.split_once("://").map_or(raw, |(_, p)| p);
                let conn = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| ImportError::Input(format!("cannot open {url}: {e}")))?;
                Connection::Sqlite(conn)
            }
            Some("postgres" | "postgresql") => {
                let target = crate::store::postgres_tls::target(url.expose())
                    .map_err(|e| ImportError::Input(format!("invalid database URL {url}: {e}")))?;
                let client = target.config.connect(target.tls).map_err(|e| {
                    ImportError::Source(format!(
                        "{url}: {}",
                        e.as_db_error().map_or_else(
                            || crate::error_chain::Chain(&e).to_string(),
                            |db| db.message().to_string()
                        )
                    ))
                })?;
                Connection::Postgres(Box::new(client))
            }
            _ => {
                return Err(ImportError::Input(format!(
                    "unsupported database URL {url}: expected sqlite://PATH or postgres://..."
                )))
            }
        };
        let tables = connection.tables()?;
        let has = |table: &str, column: &str| {
            tables
                .iter()
                .any(|(t, c)| t == table && c.eq_ignore_ascii_case(column))
        };
        let table = match table {
            Some(name) => {
                if !valid_identifier(name) {
                    return Err(ImportError::Input(format!(
                        "--table {name:?} is not a table name"
                    )));
                }
                if !tables.iter().any(|(t, _)| t == name) {
                    return Err(ImportError::Input(format!("no table {name:?} in {url}")));
                }
                if let Some(missing) = REQUIRED.iter().find(|c| !has(name, c)) {
                    return Err(ImportError::Input(format!(
                        "table {name:?} has no {missing} column: it is not a Django user table"
                    )));
                }
                name.to_string()
            }
            None => {
                let mut candidates: Vec<&str> = tables
                    .iter()
                    .map(|(t, _)| t.as_str())
                    .filter(|t| REQUIRED.iter().all(|c| has(t, c)) && valid_identifier(t))
                    .collect();
                candidates.dedup();
                match candidates[..] {
                    [one] => one.to_string(),
                    [] => return Err(ImportError::Input(format!("no Django user table in {url} (a table with id, email, password and last_login columns): name it with --table"))),
                    ref several => return Err(ImportError::Input(format!("several possible user tables in {url} ({}): choose one with --table", several.join(", ")))),
                }
            }
        };
        let present = OPTIONAL.map(|column| has(&table, column));
        Ok(DatabaseSource {
            url,
            connection,
            table,
            present,
            after: 0,
        })
    }

    fn has_blacklist(&mut self) -> Result<bool, ImportError> {
        let tables = self.connection.tables()?;
        Ok([OUTSTANDING, BLACKLISTED]
            .iter()
            .all(|name| tables.iter().any(|(t, _)| t == name)))
    }

    /// The SELECT list: required columns, then each optional one or NULL.
    fn select_list(&self, cast: impl Fn(&str, usize) -> String) -> String {
        let mut list = vec![
            cast("id", 0),
            cast("email", 1),
            cast("password", 1),
            cast("last_login", 3),
        ];
        for (index, column) in OPTIONAL.iter().enumerate() {
            let kind = match index {
                0..=2 => 1,
                3..=5 => 2,
                _ => 3,
            };
            list.push(if self.present[index] {
                cast(column, kind)
            } else {
                cast("NULL", kind)
            });
        }
        list.join(", ")
    }
}

impl Connection {
    /// Every (table, column) of the database's default schema.
    fn tables(&mut self) -> Result<Vec<(String, String)>, ImportError> {
        let fail = |e: &dyn std::fmt::Display| ImportError::Source(e.to_string());
        match self {
            Connection::Sqlite(conn) => {
                let mut statement = conn
                    .prepare(
                        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                         WHERE m.type = 'table' ORDER BY m.name, p.cid",
                    )
                    .map_err(|e| fail(&e))?;
                let rows = statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(|e| fail(&e))?;
                rows.collect::<Result<_, _>>().map_err(|e| fail(&e))
            }
            Connection::Postgres(client) => Ok(client
                .query(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
                    &[],
                )
                .map_err(|e| fail(&e))?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect()),
        }
    }
}

impl Source for DatabaseSource {
    fn describe(&self) -> String {
        format!("database {}", self.url)
    }

    fn table(&self) -> &str {
        &self.table
    }

    fn count(&mut self) -> Result<u64, ImportError> {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", self.table);
        let count: i64 = match &mut self.connection {
            Connection::Sqlite(conn) => conn
                .query_row(&sql, [], |row| row.get(0))
                .map_err(|e| ImportError::Source(e.to_string()))?,
            Connection::Postgres(client) => client
                .query_one(&sql, &[])
                .and_then(|row| row.try_get(0))
                .map_err(|e| ImportError::Source(e.to_string()))?,
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn next_batch(
        &mut self,
        size: usize,
    ) -> Result<Vec<Result<DjangoUser, Rejected>>, ImportError> {
        let limit = i64::try_from(size).unwrap_or(i64::MAX);
        let source = |e: &dyn std::fmt::Display| ImportError::Source(e.to_string());
        let rows = match &self.connection {
            Connection::Sqlite(_) => {
                let sql = format!(
                    "SELECT {} FROM \"{}\" WHERE id > ?1 ORDER BY id LIMIT ?2",
                    self.select_list(|column, _| column.to_string()),
                    self.table
                );
                let Connection::Sqlite(conn) = &self.connection else {
                    unreachable!()
                };
                let mut statement = conn.prepare_cached(&sql).map_err(|e| source(&e))?;
                let mut rows = statement
                    .query(rusqlite::params![self.after, limit])
                    .map_err(|e| source(&e))?;
                let mut batch = Vec::new();
                while let Some(row) = rows.next().map_err(|e| source(&e))? {
                    batch.push(sqlite_row(row).map_err(|e| source(&e))?);
                }
                batch
            }
            Connection::Postgres(_) => {
                let sql = format!(
                    "SELECT {} FROM \"{}\" WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint",
                    self.select_list(postgres_cast),
                    self.table
                );
                let Connection::Postgres(client) = &mut self.connection else {
                    unreachable!()
                };
                client
                    .query(&sql, &[&self.after, &limit])
                    .map_err(|e| source(&e))?
                    .iter()
                    .map(postgres_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| source(&e))?
            }
        };
        if let Some((id, _)) = rows.last() {
            self.after = *id;
        }
        Ok(rows.into_iter().map(|(_, row)| row).collect())
    }

    fn blacklist(&mut self) -> Result<Vec<BlacklistedToken>, ImportError> {
        if !self.has_blacklist()? {
            return Ok(Vec::new());
        }
        let source = |e: &dyn std::fmt::Display| ImportError::Source(e.to_string());
        match &mut self.connection {
            Connection::Sqlite(conn) => {
                // Django keeps naive UTC text here, which sorts as time does.
                let now = Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
                let mut statement = conn
                    .prepare(&format!(
                        "SELECT o.jti, o.user_id, o.expires_at, b.blacklisted_at
                         FROM {OUTSTANDING} o JOIN {BLACKLISTED} b ON b.token_id = o.id
                         WHERE o.expires_at > ?1"
                    ))
                    .map_err(|e| source(&e))?;
                let rows = statement
                    .query_map([now], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, Option<i64>>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, Option<String>>(3)?,
                        ))
                    })
                    .map_err(|e| source(&e))?;
                let mut tokens = Vec::new();
                for row in rows {
                    let (jti, user_id, expires_at, blacklisted_at) = row.map_err(|e| source(&e))?;
                    if let Some(expires_at) = parse_time(&expires_at) {
                        tokens.push(BlacklistedToken {
                            jti,
                            user_id,
                            expires_at,
                            blacklisted_at: blacklisted_at.as_deref().and_then(parse_time),
                        });
                    }
                }
                Ok(tokens)
            }
            Connection::Postgres(client) => {
                let rows = client
                    .query(
                        &format!(
                            "SELECT o.jti::text, o.user_id::bigint,
                                    (EXTRACT(EPOCH FROM o.expires_at) * 1000000)::bigint,
                                    (EXTRACT(EPOCH FROM b.blacklisted_at) * 1000000)::bigint
                             FROM {OUTSTANDING} o JOIN {BLACKLISTED} b ON b.token_id = o.id
                             WHERE o.expires_at > now()"
                        ),
                        &[],
                    )
                    .map_err(|e| source(&e))?;
                Ok(rows
                    .iter()
                    .filter_map(|row| {
                        Some(BlacklistedToken {
                            jti: row.get(0),
                            user_id: row.get(1),
                            expires_at: micros(row.get(2))?,
                            blacklisted_at: row.get::<_, Option<i64>>(3).and_then(micros),
                        })
                    })
                    .collect())
            }
        }
    }
}

/// A table name authd will put in a query (quoted): letters, digits, `_`.
fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Postgres casts by column kind: 0 id, 1 text, 2 boolean, 3 time as epoch µs.
fn postgres_cast(column: &str, kind: usize) -> String {
    let quoted = if column == "NULL" {
        column.to_string()
    } else {
        format!("\"{column}\"")
    };
    match kind {
        0 => format!("{quoted}::bigint"),
        1 => format!("{quoted}::text"),
        2 => format!("{quoted}::boolean"),
        _ if column == "NULL" => "NULL::bigint".into(),
        _ => format!("(EXTRACT(EPOCH FROM {quoted}) * 1000000)::bigint"),
    }
}

fn micros(value: i64) -> Option<Timestamp> {
    DateTime::from_timestamp_micros(value)
}

type Row = (i64, Result<DjangoUser, Rejected>);

fn postgres_row(row: &postgres::Row) -> Result<Row, postgres::Error> {
    let id: i64 = row.try_get(0)?;
    let text = |i: usize| row.try_get::<_, Option<String>>(i);
    let flag = |i: usize, default: bool| {
        row.try_get::<_, Option<bool>>(i)
            .map(|v| v.unwrap_or(default))
    };
    let time = |i: usize| row.try_get::<_, Option<i64>>(i).map(|v| v.and_then(micros));
    let user = DjangoUser {
        id,
        email: text(1)?.unwrap_or_default(),
        password: text(2)?.unwrap_or_default(),
        last_login: time(3)?,
        full_name: compose_name(
            text(4)?.as_deref(),
            text(5)?.as_deref(),
            text(6)?.as_deref(),
        ),
        is_active: flag(7, true)?,
        is_staff: flag(8, false)?,
        is_superuser: flag(9, false)?,
        date_joined: time(10)?,
    };
    Ok((id, Ok(user)))
}

fn sqlite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let id: i64 = row.get(0)?;
    let mut problem: Option<String> = None;
    let mut note = |column: &str| {
        problem.get_or_insert_with(|| format!("{column} has an unexpected value"));
    };
    let text = |i: usize| -> rusqlite::Result<Option<String>> {
        Ok(match row.get_ref(i)? {
            ValueRef::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        })
    };
    let flag = |i: usize| -> rusqlite::Result<Option<bool>> {
        Ok(match row.get_ref(i)? {
            ValueRef::Integer(value) => Some(value != 0),
            _ => None,
        })
    };
    let email = text(1)?.unwrap_or_default();
    let password = text(2)?.unwrap_or_default();
    let mut time = |i: usize, column: &str| -> rusqlite::Result<Option<Timestamp>> {
        let value = text(i)?;
        let parsed = value.as_deref().and_then(parse_time);
        if value.is_some() && parsed.is_none() {
            note(column);
        }
        Ok(parsed)
    };
    let last_login = time(3, "last_login")?;
    let date_joined = time(10, "date_joined")?;
    let user = DjangoUser {
        id,
        email,
        password,
        last_login,
        full_name: compose_name(
            text(4)?.as_deref(),
            text(5)?.as_deref(),
            text(6)?.as_deref(),
        ),
        is_active: flag(7)?.unwrap_or(true),
        is_staff: flag(8)?.unwrap_or(false),
        is_superuser: flag(9)?.unwrap_or(false),
        date_joined,
    };
    Ok(match problem {
        Some(reason) => (id, Err(Rejected::new(id, reason))),
        None => (id, Ok(user)),
    })
}
