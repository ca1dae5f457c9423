//! `authd blacklist prune|stats` on a database a server is using, and the
//! lease that lets one server at a time prune by itself.

use crate::common;

use std::time::Duration;

use authd::domain;
use common::server::{blocking, http_suite, refresh, TestServer, TEST_SECRET};
use common::{stderr, stdout, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

http_suite!(
    prune_of_100k_rows_while_the_server_refreshes,
    leases_go_to_one_holder_at_a_time,
);

fn authd(db: &TestDb, args: &[&str]) -> Value {
    let output = blocking(|| {
        db.authd()
            .env("SECRET_KEY", TEST_SECRET)
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap()
    });
    assert!(
        output.status.success(),
        "authd {args:?}: {}",
        stderr(&output)
    );
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// 100,000 expired refresh tokens in one old session, 10 expired and 1 live reset token.
fn seed_expired(db: &TestDb, user: i64) {
    let (old, older, soon) = (
        db.time_literal(-86_400),
        db.time_literal(-3_600),
        db.time_literal(600),
    );
    let series = match db {
        TestDb::Sqlite { .. } => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)"
        }
        TestDb::Postgres { .. } => "WITH n(i) AS (SELECT generate_series(1, 100000))",
    };
    blocking(|| {
        db.execute(&format!(
            "INSERT INTO sessions (id, user_id, created_at) VALUES ('old-session', {user}, {old});
             INSERT INTO sessions (id, user_id, created_at) VALUES ('tokenless-session', {user}, {old});
             {series} INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at)
                 SELECT 'expired-' || i, {user}, 'old-session', {old}, {older} FROM n;
             {reset} INSERT INTO password_reset_tokens (token_sha256, user_id, expires_at)
                 SELECT 'old-reset-' || i, {user}, {older} FROM n WHERE i <= 10;
             INSERT INTO password_reset_tokens (token_sha256, user_id, expires_at) VALUES ('live-reset', {user}, {soon});",
            reset = series,
        ))
    });
}

async fn prune_of_100k_rows_while_the_server_refreshes(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let mut token = refresh(&server.login("ada@example.com").await);
    seed_expired(db, 1);

    let stats = authd(db, &["blacklist", "stats"]);
    assert_eq!(
        stats["refresh_tokens"],
        json!({"active": 1, "revoked": 0, "expired": 100_000})
    );
    assert_eq!(
        stats["reset_tokens"],
        json!({"live": 1, "used": 0, "expired": 10})
    );
    let dry = authd(db, &["blacklist", "prune", "--dry-run"]);
    assert_eq!(
        dry["removed"],
        json!({"refresh_tokens": 100_000, "reset_tokens": 10, "sessions": 1}),
        "a dry run counts what the real run deletes (not the session that never had a token)"
    );
    assert_eq!(
        authd(db, &["blacklist", "stats"])["refresh_tokens"]["expired"],
        100_000,
        "a dry run deletes nothing"
    );

    let refresher = {
        let (client, url) = (
            server.client.clone(),
            server.url("/api/auth/token/refresh/"),
        );
        tokio::spawn(async move {
            let mut done = 0;
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(3) {
                let reply = client
                    .post(&url)
                    .json(&json!({"refresh": token}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    reply.status(),
                    StatusCode::OK,
                    "a refresh failed during the prune"
                );
                let body: Value = reply.json().await.unwrap();
                token = body["refresh"].as_str().unwrap().to_string();
                done += 1;
            }
            done
        })
    };
    let pruned = authd(db, &["blacklist", "prune", "--batch-size", "1000"]);
    let refreshes = refresher.await.unwrap();
    assert!(
        refreshes > 10,
        "the server kept answering: {refreshes} refreshes"
    );
    assert_eq!(
        pruned["removed"],
        json!({"refresh_tokens": 100_000, "reset_tokens": 10, "sessions": 1})
    );
    let after = authd(db, &["blacklist", "stats"]);
    assert_eq!(after["refresh_tokens"]["expired"], 0);
    assert_eq!(
        after["refresh_tokens"]["active"], 1,
        "the live session's token is untouched"
    );
    assert_eq!(
        after["reset_tokens"],
        json!({"live": 1, "used": 0, "expired": 0})
    );
}

async fn leases_go_to_one_holder_at_a_time(db: &TestDb) {
    blocking(|| {
        let store = db.store();
        let now = domain::now();
        let later = now + chrono::Duration::minutes(15);
        assert!(store.try_lease("auto_prune", "a", later, now).unwrap());
        assert!(
            !store.try_lease("auto_prune", "b", later, now).unwrap(),
            "held by a"
        );
        assert!(
            store.try_lease("auto_prune", "a", later, now).unwrap(),
            "a may renew"
        );
        let after_expiry = later + chrono::Duration::seconds(1);
        assert!(store
            .try_lease(
                "auto_prune",
                "b",
                after_expiry + chrono::Duration::minutes(15),
                after_expiry
            )
            .unwrap());
        store.release_lease("auto_prune", "a").unwrap();
        assert!(
            !store.try_lease("auto_prune", "a", later, now).unwrap(),
            "a cannot release b's lease"
        );
        store.release_lease("auto_prune", "b").unwrap();
        assert!(store.try_lease("auto_prune", "a", later, now).unwrap());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_prunes_by_itself() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |c| {
        c.blacklist.auto_prune_interval = authd::config::Duration::millis(500)
    })
    .await;
    server.register("ada@example.com").await;
    seed_expired(&db, 1);
    let mut expired = Value::Null;
    for _ in 0..50 {
        expired = authd(&db, &["blacklist", "stats"])["refresh_tokens"]["expired"].clone();
        if expired == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(expired, 0, "the server's own prune ran");
}
