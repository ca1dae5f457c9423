//! A private PostgreSQL server with TLS on, for tests of TLS and of a full
//! server (never the shared one): `initdb` into a temp dir, `pg_ctl start`
//! on a free port with a certificate from a test CA, stopped when dropped.
//! Postgres refuses to run as root, so as root it runs as `postgres`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::tls::TestCa;

const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct PrivatePostgres {
    pub port: u16,
    /// Signed the server's certificate (for `localhost` only).
    pub ca: TestCa,
    dir: tempfile::TempDir,
    running: bool,
}

impl PrivatePostgres {
    /// Starts one with `ssl = on` and `max_connections`, or `None` when the
    /// Postgres binaries are missing and the services are not required.
    pub fn start(test: &str, max_connections: u32) -> Option<PrivatePostgres> {
        if !Path::new(BIN).join("initdb").exists() {
            if std::env::var("AUTHD_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{test}: AUTHD_TEST_REQUIRE_SERVICES=1 but {BIN}/initdb is missing (install postgresql-15)");
            }
            eprintln!("SKIPPED {test}: {BIN}/initdb is missing");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "ca");
        let server = ca.issue(dir.path(), "server", &["localhost"]);
        let port = super::free_port();
        let data = dir.path().join("data");
        run_as_postgres(
            dir.path(),
            &[
                &format!("{BIN}/initdb"),
                "--no-sync",
                "--auth=trust",
                "-U",
                "postgres",
                "-D",
                data.to_str().unwrap(),
            ],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c max_connections={max_connections} -c superuser_reserved_connections=0 -c fsync=off",
            dir.path().display(),
            server.cert.display(),
            server.key.display(),
        );
        let mut postgres = PrivatePostgres {
            port,
            ca,
            dir,
            running: false,
        };
        postgres.pg_ctl(&["start", "-w", "-t", "30", "-o", &options, "-l", "log"]);
        postgres.running = true;
        Some(postgres)
    }

    /// `postgres://postgres@HOST:PORT/postgres?QUERY`.
    pub fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let mut all = vec![
            format!("{BIN}/pg_ctl"),
            "-D".into(),
            data.display().to_string(),
        ];
        for arg in args {
            all.push(if *arg == "log" {
                log.display().to_string()
            } else {
                arg.to_string()
            });
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run_as_postgres(self.dir.path(), &all);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            self.running = false;
            self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        }
    }
}

/// Runs a Postgres tool; as root, as the `postgres` user (who then owns `dir`).
fn run_as_postgres(dir: &Path, args: &[&str]) {
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = if root {
        chown_tree(dir);
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]);
        c.args(args);
        c
    } else {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    };
    let output = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run a Postgres tool");
    assert!(
        output.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn chown_tree(dir: &Path) {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(status.success());
    // The server key must not be readable by others.
    let key: PathBuf = dir.join("server.key");
    if key.exists() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}
