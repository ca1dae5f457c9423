//! The pure functions on authd's per-request paths, in isolation: issuing
//! and verifying a token (every login/refresh, every authenticated
//! request), a throttle decision in memory (every login, registration and
//! reset request), parsing an email (every body that carries one) and
//! rendering a problem+json error (every refusal, including each 429 of a
//! throttled flood). `bench/run.sh` measures the same paths end to end.
//!
//! Run: `cargo bench --bench hot_paths`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use authd::auth::jwt::{JwtKeys, TokenSettings, TokenType};
use authd::auth::key_material::JwtKey;
use authd::config::Config;
use authd::domain::{self, Email, UserId};
use authd::http::error::ApiError;
use authd::throttle::{Identity, Scope, Throttle};
use divan::black_box;

fn main() {
    divan::main();
}

fn keys() -> JwtKeys {
    JwtKeys::new(
        vec![JwtKey::hs256(
            "bench",
            b"bench-signing-secret-of-at-least-32-bytes",
        )],
        TokenSettings {
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(7 * 86400),
            issuer: "authd".into(),
            audience: None,
            leeway: Duration::ZERO,
        },
    )
}

#[divan::bench]
fn token_issue_access(bencher: divan::Bencher) {
    let keys = keys();
    let user = UserId::new(42).unwrap();
    bencher.bench_local(|| keys.issue(TokenType::Access, black_box(user), "sid", domain::now()));
}

#[divan::bench]
fn token_verify_access(bencher: divan::Bencher) {
    let keys = keys();
    let token = keys
        .issue(
            TokenType::Access,
            UserId::new(42).unwrap(),
            "sid",
            domain::now(),
        )
        .token;
    bencher.bench_local(|| {
        keys.verify(black_box(&token), Some(TokenType::Access))
            .unwrap()
    });
}

#[divan::bench]
fn token_verify_forged(bencher: divan::Bencher) {
    let keys = keys();
    let mut token = keys
        .issue(
            TokenType::Access,
            UserId::new(42).unwrap(),
            "sid",
            domain::now(),
        )
        .token;
    token.pop();
    token.push('A');
    bencher.bench_local(|| keys.verify(black_box(&token), None).is_err());
}

/// One login attempt's decision: the keys (IP + hashed email, and IP) and
/// the sliding-window counts, as a throttled flood makes it for every request.
#[divan::bench]
fn throttle_decision_in_memory(bencher: divan::Bencher) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let throttle = Throttle::new(&Config::default().throttle, None);
    let identity = Identity {
        email: Some("Flood@Example.com".into()),
        ..Identity::client(throttle.client(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))))
    };
    bencher.bench_local(|| {
        runtime
            .block_on(throttle.check(&[Scope::Login, Scope::LoginIp], black_box(&identity)))
            .unwrap()
    });
}

#[divan::bench(args = ["ada@example.com", "  Grace.Hopper+navy@Example.ORG ", "not an email"])]
fn email_parse(bencher: divan::Bencher, raw: &str) {
    bencher.bench_local(|| Email::parse(black_box(raw)).is_ok());
}

#[divan::bench]
fn problem_json_token_not_valid(bencher: divan::Bencher) {
    bencher.bench_local(|| ApiError::TokenNotValid.into_response());
}

#[divan::bench]
fn problem_json_throttled(bencher: divan::Bencher) {
    bencher.bench_local(|| ApiError::Throttled(black_box(42)).into_response());
}

#[divan::bench]
fn problem_json_validation(bencher: divan::Bencher) {
    bencher
        .bench_local(|| ApiError::field("email", "Enter a valid email address.").into_response());
}
