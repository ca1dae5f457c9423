//! Password reset end to end: the request, a real SMTP conversation, the
//! link's token, the confirm; on the database path (SQLite, Postgres) and on
//! Redis, with concurrency, enumeration, throttling and a Redis outage.

use crate::common;

use std::time::Duration;

use authd::config::{ConnectionUrl, MailBackend, ResetStore, SmtpTls};
use common::redis_server::PrivateRedis;
use common::server::{access, all_at_once, http_suite, refresh, Reply, TestServer, PASSWORD};
use common::smtp::{Received, SmtpServer};
use common::{redis_url, unique_prefix, TestDb};
use reqwest::StatusCode;
use serde_json::json;

http_suite!(
    the_whole_flow_over_smtp_on_the_database,
    twenty_concurrent_confirms_give_one_200_on_the_database,
    known_and_unknown_emails_get_byte_identical_answers,
    both_reset_scopes_are_throttled,
);

const NEW_PASSWORD: &str = "a fresh and long passphrase";

/// A server that mails through `smtp` and keeps reset tokens in `redis`
/// (url, prefix) or, without it, in the database.
async fn start(db: &TestDb, smtp: &SmtpServer, redis: Option<(String, String)>) -> TestServer {
    let port = smtp.port;
    TestServer::start(db, move |c| {
        c.mail.backend = MailBackend::Smtp;
        c.mail.smtp.host = "127.0.0.1".into();
        c.mail.smtp.port = port;
        c.mail.smtp.tls = SmtpTls::None;
        c.mail.from = "Acme Accounts <accounts@acme.test>".into();
        // Tests may name the client with X-Forwarded-For.
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        if let Some((url, prefix)) = redis {
            c.redis.url = Some(ConnectionUrl::new(url));
            c.redis.key_prefix = prefix;
            c.reset.store = Some(ResetStore::Redis);
        }
    })
    .await
}

async fn request(server: &TestServer, email: &str) -> Reply {
    server
        .post("/api/auth/password/reset/", json!({"email": email}))
        .await
}

async fn confirm(server: &TestServer, token: &str, password: &str) -> Reply {
    server
        .post(
            "/api/auth/password/reset/confirm/",
            json!({"token": token, "new_password": password}),
        )
        .await
}

/// Requests a reset for `email` and waits for the email.
async fn reset_email(server: &TestServer, smtp: &mut SmtpServer, email: &str) -> Received {
    let reply = request(server, email).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    smtp.next(Duration::from_secs(10))
        .await
        .expect("a reset email")
}

