//! `/metrics`: the Prometheus exposition parses with a Prometheus text
//! parser, and its counters move with what the server does.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::server::{Reply, TestServer};
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
    assert_eq!(count("authd_reset_requests_total", &[]), 0.0);
    assert_eq!(count("authd_reset_emails_abandoned_total", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_requests_and_unknown_paths_are_counted_without_minting_labels() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    server.register("ada@example.com").await;
    for email in ["ada@example.com", "nobody@example.com"] {
        let reply = server
            .post("/api/auth/password/reset/", json!({ "email": email }))
            .await;
        assert_eq!(reply.status, 202);
    }
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

    let now = scrape(&server).await;
    assert_eq!(value(&now, "authd_reset_requests_total", &[]), Some(2.0));
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

/// Every counter of a scrape (a histogram by its count), by name and
/// labels; gauges (states, not events) and the database's process-wide
/// call counts (background work included) left out.
fn counters(scrape: &Scrape) -> BTreeMap<String, f64> {
    scrape
        .samples
        .iter()
        .filter(|s| !matches!(s.value, Value::Gauge(_)))
        .filter(|s| !s.metric.starts_with("authd_db_") && !s.metric.ends_with("_sum"))
        .map(|s| {
            let mut labels: Vec<_> = s.labels.iter().collect();
            labels.sort();
            (format!("{}{labels:?}", s.metric), number(s))
        })
        .collect()
}

/// What moved between two scrapes.
fn moved(before: &Scrape, after: &Scrape) -> BTreeMap<String, f64> {
    let before = counters(before);
    counters(after)
        .into_iter()
        .map(|(key, value)| {
            let delta = value - before.get(&key).copied().unwrap_or(0.0);
            (key, delta)
        })
        .filter(|(_, delta)| *delta != 0.0)
        .collect()
}

/// The request for an existing account is answered, its email sent and its
/// queue row gone before the second scrape; the unknown email's request is
/// given as long. Both move every counter alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_for_a_known_and_an_unknown_email_moves_the_metrics_alike() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    server.register("ada@example.com").await;
    let outbox = db.dir().join("outbox");
    let sent = || std::fs::read_dir(&outbox).map_or(0, |d| d.count());
    let queued =
        || common::server::blocking(|| db.query_i64("SELECT count(*) FROM password_reset_queue"));

    let mut deltas = Vec::new();
    let mut before = scrape(&server).await;
    for email in ["ada@example.com", "nobody@example.com"] {
        let reply = server
            .post("/api/auth/password/reset/", json!({ "email": email }))
            .await;
        assert_eq!(reply.status, 202);
        let started = std::time::Instant::now();
        while (sent() == 0 || queued() > 0) && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = scrape(&server).await;
        deltas.push(moved(&before, &after));
        before = after;
    }
    assert_eq!(sent(), 1, "ada got her email");
    assert!(
        deltas[0]
            .keys()
            .any(|k| k.starts_with("authd_reset_requests_total")),
        "{deltas:#?}"
    );
    assert_eq!(deltas[0], deltas[1], "known, then unknown");
}

/// `http.trusted_proxies` set to the local proxy, default `metrics`: the
/// proxy's own scrape passes (loopback), a public client's request relayed
/// by it gets the 404 of an unknown path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_served_to_public_clients_by_default() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let relayed = get_metrics(&server, Some("203.0.113.9")).await;
    relayed.assert_problem(404, "not_found");
    let spoofed = get_metrics(&server, Some("127.0.0.1, 203.0.113.9")).await;
    spoofed.assert_problem(404, "not_found");
    assert_eq!(get_metrics(&server, None).await.status, 200, "loopback");
}

/// `metrics.allow` lists the monitoring network: its clients are served
/// (through the trusted proxy), anyone else, loopback included, is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_allow_lets_in_the_listed_clients_only() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        config.metrics.allow = vec!["198.51.100.0/24".parse().unwrap()];
    })
    .await;
    let allowed = get_metrics(&server, Some("198.51.100.7")).await;
    assert_eq!(allowed.status, 200);
    assert!(allowed.text.contains("authd_build_info"));
    get_metrics(&server, Some("203.0.113.9"))
        .await
        .assert_problem(404, "not_found");
    get_metrics(&server, None)
        .await
        .assert_problem(404, "not_found");
}

/// `GET /metrics`, relayed for `forwarded_for` when given.
async fn get_metrics(server: &TestServer, forwarded_for: Option<&str>) -> Reply {
    let mut request = server.client.get(server.url("/metrics"));
    if let Some(chain) = forwarded_for {
        request = request.header("x-forwarded-for", chain);
    }
    Reply::from(request.send().await.unwrap()).await
}

/// Database calls made by `n` GET /me with one token, on a server whose
/// revocation cache lives `ttl`.
async fn db_calls_for_me_requests(ttl: authd::config::Duration, n: usize) -> f64 {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.jwt.revocation_cache_ttl = ttl;
        // The reset queue's own look for due emails would count too.
        config.reset.poll_interval = authd::config::Duration::secs(3600);
    })
    .await;
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
