//! `authd throttle show|clear` against the Redis a running server uses.

use crate::common;

use common::server::TestServer;
use common::{redis_url, stderr, stdout, unique_prefix, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[test]
fn show_finds_a_locked_out_person_and_clear_unlocks_them() {
    let Some(url) =
        redis_url("cli_throttle::show_finds_a_locked_out_person_and_clear_unlocks_them")
    else {
        return;
    };
    let prefix = unique_prefix();
    let db = TestDb::sqlite();
    let authd = |args: &[&str]| {
        let output = db
            .authd()
            .env("REDIS_URL", &url)
            .env("AUTHD_REDIS__KEY_PREFIX", &prefix)
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "authd {args:?}: {}",
            stderr(&output)
        );
        serde_json::from_str::<Value>(&stdout(&output)).unwrap()
    };
    common::server::runtime().block_on(async {
        let server = TestServer::start(&db, |c| {
            c.throttle.rates = authd::config::ThrottleRates::default();
            // The per-IP layer would refuse bob after ada's five.
            c.throttle.rates.login_ip = "100/minute".parse().unwrap();
            c.redis.url = Some(authd::config::ConnectionUrl::new(url.clone()));
            c.redis.key_prefix = prefix.clone();
        })
        .await;
        let login = |email: &'static str| {
            server.post(
                "/api/auth/login/",
                json!({"email": email, "password": "wrong password"}),
            )
        };
        for _ in 0..6 {
            login("ada@example.com").await;
        }
        login("bob@example.com").await;
        assert_eq!(
            login("ada@example.com").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );

        let ada = tokio::task::block_in_place(|| {
            authd(&[
                "throttle",
                "show",
                "--scope",
                "login",
                "--email",
                "Ada@Example.com",
            ])
        });
        let windows = ada.as_array().unwrap();
        assert_eq!(windows.len(), 1, "{ada}");
        assert_eq!(windows[0]["ip"], "127.0.0.1");
        assert_eq!(
            (
                windows[0]["counted"].as_u64(),
                windows[0]["locked"].as_bool()
            ),
            (Some(5), Some(true))
        );
        let free_in = windows[0]["free_in_seconds"].as_u64().unwrap();
        assert!((1..=60).contains(&free_in), "{free_in}");
        assert!(
            !windows[0]["key"].as_str().unwrap().contains("ada"),
            "keys never expose the email"
        );

        let by_ip = tokio::task::block_in_place(|| {
            authd(&["throttle", "show", "--scope", "login", "--ip", "127.0.0.1"])
        });
        assert_eq!(
            by_ip.as_array().unwrap().len(),
            2,
            "ada and bob from that address"
        );
        // `throttle_login_*` also matches login_ip's keys: not listed as login windows.
        let every_login =
            tokio::task::block_in_place(|| authd(&["throttle", "show", "--scope", "login"]));
        assert_eq!(every_login.as_array().unwrap().len(), 2, "{every_login}");
        let per_ip = tokio::task::block_in_place(|| {
            authd(&[
                "throttle",
                "show",
                "--scope",
                "login_ip",
                "--ip",
                "127.0.0.1",
            ])
        });
        assert_eq!(
            (per_ip[0]["ip"].as_str(), per_ip[0]["counted"].as_u64()),
            (Some("127.0.0.1"), Some(6)),
            "every login attempt the address made that passed: {per_ip}"
        );

        let cleared = tokio::task::block_in_place(|| {
            authd(&[
                "throttle",
                "clear",
                "--scope",
                "login",
                "--email",
                "ada@example.com",
            ])
        });
        assert_eq!(cleared, json!({"cleared": 1}));
        // The server answers the refusal it last had from Redis itself for
        // up to REFUSAL_MEMORY; a little after that she is let in.
        let status = common::server::within_bound(
            || async { login("ada@example.com").await.status },
            StatusCode::UNAUTHORIZED,
            authd::throttle::REFUSAL_MEMORY * 2,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "unlocked while the server runs"
        );
        let bob = tokio::task::block_in_place(|| {
            authd(&[
                "throttle",
                "show",
                "--scope",
                "login",
                "--email",
                "bob@example.com",
            ])
        });
        assert_eq!(bob[0]["counted"], 1, "other windows untouched");
    });
}

