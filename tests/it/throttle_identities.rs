//! Whom the throttle counts, and that no client can slip out of it: a flood
//! of invented identities does not reset a lockout (in memory and in the
//! Redis fallback), a client-written `Forwarded` header does not choose the
//! client IP, one IP cannot spray logins or reset requests across emails,
//! IPv6 clients are counted per network, and the old password of a password
//! change cannot be guessed without limit.

use crate::common;

use authd::config::{Config, ConnectionUrl, ForwardedHeader, ThrottleRates};
use common::redis_server::PrivateRedis;
use common::server::{access, Reply, TestServer, PASSWORD};
use common::{unique_prefix, TestDb};
use reqwest::StatusCode;
use serde_json::json;

common::on_both_limiters!(
    a_client_written_forwarded_header_is_ignored,
    one_ip_spraying_emails_cannot_keep_others_from_logging_in,
    one_ip_spraying_reset_requests_is_stopped,
    ipv6_clients_are_counted_per_network,
    the_old_password_cannot_be_guessed_without_limit,
);

/// A server with API.md's default rates (changed by `tweak`), behind a
/// trusted proxy on loopback, so tests choose client IPs with
/// `X-Forwarded-For`.
async fn start(redis: Option<String>, tweak: impl FnOnce(&mut Config)) -> (TestServer, TestDb) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, move |c| {
        c.throttle.rates = ThrottleRates::default();
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.redis.url = redis.map(ConnectionUrl::new);
        c.redis.key_prefix = unique_prefix();
        tweak(c);
    })
    .await;
    (server, db)
}

/// POSTs `body` to `path` with extra `headers`.
async fn post(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: serde_json::Value,
) -> Reply {
    let mut request = server.client.post(server.url(path)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Reply::from(request.send().await.unwrap()).await
}

/// A login from client `ip` (through the trusted proxy).
async fn login_from(server: &TestServer, ip: &str, email: &str, password: &str) -> Reply {
    post(
        server,
        "/api/auth/login/",
        &[("x-forwarded-for", ip)],
        json!({"email": email, "password": password}),
    )
    .await
}

async fn a_client_written_forwarded_header_is_ignored(redis: Option<String>) {
    let (server, _db) = start(redis.clone(), |_| {}).await;
    // The proxy sets X-Forwarded-For (the real client); the client wrote
    // its own Forwarded, different each time.
    for i in 0..12 {
        let spoofed = format!("for=198.51.100.{i}");
        let reply = post(
            &server,
            "/api/auth/login/",
            &[("x-forwarded-for", "203.0.113.7"), ("forwarded", &spoofed)],
            json!({"email": "ada@example.com", "password": "guess"}),
        )
        .await;
        let expected = if i < 5 { 401 } else { 429 };
        assert_eq!(
            reply.status.as_u16(),
            expected,
            "attempt {i}: {}",
            reply.text
        );
    }
    // Nothing was charged to the addresses the client named.
    let victim = login_from(&server, "198.51.100.1", "ada@example.com", "guess").await;
    victim.assert_problem(401, "invalid_credentials");
    assert_eq!(victim.header("x-ratelimit-remaining"), Some("4"));

    // A proxy that sets Forwarded: then X-Forwarded-For is the client's.
    let (server, _db) = start(redis, |c| {
        c.http.forwarded_header = ForwardedHeader::Forwarded
    })
    .await;
    for i in 0..6 {
        let spoofed = format!("198.51.100.{i}");
        let reply = post(
            &server,
            "/api/auth/login/",
            &[
                ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
                ("x-forwarded-for", &spoofed),
            ],
            json!({"email": "ada@example.com", "password": "guess"}),
        )
        .await;
        let expected = if i < 5 { 401 } else { 429 };
        assert_eq!(
            reply.status.as_u16(),
            expected,
            "attempt {i}: {}",
            reply.text
        );
    }
}

async fn one_ip_spraying_emails_cannot_keep_others_from_logging_in(redis: Option<String>) {
    let (server, _db) = start(redis, |_| {}).await;
    server.register("ada@example.com").await;
    let mut throttled = 0;
    for i in 0..30 {
        let email = format!("nobody{i}@example.com");
        let reply = login_from(&server, "203.0.113.9", &email, "guess").await;
        match reply.status.as_u16() {
            401 => assert!(i < 5, "attempt {i} passed"),
            429 => {
                throttled += 1;
                assert_eq!(
                    reply.header("ratelimit-policy"),
                    Some("\"login_ip\";q=5;w=60"),
                    "the per-IP scope binds"
                );
                assert!(reply.header("retry-after").is_some());
            }
            other => panic!("attempt {i}: {other} {}", reply.text),
        }
    }
    assert_eq!(
        throttled, 25,
        "five attempts a minute per IP, whatever the email"
    );
    let ada = login_from(&server, "198.51.100.20", "ada@example.com", PASSWORD).await;
    assert_eq!(ada.status, StatusCode::OK, "{}", ada.text);
    assert_eq!(ada.header("ratelimit-policy"), Some("\"login\";q=5;w=60"));
    assert_eq!(ada.header("x-ratelimit-remaining"), Some("4"));
}

async fn one_ip_spraying_reset_requests_is_stopped(redis: Option<String>) {
    let (server, _db) = start(redis, |_| {}).await;
    let reset = |ip: &'static str, i: u32| {
        let email = format!("nobody{i}@example.com");
        let server = &server;
        async move {
            post(
                server,
                "/api/auth/password/reset/",
                &[("x-forwarded-for", ip)],
                json!({ "email": email }),
            )
            .await
        }
    };
    for i in 0..10 {
        assert_eq!(reset("203.0.113.9", i).await.status, StatusCode::ACCEPTED);
    }
    let refused = reset("203.0.113.9", 10).await;
    refused.assert_problem(429, "throttled");
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"password_reset_ip\";q=10;w=60")
    );
    assert_eq!(
        reset("198.51.100.20", 11).await.status,
        StatusCode::ACCEPTED
    );
}

