//! Throttling over real HTTP, with the in-process limiter and with Redis:
//! limits, headers, identities, sliding, several instances, and Redis
//! outages (on a private redis-server this suite starts and kills).

use crate::common;

use std::time::{Duration, Instant};

use authd::config::{ConnectionUrl, ThrottleFallback};
use authd::throttle::{window_key, ClientNet, Identity, Scope, REFUSAL_MEMORY};
use common::redis_server::PrivateRedis;
use common::server::{Reply, TestServer};
use common::{redis_url, unique_prefix, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;

common::on_both_limiters!(
    the_sixth_login_in_a_minute_is_429_with_the_headers,
    another_email_from_the_same_ip_has_its_own_window,
    registration_is_counted_per_ip_before_the_body_is_read,
    the_window_slides_exactly,
    a_spoofed_forwarded_for_does_not_change_the_identity,
    behind_a_trusted_proxy_clients_are_told_apart,
);

/// A server on a fresh SQLite database whose limits are the defaults of
/// API.md unless `tweak` says otherwise.
async fn start(
    redis: Option<String>,
    prefix: &str,
    tweak: impl FnOnce(&mut authd::config::Config),
) -> (TestServer, TestDb) {
    let db = TestDb::sqlite();
    let prefix = prefix.to_string();
    let server = TestServer::start(&db, move |config| {
        config.throttle.rates = authd::config::ThrottleRates::default();
        config.redis.url = redis.map(ConnectionUrl::new);
        config.redis.key_prefix = prefix;
        tweak(config);
    })
    .await;
    (server, db)
}

async fn login(server: &TestServer, email: &str) -> Reply {
    server
        .post(
            "/api/auth/login/",
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await
}

async fn the_sixth_login_in_a_minute_is_429_with_the_headers(redis: Option<String>) {
    let (server, _db) = start(redis, &unique_prefix(), |_| {}).await;
    for remaining in (0..5).rev() {
        let reply = login(&server, "ada@example.com").await;
        reply.assert_problem(401, "invalid_credentials");
        assert_eq!(reply.header("ratelimit-policy"), Some("\"login\";q=5;w=60"));
        assert_eq!(reply.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        assert!(reply
            .header("ratelimit")
            .unwrap()
            .starts_with(&format!("\"login\";r={remaining};t=")));
        assert!(reply.header("retry-after").is_none());
    }
    let refused = login(&server, "ADA@example.com ").await;
    refused.assert_problem(429, "throttled");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        refused.header("ratelimit"),
        Some(format!("\"login\";r=0;t={retry_after}").as_str())
    );
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        refused.header("x-ratelimit-reset"),
        Some(retry_after.to_string().as_str())
    );
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("{retry_after} seconds")));

    let malformed = server
        .post("/api/auth/login/", json!({"email": "ada@example.com"}))
        .await;
    malformed.assert_problem(429, "throttled");
    let other_scope = server.call(Method::GET, "/healthz", None, None).await;
    assert!(
        other_scope.header("ratelimit").is_none(),
        "only throttled scopes carry the headers"
    );
}

async fn another_email_from_the_same_ip_has_its_own_window(redis: Option<String>) {
    // The per-IP layer (`login_ip`, 5 a minute) would otherwise refuse bob.
    let (server, _db) = start(redis, &unique_prefix(), |c| {
        c.throttle.rates.login_ip = "100/minute".parse().unwrap()
    })
    .await;
    for _ in 0..5 {
        login(&server, "ada@example.com").await;
    }
    login(&server, "ada@example.com")
        .await
        .assert_problem(429, "throttled");
    let other = login(&server, "bob@example.com").await;
    other.assert_problem(401, "invalid_credentials");
    assert_eq!(other.header("x-ratelimit-remaining"), Some("4"));
}

async fn registration_is_counted_per_ip_before_the_body_is_read(redis: Option<String>) {
    let (server, _db) = start(redis, &unique_prefix(), |c| {
        c.throttle.rates.registration = "2/hour".parse().unwrap()
    })
    .await;
    let register = |email: &str| {
        server.post(
            "/api/auth/register/",
            json!({"email": email, "password": "correct horse battery"}),
        )
    };
    assert_eq!(register("a@example.com").await.status, StatusCode::CREATED);
    let invalid = server
        .post("/api/auth/register/", json!({"email": "not an email"}))
        .await;
    invalid.assert_problem(400, "validation_error");
    assert_eq!(
        invalid.header("x-ratelimit-remaining"),
        Some("0"),
        "every attempt counts"
    );
    let refused = register("c@example.com").await;
    refused.assert_problem(429, "throttled");
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"registration\";q=2;w=3600")
    );
    let garbage = server
        .client
        .post(server.url("/api/auth/register/"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        garbage.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "refused before the body is even read"
    );
}

