//! Refresh rotation, reuse detection, verify and forged tokens over real
//! HTTP, on SQLite and (in CI) Postgres (logout: `api_logout.rs`).

use crate::common;

use std::time::Duration;

use authd::auth::jwt::{JwtKeys, TokenSettings, TokenType};
use authd::auth::key_material::JwtKey;
use authd::domain::UserId;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::server::{access, all_at_once, http_suite, refresh, TestServer, TEST_SECRET};
use common::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::json;

http_suite!(
    refresh_rotates_and_the_old_token_is_refused,
    thirty_two_concurrent_refreshes_give_one_200,
    reuse_after_the_grace_revokes_the_session,
    the_refresh_cookie_works_and_the_body_wins,
    the_refresh_cookie_is_refused_from_another_origins_page,
    verify_accepts_live_tokens_only,
    forged_and_misused_tokens_are_refused,
);

async fn refresh_rotates_and_the_old_token_is_refused(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let login = server.login("ada@example.com").await;
    let rotated = server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&login)}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_ne!(refresh(&rotated.body), refresh(&login));
    assert!(rotated.body.get("user").is_none());
    assert_eq!(rotated.body["token_type"], "Bearer");
    assert!(rotated
        .header("set-cookie")
        .unwrap()
        .starts_with(&format!("authd_refresh={}", refresh(&rotated.body))));
    assert_eq!(
        server
            .get("/api/auth/me/", &access(&rotated.body))
            .await
            .status,
        StatusCode::OK
    );

    let reused = server
        .post(
            "/api/auth/token/refresh",
            json!({"refresh": refresh(&login)}),
        )
        .await;
    reused.assert_problem(401, "token_not_valid");
    let next = server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&rotated.body)}),
        )
        .await;
    assert_eq!(
        next.status,
        StatusCode::OK,
        "within the grace a reuse only refuses: the session lives on"
    );
    let access_as_refresh = server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": access(&login)}),
        )
        .await;
    access_as_refresh.assert_problem(401, "token_not_valid");
    server
        .post("/api/auth/token/refresh/", json!({}))
        .await
        .assert_problem(400, "validation_error");
}

async fn thirty_two_concurrent_refreshes_give_one_200(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let token = refresh(&server.login("ada@example.com").await);
    let url = server.url("/api/auth/token/refresh/");
    let replies =
        all_at_once((0..32).map(|_| server.client.post(&url).json(&json!({"refresh": token}))))
            .await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
        reply.assert_problem(401, "token_not_valid");
    }
    let winner = replies.iter().find(|r| r.status == StatusCode::OK).unwrap();
    assert_eq!(
        server
            .get("/api/auth/me/", &access(&winner.body))
            .await
            .status,
        StatusCode::OK,
        "the session survives a race"
    );
}

async fn reuse_after_the_grace_revokes_the_session(db: &TestDb) {
    let server = TestServer::start(db, |c| {
        c.jwt.refresh_reuse_grace = authd::config::Duration::millis(200)
    })
    .await;
    server.register("ada@example.com").await;
    let login = server.login("ada@example.com").await;
    let other_session = server.login("ada@example.com").await;
    let rotated = server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&login)}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;

    server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&login)}),
        )
        .await
        .assert_problem(401, "token_not_valid");
    server
        .get("/api/auth/me/", &access(&rotated.body))
        .await
        .assert_problem(401, "token_not_valid");
    server
        .get("/api/auth/me/", &access(&login))
        .await
        .assert_problem(401, "token_not_valid");
    server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&rotated.body)}),
        )
        .await
        .assert_problem(401, "token_not_valid");
    assert_eq!(
        server
            .get("/api/auth/me/", &access(&other_session))
            .await
            .status,
        StatusCode::OK,
        "other logins live on"
    );
}

