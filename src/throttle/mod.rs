//! Throttling: sliding windows per scope and identity, on Redis when one is
//! configured (exact across instances) and in process otherwise.
//!
//! When Redis fails, `throttle.on_redis_error` decides: `memory` counts in
//! process (per instance), `allow` lets requests through, `deny` answers
//! 503. The outage is logged once when it starts and once when it ends, not
//! per request. While Redis is down, one request a second probes it (the
//! others take the fallback at once instead of waiting for a timeout), so
//! the service returns to Redis by itself, without a restart.
//!
//! A refusal from Redis is answered again locally while it must stand
//! (`refusals`), so a flood of refused requests costs no Redis round trips.
//!
//! A request may count against several scopes at once (login: `login` per
//! client and email, `login_ip` per client); each limiter decides them in
//! one atomic step, so a refused request is counted by none.

mod client_net;
mod decision;
mod memory;
mod redis_limiter;
mod refusals;
mod scope;
mod sketch;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;

pub use client_net::{ClientNet, DEFAULT_IPV6_PREFIX};
pub use decision::{Decision, Verdict, Window};
pub use memory::{Ask, MemoryLimiter, DEFAULT_WINDOWS};
pub use redis_limiter::RedisLimiter;
pub use refusals::REFUSAL_MEMORY;
pub use scope::{email_hash, parse_ident, window_key, Counts, Identity, Scope};
pub use sketch::SKETCH_BYTES;

use crate::config::{ThrottleConfig, ThrottleFallback, ThrottleRates};
use crate::kv::{Kv, KvError};

/// How often a down Redis is tried again.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Throttling could not decide and the configuration says to refuse (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("throttling is unavailable (Redis is down and throttle.on_redis_error = \"deny\")")]
pub struct ThrottleUnavailable;

/// Redis as the throttle sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisState {
    Disabled,
    Up,
    Down,
}

pub struct Throttle {
    rates: ThrottleRates,
    ipv6_prefix: u8,
    fallback: ThrottleFallback,
    redis: Option<RedisLimiter>,
    memory: MemoryLimiter,
    /// Refusals Redis gave that still stand.
    refused: refusals::Refusals,
    health: Health,
    /// Each scope's `RateLimit-Policy` value, fixed by its rate.
    policies: [HeaderValue; Scope::ALL.len()],
}

/// The outage state: whether Redis is down, and when to probe it next.
struct Health {
    started: Instant,
    down: AtomicBool,
    /// Milliseconds since `started` at which the next probe may run.
    next_probe_ms: AtomicU64,
    /// Failed Redis operations, for metrics.
    errors: AtomicU64,
    /// Decisions asked of Redis, for metrics.
    calls: AtomicU64,
}

impl Throttle {
    pub fn new(config: &ThrottleConfig, kv: Option<Kv>) -> Throttle {
        let policies = Scope::ALL.map(|scope| {
            let rate = scope.rate(&config.rates);
            decision::policy_header(scope, rate.count, rate.window)
        });
        Throttle {
            policies,
            rates: config.rates.clone(),
            ipv6_prefix: config.ipv6_prefix,
            fallback: config.on_redis_error,
            redis: kv.map(RedisLimiter::new),
            memory: MemoryLimiter::with_capacity(config.memory_windows as usize),
            refused: refusals::Refusals::default(),
            health: Health {
                started: Instant::now(),
                down: AtomicBool::new(false),
                next_probe_ms: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                calls: AtomicU64::new(0),
            },
        }
    }

    /// The network `ip` is counted by (`throttle.ipv6_prefix`).
    pub fn client(&self, ip: std::net::IpAddr) -> ClientNet {
        ClientNet::new(ip, self.ipv6_prefix)
    }