async fn the_window_slides_exactly(redis: Option<String>) {
    let (server, _db) = start(redis, &unique_prefix(), |c| {
        c.throttle.rates.login = "3/2s".parse().unwrap()
    })
    .await;
    let before_first = Instant::now();
    login(&server, "ada@example.com").await;
    let after_first = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    login(&server, "ada@example.com").await;
    login(&server, "ada@example.com").await;
    let refused = login(&server, "ada@example.com").await;
    refused.assert_problem(429, "throttled");
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"login\";q=3;w=2")
    );
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");

    // The first request was recorded after `before_first`: until 2 s after that it is in the window.
    tokio::time::sleep_until((before_first + Duration::from_millis(1_800)).into()).await;
    login(&server, "ada@example.com")
        .await
        .assert_problem(429, "throttled");
    // It was recorded before `after_first`: 2 s later it has left, and exactly one slot is free.
    tokio::time::sleep_until((after_first + Duration::from_millis(2_050)).into()).await;
    let passes = login(&server, "ada@example.com").await;
    passes.assert_problem(401, "invalid_credentials");
    assert_eq!(passes.header("x-ratelimit-remaining"), Some("0"));
    login(&server, "ada@example.com")
        .await
        .assert_problem(429, "throttled");
}

async fn a_spoofed_forwarded_for_does_not_change_the_identity(redis: Option<String>) {
    let (server, _db) = start(redis, &unique_prefix(), |_| {}).await;
    for i in 0..6 {
        let reply = server
            .client
            .post(server.url("/api/auth/login/"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .header("forwarded", format!("for=198.51.100.{i}"))
            .json(&json!({"email": "ada@example.com", "password": "x"}))
            .send()
            .await
            .unwrap();
        let expected = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(reply.status(), expected, "request {i}");
    }
}

async fn behind_a_trusted_proxy_clients_are_told_apart(redis: Option<String>) {
    let (server, _db) = start(redis, &unique_prefix(), |c| {
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]
    })
    .await;
    let from = |client: &'static str| {
        server
            .client
            .post(server.url("/api/auth/login/"))
            .header("x-forwarded-for", format!("6.6.6.6, {client}"))
            .json(&json!({"email": "ada@example.com", "password": "x"}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            from("198.51.100.1").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("198.51.100.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        from("198.51.100.2").await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "another client behind the proxy"
    );
}

#[test]
fn two_hundred_logins_over_two_instances_sharing_redis_let_exactly_five_through() {
    let Some(url) = redis_url("api_throttle::two_hundred_logins_over_two_instances_sharing_redis")
    else {
        return;
    };
    common::server::runtime().block_on(async {
        let prefix = unique_prefix();
        let db = TestDb::sqlite();
        let configure = |c: &mut authd::config::Config| {
            c.throttle.rates = authd::config::ThrottleRates::default();
            c.redis.url = Some(ConnectionUrl::new(url.clone()));
            c.redis.key_prefix = prefix.clone();
        };
        let first = TestServer::start(&db, configure).await;
        let second = TestServer::start(&db, configure).await;
        let login = json!({"email": "ada@example.com", "password": "correct horse battery"});
        let replies = common::server::all_at_once((0..200).map(|i| {
            let server = if i % 2 == 0 { &first } else { &second };
            server
                .client
                .post(server.url("/api/auth/login/"))
                .json(&login)
        }))
        .await;
        let mut passed = 0;
        let mut throttled = 0;
        for reply in replies {
            match reply.status {
                StatusCode::TOO_MANY_REQUESTS => throttled += 1,
                StatusCode::UNAUTHORIZED => passed += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!((passed, throttled), (5, 195));
    });
}

/// The server's count of throttle decisions asked of Redis.
async fn redis_calls(server: &TestServer) -> u64 {
    let metrics = server.call(Method::GET, "/metrics", None, None).await;
    metrics
        .text
        .lines()
        .find_map(|line| line.strip_prefix("authd_throttle_redis_calls_total "))
        .expect("the metric is exposed")
        .parse()
        .unwrap()
}

#[test]
fn a_refusal_that_stands_is_answered_without_redis_and_clearing_ends_it() {
    let Some(url) = redis_url("api_throttle::a_refusal_that_stands_is_answered_without_redis")
    else {
        return;
    };
    common::server::runtime().block_on(async {
        let prefix = unique_prefix();
        // Only the login window is cleared below: the per-IP layer must not bind.
        let (server, _db) = start(Some(url.clone()), &prefix, |c| {
            c.throttle.rates.login_ip = "100/minute".parse().unwrap()
        })
        .await;
        for _ in 0..5 {
            login(&server, "ada@example.com").await;
        }
        let before = redis_calls(&server).await;
        let started = Instant::now();
        for _ in 0..50 {
            let refused = login(&server, "ada@example.com").await;
            refused.assert_problem(429, "throttled");
            assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
            let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry_after), "{retry_after}");
        }
        let elapsed = started.elapsed();
        let calls = redis_calls(&server).await - before;
        // One call learns the refusal, then at most one per REFUSAL_MEMORY.
        let most = 2 + elapsed.as_millis() / REFUSAL_MEMORY.as_millis();
        assert!(
            u128::from(calls) <= most && calls < 50,
            "{calls} Redis calls for 50 refusals in {elapsed:?}"
        );
        assert_eq!(counted_in_redis(&url, &prefix, "ada@example.com"), 5);

        // `authd throttle clear` deletes the window: the server lets her in
        // once the refusal it remembers has run out.
        let identity = Identity {
            email: Some("ada@example.com".into()),
            ..Identity::client(ClientNet::new("127.0.0.1".parse().unwrap(), 64))
        };
        let key = format!("{prefix}{}", window_key(Scope::Login, &identity));
        let mut connection = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let _: i64 = redis::cmd("DEL").arg(&key).query(&mut connection).unwrap();
        let status = common::server::within_bound(
            || async { login(&server, "ada@example.com").await.status },
            StatusCode::UNAUTHORIZED,
            REFUSAL_MEMORY * 2,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "unlocked within the refusal memory"
        );
    });
}

/// Reads one window's size straight from Redis.
fn counted_in_redis(url: &str, prefix: &str, email: &str) -> i64 {
    let identity = Identity {
        email: Some(email.into()),
        ..Identity::client(ClientNet::new("127.0.0.1".parse().unwrap(), 64))
    };
    let key = format!("{prefix}{}", window_key(Scope::Login, &identity));
    let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
    redis::cmd("ZCARD").arg(key).query(&mut connection).unwrap()
}

#[test]
fn killing_redis_falls_back_to_memory_and_its_return_is_used() {
    let Some(mut redis) = PrivateRedis::start("api_throttle::killing_redis_falls_back_to_memory")
    else {
        return;
    };
    common::server::runtime().block_on(async {
        let prefix = unique_prefix();
        let (server, _db) = start(Some(redis.url()), &prefix, |_| {}).await;
        login(&server, "ada@example.com")
            .await
            .assert_problem(401, "invalid_credentials");
        assert_eq!(
            counted_in_redis(&redis.url(), &prefix, "ada@example.com"),
            1
        );
        assert_eq!(
            server.call(Method::GET, "/readyz", None, None).await.body["redis"],
            "ok"
        );

        redis.kill();
        let started = Instant::now();
        for i in 0..6 {
            let reply = login(&server, "bob@example.com").await;
            assert!(
                reply.status.as_u16() < 500,
                "no 5xx during the outage: {}",
                reply.text
            );
            let expected = if i < 5 { 401 } else { 429 };
            assert_eq!(
                reply.status.as_u16(),
                expected,
                "the memory fallback enforces the same limit"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the outage costs at most one timeout per probe"
        );
        let ready = server.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(
            ready.status,
            StatusCode::OK,
            "still ready with the memory fallback"
        );
        let errors = ready.body["redis_errors"].as_u64().unwrap();
        assert!(errors >= 1, "the outage is counted: {}", ready.text);
        assert_eq!(
            (
                ready.body["redis"].as_str(),
                ready.body["throttle_fallback"].as_str()
            ),
            (Some("unavailable"), Some("memory"))
        );

        redis.restart();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            login(&server, "carol@example.com").await;
            if counted_in_redis(&redis.url(), &prefix, "carol@example.com") > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Redis was not used again after it came back"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            server.call(Method::GET, "/readyz", None, None).await.body["redis"],
            "ok"
        );
    });
}

#[test]
fn with_deny_a_redis_outage_answers_503() {
    let Some(mut redis) = PrivateRedis::start("api_throttle::with_deny_a_redis_outage_answers_503")
    else {
        return;
    };
    common::server::runtime().block_on(async {
        let (server, _db) = start(Some(redis.url()), &unique_prefix(), |c| {
            c.throttle.on_redis_error = ThrottleFallback::Deny
        })
        .await;
        redis.kill();
        let reply = login(&server, "ada@example.com").await;
        reply.assert_problem(503, "service_unavailable");
        assert!(reply.header("retry-after").is_some());
        let ready = server.call(Method::GET, "/readyz", None, None).await;
        ready.assert_problem(503, "service_unavailable");
        assert_eq!(ready.body["redis"], "unavailable");
        assert_eq!(
            server
                .call(Method::GET, "/healthz", None, None)
                .await
                .status,
            StatusCode::OK
        );
    });
}
