//! Which throttle windows this instance has already recorded a refusal
//! for: a flood of refused requests makes one audit event per identity and
//! window, not one per request. Bounded (least recently used windows are
//! forgotten first), so a flood of identities costs memory up to the bound
//! and, past it, at most one more event per forgotten window.

use std::time::{Duration, Instant};

use moka::sync::Cache;

/// Most windows remembered.
const CAPACITY: u64 = 10_000;

pub struct Refusals {
    /// Window key -> when its refusal ends.
    seen: Cache<String, Instant>,
}

impl Default for Refusals {
    fn default() -> Refusals {
        Refusals {
            seen: Cache::new(CAPACITY),
        }
    }
}

impl Refusals {
    /// True for the first refusal of `key`'s window (none remembered, or
    /// the remembered one has ended).
    pub fn first_refusal(&self, key: &str, until_free: Duration) -> bool {
        let now = Instant::now();
        if self.seen.get(key).is_some_and(|ends| ends > now) {
            return false;
        }
        // At least a second, so a window freeing one slot at a time does
        // not count as a new refusal every few milliseconds.
        self.seen.insert(
            key.to_string(),
            now + until_free.max(Duration::from_secs(1)),
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_recorded_once_until_it_frees() {
        let refusals = Refusals::default();
        assert!(refusals.first_refusal("throttle_login_ip_192.0.2.0", Duration::from_secs(60)));
        for _ in 0..100 {
            assert!(!refusals.first_refusal("throttle_login_ip_192.0.2.0", Duration::from_secs(60)));
        }
        assert!(refusals.first_refusal("throttle_login_ip_192.0.2.1", Duration::from_secs(60)));
    }

    #[test]
    fn a_window_that_freed_is_recorded_again() {
        let refusals = Refusals::default();
        let key = "throttle_login_x";
        assert!(refusals.first_refusal(key, Duration::ZERO));
        refusals
            .seen
            .insert(key.to_string(), Instant::now() - Duration::from_millis(1));
        assert!(refusals.first_refusal(key, Duration::ZERO));
    }
}
