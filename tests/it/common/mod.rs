//! Test helpers shared by the black-box suites: a private database per test
//! (a SQLite file in a temp dir, or a fresh schema in the Postgres of
//! `AUTHD_TEST_DATABASE_URL`), and the `authd` binary with a hermetic
//! environment.
//!
//! Postgres tests are skipped, by name and visibly on stderr, when
//! `AUTHD_TEST_DATABASE_URL` is unset; with `AUTHD_TEST_REQUIRE_SERVICES=1`
//! (as CI sets) a missing service fails the test instead.

pub mod deployment;
pub mod load;
pub mod pg_server;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod redis_server;
pub mod redis_topology;
pub mod server;
pub mod smtp;
pub mod tls;
pub mod verifier;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use authd::config::{Config, ConnectionUrl};
use authd::store::{self, Store};
use rand::distributions::{Alphanumeric, DistString};

/// Generates `sqlite::NAME` and `postgres::NAME` tests, each calling the
/// suite function `NAME(&TestDb)` with a fresh database of that kind.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&crate::common::TestDb::sqlite()); } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                let test = concat!(module_path!(), "::", stringify!($name));
                if let Some(db) = crate::common::TestDb::postgres(test) {
                    super::$name(&db);
                }
            } )*
        }
    };
}
pub(crate) use on_both_backends;

/// Generates `in_memory::NAME` (no Redis) and `on_redis::NAME` (the shared
/// Redis, a private key prefix) for each suite function `NAME(redis_url)`.
macro_rules! on_both_limiters {
    ($($name:ident),* $(,)?) => {
        mod in_memory {
            $( #[test] fn $name() { crate::common::server::runtime().block_on(super::$name(None)); } )*
        }
        mod on_redis {
            $( #[test] fn $name() {
                let test = concat!(module_path!(), "::", stringify!($name));
                if let Some(url) = crate::common::redis_url(test) {
                    crate::common::server::runtime().block_on(super::$name(Some(url)));
                }
            } )*
        }
    };
}
pub(crate) use on_both_limiters;

/// A private database that disappears with the value.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
    },
    Postgres {
        base_url: String,
        schema: String,
        dir: tempfile::TempDir,
    },
}

/// The URL in `variable` for a test that needs that service, or `None`
/// (after saying so, by name) to skip it; a failure instead when
/// `AUTHD_TEST_REQUIRE_SERVICES=1`.
pub fn service_url(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("AUTHD_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{test}: AUTHD_TEST_REQUIRE_SERVICES=1 but {variable} is not set")
        }
        _ => {
            // Written to the real stderr, past the harness's capture, so a skip is seen.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {variable} is not set");
            None
        }
    }
}

/// The Postgres server to test against, or `None` to skip.
pub fn postgres_url(test: &str) -> Option<String> {
    service_url("AUTHD_TEST_DATABASE_URL", test)
}

