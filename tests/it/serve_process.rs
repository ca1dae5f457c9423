//! `authd serve` as a process: start-up rules, first-run development mode,
//! and graceful shutdown on SIGTERM.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::process::ServeProcess as Process;
use common::server::{all_at_once, TEST_SECRET};
use common::{stderr, TestDb};
use reqwest::StatusCode;
use serde_json::json;

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
        .env("AUTHD_PASSWORD__HASH_QUEUE", "100")
        // Fifty logins from one address: the per-IP layer must not refuse them.
        .env("AUTHD_THROTTLE__RATES__LOGIN_IP", "100/minute");
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
    let logs = process.logs();
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
    let logs = process.logs();
    assert!(
        !logs.iter().any(|l| l.contains("correct horse")),
        "no password in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_request_fields() {
    let db = TestDb::sqlite();
    let mut command = serve(&db);
    command
        .env("SECRET_KEY", TEST_SECRET)
        .env("AUTHD_LOG__FORMAT", "json");
    let mut process = Process::start(command);
    let client = reqwest::Client::new();
    let reply = client
        .get(format!("{}/.well-known/jwks.json", process.base))
        .header("X-Request-Id", "json-log-check")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    process.terminate();
    assert_eq!(process.exit_code(), Some(0));
    let lines = process.logs();
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let request = events
        .iter()
        .find(|e| e["request_id"] == "json-log-check")
        .unwrap_or_else(|| panic!("no request line in {lines:?}"));
    assert_eq!(request["target"], "authd::request");
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["method"], "GET");
    assert_eq!(request["route"], "/.well-known/jwks.json");
    assert_eq!(request["status"], 200);
    assert_eq!(request["client_ip"], "127.0.0.1");
    assert!(request["latency_ms"].as_f64().is_some());
    assert!(request["timestamp"].is_string());
}

/// With `log.sample_successes = 0`, successes leave no access line and
/// errors still do; a successful probe logs at debug only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_log_at_debug_and_sampling_keeps_every_error() {
    let db = TestDb::sqlite();
    let mut command = serve(&db);
    command
        .env("SECRET_KEY", TEST_SECRET)
        .env("AUTHD_LOG__FORMAT", "json")
        .env("AUTHD_LOG__SAMPLE_SUCCESSES", "0");
    let mut process = Process::start(command);
    let client = reqwest::Client::new();
    for (path, id, status) in [
        ("/healthz", "probe", StatusCode::OK),
        ("/.well-known/jwks.json", "sampled-away", StatusCode::OK),
        ("/api/auth/me/", "refused", StatusCode::UNAUTHORIZED),
    ] {
        let reply = client
            .get(format!("{}{path}", process.base))
            .header("X-Request-Id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), status, "{path}");
    }
    process.terminate();
    assert_eq!(process.exit_code(), Some(0));
    let events: Vec<serde_json::Value> = process
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let logged = |id: &str| events.iter().find(|e| e["request_id"] == id).cloned();
    assert_eq!(logged("probe"), None, "a successful probe logs at debug");
    assert_eq!(logged("sampled-away"), None, "no success is sampled at 0");
    let refused = logged("refused").expect("an error is always logged");
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["level"], "INFO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_bind_serves_metrics_on_its_own_address_only() {
    let db = TestDb::sqlite();
    let metrics_address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut command = serve(&db);
    command
        .env("SECRET_KEY", TEST_SECRET)
        .env("AUTHD_METRICS__BIND", metrics_address.to_string());
    let process = Process::start(command);
    let client = reqwest::Client::new();
    let public = client
        .get(format!("{}/metrics", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let mut scraped = None;
    for _ in 0..50 {
        if let Ok(reply) = client
            .get(format!("http://{metrics_address}/metrics"))
            .send()
            .await
        {
            scraped = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scraped = scraped.expect("the metrics listener answers");
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.unwrap();
    assert!(
        text.contains(
            "authd_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"
        ),
        "{text}"
    );
    let api = client
        .get(format!("http://{metrics_address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND, "only /metrics there");
}
