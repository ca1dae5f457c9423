//! The `loadtest ratelimit` client: sends a throttled scope's request to
//! one or more authd instances with bounded concurrency, for a fixed number
//! of requests (a limit check: exactly N must pass within one window) or a
//! fixed time (a throughput run), and records each answer compactly.
//!
//! Each scope sends a request with no side effect: a wrong password for
//! `login`, a reset request for `password_reset` (202 whether or not the
//! account exists), an invalid registration (400) for `registration`, an
//! unknown reset token (400) for `password_reset_completion`. Those are the
//! "passed" answers; 429 is "throttled".

mod report;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::json;

pub use report::{Checks, Summary};

use crate::throttle::Scope;

/// Longest a throughput run may last.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most requests a limit check may send.
pub const MAX_REQUESTS: u64 = 1_000_000;

/// What to send.
#[derive(Debug, Clone)]
pub struct Plan {
    pub urls: Vec<String>,
    pub scope: Scope,
    pub requests: u64,
    pub duration: Option<Duration>,
    pub concurrency: usize,
    pub email: String,
    pub forwarded_for: Option<IpAddr>,
}

/// One answer, compactly: millions of these fit in memory.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// `None` for a transport error (refused, reset, timed out).
    pub status: Option<u16>,
    pub latency_us: u32,
    /// `q` and `w` of `RateLimit-Policy`, if present and parseable.
    pub policy: Option<(u32, u32)>,
    /// The rate-limit headers agree with each other and with the status.
    pub headers_consistent: bool,
    /// A 429 carried `Retry-After` >= 1 (always true for other answers).
    pub retry_after_ok: bool,
}

impl Plan {
    /// The path, body and "passed" status of this scope's request.
    pub fn request_for(&self) -> (&'static str, serde_json::Value, u16) {
        match self.scope {
            Scope::Login => (
                "/api/auth/login/",
                json!({"email": self.email, "password": "loadtest: not the password"}),
                401,
            ),
            Scope::PasswordReset => (
                "/api/auth/password/reset/",
                json!({"email": self.email}),
                202,
            ),
            Scope::Registration => (
                "/api/auth/register/",
                json!({"email": "loadtest: not an email"}),
                400,
            ),
            Scope::PasswordResetCompletion => (
                "/api/auth/password/reset/confirm/",
                json!({"token": "loadtest-not-a-token", "new_password": "loadtest: not a password"}),
                400,
            ),
        }
    }
}

/// Runs the plan; `on_answer` is called after each answer (progress).
pub async fn run(
    plan: &Plan,
    on_answer: impl Fn() + Send + Sync + 'static,
) -> (Vec<Sample>, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(plan.concurrency)
        .build()
        .expect("a plain HTTP client builds");
    let (path, body, _) = plan.request_for();
    // Parsed and serialized once: the loop below only clones cheap handles.
    let body = bytes::Bytes::from(body.to_string());
    let urls: Arc<Vec<reqwest::Url>> = Arc::new(
        plan.urls
            .iter()
            .filter_map(|u| reqwest::Url::parse(&format!("{}{path}", u.trim_end_matches('/'))).ok())
            .collect(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let on_answer = Arc::new(on_answer);
    let started = Instant::now();
    let workers: Vec<_> = (0..plan.concurrency.max(1))
        .map(|_| {
            let (client, body, urls, next, on_answer) = (
                client.clone(),
                body.clone(),
                Arc::clone(&urls),
                Arc::clone(&next),
                Arc::clone(&on_answer),
            );
            let (requests, duration, forwarded_for) =
                (plan.requests, plan.duration, plan.forwarded_for);
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let more = match duration {
                        Some(limit) => started.elapsed() < limit,
                        None => index < requests,
                    };
                    if !more {
                        break;
                    }
                    let url = urls[(index % urls.len() as u64) as usize].clone();
                    let mut request = client
                        .post(url)
                        .header("content-type", "application/json")
                        .body(body.clone());
                    if let Some(ip) = forwarded_for {
                        request = request.header("x-forwarded-for", ip.to_string());
                    }
                    let sent = Instant::now();
                    let answer = request.send().await;
                    let latency_us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                    samples.push(match answer {
                        Ok(response) => {
                            let sample =
                                inspect(response.status().as_u16(), response.headers(), latency_us);
                            let _ = response.bytes().await;
                            sample
                        }
                        Err(_) => Sample {
                            status: None,
                            latency_us,
                            policy: None,
                            headers_consistent: true,
                            retry_after_ok: true,
                        },
                    });
                    on_answer();
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.unwrap_or_default());
    }
    (samples, started.elapsed())
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `"scope";q=5;w=60` -> (5, 60).
fn policy(headers: &HeaderMap) -> Option<(u32, u32)> {
    let text = headers.get("ratelimit-policy")?.to_str().ok()?;
    let field = |key: &str| {
        text.split(';')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
    };
    Some((field("q")?, field("w")?))
}

fn inspect(status: u16, headers: &HeaderMap, latency_us: u32) -> Sample {
    let policy = policy(headers);
    let limit = header_u64(headers, "x-ratelimit-limit");
    let remaining = header_u64(headers, "x-ratelimit-remaining");
    let ratelimit = headers
        .get("ratelimit")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let headers_consistent = match (policy, limit, remaining) {
        (Some((q, _)), Some(limit), Some(remaining)) => {
            u64::from(q) == limit
                && remaining <= limit
                && ratelimit.contains(&format!("r={remaining}"))
                && (status != 429 || remaining == 0)
        }
        _ => false,
    };
    let retry_after_ok =
        status != 429 || header_u64(headers, "retry-after").is_some_and(|s| s >= 1);
    Sample {
        status: Some(status),
        latency_us,
        policy,
        headers_consistent,
        retry_after_ok,
    }
}