async fn ipv6_clients_are_counted_per_network(redis: Option<String>) {
    let (server, _db) = start(redis.clone(), |_| {}).await;
    let guess = |ip: &'static str| login_from(&server, ip, "ada@example.com", "guess");
    // Five addresses of one /64: one client.
    for ip in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:aaaa::3",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
        "[2001:db8:1:2::5]:4711",
    ] {
        guess(ip).await.assert_problem(401, "invalid_credentials");
    }
    guess("2001:db8:1:2:1234::6")
        .await
        .assert_problem(429, "throttled");
    guess("2001:db8:1:3::1")
        .await
        .assert_problem(401, "invalid_credentials");

    // IPv4-mapped IPv6 is the IPv4 address.
    for ip in [
        "::ffff:192.0.2.9",
        "[::ffff:192.0.2.9]:80",
        "192.0.2.9",
        "::ffff:c000:209",
        "192.0.2.9",
    ] {
        guess(ip).await.assert_problem(401, "invalid_credentials");
    }
    guess("192.0.2.9").await.assert_problem(429, "throttled");
    guess("::ffff:192.0.2.9")
        .await
        .assert_problem(429, "throttled");

    // The prefix length is the operator's.
    let (server, _db) = start(redis, |c| c.throttle.ipv6_prefix = 48).await;
    for i in 0..5 {
        let ip = format!("2001:db8:1:{i}::1");
        login_from(&server, &ip, "ada@example.com", "guess")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    login_from(&server, "2001:db8:1:ffff::1", "ada@example.com", "guess")
        .await
        .assert_problem(429, "throttled");
}

