//! The outcome of one throttle check, and the headers API.md puts on every
//! response of a throttled scope: the IETF httpapi draft's structured
//! `RateLimit-Policy` / `RateLimit` fields and the de-facto `X-RateLimit-*`.
//!
//! A request counted by several scopes (login: `login` and `login_ip`) gets
//! one [`Verdict`]: it passes only if every scope has room, and is then
//! counted by all of them; refused, it is counted by none. Its headers
//! describe one scope: a refusing one (the longest wait, so `Retry-After`
//! is the time until the request can pass) or, when it passes, the scope
//! with the fewest requests left.

use std::time::Duration;

use hyper::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::Scope;

/// What a sliding window said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The window had room for the request (and counted it, unless another
    /// scope of the same request refused).
    pub allowed: bool,
    /// Requests counted in the window after this decision.
    pub counted: u32,
    /// Until the oldest counted request leaves the window (zero if none).
    pub until_free: Duration,
}

/// A decision with its rule, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub scope: Scope,
    pub limit: u32,
    pub window: Duration,
    pub outcome: Window,
    /// The window's key (`window_key`), kept so a refusal's audit check
    /// does not build it (and hash the email) a second time.
    pub key: String,
    /// `RateLimit-Policy`: fixed by the rule, so made once per scope
    /// ([`policy_header`]) and shared.
    pub policy: HeaderValue,
}

/// The `RateLimit-Policy` value of a rule.
pub fn policy_header(scope: Scope, limit: u32, window: Duration) -> HeaderValue {
    let window = ceil_secs(window).max(1);
    let text = format!("\"{}\";q={limit};w={window}", scope.name());
    HeaderValue::from_str(&text).expect("ASCII header text")
}

/// The decisions of every scope that counts one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// One per scope, in the order asked; only the refusing ones when a
    /// standing refusal was answered without asking about the others.
    pub decisions: Vec<Decision>,
}

impl Verdict {
    /// Every scope had room: the request passes (and was counted by each).
    pub fn allowed(&self) -> bool {
        self.decisions.iter().all(Decision::allowed)
    }

    /// The decision the response's headers describe: of the refusing
    /// scopes, the one that frees last; else the one with the fewest
    /// requests left (the first asked on a tie).
    pub fn headline(&self) -> &Decision {
        let refusing = self.decisions.iter().filter(|d| !d.allowed());
        let longest_wait = refusing.fold(None, |best: Option<&Decision>, d| match best {
            Some(b) if b.outcome.until_free >= d.outcome.until_free => Some(b),
            _ => Some(d),
        });
        longest_wait
            .or_else(|| {
                self.decisions.iter().fold(None, |best, d| match best {
                    Some(b) if b.remaining() <= d.remaining() => Some(b),
                    _ => Some(d),
                })
            })
            .expect("a verdict decides at least one scope")
    }
}

const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Whole seconds, rounded up: "in 0.2 s" is "in 1 s" to a client.
fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.outcome.allowed
    }

    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.outcome.counted)
    }

    /// Seconds until one more request would pass; at least 1 when refused.
    pub fn retry_after(&self) -> u64 {
        ceil_secs(self.outcome.until_free).max(1)
    }

    /// Seconds until a slot frees (0 when nothing is counted).
    pub fn reset(&self) -> u64 {
        ceil_secs(self.outcome.until_free)
    }

    /// Adds the rate-limit headers (and `Retry-After` on a refusal).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let scope = self.scope.name();
        let number = |n: u64| HeaderValue::from(n);
        let text = |s: String| HeaderValue::from_str(&s).expect("ASCII header text");
        headers.insert(RATELIMIT_POLICY, self.policy.clone());
        headers.insert(
            RATELIMIT,
            text(format!(
                "\"{scope}\";r={};t={}",
                self.remaining(),
                self.reset()
            )),
        );
        headers.insert(X_LIMIT, number(u64::from(self.limit)));
        headers.insert(X_REMAINING, number(u64::from(self.remaining())));
        headers.insert(X_RESET, number(self.reset()));
        if !self.allowed() {
            headers.insert(RETRY_AFTER, number(self.retry_after()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_drafts_and_round_up() {
        let decision = Decision {
            scope: Scope::Login,
            limit: 5,
            window: Duration::from_secs(60),
            outcome: Window {
                allowed: false,
                counted: 5,
                until_free: Duration::from_millis(41_200),
            },
            key: String::new(),
            policy: policy_header(Scope::Login, 5, Duration::from_secs(60)),
        };
        let mut headers = HeaderMap::new();
        decision.write_headers(&mut headers);
        assert_eq!(headers["ratelimit-policy"], "\"login\";q=5;w=60");
        assert_eq!(headers["ratelimit"], "\"login\";r=0;t=42");
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        assert_eq!(headers["x-ratelimit-reset"], "42");
        assert_eq!(headers["retry-after"], "42");
    }

    fn decided(scope: Scope, limit: u32, counted: u32, allowed: bool, secs: u64) -> Decision {
        Decision {
            scope,
            limit,
            window: Duration::from_secs(60),
            outcome: Window {
                allowed,
                counted,
                until_free: Duration::from_secs(secs),
            },
            key: String::new(),
            policy: policy_header(scope, limit, Duration::from_secs(60)),
        }
    }

    #[test]
    fn a_verdict_describes_the_scope_that_binds() {
        let login = decided(Scope::Login, 5, 2, true, 30);
        let login_ip = decided(Scope::LoginIp, 5, 4, true, 50);
        let passes = Verdict {
            decisions: vec![login.clone(), login_ip],
        };
        assert!(passes.allowed());
        assert_eq!(passes.headline().scope, Scope::LoginIp, "fewest left");
        let tie = Verdict {
            decisions: vec![login.clone(), decided(Scope::LoginIp, 5, 2, true, 50)],
        };
        assert_eq!(tie.headline().scope, Scope::Login, "the first on a tie");

        let refused = Verdict {
            decisions: vec![
                decided(Scope::Login, 5, 5, false, 10),
                decided(Scope::LoginIp, 5, 5, false, 40),
            ],
        };
        assert!(!refused.allowed());
        assert_eq!(refused.headline().retry_after(), 40, "the longest wait");
        let one_refuses = Verdict {
            decisions: vec![login, decided(Scope::LoginIp, 5, 5, false, 3)],
        };
        assert!(!one_refuses.allowed());
        assert_eq!(one_refuses.headline().scope, Scope::LoginIp);
    }

    #[test]
    fn a_refusal_always_says_at_least_one_second() {
        let outcome = Window {
            allowed: false,
            counted: 3,
            until_free: Duration::ZERO,
        };
        let decision = Decision {
            scope: Scope::Registration,
            limit: 3,
            window: Duration::from_secs(2),
            outcome,
            key: String::new(),
            policy: policy_header(Scope::Registration, 3, Duration::from_secs(2)),
        };
        assert_eq!(decision.retry_after(), 1);
        let passed = Decision {
            outcome: Window {
                allowed: true,
                counted: 1,
                until_free: Duration::from_secs(2),
            },
            ..decision
        };
        let mut headers = HeaderMap::new();
        passed.write_headers(&mut headers);
        assert!(headers.get("retry-after").is_none());
        assert_eq!(headers["x-ratelimit-remaining"], "2");
    }
}
