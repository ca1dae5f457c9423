//! The `loadtest ratelimit` client: sends a throttled scope's request to
//! one or more authd instances with bounded concurrency, for a fixed number
//! of requests (a limit check: exactly N must pass within one window) or a
//! fixed time (a throughput run), and records each answer compactly.
//!
//! Each scope sends a request with no side effect: a wrong password for
//! `login`, a reset request for `password_reset` (202 whether or not the
//! account exists), an invalid registration (400) for `registration`, an
//! unknown reset token (400) for `password_reset_completion`. Those are the
//! "passed" answers; 429 is "throttled". `login_ip` and `password_reset_ip`
//! send the same as `login` and `password_reset` but with a different email
//! each time, so only the per-client scope can bind. `password_change`
//! needs an account's token and cannot be checked this way.
//!
//! A limit check first sends one request alone (the probe): if its answer
//! shows the client's window already partly spent (an earlier run, or real
//! traffic from the same address), the run stops there rather than
//! reporting a limit that did not hold. On loopback, the CLI gives each run
//! an address of its own in 127.0.0.0/8 (`Plan::source`), so runs neither
//! spend the caller's real quota nor each other's.

mod connection;
mod report;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::json;

pub use report::{Checks, Summary};

use crate::throttle::Scope;

/// Longest one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
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
    /// The local address connections are made from (`None`: the system's choice).
    pub source: Option<IpAddr>,
}

/// One answer, compactly: millions of these fit in memory.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// `None` for a transport error (refused, reset, timed out).
    pub status: Option<u16>,
    pub latency_us: u32,
    /// `q` and `w` of `RateLimit-Policy`, if present, parseable and about
    /// the scope under test (a login's headers may describe `login_ip`
    /// instead, whichever has fewer requests left).
    pub policy: Option<(u32, u32)>,
    /// The rate-limit headers agree with each other and with the status.
    pub headers_consistent: bool,
    /// A 429 carried `Retry-After` >= 1 (always true for other answers).
    pub retry_after_ok: bool,
    /// `X-RateLimit-Remaining`, when the headers are about the scope under test.
    pub remaining: Option<u32>,
    /// `Retry-After` seconds of a 429.
    pub retry_after: Option<u32>,
}

impl Sample {
    fn transport_error(latency_us: u32) -> Sample {
        Sample {
            status: None,
            latency_us,
            policy: None,
            headers_consistent: true,
            retry_after_ok: true,
            remaining: None,
            retry_after: None,
        }
    }
}

/// The probe found the client's window of the scope already partly used:
/// exactly `limit` could not pass, whatever the server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpentWindow {
    /// Requests the window had left before the probe.
    pub left: u32,
    pub limit: u32,
    /// Seconds until a slot frees, when the server said (a 429's `Retry-After`).
    pub frees_in: Option<u32>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub samples: Vec<Sample>,
    pub elapsed: Duration,
    /// Set when a limit check stopped after its probe.
    pub spent: Option<SpentWindow>,
}

impl Plan {
    /// The path, body and "passed" status of this scope's request; `None`
    /// for a scope this client cannot exercise.
    pub fn request_for(&self) -> Option<(&'static str, serde_json::Value, u16)> {
        Some(match self.scope {
            Scope::Login | Scope::LoginIp => (
                "/api/auth/login/",
                json!({"email": self.email, "password": "loadtest: not the password"}),
                401,
            ),
            Scope::PasswordReset | Scope::PasswordResetIp => (
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
            Scope::PasswordChange => return None,
        })
    }

    /// The body of request number `index`: the same for every request,
    /// except that the per-client scopes vary the email.
    fn body(&self, template: &bytes::Bytes, index: u64) -> bytes::Bytes {
        if !matches!(self.scope, Scope::LoginIp | Scope::PasswordResetIp) {
            return template.clone();
        }
        let (local, domain) = self
            .email
            .split_once('@')
            .unwrap_or((self.email.as_str(), "example.com"));
        let email = format!("{local}+{index}@{domain}");
        let mut body: serde_json::Value =
            serde_json::from_slice(template).unwrap_or_else(|_| json!({}));
        body["email"] = serde_json::Value::String(email);
        bytes::Bytes::from(body.to_string())
    }
}

/// Sends one request of the plan and records its answer.
struct Sender {
    plan: Plan,
    template: bytes::Bytes,
    urls: Vec<reqwest::Url>,
    targets: Vec<connection::Target>,
    client: reqwest::Client,
    plain_http: bool,
    forwarded_for: Option<String>,
}

impl Sender {
    fn new(plan: &Plan, path: &str, body: &serde_json::Value) -> Sender {
        let urls: Vec<reqwest::Url> = plan
            .urls
            .iter()
            .filter_map(|u| reqwest::Url::parse(&format!("{}{path}", u.trim_end_matches('/'))).ok())
            .collect();
        let targets = urls
            .iter()
            .map(|u| connection::Target {
                authority: format!(
                    "{}:{}",
                    u.host_str().unwrap_or("127.0.0.1"),
                    u.port_or_known_default().unwrap_or(80)
                ),
                path_and_query: u.path().to_string(),
                source: plan.source,
            })
            .collect();
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .http1_only()
            .tcp_nodelay(true)
            .local_address(plan.source)
            .pool_max_idle_per_host(plan.concurrency)
            .build()
            .expect("an HTTP client builds");
        Sender {
            plan: plan.clone(),
            // Parsed and serialized once: each request only clones a handle.
            template: bytes::Bytes::from(body.to_string()),
            plain_http: urls.iter().all(|u| u.scheme() == "http"),
            urls,
            targets,
            client,
            forwarded_for: plan.forwarded_for.map(|ip| ip.to_string()),
        }
    }