/// The flow every store must support.
async fn flow(server: &TestServer, smtp: &mut SmtpServer) {
    server.register("ada@example.com").await;
    let before = server.login("ada@example.com").await;

    let reply = request(server, "Ada@Example.com").await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(
        reply.body,
        json!({"detail": "If an account exists for this email, a reset link has been sent."})
    );
    let mail = smtp
        .next(Duration::from_secs(10))
        .await
        .expect("a reset email");
    assert_eq!(mail.to, vec!["<ada@example.com>".to_string()]);
    assert_eq!(mail.from, "<accounts@acme.test>");
    assert_eq!(mail.subject(), "Reset your authd password");
    let token = mail.token();
    assert_eq!(token.len(), 43, "{token}");
    assert!(mail.text().contains(&format!(
        "http://localhost:8000/reset-password?token={token}"
    )));

    // A second link, sent before the first is used: the reset ends it.
    let sibling = reset_email(server, smtp, "ada@example.com").await.token();
    assert_ne!(sibling, token);

    let weak = confirm(server, &token, "password").await;
    weak.assert_problem(400, "validation_error");
    assert_eq!(
        weak.body["errors"]["new_password"],
        json!(["This password is too common."])
    );
    let done = confirm(server, &token, NEW_PASSWORD).await;
    assert_eq!(
        (done.status, done.body.clone()),
        (
            StatusCode::OK,
            json!({"detail": "Password has been reset."})
        ),
        "a weak try kept the token"
    );

    server
        .get("/api/auth/me/", &access(&before))
        .await
        .assert_problem(401, "token_not_valid");
    server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&before)}),
        )
        .await
        .assert_problem(401, "token_not_valid");
    server
        .post(
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await
        .assert_problem(401, "invalid_credentials");
    let after = server
        .post(
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(after.status, StatusCode::OK);

    confirm(server, &token, "yet another passphrase")
        .await
        .assert_problem(400, "reset_token_invalid");
    confirm(server, &sibling, "yet another passphrase")
        .await
        .assert_problem(400, "reset_token_invalid");

    // A password change ends the links sent before it too.
    let pending = reset_email(server, smtp, "ada@example.com").await.token();
    let changed = server
        .client
        .post(server.url("/api/auth/password/change/"))
        .bearer_auth(access(&after.body))
        .json(&json!({"old_password": NEW_PASSWORD, "new_password": "the changed passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    confirm(server, &pending, "yet another passphrase")
        .await
        .assert_problem(400, "reset_token_invalid");
    confirm(server, "not-a-token", NEW_PASSWORD)
        .await
        .assert_problem(400, "reset_token_invalid");
    confirm(server, &"A".repeat(43), NEW_PASSWORD)
        .await
        .assert_problem(400, "reset_token_invalid");
}

async fn the_whole_flow_over_smtp_on_the_database(db: &TestDb) {
    let mut smtp = SmtpServer::start().await;
    let server = start(db, &smtp, None).await;
    flow(&server, &mut smtp).await;
}

async fn concurrent_confirms(server: &TestServer, token: &str) {
    let body = json!({"token": token, "new_password": NEW_PASSWORD});
    let url = server.url("/api/auth/password/reset/confirm/");
    let replies = all_at_once((0..20).map(|_| server.client.post(&url).json(&body))).await;
    let mut ok = 0;
    for reply in replies {
        if reply.status == StatusCode::OK {
            ok += 1;
        } else {
            reply.assert_problem(400, "reset_token_invalid");
        }
    }
    assert_eq!(ok, 1, "exactly one confirm uses the token");
}

async fn twenty_concurrent_confirms_give_one_200_on_the_database(db: &TestDb) {
    let mut smtp = SmtpServer::start().await;
    let server = start(db, &smtp, None).await;
    server.register("ada@example.com").await;
    let token = reset_email(&server, &mut smtp, "ada@example.com")
        .await
        .token();
    concurrent_confirms(&server, &token).await;
}

async fn known_and_unknown_emails_get_byte_identical_answers(db: &TestDb) {
    let mut smtp = SmtpServer::start().await;
    let server = start(db, &smtp, None).await;
    server.register("ada@example.com").await;
    // Each from a client of its own: a client's second request has one
    // request less left in the per-IP scope, whatever the account.
    let from = |ip: &'static str, email: &'static str| {
        let request = server
            .client
            .post(server.url("/api/auth/password/reset/"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": email }));
        async move { Reply::from(request.send().await.unwrap()).await }
    };
    let known = from("198.51.100.1", "ada@example.com").await;
    let unknown = from("198.51.100.2", "nobody@example.com").await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.text, unknown.text, "byte-identical bodies");
    let headers = |reply: &Reply| {
        let mut list: Vec<(String, String)> = reply
            .headers
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
            .collect();
        list.sort();
        list
    };
    assert_eq!(headers(&known), headers(&unknown));
    assert!(
        smtp.next(Duration::from_secs(10)).await.is_some(),
        "the known account got its email"
    );
    assert!(
        smtp.next(Duration::from_millis(500)).await.is_none(),
        "the unknown one got nothing"
    );
}

async fn both_reset_scopes_are_throttled(db: &TestDb) {
    let smtp = SmtpServer::start().await;
    let port = smtp.port;
    let server = TestServer::start(db, move |c| {
        c.throttle.rates = authd::config::ThrottleRates::default();
        c.throttle.rates.password_reset_completion = "2/hour".parse().unwrap();
        c.mail.backend = MailBackend::Smtp;
        c.mail.smtp.port = port;
        c.mail.smtp.tls = SmtpTls::None;
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let reply = request(&server, "ada@example.com").await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        assert_eq!(reply.header("x-ratelimit-remaining"), Some(remaining));
        assert_eq!(
            reply.header("ratelimit-policy"),
            Some("\"password_reset\";q=3;w=60")
        );
    }
    let refused = request(&server, "ada@example.com").await;
    refused.assert_problem(429, "throttled");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(
        request(&server, "bob@example.com").await.status,
        StatusCode::ACCEPTED,
        "another email passes"
    );

    for _ in 0..2 {
        let reply = confirm(&server, "not-a-token", NEW_PASSWORD).await;
        reply.assert_problem(400, "reset_token_invalid");
        assert!(reply
            .header("ratelimit")
            .unwrap()
            .starts_with("\"password_reset_completion\";"));
    }
    confirm(&server, "not-a-token", NEW_PASSWORD)
        .await
        .assert_problem(429, "throttled");
}

/// Every key under `prefix`, with its TTL in seconds.
fn redis_keys(url: &str, prefix: &str) -> Vec<(String, i64, String)> {
    let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut connection)
        .unwrap();
    keys.into_iter()
        .map(|key| {
            let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut connection).unwrap();
            let value: String = redis::cmd("GET")
                .arg(&key)
                .query(&mut connection)
                .unwrap_or_default();
            (key, ttl, value)
        })
        .collect()
}

#[test]
fn the_whole_flow_over_smtp_on_redis() {
    let Some(url) = redis_url("api_reset::the_whole_flow_over_smtp_on_redis") else {
        return;
    };
    common::server::runtime().block_on(async {
        let db = TestDb::sqlite();
        let prefix = unique_prefix();
        let mut smtp = SmtpServer::start().await;
        let server = start(&db, &smtp, Some((url.clone(), prefix.clone()))).await;
        server.register("bob@example.com").await;
        let token = reset_email(&server, &mut smtp, "bob@example.com")
            .await
            .token();
        let keys = tokio::task::block_in_place(|| redis_keys(&url, &prefix));
        let resets: Vec<_> = keys
            .iter()
            .filter(|(key, _, _)| key.contains("password_reset:"))
            .collect();
        assert_eq!(resets.len(), 1, "{keys:?}");
        let (key, ttl, value) = resets[0];
        assert!((590..=600).contains(ttl), "TTL {ttl}");
        let (email, issued) = value.split_once('\n').expect("email, then issue time");
        assert_eq!(email, "bob@example.com", "the value is the account's email");
        assert!(issued.parse::<i64>().is_ok(), "{value}");
        for (key, _, _) in &keys {
            assert!(
                !key.contains(&token) && !key.contains("bob"),
                "no raw token or email in any key: {key}"
            );
        }
        assert_eq!(key.len(), prefix.len() + "password_reset:".len() + 64);
        assert_eq!(
            confirm(&server, &token, NEW_PASSWORD).await.status,
            StatusCode::OK
        );
        assert!(tokio::task::block_in_place(|| redis_keys(&url, &prefix))
            .iter()
            .all(|(k, _, _)| !k.contains("password_reset:")));

        flow(&server, &mut smtp).await;
    });
}

#[test]
fn twenty_concurrent_confirms_give_one_200_on_redis() {
    let Some(url) = redis_url("api_reset::twenty_concurrent_confirms_give_one_200_on_redis") else {
        return;
    };
    common::server::runtime().block_on(async {
        let db = TestDb::sqlite();
        let mut smtp = SmtpServer::start().await;
        let server = start(&db, &smtp, Some((url, unique_prefix()))).await;
        server.register("ada@example.com").await;
        let token = reset_email(&server, &mut smtp, "ada@example.com")
            .await
            .token();
        concurrent_confirms(&server, &token).await;
    });
}

#[test]
fn with_redis_killed_requests_and_confirms_use_the_database() {
    let Some(mut redis) =
        PrivateRedis::start("api_reset::with_redis_killed_requests_and_confirms_use_the_database")
    else {
        return;
    };
    common::server::runtime().block_on(async {
        let db = TestDb::sqlite();
        let mut smtp = SmtpServer::start().await;
        let server = start(&db, &smtp, Some((redis.url(), unique_prefix()))).await;
        server.register("ada@example.com").await;
        let before_outage = reset_email(&server, &mut smtp, "ada@example.com")
            .await
            .token();

        redis.kill();
        let during = reset_email(&server, &mut smtp, "ada@example.com")
            .await
            .token();
        let done = confirm(&server, &during, NEW_PASSWORD).await;
        assert_eq!(
            done.status,
            StatusCode::OK,
            "a token issued to the database during the outage works: {}",
            done.text
        );
        let second = reset_email(&server, &mut smtp, "ada@example.com")
            .await
            .token();

        redis.restart();
        let after = confirm(&server, &second, "another long passphrase").await;
        assert_eq!(
            after.status,
            StatusCode::OK,
            "still checked in the database once Redis is back: {}",
            after.text
        );
        confirm(&server, &before_outage, "a third long passphrase")
            .await
            .assert_problem(400, "reset_token_invalid");
        // (Issued before two resets: any new password ends older links.)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_outbox_holds_a_working_link() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    server.register("ada@example.com").await;
    assert_eq!(
        request(&server, "ada@example.com").await.status,
        StatusCode::ACCEPTED
    );
    let outbox = db.dir().join("outbox");
    let mut message = None;
    // The file appears before it is whole: wait until its body holds the link.
    for _ in 0..100 {
        if let Some(entry) = std::fs::read_dir(&outbox).ok().and_then(|mut d| d.next()) {
            let raw = std::fs::read(entry.unwrap().path()).unwrap();
            let whole = mail_parser::MessageParser::default()
                .parse(&raw)
                .and_then(|m| m.body_text(0).map(|text| text.contains("token=")))
                .unwrap_or(false);
            if whole {
                message = Some(raw);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let raw = message.expect("an .eml file in the outbox");
    let mail = Received {
        from: String::new(),
        to: vec![],
        raw,
    };
    let done = confirm(&server, &mail.token(), NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
}

#[test]
fn with_unavailable_a_redis_outage_answers_503_on_confirm() {
    let Some(mut redis) =
        PrivateRedis::start("api_reset::with_unavailable_a_redis_outage_answers_503_on_confirm")
    else {
        return;
    };
    common::server::runtime().block_on(async {
        let db = TestDb::sqlite();
        let mut smtp = SmtpServer::start().await;
        let port = smtp.port;
        let url = redis.url();
        let server = TestServer::start(&db, move |c| {
            c.mail.backend = MailBackend::Smtp;
            c.mail.smtp.port = port;
            c.mail.smtp.tls = SmtpTls::None;
            c.redis.url = Some(ConnectionUrl::new(url));
            c.reset.on_redis_error = authd::config::ResetFallback::Unavailable;
        })
        .await;
        server.register("ada@example.com").await;
        let token = reset_email(&server, &mut smtp, "ada@example.com")
            .await
            .token();
        redis.kill();
        let reply = confirm(&server, &token, NEW_PASSWORD).await;
        reply.assert_problem(503, "service_unavailable");
        assert!(reply.header("retry-after").is_some());
        assert_eq!(
            request(&server, "ada@example.com").await.status,
            StatusCode::ACCEPTED,
            "requests still look the same"
        );
        assert!(
            smtp.next(Duration::from_millis(800)).await.is_none(),
            "no token could be issued, so no email"
        );
        redis.restart();
        let mut done = confirm(&server, &token, NEW_PASSWORD).await;
        for _ in 0..20 {
            if done.status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            done = confirm(&server, &token, NEW_PASSWORD).await;
        }
        // The private Redis keeps nothing on disk: the token died with it.
        done.assert_problem(400, "reset_token_invalid");
    });
}