    /// Decides one request by `identity` that every scope of `scopes`
    /// counts. `Ok(None)` means no decision was made and the request may
    /// pass (Redis down, fallback `allow`).
    pub async fn check(
        &self,
        scopes: &[Scope],
        identity: &Identity,
    ) -> Result<Option<Verdict>, ThrottleUnavailable> {
        let keys: Vec<String> = scopes.iter().map(|s| window_key(*s, identity)).collect();
        let rates: Vec<_> = scopes.iter().map(|s| s.rate(&self.rates)).collect();
        let verdict = |outcomes: Vec<(Scope, Window, String)>| Verdict {
            decisions: outcomes
                .into_iter()
                .map(|(scope, outcome, key)| {
                    let rate = scope.rate(&self.rates);
                    Decision {
                        scope,
                        limit: rate.count,
                        window: rate.window,
                        outcome,
                        key,
                        policy: self.policies[scope.index()].clone(),
                    }
                })
                .collect(),
        };
        let decided = |windows: Vec<Window>, keys: Vec<String>| {
            let outcomes = scopes.iter().copied().zip(windows).zip(keys);
            verdict(outcomes.map(|((s, w), k)| (s, w, k)).collect())
        };
        let in_memory = |keys: Vec<String>| {
            let asks: Vec<Ask<'_>> = scopes
                .iter()
                .zip(&keys)
                .zip(&rates)
                .map(|((scope, key), rate)| Ask {
                    scope: *scope,
                    key,
                    limit: rate.count,
                    window: rate.window,
                })
                .collect();
            let windows = self.memory.check(&asks, Instant::now());
            drop(asks);
            decided(windows, keys)
        };
        let Some(redis) = &self.redis else {
            return Ok(Some(in_memory(keys)));
        };
        let sent = Instant::now();
        let standing: Vec<(Scope, Window, String)> = scopes
            .iter()
            .zip(&keys)
            .filter_map(|(scope, key)| Some((*scope, self.refused.get(key, sent)?, key.clone())))
            .collect();
        if !standing.is_empty() {
            return Ok(Some(verdict(standing)));
        }
        if self.health.should_try() {
            self.health.calls.fetch_add(1, Ordering::Relaxed);
            let asks: Vec<_> = keys
                .iter()
                .zip(&rates)
                .map(|(key, rate)| (key.as_str(), rate.count, rate.window))
                .collect();
            // Boxed: the Redis client's future is kilobytes, and held inline
            // it would enlarge every throttled request's future, the
            // in-memory limiter's included (see `http::handlers::handle`).
            let asked = Box::pin(redis.check(&asks));
            match asked.await {
                Ok(windows) => {
                    self.health.succeeded();
                    for (key, window) in keys.iter().zip(&windows) {
                        self.refused.remember(key, window, sent);
                    }
                    return Ok(Some(decided(windows, keys)));
                }
                Err(error) => self.health.failed(&error, self.fallback),
            }
        }
        match self.fallback {
            ThrottleFallback::Memory => Ok(Some(in_memory(keys))),
            ThrottleFallback::Allow => Ok(None),
            ThrottleFallback::Deny => Err(ThrottleUnavailable),
        }
    }

    pub fn redis_state(&self) -> RedisState {
        match (&self.redis, self.health.down.load(Ordering::Relaxed)) {
            (None, _) => RedisState::Disabled,
            (Some(_), false) => RedisState::Up,
            (Some(_), true) => RedisState::Down,
        }
    }

    /// Exact windows the in-process limiter holds (at most `throttle.memory_windows`).
    pub fn memory_windows(&self) -> usize {
        self.memory.len()
    }

    pub fn fallback(&self) -> ThrottleFallback {
        self.fallback
    }

    /// Decisions asked of Redis since start.
    pub fn redis_calls(&self) -> u64 {
        self.health.calls.load(Ordering::Relaxed)
    }

    /// Failed Redis operations since start.
    pub fn redis_errors(&self) -> u64 {
        self.health.errors.load(Ordering::Relaxed)
    }
}

impl Health {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Up: always. Down: one caller per probe interval claims the probe.
    fn should_try(&self) -> bool {
        if !self.down.load(Ordering::Relaxed) {
            return true;
        }
        let now = self.now_ms();
        let next = self.next_probe_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_probe_ms
                .compare_exchange(
                    next,
                    now + PROBE_INTERVAL.as_millis() as u64,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn failed(&self, error: &KvError, fallback: ThrottleFallback) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.next_probe_ms.store(
            self.now_ms() + PROBE_INTERVAL.as_millis() as u64,
            Ordering::Relaxed,
        );
        if !self.down.swap(true, Ordering::AcqRel) {
            let fallback = match fallback {
                ThrottleFallback::Memory => "counting in process on each instance",
                ThrottleFallback::Allow => "letting requests through unthrottled",
                ThrottleFallback::Deny => "refusing throttled requests with 503",
            };
            tracing::error!(%error, "Redis is unavailable; throttling is {fallback} until it is back");
        }
    }

    fn succeeded(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("Redis is back; throttling uses it again");
        }
    }
}
