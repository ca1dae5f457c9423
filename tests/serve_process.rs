//! `authd serve` as a process: start-up rules, first-run development mode,
//! and graceful shutdown on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::server::{all_at_once, TEST_SECRET};
use common::{stderr, TestDb};
use reqwest::StatusCode;
use serde_json::json;

/// A running `authd serve` and the lines it logs; killed if still running
/// when dropped, so a failing test leaves no server behind.
struct Process {
    child: Child,
    base: String,
    logs: mpsc::Receiver<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts `command` (already `authd serve ...`) and waits for its listening line.
    fn start(mut command: Command) -> Process {
        command.stderr(Stdio::piped()).stdout(Stdio::null());
        let (lines, logs) = mpsc::channel();
        let mut process = Process {
            child: command.spawn().expect("spawn authd serve"),
            base: String::new(),
            logs,
        };
        let stderr = process.child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut seen = Vec::new();
        while process.base.is_empty() {
            let line = process.logs.recv_timeout(Duration::from_secs(20));
            let line = line.unwrap_or_else(|_| panic!("no listening line in {seen:?}"));
            if let Some(address) = line.split("address=").nth(1) {
                process.base = format!("http://{}", address.split_whitespace().next().unwrap());
            }
            seen.push(line);
        }
        process
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (from an async test).
    fn exit_code(&mut self) -> Option<i32> {
        tokio::task::block_in_place(|| self.child.wait().unwrap().code())
    }
}

fn serve(db: &TestDb) -> Command {
    let mut command = db.authd();
    command
        .env("AUTHD_LOG__LEVEL", "info")
        .args(["serve", "--bind", "127.0.0.1:0"]);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_fifty_requests_in_flight_loses_none() {
    let db = TestDb::sqlite();
    let mut command = serve(&db);
    command
        .env("SECRET_KEY", TEST_SECRET)
        .env("AUTHD_PASSWORD__MEMORY_KIB", "19456")
        .env("AUTHD_PASSWORD__ITERATIONS", "2")
        .env("AUTHD_PASSWORD__HASH_WORKERS", "1")
        .env("AUTHD_PASSWORD__HASH_QUEUE", "100");
    let mut process = Process::start(command);
    let client = reqwest::Client::new();
    let url = format!("{}/api/auth/login/", process.base);
    let logins = (0..50).map(|i| {
        client.post(&url).json(
            &json!({"email": format!("user{i}@example.com"), "password": "correct horse battery"}),
        )
    });
    let (replies, ()) = tokio::join!(all_at_once(logins), async {
        // Fifty hashes on one worker take far longer than this: most are still queued.
        tokio::time::sleep(Duration::from_millis(150)).await;
        process.terminate();
    });
    for reply in replies {
        reply.assert_problem(401, "invalid_credentials");
    }
    assert_eq!(process.exit_code(), Some(0));
    let logs: Vec<String> = process.logs.try_iter().collect();
    assert!(
        logs.iter().any(|l| l.contains("SIGTERM received")),
        "{logs:?}"
    );
    assert!(
        reqwest::get(format!("{}/healthz", process.base))
            .await
            .is_err(),
        "the listener is closed"
    );
}

#[test]
fn a_configured_server_without_a_secret_refuses_to_start() {
    let db = TestDb::sqlite();
    let output = serve(&db).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("no signing secret: set SECRET_KEY or jwt.keys"),
        "{message}"
    );
    assert_eq!(
        message.lines().filter(|l| l.starts_with("authd: ")).count(),
        1,
        "{message}"
    );
}

#[test]
fn an_unmigrated_postgres_is_a_clear_startup_error() {
    let Some(db) =
        TestDb::postgres("serve_process::an_unmigrated_postgres_is_a_clear_startup_error")
    else {
        return;
    };
    let output = serve(&db).env("SECRET_KEY", TEST_SECRET).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("run `authd migrate`"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_with_no_configuration_serves_in_development_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"]);
    let mut process = Process::start(command);
    let key = std::fs::metadata(dir.path().join("authd.key")).expect("a generated key file");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    assert!(
        dir.path().join("authd.db").exists(),
        "the default SQLite database, migrated"
    );

    let client = reqwest::Client::new();
    let register = client
        .post(format!("{}/api/auth/register/", process.base))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), StatusCode::CREATED);
    let login = client
        .post(format!("{}/api/auth/login/", process.base))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        !cookie.contains("Secure"),
        "plain-http development cookie: {cookie}"
    );
    process.terminate();
    assert_eq!(process.exit_code(), Some(0));
    let logs: Vec<String> = process.logs.try_iter().collect();
    assert!(
        !logs.iter().any(|l| l.contains("correct horse")),
        "no password in the logs"
    );
}