async fn the_old_password_cannot_be_guessed_without_limit(redis: Option<String>) {
    let (server, _db) = start(redis, |c| {
        // Logins are not what this is about.
        c.throttle.rates.login = "100/minute".parse().unwrap();
        c.throttle.rates.login_ip = "100/minute".parse().unwrap();
    })
    .await;
    server.register("ada@example.com").await;
    server.register("bob@example.com").await;
    let ada = access(&server.login("ada@example.com").await);
    let change = |token: String, old: &'static str| {
        let server = &server;
        async move {
            let request = server
                .client
                .post(server.url("/api/auth/password/change/"))
                .bearer_auth(token)
                .json(&json!({"old_password": old, "new_password": "a brand new passphrase"}));
            Reply::from(request.send().await.unwrap()).await
        }
    };
    for remaining in (0..5).rev() {
        let wrong = change(ada.clone(), "not my password").await;
        wrong.assert_problem(400, "validation_error");
        assert_eq!(
            wrong.header("ratelimit-policy"),
            Some("\"password_change\";q=5;w=60")
        );
        assert_eq!(
            wrong.header("x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
    }
    let refused = change(ada.clone(), PASSWORD).await;
    refused.assert_problem(429, "throttled");
    assert!(refused.header("retry-after").is_some());
    // A fresh session of the same user is the same user.
    let again = access(&server.login("ada@example.com").await);
    change(again, PASSWORD)
        .await
        .assert_problem(429, "throttled");
    let bob = access(&server.login("bob@example.com").await);
    assert_eq!(change(bob, PASSWORD).await.status, StatusCode::OK);
}

/// More identities than the table holds: the review sprayed 110,000 unique
/// emails at a 100,000-window table; here the table holds 100.
const TABLE: u32 = 100;
const FLOOD: u32 = 250;

fn small_table(c: &mut Config) {
    c.throttle.memory_windows = TABLE;
    // One IP sprays: the per-IP layer must let the flood in for the test.
    c.throttle.rates.login_ip = "100000/minute".parse().unwrap();
    c.throttle.rates.registration = "2/hour".parse().unwrap();
}

/// Locks out an email and a registration IP, floods more new identities
/// than the table holds, and checks both lockouts still stand.
async fn lockouts_survive_a_flood_of_new_identities(server: &TestServer) {
    for _ in 0..5 {
        login_from(server, "203.0.113.1", "ada@example.com", "guess")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    login_from(server, "203.0.113.1", "ada@example.com", "guess")
        .await
        .assert_problem(429, "throttled");
    let register = |email: String| {
        post(
            server,
            "/api/auth/register/",
            &[("x-forwarded-for", "198.51.100.66")],
            json!({"email": email, "password": PASSWORD}),
        )
    };
    for i in 0..2 {
        assert_eq!(
            register(format!("spam{i}@example.com")).await.status,
            StatusCode::CREATED
        );
    }
    register("spam2@example.com".into())
        .await
        .assert_problem(429, "throttled");

    for i in 0..FLOOD {
        let email = format!("flood{i}@example.com");
        let reply = login_from(server, "203.0.113.200", &email, "guess").await;
        assert!(
            matches!(reply.status.as_u16(), 401 | 429),
            "flood {i}: {}",
            reply.text
        );
    }

    let ada = login_from(server, "203.0.113.1", "ada@example.com", "guess").await;
    ada.assert_problem(429, "throttled");
    let retry: u64 = ada.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    register("spam3@example.com".into())
        .await
        .assert_problem(429, "throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_cannot_reset_the_in_process_limiter() {
    let (server, _db) = start(None, small_table).await;
    lockouts_survive_a_flood_of_new_identities(&server).await;
    assert!(server.app.throttle.memory_windows() <= TABLE as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_cannot_reset_the_redis_fallback() {
    let Some(mut redis) =
        PrivateRedis::start("throttle_identities::a_flood_cannot_reset_the_redis_fallback")
    else {
        return;
    };
    let (server, _db) = start(Some(redis.url()), small_table).await;
    tokio::task::block_in_place(|| redis.kill());
    lockouts_survive_a_flood_of_new_identities(&server).await;
    let ready = server
        .call(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(ready.body["throttle_fallback"], "memory", "{}", ready.text);
    assert!(server.app.throttle.memory_windows() <= TABLE as usize);
}