#[test]
fn throttle_commands_refuse_what_they_cannot_do() {
    let db = TestDb::sqlite();
    /// Arguments, environment, and what the one-line error must say.
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["throttle", "show", "--scope", "login"],
            vec![],
            "no Redis is configured (redis.url / REDIS_URL): each server keeps its windows in its own memory, which this command cannot reach; a lockout lifts when its window frees (the 429's Retry-After), and restarting the server clears them all",
        ),
        (
            vec![
                "throttle",
                "show",
                "--scope",
                "registration",
                "--email",
                "a@example.com",
            ],
            vec![("REDIS_URL", "redis://127.0.0.1:6379")],
            "counts per IP only",
        ),
        (
            vec!["throttle", "clear", "--scope", "login"],
            vec![("REDIS_URL", "redis://127.0.0.1:6379")],
            "--all",
        ),
        (
            vec!["throttle", "show", "--scope", "everything"],
            vec![],
            "invalid value 'everything' for '--scope <SCOPE>'",
        ),
        (
            vec![
                "throttle",
                "show",
                "--scope",
                "password_change",
                "--ip",
                "127.0.0.1",
            ],
            vec![("REDIS_URL", "redis://127.0.0.1:6379")],
            "counts per user",
        ),
        (
            vec!["throttle", "show", "--scope", "login", "--user", "7"],
            vec![("REDIS_URL", "redis://127.0.0.1:6379")],
            "--user does not apply",
        ),
        (
            vec![
                "throttle",
                "show",
                "--scope",
                "password_change",
                "--user",
                "0",
            ],
            vec![],
            "not a user id",
        ),
        (
            vec!["throttle", "show", "--scope", "login", "--ip", "not-an-ip"],
            vec![],
            "invalid",
        ),
    ];
    for (args, env, needle) in cases {
        let output = db.authd().envs(env).args(&args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(needle),
            "{needle:?} in {}",
            stderr(&output)
        );
    }
}

#[test]
fn password_change_windows_are_found_by_user_id() {
    let Some(url) = redis_url("cli_throttle::password_change_windows_are_found_by_user_id") else {
        return;
    };
    let prefix = unique_prefix();
    let db = TestDb::sqlite();
    let authd = |args: &[&str]| {
        let output = db
            .authd()
            .env("REDIS_URL", &url)
            .env("AUTHD_REDIS__KEY_PREFIX", &prefix)
            .env("AUTHD_THROTTLE__RATES__PASSWORD_CHANGE", "2/minute")
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_str::<Value>(&stdout(&output)).unwrap()
    };
    common::server::runtime().block_on(async {
        let server = TestServer::start(&db, |c| {
            c.throttle.rates.password_change = "2/minute".parse().unwrap();
            c.redis.url = Some(authd::config::ConnectionUrl::new(url.clone()));
            c.redis.key_prefix = prefix.clone();
        })
        .await;
        let user = server.register("ada@example.com").await;
        let id = user["id"].as_i64().unwrap().to_string();
        let token = common::server::access(&server.login("ada@example.com").await);
        let change = || {
            server
                .client
                .post(server.url("/api/auth/password/change/"))
                .bearer_auth(&token)
                .json(&json!({"old_password": "wrong", "new_password": "a brand new passphrase"}))
                .send()
        };
        for _ in 0..2 {
            assert_eq!(change().await.unwrap().status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(
            change().await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let shown = tokio::task::block_in_place(|| {
            authd(&[
                "throttle",
                "show",
                "--scope",
                "password_change",
                "--user",
                &id,
            ])
        });
        assert_eq!(
            (shown[0]["user_id"].as_i64(), shown[0]["locked"].as_bool()),
            (id.parse().ok(), Some(true)),
            "{shown}"
        );
        let cleared = tokio::task::block_in_place(|| {
            authd(&[
                "throttle",
                "clear",
                "--scope",
                "password_change",
                "--user",
                &id,
            ])
        });
        assert_eq!(cleared, json!({"cleared": 1}));
        let status = common::server::within_bound(
            || async { change().await.unwrap().status() },
            StatusCode::BAD_REQUEST,
            authd::throttle::REFUSAL_MEMORY * 2,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unlocked");
    });
}

/// "Connection refused" alone does not say which Redis refused.
#[test]
fn a_refused_redis_connection_names_the_server() {
    let db = common::TestDb::sqlite();
    let port = common::free_port();
    let output = db
        .authd()
        .env("REDIS_URL", format!("redis://127.0.0.1:{port}/0"))
        .args([
            "throttle",
            "show",
            "--scope",
            "login",
            "--email",
            "a@example.com",
        ])
        .output()
        .unwrap();
    let message = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}
