//! Three `authd serve` processes on one Postgres and one Redis behave as
//! one service, as an operator scaling out runs them: exactly the limit
//! passes over all three, a logout on one is honoured by the others within
//! the revocation bound, and of thirty concurrent refreshes of one token
//! spread over the three, exactly one wins.

use crate::common;

use common::process::{serve_command, ServeProcess};
use common::server::{all_at_once, within_revocation_bound};
use common::{redis_url, unique_prefix, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn three_processes_on_one_postgres_and_redis_act_as_one() {
    let (Some(db), Some(redis)) = (TestDb::postgres(module_path!()), redis_url(module_path!()))
    else {
        return;
    };
    let migrated = db.authd().arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", common::stderr(&migrated));
    common::server::runtime().block_on(act_as_one(&db, &redis));
}

async fn act_as_one(db: &TestDb, redis: &str) {
    let prefix = unique_prefix();
    let fleet: Vec<ServeProcess> = (0..3)
        .map(|_| {
            let mut command = serve_command(db);
            command
                .env("REDIS_URL", redis)
                .env("AUTHD_REDIS__KEY_PREFIX", &prefix)
                .env("AUTHD_THROTTLE__RATES__LOGIN", "5/minute");
            ServeProcess::start(command)
        })
        .collect();
    let client = common::process::bounded_client();
    let post = |i: usize, path: &str, body: Value| client.post(fleet[i % 3].url(path)).json(&body);
    for email in ["ada@example.com", "bob@example.com", "cy@example.com"] {
        let reply = post(
            0,
            "/api/auth/register/",
            json!({"email": email, "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(reply.status(), StatusCode::CREATED);
    }

    // 200 wrong-password logins for one email over three instances: exactly 5 pass.
    let logins = (0..200).map(|i| {
        post(
            i,
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": "wrong"}),
        )
    });
    let replies = all_at_once(logins).await;
    let passed = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((passed, throttled), (5, 195));

    // A global logout on one instance reaches the others within the bound.
    let login = |i: usize, email: &str| {
        post(
            i,
            "/api/auth/login/",
            json!({"email": email, "password": PASSWORD}),
        )
    };
    let pair: Value = login(0, "bob@example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = pair["access"].as_str().unwrap().to_string();
    let logout = post(
        1,
        "/api/auth/logout/",
        json!({"refresh": pair["refresh"], "scope": "global"}),
    )
    .send()
    .await
    .unwrap();
    assert!(logout.status().is_success(), "{}", logout.status());
    let me = || async {
        client
            .get(fleet[2].url("/api/auth/me/"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        within_revocation_bound(me, StatusCode::UNAUTHORIZED).await,
        StatusCode::UNAUTHORIZED
    );

    // Thirty refreshes of one token at once, over three instances: one winner.
    let pair: Value = login(0, "cy@example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refreshes = (0..30).map(|i| {
        post(
            i,
            "/api/auth/token/refresh/",
            json!({"refresh": pair["refresh"]}),
        )
    });
    let replies = all_at_once(refreshes).await;
    let winners = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED));
}
