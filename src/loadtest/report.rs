//! Summing the samples of a run up, and the checks that decide its exit
//! code: exactly `expect` passed within one window, every 429 had
//! `Retry-After`, the rate-limit headers were consistent.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::Sample;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub sent: u64,
    pub passed: u64,
    pub throttled: u64,
    /// Other statuses and how often each came.
    pub other: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub elapsed_seconds: f64,
    pub requests_per_second: f64,
    pub latency_ms: Latency,
    /// The rule the server announced (`RateLimit-Policy`): limit and window seconds.
    pub policy_limit: Option<u32>,
    pub policy_window_seconds: Option<u32>,
    pub checks: Checks,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    /// Exactly `expect` passed (limit runs only).
    pub limit_held: Option<bool>,
    pub expected: Option<u64>,
    /// The whole run fitted in one window (limit runs only).
    pub within_one_window: Option<bool>,
    pub every_429_had_retry_after: bool,
    pub headers_consistent: bool,
}

impl Summary {
    /// `check` is `None` for a throughput run, else how many must pass:
    /// `Some(None)` takes the limit the server announced.
    pub fn new(
        samples: &[Sample],
        elapsed: Duration,
        passed_status: u16,
        check: Option<Option<u64>>,
    ) -> Summary {
        let mut summary_other = BTreeMap::new();
        let (mut passed, mut throttled, mut errors) = (0, 0, 0);
        for sample in samples {
            match sample.status {
                Some(status) if status == passed_status => passed += 1,
                Some(429) => throttled += 1,
                Some(status) => *summary_other.entry(status).or_insert(0) += 1,
                None => errors += 1,
            }
        }
        let mut latencies: Vec<u32> = samples.iter().map(|s| s.latency_us).collect();
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
                .map_or(0.0, |us| f64::from(*us) / 1000.0)
        };
        let answered: Vec<&Sample> = samples.iter().filter(|s| s.status.is_some()).collect();
        let policies: Vec<(u32, u32)> = answered.iter().filter_map(|s| s.policy).collect();
        let policy = policies.first().copied();
        let expect = check.and_then(|n| n.or(policy.map(|(q, _)| u64::from(q))));
        let secs = elapsed.as_secs_f64();
        let headers_consistent = !answered.is_empty()
            && answered.iter().all(|s| s.headers_consistent)
            && policies.iter().all(|p| Some(*p) == policy);
        Summary {
            sent: samples.len() as u64,
            passed,
            throttled,
            other: summary_other,
            transport_errors: errors,
            elapsed_seconds: secs,
            requests_per_second: if secs > 0.0 {
                answered.len() as f64 / secs
            } else {
                0.0
            },
            latency_ms: Latency {
                p50: at(0.50),
                p95: at(0.95),
                p99: at(0.99),
            },
            policy_limit: policy.map(|p| p.0),
            policy_window_seconds: policy.map(|p| p.1),
            checks: Checks {
                limit_held: expect.map(|n| passed == n),
                expected: expect,
                within_one_window: check.map(|_| policy.is_some_and(|(_, w)| secs < f64::from(w))),
                every_429_had_retry_after: samples.iter().all(|s| s.retry_after_ok),
                headers_consistent,
            },
        }
    }

    /// True when nothing could be measured: the server is down or unreachable.
    pub fn could_not_run(&self) -> bool {
        self.sent == 0 || self.transport_errors == self.sent
    }

    /// A limit check that has no number to compare with: no `--expect`, and
    /// the server announced no policy for the scope.
    pub fn nothing_to_expect(&self) -> bool {
        self.checks.expected.is_none() && self.checks.within_one_window.is_some()
    }

    /// Every check that applies passed.
    pub fn holds(&self) -> bool {
        let c = &self.checks;
        c.limit_held.unwrap_or(true)
            && c.every_429_had_retry_after
            && c.headers_consistent
            && self.transport_errors == 0
            && !self.other.keys().any(|status| *status >= 500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(status: u16) -> Sample {
        Sample {
            status: Some(status),
            latency_us: 1000,
            policy: Some((5, 60)),
            headers_consistent: true,
            retry_after_ok: true,
            remaining: None,
            retry_after: None,
        }
    }

    #[test]
    fn exactly_the_expected_passes_hold() {
        let samples: Vec<_> = (0..20)
            .map(|i| sample(if i < 5 { 401 } else { 429 }))
            .collect();
        let summary = Summary::new(&samples, Duration::from_secs(1), 401, Some(Some(5)));
        assert_eq!((summary.passed, summary.throttled), (5, 15));
        assert!(summary.holds() && summary.checks.within_one_window == Some(true));
        let too_many = Summary::new(&samples, Duration::from_secs(1), 401, Some(Some(4)));
        assert!(
            !too_many.holds(),
            "more than expected passed: the limit did not hold"
        );
    }

    #[test]
    fn without_expect_the_announced_limit_is_expected() {
        let samples: Vec<_> = (0..20)
            .map(|i| sample(if i < 5 { 401 } else { 429 }))
            .collect();
        let summary = Summary::new(&samples, Duration::from_secs(1), 401, Some(None));
        assert_eq!(summary.checks.expected, Some(5));
        assert!(summary.holds());
        let mut silent = samples.clone();
        silent.iter_mut().for_each(|s| s.policy = None);
        let summary = Summary::new(&silent, Duration::from_secs(1), 401, Some(None));
        assert!(summary.nothing_to_expect());
    }

    #[test]
    fn missing_retry_after_or_inconsistent_headers_fail() {
        let mut samples = vec![sample(401), sample(429)];
        samples[1].retry_after_ok = false;
        assert!(!Summary::new(&samples, Duration::from_secs(1), 401, Some(Some(1))).holds());
        samples[1].retry_after_ok = true;
        samples[1].policy = Some((10, 60));
        assert!(
            !Summary::new(&samples, Duration::from_secs(1), 401, Some(Some(1)))
                .checks
                .headers_consistent
        );
        let down = vec![Sample::transport_error(0)];
        assert!(Summary::new(&down, Duration::from_secs(1), 401, Some(Some(1))).could_not_run());
    }
}