    async fn send(&self, connections: &mut connection::Connections, index: u64) -> Sample {
        let target = (index % self.urls.len().max(1) as u64) as usize;
        let body = self.plan.body(&self.template, index);
        let sent = Instant::now();
        let answer = if self.plain_http {
            let post =
                connections.post(&self.targets, target, &body, self.forwarded_for.as_deref());
            match tokio::time::timeout(REQUEST_TIMEOUT, post).await {
                Ok(Ok(answer)) => Some((answer.status, answer.headers)),
                _ => None,
            }
        } else {
            let mut request = self
                .client
                .post(self.urls[target].clone())
                .header("content-type", "application/json")
                .body(body);
            if let Some(ip) = &self.forwarded_for {
                request = request.header("x-forwarded-for", ip);
            }
            match request.send().await {
                Ok(response) => {
                    let (status, headers) =
                        (response.status().as_u16(), response.headers().clone());
                    let _ = response.bytes().await;
                    Some((status, headers))
                }
                Err(_) => None,
            }
        };
        let latency_us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
        match answer {
            Some((status, headers)) => {
                inspect(self.plan.scope.name(), status, &headers, latency_us)
            }
            None => Sample::transport_error(latency_us),
        }
    }
}

/// Runs the plan; `on_answer` is called after each answer (progress).
/// Every request is bounded: by the plan's count or duration, and each by a
/// 10-second timeout.
pub async fn run(plan: &Plan, on_answer: impl Fn() + Send + Sync + 'static) -> Outcome {
    let Some((path, body, _)) = plan.request_for() else {
        return Outcome {
            samples: Vec::new(),
            elapsed: Duration::ZERO,
            spent: None,
        };
    };
    let sender = Arc::new(Sender::new(plan, path, &body));
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut first = 0;
    if plan.duration.is_none() && plan.requests > 0 {
        let probe = sender
            .send(&mut connection::Connections::default(), 0)
            .await;
        on_answer();
        samples.push(probe);
        first = 1;
        if let Some(spent) = spent_window(&probe) {
            return Outcome {
                samples,
                elapsed: started.elapsed(),
                spent: Some(spent),
            };
        }
    }
    let next = Arc::new(AtomicU64::new(first));
    let on_answer = Arc::new(on_answer);
    let workers: Vec<_> = (0..plan.concurrency.max(1))
        .map(|_| {
            let (sender, next, on_answer) = (
                Arc::clone(&sender),
                Arc::clone(&next),
                Arc::clone(&on_answer),
            );
            let (requests, duration) = (plan.requests, plan.duration);
            tokio::spawn(async move {
                let mut connections = connection::Connections::default();
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
                    samples.push(sender.send(&mut connections, index).await);
                    on_answer();
                }
                samples
            })
        })
        .collect();
    for worker in workers {
        samples.extend(worker.await.unwrap_or_default());
    }
    Outcome {
        samples,
        elapsed: started.elapsed(),
        spent: None,
    }
}

/// The probe's answer shows a window that had fewer than its limit left.
fn spent_window(probe: &Sample) -> Option<SpentWindow> {
    let (limit, _) = probe.policy?;
    let left = match probe.status? {
        429 => 0,
        _ => probe.remaining? + 1,
    };
    (left < limit).then_some(SpentWindow {
        left,
        limit,
        frees_in: probe.retry_after,
    })
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `"scope";q=5;w=60` -> ("scope", 5, 60).
fn policy(headers: &HeaderMap) -> Option<(&str, u32, u32)> {
    let text = headers.get("ratelimit-policy")?.to_str().ok()?;
    let field = |key: &str| {
        text.split(';')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
    };
    let name = text.split(';').next()?.trim().trim_matches('"');
    Some((name, field("q")?, field("w")?))
}

fn inspect(scope: &str, status: u16, headers: &HeaderMap, latency_us: u32) -> Sample {
    let named = policy(headers);
    let limit = header_u64(headers, "x-ratelimit-limit");
    let remaining = header_u64(headers, "x-ratelimit-remaining");
    let ratelimit = headers
        .get("ratelimit")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let headers_consistent = match (named, limit, remaining) {
        (Some((name, q, _)), Some(limit), Some(remaining)) => {
            u64::from(q) == limit
                && remaining <= limit
                && ratelimit.starts_with(&format!("\"{name}\";"))
                && ratelimit.contains(&format!("r={remaining}"))
                && (status != 429 || remaining == 0)
        }
        _ => false,
    };
    let policy = named
        .filter(|(name, _, _)| *name == scope)
        .map(|(_, q, w)| (q, w));
    let retry_after = header_u64(headers, "retry-after").filter(|_| status == 429);
    Sample {
        status: Some(status),
        latency_us,
        policy,
        headers_consistent,
        retry_after_ok: status != 429 || retry_after.is_some_and(|s| s >= 1),
        remaining: remaining
            .filter(|_| policy.is_some())
            .and_then(|r| u32::try_from(r).ok()),
        retry_after: retry_after.and_then(|s| u32::try_from(s).ok()),
    }
}
