//! `authd token revoke|list` and `authd key generate|list` against the same
//! database a running server uses: revocations take effect on it within the
//! second API.md allows (its access checks are cached for less than that).

use crate::common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::server::{
    access, http_suite, refresh, within_revocation_bound, TestServer, TEST_SECRET,
};
use common::{stderr, stdout, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

http_suite!(
    revocations_reach_a_running_server_within_a_second,
    token_list_shows_sessions_and_why,
);

/// Runs `authd ARGS --output json` with the test secret; returns (exit code, stdout JSON or stderr).
fn authd(db: &TestDb, args: &[&str]) -> (i32, Value, String) {
    let output = tokio::task::block_in_place(|| {
        db.authd()
            .env("SECRET_KEY", TEST_SECRET)
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap()
    });
    let json = serde_json::from_str(&stdout(&output)).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), json, stderr(&output))
}

fn claim(token: &str, name: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims[name].as_str().unwrap().to_string()
}

async fn revocations_reach_a_running_server_within_a_second(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let [a, b, c] = [
        server.login("ada@example.com").await,
        server.login("ada@example.com").await,
        server.login("ada@example.com").await,
    ];
    let me = |body: &Value| {
        let token = access(body);
        let server = &server;
        async move { server.get("/api/auth/me/", &token).await.status }
    };

    // Every token in use, so the server has each access check cached.
    for body in [&a, &b, &c] {
        assert_eq!(me(body).await, StatusCode::OK);
    }
    let (code, out, _) = authd(
        db,
        &["token", "revoke", "--session", &claim(&access(&a), "sid")],
    );
    assert_eq!((code, out["revoked"]["sessions"].as_u64()), (0, Some(1)));
    assert_eq!(
        within_revocation_bound(|| me(&a), StatusCode::UNAUTHORIZED).await,
        StatusCode::UNAUTHORIZED,
        "the session's access token is refused within a second"
    );
    assert_eq!(me(&b).await, StatusCode::OK);

    let jti = claim(&refresh(&b), "jti");
    assert_eq!(authd(db, &["token", "revoke", "--jti", &jti]).0, 0);
    let refused = server
        .post("/api/auth/token/refresh/", json!({"refresh": refresh(&b)}))
        .await;
    refused.assert_problem(401, "token_not_valid");
    // Idempotent, as --session is: a second run succeeds, saying so.
    let (code, out, err) = authd(db, &["token", "revoke", "--jti", &jti]);
    assert_eq!(code, 0, "revoking a revoked jti again: {err}");
    assert_eq!(out["revoked"]["tokens"], 0, "{out}");
    let again = tokio::task::block_in_place(|| {
        db.authd()
            .args(["token", "revoke", "--jti", &jti])
            .output()
            .unwrap()
    });
    assert!(
        stdout(&again).contains("already revoked"),
        "{}",
        stdout(&again)
    );
    let (code, _, err) = authd(db, &["token", "revoke", "--jti", "never-issued"]);
    assert_eq!(code, 1, "an unknown jti: {err}");
    assert!(
        err.contains("no refresh token with jti never-issued"),
        "{err}"
    );

    assert_eq!(
        authd(db, &["token", "revoke", "--user", "ada@example.com"]).0,
        0
    );
    assert_eq!(
        (
            within_revocation_bound(|| me(&b), StatusCode::UNAUTHORIZED).await,
            within_revocation_bound(|| me(&c), StatusCode::UNAUTHORIZED).await
        ),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    let fresh = server.login("ada@example.com").await;
    assert_eq!(me(&fresh).await, StatusCode::OK, "new logins work");

    for (args, code, needle) in [
        (vec!["token", "revoke"], 2, "required"),
        (
            vec!["token", "revoke", "--jti", "x", "--user", "1"],
            2,
            "cannot be used with",
        ),
        (
            vec!["token", "revoke", "--session", "nope"],
            1,
            "no such session",
        ),
        (
            vec!["token", "revoke", "--user", "ghost@example.com"],
            1,
            "no such user",
        ),
    ] {
        let (got, _, err) = authd(db, &args);
        assert_eq!(got, code, "{args:?}: {err}");
        assert!(err.contains(needle), "{needle:?} in {err}");
    }
}

async fn token_list_shows_sessions_and_why(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let first = server.login("ada@example.com").await;
    let rotated = server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&first)}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let second = server.login("ada@example.com").await;
    server
        .post("/api/auth/logout/", json!({"refresh": refresh(&second)}))
        .await;

    let (code, sessions, err) = authd(db, &["token", "list", "--user", "1"]);
    assert_eq!(code, 0, "{err}");
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let by_sid = |token: &Value| {
        sessions
            .iter()
            .find(|s| s["session"] == claim(&access(token), "sid"))
            .unwrap()
            .clone()
    };
    let live = by_sid(&first);
    let states: Vec<_> = live["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["revoked", "active"]);
    assert_eq!(live["tokens"][0]["revoked_reason"], "rotated");
    assert_eq!(live["tokens"][0]["replaced_by"], live["tokens"][1]["jti"]);
    assert_eq!(by_sid(&second)["revoked_reason"], "logout");
    // Where each session was started and last refreshed from, as its owner sees it.
    assert_eq!(live["state"], "active");
    assert_eq!(live["created_ip"], "127.0.0.1");
    assert_eq!(live["last_ip"], "127.0.0.1");
    assert!(live["last_refreshed_at"].as_str().unwrap() >= live["created_at"].as_str().unwrap());
    assert_eq!(by_sid(&second)["state"], "revoked");
    assert_eq!(by_sid(&second)["last_refreshed_at"], Value::Null);
    assert_eq!(by_sid(&second)["last_ip"], Value::Null);

    let (_, active, _) = authd(
        db,
        &["token", "list", "--user", "ada@example.com", "--active"],
    );
    assert_eq!(active.as_array().unwrap().len(), 1, "{active}");
}

#[test]
fn keys_are_generated_and_listed_without_their_secrets() {
    let db = TestDb::sqlite();
    let output = db
        .authd()
        .args(["key", "generate", "--id", "k2026-11"])
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(
        output.status.success()
            && text.contains("[[jwt.keys]]")
            && text.contains("id = \"k2026-11\""),
        "{text}"
    );
    let secret = text
        .split("secret = \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(secret.len() >= 64);
    assert_ne!(
        secret,
        stdout(&db.authd().args(["key", "generate"]).output().unwrap())
    );

    let config = common::file_in(
        db.dir(),
        "keys.toml",
        &format!("[[jwt.keys]]\nid = \"new\"\nsecret = \"{secret}\"\n\n[[jwt.keys]]\nid = \"old\"\nsecret = \"{TEST_SECRET}\"\n"),
    );
    let listed = db
        .authd()
        .args([
            "key",
            "list",
            "--output",
            "json",
            "--config",
            config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = stdout(&listed);
    assert!(
        !text.contains(&secret) && !text.contains(TEST_SECRET),
        "never a secret"
    );
    let keys: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        keys[0],
        json!({"id": "new", "algorithm": "HS256", "state": "active", "signs": true, "source": "jwt.keys[0]"})
    );
    assert_eq!(keys[1]["signs"], false);
    assert_eq!(
        db.authd()
            .args(["key", "generate", "--id", "bad id"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}
