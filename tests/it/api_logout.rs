//! Logout in its three scopes, what a dead refresh token may not do, and
//! a revocation reaching another instance, over real HTTP on SQLite and
//! (in CI) Postgres.

use crate::common;

use common::server::{access, http_suite, refresh, within_revocation_bound, TestServer};
use common::TestDb;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

http_suite!(
    logout_scopes_reach_access_tokens_at_once,
    a_dead_refresh_token_cannot_end_other_sessions,
    a_revocation_reaches_another_instance_within_a_second,
);

async fn logout_scopes_reach_access_tokens_at_once(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let me = |body: &serde_json::Value| {
        let token = access(body);
        let server = &server;
        async move { server.get("/api/auth/me/", &token).await.status }
    };
    let [a, b, c] = [
        server.login("ada@example.com").await,
        server.login("ada@example.com").await,
        server.login("ada@example.com").await,
    ];

    let local = server
        .post(
            "/api/auth/token/blacklist/",
            json!({"refresh": refresh(&a)}),
        )
        .await;
    assert_eq!(
        (local.status, local.body.clone()),
        (StatusCode::OK, json!({}))
    );
    assert_eq!(
        me(&a).await,
        StatusCode::UNAUTHORIZED,
        "the logged-out session's access token fails at once"
    );
    assert_eq!(
        (me(&b).await, me(&c).await),
        (StatusCode::OK, StatusCode::OK)
    );
    let again = server
        .post("/api/auth/logout/", json!({"refresh": refresh(&a)}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "logout is idempotent");

    let others = server
        .post(
            "/api/auth/logout/",
            json!({"refresh": refresh(&b), "scope": "others"}),
        )
        .await;
    assert_eq!(others.status, StatusCode::OK);
    assert!(
        others.header("set-cookie").is_none(),
        "the caller keeps its cookie"
    );
    assert_eq!(
        (me(&b).await, me(&c).await),
        (StatusCode::OK, StatusCode::UNAUTHORIZED)
    );

    let d = server.login("ada@example.com").await;
    server
        .post(
            "/api/auth/logout/",
            json!({"refresh": refresh(&d), "scope": "global"}),
        )
        .await;
    assert_eq!(
        (me(&b).await, me(&d).await),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );

    let bad_scope = server
        .post(
            "/api/auth/logout/",
            json!({"refresh": refresh(&d), "scope": "everything"}),
        )
        .await;
    bad_scope.assert_problem(400, "validation_error");
    assert!(bad_scope.body["errors"]["scope"].is_array());
    server
        .post("/api/auth/logout/", json!({"refresh": "forged"}))
        .await
        .assert_problem(401, "token_not_valid");
}

/// Found by an outside review: any refresh token authd ever signed
/// (expired, revoked, rotated) could end all of a user's sessions. Only a
/// live one may act on other sessions; a dead one changes nothing, but for
/// a replay past the grace, which revokes its own session as on refresh.
async fn a_dead_refresh_token_cannot_end_other_sessions(db: &TestDb) {
    let server = TestServer::start(db, |c| {
        c.jwt.refresh_reuse_grace = authd::config::Duration::millis(300)
    })
    .await;
    server.register("ada@example.com").await;
    let me = |body: &serde_json::Value| {
        let token = access(body);
        let server = &server;
        async move { server.get("/api/auth/me/", &token).await.status }
    };
    let logout = |token: String, scope: &'static str| {
        let server = &server;
        async move {
            server
                .post(
                    "/api/auth/logout/",
                    json!({"refresh": token, "scope": scope}),
                )
                .await
        }
    };
    let [a, b] = [
        server.login("ada@example.com").await,
        server.login("ada@example.com").await,
    ];
    let a2 = server
        .post("/api/auth/token/refresh/", json!({"refresh": refresh(&a)}))
        .await
        .body;

    // Rotated, within the grace: refused for others/global, a no-op locally.
    for scope in ["global", "others"] {
        logout(refresh(&a), scope)
            .await
            .assert_problem(401, "token_not_valid");
    }
    assert_eq!(logout(refresh(&a), "local").await.status, StatusCode::OK);
    assert_eq!(
        (me(&a2).await, me(&b).await),
        (StatusCode::OK, StatusCode::OK),
        "nothing was revoked"
    );

    // Revoked by its own logout: it cannot reach the other sessions either.
    assert_eq!(logout(refresh(&b), "local").await.status, StatusCode::OK);
    logout(refresh(&b), "global")
        .await
        .assert_problem(401, "token_not_valid");
    assert_eq!(me(&a2).await, StatusCode::OK, "a's session lives on");

    // Expired: signed by this server, but past its lifetime.
    let short =
        TestServer::start(db, |c| c.jwt.refresh_ttl = authd::config::Duration::secs(1)).await;
    let expiring = short.login("ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    short
        .post(
            "/api/auth/logout/",
            json!({"refresh": refresh(&expiring), "scope": "global"}),
        )
        .await
        .assert_problem(401, "token_not_valid");
    assert_eq!(me(&a2).await, StatusCode::OK, "a's session lives on");

    // A rotated token presented past the grace is a replay: its session goes.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(logout(refresh(&a), "local").await.status, StatusCode::OK);
    assert_eq!(me(&a2).await, StatusCode::UNAUTHORIZED, "reuse detected");
}

/// Two instances on one database: each caches its access checks, so a
/// logout on one reaches the other within API.md's second (and the one
/// that made it at once), for /me and token/verify alike.
async fn a_revocation_reaches_another_instance_within_a_second(db: &TestDb) {
    let one = TestServer::start(db, |_| {}).await;
    let two = TestServer::start(db, |_| {}).await;
    one.register("ada@example.com").await;
    let session = one.login("ada@example.com").await;
    let token = access(&session);
    let me = |server| me_status(server, &token);
    let verify = |server| verify_status(server, &token);
    for server in [&one, &two] {
        assert_eq!(
            (me(server).await, verify(server).await),
            (StatusCode::OK, StatusCode::OK)
        );
    }
    let out = one
        .post("/api/auth/logout/", json!({"refresh": refresh(&session)}))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        (me(&one).await, verify(&one).await),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED),
        "refused at once where the logout was made"
    );
    assert_eq!(
        within_revocation_bound(|| me(&two), StatusCode::UNAUTHORIZED).await,
        StatusCode::UNAUTHORIZED,
        "refused by the other instance within a second"
    );
    assert_eq!(verify(&two).await, StatusCode::UNAUTHORIZED);
}

async fn me_status(server: &TestServer, token: &str) -> StatusCode {
    server.get("/api/auth/me/", token).await.status
}

async fn verify_status(server: &TestServer, token: &str) -> StatusCode {
    server
        .post("/api/auth/token/verify/", json!({"token": token}))
        .await
        .status
}
