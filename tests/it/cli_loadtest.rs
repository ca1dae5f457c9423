//! `authd loadtest ratelimit` against real servers: 0 when the limit holds
//! across instances, 1 when a server lets more through than expected, 2 when
//! it cannot run.

use crate::common;

use common::server::{blocking, TestServer};
use common::{redis_url, stderr, stdout, unique_prefix, TestDb};
use serde_json::Value;

fn loadtest(db: &TestDb, args: &[&str]) -> (i32, Value, String) {
    let output = blocking(|| {
        db.authd()
            .args(["loadtest", "ratelimit"])
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap()
    });
    (
        output.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout(&output)).unwrap_or(Value::Null),
        stderr(&output),
    )
}

#[test]
fn the_limit_holds_across_two_instances_sharing_redis() {
    let Some(url) = redis_url("cli_loadtest::the_limit_holds_across_two_instances_sharing_redis")
    else {
        return;
    };
    common::server::runtime().block_on(async {
        let db = TestDb::sqlite();
        let prefix = unique_prefix();
        let configure = |c: &mut authd::config::Config| {
            c.throttle.rates = authd::config::ThrottleRates::default();
            c.redis.url = Some(authd::config::ConnectionUrl::new(url.clone()));
            c.redis.key_prefix = prefix.clone();
        };
        let (a, b) = (
            TestServer::start(&db, configure).await,
            TestServer::start(&db, configure).await,
        );
        let (code, summary, err) = loadtest(
            &db,
            &[
                "--url",
                &a.base,
                "--url",
                &b.base,
                "--requests",
                "120",
                "--concurrency",
                "24",
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            (summary["passed"].as_u64(), summary["throttled"].as_u64()),
            (Some(5), Some(115))
        );
        assert_eq!(summary["checks"]["every_429_had_retry_after"], true);
        assert_eq!(summary["checks"]["headers_consistent"], true);
        assert_eq!(summary["policy_limit"], 5);

        let (code, summary, _) = loadtest(
            &db,
            &[
                "--url",
                &a.base,
                "--scope",
                "password_reset",
                "--requests",
                "20",
            ],
        );
        assert_eq!((code, summary["passed"].as_u64()), (0, Some(3)));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_higher_rate_fails_the_check() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |c| {
        c.throttle.rates = authd::config::ThrottleRates::default();
        c.throttle.rates.login = "8/minute".parse().unwrap();
        c.throttle.rates.login_ip = "100/minute".parse().unwrap();
    })
    .await;
    let (code, summary, err) = loadtest(
        &db,
        &["--url", &server.base, "--requests", "30", "--expect", "5"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(summary["passed"], 8);
    assert!(
        err.contains("the limit did not hold: 8 passed, 5 expected"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_expect_the_servers_announced_limit_is_checked() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |c| {
        c.throttle.rates = authd::config::ThrottleRates::default();
        c.throttle.rates.login = "10/minute".parse().unwrap();
        c.throttle.rates.login_ip = "100/minute".parse().unwrap();
    })
    .await;
    let (code, summary, err) = loadtest(&db, &["--url", &server.base, "--requests", "30"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (
            summary["passed"].as_u64(),
            summary["checks"]["expected"].as_u64()
        ),
        (Some(10), Some(10))
    );
}

/// Each run is a fresh client on loopback, so a run does not spend the
/// quota of the next (registration allows 10 an hour per address); a run
/// that finds its client's window partly spent says so instead of
/// reporting a limit that failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_runs_do_not_spend_each_others_quota() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |c| {
        c.throttle.rates = authd::config::ThrottleRates::default();
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for run in 0..2 {
        let (code, summary, err) = loadtest(
            &db,
            &[
                "--url",
                &server.base,
                "--scope",
                "registration",
                "--requests",
                "12",
            ],
        );
        assert_eq!(
            (code, summary["passed"].as_u64()),
            (0, Some(10)),
            "run {run}: {err}"
        );
    }
    let same_client = [
        "--url",
        &server.base,
        "--scope",
        "registration",
        "--requests",
        "12",
        "--forwarded-for",
        "198.51.100.77",
    ];
    let (code, _, err) = loadtest(&db, &same_client);
    assert_eq!(code, 0, "{err}");
    let (code, summary, err) = loadtest(&db, &same_client);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already partly spent (0 of 10 left") && err.contains("authd throttle clear"),
        "{err}"
    );
    assert_eq!(
        summary,
        Value::Null,
        "no table claims anything about the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scope_and_a_trusted_proxys_clients_are_checked() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |c| {
        c.throttle.rates = authd::config::ThrottleRates::default();
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (code, summary, err) = loadtest(
        &db,
        &[
            "--url",
            &server.base,
            "--scope",
            "registration",
            "--requests",
            "15",
        ],
    );
    assert_eq!((code, summary["passed"].as_u64()), (0, Some(10)), "{err}");
    for client in ["198.51.100.1", "198.51.100.2"] {
        let (code, summary, err) = loadtest(
            &db,
            &[
                "--url",
                &server.base,
                "--scope",
                "password_reset_completion",
                "--forwarded-for",
                client,
                "--requests",
                "12",
            ],
        );
        assert_eq!(
            (code, summary["passed"].as_u64()),
            (0, Some(10)),
            "{client}: {err}"
        );
    }
    // The per-client scopes: a new email each time, so only they bind.
    for (scope, client, passed) in [
        ("login_ip", "198.51.100.3", 5),
        ("password_reset_ip", "198.51.100.4", 10),
    ] {
        let (code, summary, err) = loadtest(
            &db,
            &[
                "--url",
                &server.base,
                "--scope",
                scope,
                "--forwarded-for",
                client,
                "--requests",
                "15",
            ],
        );
        assert_eq!(
            (code, summary["passed"].as_u64()),
            (0, Some(passed)),
            "{scope}: {err}"
        );
    }
    let (code, summary, _) = loadtest(
        &db,
        &[
            "--url",
            &server.base,
            "--duration",
            "1s",
            "--concurrency",
            "4",
        ],
    );
    assert_eq!(code, 0, "a throughput run has no limit to check");
    assert!(summary["sent"].as_u64().unwrap() > 5);
    assert!(summary["checks"]["limit_held"].is_null());
}

#[test]
fn it_cannot_run_without_a_server_or_with_bad_arguments() {
    let db = TestDb::sqlite();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for args in [
        vec![
            "--url".to_string(),
            format!("http://127.0.0.1:{port}"),
            "--requests".into(),
            "3".into(),
        ],
        vec!["--url".into(), "not a url".into()],
        vec![
            "--url".into(),
            "http://127.0.0.1:1".into(),
            "--scope".into(),
            "everything".into(),
        ],
        vec![
            "--url".into(),
            "http://127.0.0.1:1".into(),
            "--requests".into(),
            "0".into(),
        ],
        vec![
            "--url".into(),
            "http://127.0.0.1:1".into(),
            "--scope".into(),
            "password_change".into(),
        ],
        vec![],
    ] {
        let output = db
            .authd()
            .args(["loadtest", "ratelimit"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            stdout(&output),
            "",
            "{args:?}: nothing measured, so no table of results"
        );
    }
}
