//! `/metrics`: the Prometheus exposition parses with a Prometheus text
//! parser, and its counters move with what the server does.

mod common;

use common::server::TestServer;
use common::TestDb;
use prometheus_parse::{Sample, Scrape, Value};
use reqwest::Method;
use serde_json::json;

async fn scrape(server: &TestServer) -> Scrape {
    let reply = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = reply.text().await.unwrap();
    Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).expect("valid exposition")
}

/// The value of the sample named `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(number)
}

fn number(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
        Value::Summary(_) => panic!("no summaries here"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_after_a_login_and_a_throttled_request() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.throttle.rates.login = "2/minute".parse().unwrap();
    })
    .await;
    let before = scrape(&server).await;
    assert_eq!(
        value(&before, "authd_logins_total", &[("outcome", "success")]),
        None
    );
    assert_eq!(value(&before, "authd_build_info", &[]), Some(1.0));
    assert!(value(&before, "authd_db_connections", &[("state", "idle")]).is_some());

    server.register("ada@example.com").await;
    server.login("ada@example.com").await;
    let wrong = json!({"email": "ada@example.com", "password": "not the password"});
    server
        .post("/api/auth/login/", wrong.clone())
        .await
        .assert_problem(401, "invalid_credentials");
    server
        .post("/api/auth/login/", wrong)
        .await
        .assert_problem(429, "throttled");

    let after = scrape(&server).await;
    let count = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels).unwrap_or(0.0);
    assert_eq!(count("authd_logins_total", &[("outcome", "success")]), 1.0);
    assert_eq!(
        count("authd_logins_total", &[("outcome", "invalid_credentials")]),
        1.0
    );
    assert_eq!(
        count("authd_logins_total", &[("outcome", "throttled")]),
        1.0
    );
    let login = [("scope", "login")];
    assert_eq!(
        count(
            "authd_throttle_decisions_total",
            &[login[0], ("outcome", "allowed")]
        ),
        2.0
    );
    assert_eq!(
        count(
            "authd_throttle_decisions_total",
            &[login[0], ("outcome", "throttled")]
        ),
        1.0
    );
    let route = ("route", "/api/auth/login/");
    assert_eq!(
        count(
            "authd_http_requests_total",
            &[route, ("method", "POST"), ("status", "429")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "authd_http_requests_total",
            &[route, ("method", "POST"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "authd_http_requests_total",
            &[("route", "/api/auth/register/"), ("status", "201")]
        ),
        1.0
    );
    // Three requests reached the login handler's latency histogram.
    assert_eq!(count("authd_http_request_duration_seconds", &[route]), 3.0);
    // Register and two logins hashed; the throttled one did not.
    assert_eq!(count("authd_hashing_wait_seconds", &[]), 3.0);
    assert_eq!(count("authd_hashing_queue_depth", &[]), 0.0);
    assert_eq!(count("authd_db_errors_total", &[]), 0.0);
    assert_eq!(count("authd_throttle_fallback_active", &[]), 0.0);
    assert_eq!(
        count("authd_reset_emails_total", &[("outcome", "sent")]),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_emails_and_unknown_paths_are_counted_without_minting_labels() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    server.register("ada@example.com").await;
    let reply = server
        .post(
            "/api/auth/password/reset/",
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(reply.status, 202);
    for path in ["/nothing/1", "/nothing/2", "/nothing/3"] {
        server
            .call(Method::GET, path, None, None)
            .await
            .assert_problem(404, "not_found");
    }
    server
        .call(Method::from_bytes(b"BREW").unwrap(), "/healthz", None, None)
        .await
        .assert_problem(405, "method_not_allowed");

    // The email goes out from a background job.
    let mut sent = 0.0;
    for _ in 0..100 {
        let now = scrape(&server).await;
        sent = value(&now, "authd_reset_emails_total", &[("outcome", "sent")]).unwrap_or(0.0);
        if sent > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sent, 1.0);
    let now = scrape(&server).await;
    assert_eq!(
        value(
            &now,
            "authd_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &now,
            "authd_http_requests_total",
            &[
                ("route", "/healthz"),
                ("method", "other"),
                ("status", "405")
            ]
        ),
        Some(1.0)
    );
}

/// Database calls made by `n` GET /me with one token, on a server whose
/// revocation cache lives `ttl`.
async fn db_calls_for_me_requests(ttl: authd::config::Duration, n: usize) -> f64 {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| config.jwt.revocation_cache_ttl = ttl).await;
    server.register("ada@example.com").await;
    let token = common::server::access(&server.login("ada@example.com").await);
    let calls = |scrape: &Scrape| value(scrape, "authd_db_calls_total", &[]).unwrap();
    let before = calls(&scrape(&server).await);
    for _ in 0..n {
        assert_eq!(server.get("/api/auth/me/", &token).await.status, 200);
    }
    calls(&scrape(&server).await) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_checks_query_the_database_once_per_cache_lifetime() {
    // A TTL far longer than the requests take: one query serves them all.
    let cached = db_calls_for_me_requests(authd::config::Duration::secs(1), 20).await;
    assert_eq!(cached, 1.0, "one query for 20 requests within the TTL");
    let uncached = db_calls_for_me_requests(authd::config::Duration::secs(0), 20).await;
    assert_eq!(uncached, 20.0, "with the cache off, a query per request");
}
