//! `authd throttle show|clear` against the Redis a running server uses.

mod common;

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
            "no Redis is configured",
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
            "unknown scope",
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
