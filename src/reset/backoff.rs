//! How long a reset email waits after a failed attempt: doubling from one
//! second, capped at five minutes, each delay drawn from the upper half of
//! its range so that instances (or many rows) failing together do not
//! retry in step.

use std::time::Duration;

const FIRST: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(300);

/// The wait after attempt number `attempts` (1 for the first) failed.
pub fn retry_delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    let ceiling = FIRST.saturating_mul(1 << doublings).min(CAP);
    let half = ceiling / 2;
    let jitter_ms = rand::random::<u64>() % (half.as_millis() as u64 + 1);
    half + Duration::from_millis(jitter_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter_and_stop_at_the_cap() {
        for _ in 0..200 {
            let first = retry_delay(1);
            assert!((FIRST / 2..=FIRST).contains(&first), "{first:?}");
            let fourth = retry_delay(4);
            assert!(
                (Duration::from_secs(4)..=Duration::from_secs(8)).contains(&fourth),
                "{fourth:?}"
            );
            for attempts in [12, 40, u32::MAX] {
                let late = retry_delay(attempts);
                assert!((CAP / 2..=CAP).contains(&late), "{late:?}");
            }
        }
    }

    #[test]
    fn delays_are_spread_out() {
        let draws: std::collections::BTreeSet<Duration> = (0..50).map(|_| retry_delay(6)).collect();
        assert!(draws.len() > 10, "jittered: {draws:?}");
    }
}