/// The shared Redis to test against, or `None` to skip.
pub fn redis_url(test: &str) -> Option<String> {
    service_url("AUTHD_TEST_REDIS_URL", test)
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!(
        "authd_t_{}:",
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), 12)
            .to_lowercase()
    )
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A new, empty schema; `None` when Postgres tests are skipped.
    pub fn postgres(test: &str) -> Option<TestDb> {
        let base_url = postgres_url(test)?;
        let schema = format!(
            "authd_t_{}",
            Alphanumeric
                .sample_string(&mut rand::thread_rng(), 12)
                .to_lowercase()
        );
        let mut client = postgres::Client::connect(&base_url, postgres::NoTls)
            .expect("connect to AUTHD_TEST_DATABASE_URL");
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("create test schema");
        Some(TestDb::Postgres {
            base_url,
            schema,
            dir: tempfile::tempdir().expect("temp dir"),
        })
    }

    /// The database URL authd is given.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => format!("sqlite://{}", dir.path().join("authd.db").display()),
            TestDb::Postgres {
                base_url, schema, ..
            } => {
                let separator = if base_url.contains('?') { '&' } else { '?' };
                format!("{base_url}{separator}options=-csearch_path%3D{schema}")
            }
        }
    }

    /// A scratch directory that lives as long as the database.
    pub fn dir(&self) -> &Path {
        match self {
            TestDb::Sqlite { dir } | TestDb::Postgres { dir, .. } => dir.path(),
        }
    }

    /// A configuration for this database, with cheap hashing (tests measure
    /// behaviour, not cost).
    pub fn config(&self) -> Config {
        let mut config = Config::default();
        config.database.url = ConnectionUrl::new(self.url());
        config.password.memory_kib = 1024;
        config.password.iterations = 1;
        config.password.min_memory_kib = 1024;
        config.password.min_iterations = 1;
        config
    }

    /// An opened, migrated store.
    pub fn store(&self) -> Arc<dyn Store> {
        let store = store::open(&self.config()).expect("open store");
        store::migrate::migrate_up(store.as_ref()).expect("migrate");
        store
    }

    /// Runs SQL on the database directly, behind authd's back.
    pub fn execute(&self, sql: &str) {
        match self {
            TestDb::Sqlite { .. } => {
                let path = self.url().trim_start_matches("sqlite://").to_string();
                rusqlite::Connection::open(path)
                    .unwrap()
                    .execute_batch(sql)
                    .unwrap();
            }
            TestDb::Postgres { .. } => {
                postgres::Client::connect(&self.url(), postgres::NoTls)
                    .unwrap()
                    .batch_execute(sql)
                    .unwrap();
            }
        }
    }

    /// The first column of the first row of `sql`, as an integer.
    pub fn query_i64(&self, sql: &str) -> i64 {
        match self {
            TestDb::Sqlite { .. } => {
                let path = self.url().trim_start_matches("sqlite://").to_string();
                rusqlite::Connection::open(path)
                    .unwrap()
                    .query_row(sql, [], |row| row.get(0))
                    .unwrap()
            }
            TestDb::Postgres { .. } => postgres::Client::connect(&self.url(), postgres::NoTls)
                .unwrap()
                .query_one(sql, &[])
                .unwrap()
                .get(0),
        }
    }

    /// Every row of `sql`, whose columns are all text (or NULL).
    pub fn query_strings(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            TestDb::Sqlite { .. } => {
                let path = self.url().trim_start_matches("sqlite://").to_string();
                let connection = rusqlite::Connection::open(path).unwrap();
                let mut statement = connection.prepare(sql).unwrap();
                let columns = statement.column_count();
                statement
                    .query_map([], |row| (0..columns).map(|i| row.get(i)).collect())
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            TestDb::Postgres { .. } => postgres::Client::connect(&self.url(), postgres::NoTls)
                .unwrap()
                .query(sql, &[])
                .unwrap()
                .iter()
                .map(|row| (0..row.len()).map(|i| row.get(i)).collect())
                .collect(),
        }
    }

    /// An SQL literal for "now + offset seconds" in this backend's time column type.
    pub fn time_literal(&self, offset_secs: i64) -> String {
        let at = chrono::Utc::now() + chrono::Duration::seconds(offset_secs);
        match self {
            TestDb::Sqlite { .. } => at.timestamp_micros().to_string(),
            TestDb::Postgres { .. } => format!("'{}'::timestamptz", at.to_rfc3339()),
        }
    }

    /// `authd` with only this database's settings in its environment, run in
    /// the scratch directory (so no stray `./authd.toml` is read).
    pub fn authd(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", self.url())
            .env("AUTHD_PASSWORD__MEMORY_KIB", "1024")
            .env("AUTHD_PASSWORD__ITERATIONS", "1")
            .env("AUTHD_PASSWORD__MIN_MEMORY_KIB", "1024")
            .env("AUTHD_PASSWORD__MIN_ITERATIONS", "1")
            .env("AUTHD_LOG__LEVEL", "warn")
            .current_dir(self.dir())
            .stdin(Stdio::null());
        command
    }

    /// The stdout of `authd ARGS`, which must succeed.
    pub fn stdout_of(&self, args: &[&str]) -> String {
        let output = self.authd().args(args).output().expect("run authd");
        assert!(
            output.status.success(),
            "authd {args:?} failed: {}",
            stderr(&output)
        );
        stdout(&output)
    }

    /// The JSON document `authd ARGS --output json` prints.
    pub fn json_of(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = args.to_vec();
        with_json.extend(["--output", "json"]);
        serde_json::from_str(&self.stdout_of(&with_json)).expect("valid JSON on stdout")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres {
            base_url, schema, ..
        } = self
        {
            if let Ok(mut client) = postgres::Client::connect(base_url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// Runs `command` with `input` on stdin.
pub fn run_with_stdin(mut command: Command, input: &str) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn authd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().expect("wait for authd")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The path of a file in `dir`.
pub fn file_in(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