async fn the_refresh_cookie_works_and_the_body_wins(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let first = server.login("ada@example.com").await;
    let second = server.login("ada@example.com").await;
    let cookie = format!("authd_refresh={}", refresh(&first));
    let by_cookie = server
        .client
        .post(server.url("/api/auth/token/refresh/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_cookie.status(),
        StatusCode::OK,
        "an empty body with the cookie is enough"
    );

    let body_wins = server
        .client
        .post(server.url("/api/auth/token/refresh/"))
        .header("cookie", &cookie)
        .json(&json!({"refresh": refresh(&second)}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body_wins.status(),
        StatusCode::OK,
        "the body's token (second) was used, not the spent cookie"
    );

    let logout = server
        .client
        .post(server.url("/api/auth/logout/"))
        .header(
            "cookie",
            format!(
                "authd_refresh={}",
                refresh(&server.login("ada@example.com").await)
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::OK);
    let cleared = logout.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cleared.starts_with("authd_refresh=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

/// Found by an outside review: cookie-based refresh and logout relied on
/// SameSite alone, and a sibling subdomain is the same site.
async fn the_refresh_cookie_is_refused_from_another_origins_page(db: &TestDb) {
    let server = TestServer::start(db, |c| {
        c.http.cors_allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    server.register("ada@example.com").await;
    let own_origin = server.base.clone();
    let send = |path: &'static str, token: String, browser: &[(&'static str, String)]| {
        let mut request = server
            .client
            .post(server.url(path))
            .header("cookie", format!("authd_refresh={token}"));
        for (name, value) in browser {
            request = request.header(*name, value);
        }
        async move { common::server::Reply::from(request.send().await.unwrap()).await }
    };
    let login = server.login("ada@example.com").await;
    let refresh_path = "/api/auth/token/refresh/";
    for foreign in [
        vec![("origin", "https://blog.example.com".to_string())],
        vec![("origin", "null".to_string())],
        vec![("sec-fetch-site", "same-site".to_string())],
        vec![("sec-fetch-site", "cross-site".to_string())],
    ] {
        send(refresh_path, refresh(&login), &foreign)
            .await
            .assert_problem(403, "csrf_failed");
        send("/api/auth/logout/", refresh(&login), &foreign)
            .await
            .assert_problem(403, "csrf_failed");
    }
    assert_eq!(
        server.get("/api/auth/me/", &access(&login)).await.status,
        StatusCode::OK,
        "no refused request touched the session"
    );

    // The server's own pages, listed origins, and clients that are no
    // browser (neither header) pass; so does a token in the body.
    let mut token = refresh(&login);
    for allowed in [
        vec![("origin", own_origin.clone())],
        vec![("origin", "https://app.example.com".to_string())],
        vec![("sec-fetch-site", "same-origin".to_string())],
        vec![],
    ] {
        let rotated = send(refresh_path, token.clone(), &allowed).await;
        assert_eq!(
            rotated.status,
            StatusCode::OK,
            "{allowed:?}: {}",
            rotated.text
        );
        token = refresh(&rotated.body);
    }
    let in_body = server
        .client
        .post(server.url(refresh_path))
        .header("origin", "https://blog.example.com")
        .json(&json!({"refresh": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        in_body.status(),
        StatusCode::OK,
        "the body is not the cookie"
    );
}

async fn verify_accepts_live_tokens_only(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let login = server.login("ada@example.com").await;
    for token in [access(&login), refresh(&login)] {
        let reply = server
            .post("/api/auth/token/verify/", json!({"token": token}))
            .await;
        assert_eq!(
            (reply.status, reply.body.clone()),
            (StatusCode::OK, json!({}))
        );
    }
    server
        .post("/api/auth/logout/", json!({"refresh": refresh(&login)}))
        .await;
    for token in [access(&login), refresh(&login)] {
        server
            .post("/api/auth/token/verify/", json!({"token": token}))
            .await
            .assert_problem(401, "token_not_valid");
    }
    server
        .post("/api/auth/token/verify/", json!({"token": "garbage"}))
        .await
        .assert_problem(401, "token_not_valid");
    server
        .post("/api/auth/token/verify/", json!({}))
        .await
        .assert_problem(400, "validation_error");
}

fn keys(id: &str, secret: &str) -> JwtKeys {
    let settings = TokenSettings {
        access_ttl: Duration::from_secs(3600),
        refresh_ttl: Duration::from_secs(86_400),
        issuer: "authd".into(),
        audience: None,
        leeway: Duration::ZERO,
    };
    JwtKeys::new(vec![JwtKey::hs256(id, secret.as_bytes())], settings)
}

async fn forged_and_misused_tokens_are_refused(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let real = access(&server.login("ada@example.com").await);
    let sid = {
        let claims = real.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        claims["sid"].as_str().unwrap().to_string()
    };
    let user = UserId::new(1).unwrap();
    let now = authd::domain::now();
    let (header, rest) = real.split_once('.').unwrap();
    let payload = rest.split('.').next().unwrap();
    let mut tampered_claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    tampered_claims["exp"] = json!(tampered_claims["exp"].as_i64().unwrap() + 86_400);
    let forged = [
        (
            "alg none",
            format!(
                "{}.{payload}.",
                URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"default"}"#)
            ),
        ),
        (
            "another key",
            keys("default", "an-attacker-chosen-secret-of-32-bytes")
                .issue(TokenType::Access, user, &sid, now)
                .token,
        ),
        (
            "unknown kid",
            keys("k-elsewhere", TEST_SECRET)
                .issue(TokenType::Access, user, &sid, now)
                .token,
        ),
        (
            "expired",
            keys("default", TEST_SECRET)
                .issue(
                    TokenType::Access,
                    user,
                    &sid,
                    now - chrono::Duration::hours(2),
                )
                .token,
        ),
        (
            "tampered",
            format!(
                "{header}.{}.{}",
                URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
                real.rsplit('.').next().unwrap()
            ),
        ),
        (
            "9 KiB",
            format!(
                "{header}.{}.{}",
                URL_SAFE_NO_PAD.encode("x".repeat(9 * 1024)),
                "sig"
            ),
        ),
        (
            "refresh as bearer",
            keys("default", TEST_SECRET)
                .issue(TokenType::Refresh, user, &sid, now)
                .token,
        ),
    ];
    let genuine = keys("default", TEST_SECRET)
        .issue(TokenType::Access, user, &sid, now)
        .token;
    assert_eq!(
        server.get("/api/auth/me/", &genuine).await.status,
        StatusCode::OK,
        "the forging kit itself is sound"
    );
    for (what, token) in forged {
        let me = server
            .call(Method::GET, "/api/auth/me/", Some(&token), None)
            .await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(me.body["code"], "token_not_valid", "{what}");
        let verify = server
            .post("/api/auth/token/verify/", json!({"token": token}))
            .await;
        assert_eq!(verify.status, StatusCode::UNAUTHORIZED, "{what}");
    }
}
