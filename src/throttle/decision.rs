//! The outcome of one throttle check, and the headers API.md puts on every
//! response of a throttled scope: the IETF httpapi draft's structured
//! `RateLimit-Policy` / `RateLimit` fields and the de-facto `X-RateLimit-*`.

use std::time::Duration;

use hyper::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::Scope;

/// What a sliding window said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The request may pass (and was counted).
    pub allowed: bool,
    /// Requests counted in the window after this decision.
    pub counted: u32,
    /// Until the oldest counted request leaves the window (zero if none).
    pub until_free: Duration,
}

/// A decision with its rule, ready to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub scope: Scope,
    pub limit: u32,
    pub window: Duration,
    pub outcome: Window,
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
        let window = ceil_secs(self.window).max(1);
        let number = |n: u64| HeaderValue::from(n);
        let text = |s: String| HeaderValue::from_str(&s).expect("ASCII header text");
        headers.insert(
            RATELIMIT_POLICY,
            text(format!("\"{scope}\";q={};w={window}", self.limit)),
        );
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
