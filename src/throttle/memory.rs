//! The in-process sliding window: the same semantics as the Redis script,
//! for a single instance without Redis and as the fallback when Redis fails.
//!
//! Each key keeps the instants of the requests that passed within its
//! window (at most `limit` of them). One mutex guards the map; a check holds
//! it for a few hundred nanoseconds. The map is bounded: past `MAX_KEYS`
//! windows, expired ones are dropped, and if that is not enough the windows
//! idle longest are evicted (an attacker spraying identities can only reset
//! windows older than everyone else's, never grow memory).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::decision::Window;

/// Most windows kept in memory.
pub const MAX_KEYS: usize = 100_000;

struct Entry {
    hits: VecDeque<Instant>,
    window: Duration,
}

impl Entry {
    fn expire(&mut self, now: Instant) {
        while self
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.hits.pop_front();
        }
    }

    fn newest(&self) -> Option<Instant> {
        self.hits.back().copied()
    }
}

pub struct MemoryLimiter {
    windows: Mutex<HashMap<String, Entry>>,
    max_keys: usize,
}

impl Default for MemoryLimiter {
    fn default() -> MemoryLimiter {
        MemoryLimiter::with_capacity(MAX_KEYS)
    }
}

impl MemoryLimiter {
    pub fn with_capacity(max_keys: usize) -> MemoryLimiter {
        MemoryLimiter {
            windows: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
        }
    }

    /// Decides and records one request for `key` at `now`.
    pub fn check(&self, key: &str, limit: u32, window: Duration, now: Instant) -> Window {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() >= self.max_keys && !windows.contains_key(key) {
            make_room(&mut windows, self.max_keys, now);
        }
        let entry = windows.entry(key.to_string()).or_insert_with(|| Entry {
            hits: VecDeque::new(),
            window,
        });
        entry.window = window;
        entry.expire(now);
        let allowed = (entry.hits.len() as u64) < u64::from(limit);
        if allowed {
            entry.hits.push_back(now);
        }
        let until_free = entry.hits.front().map_or(Duration::ZERO, |oldest| {
            window.saturating_sub(now - *oldest)
        });
        Window {
            allowed,
            counted: entry.hits.len() as u32,
            until_free,
        }
    }

    pub fn len(&self) -> usize {
        self.windows.lock().map_or(0, |w| w.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops expired windows, then the tenth idle longest if still full.
fn make_room(windows: &mut HashMap<String, Entry>, max_keys: usize, now: Instant) {
    windows.retain(|_, entry| {
        entry.expire(now);
        !entry.hits.is_empty()
    });
    if windows.len() < max_keys {
        return;
    }
    let mut by_age: Vec<(Instant, String)> = windows
        .iter()
        .map(|(key, entry)| (entry.newest().unwrap_or(now), key.clone()))
        .collect();
    let evict = (max_keys / 10).max(1);
    by_age.select_nth_unstable_by_key(evict - 1, |(newest, _)| *newest);
    for (_, key) in by_age.into_iter().take(evict) {
        windows.remove(&key);
    }
    tracing::warn!(
        evicted = evict,
        "the in-memory throttle is full; evicted the longest idle windows"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn at_most_limit_pass_in_any_window_and_it_slides() {
        let limiter = MemoryLimiter::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let window = 2 * SEC;
        assert!(limiter.check("k", 3, window, at(0)).allowed);
        assert!(limiter.check("k", 3, window, at(500)).allowed);
        let third = limiter.check("k", 3, window, at(1000));
        assert!(third.allowed && third.counted == 3);
        let refused = limiter.check("k", 3, window, at(1999));
        assert!(!refused.allowed);
        assert_eq!(refused.until_free, Duration::from_millis(1));
        let again = limiter.check("k", 3, window, at(2000));
        assert!(again.allowed, "exactly when the oldest leaves the window");
        assert!(!limiter.check("k", 3, window, at(2100)).allowed);
        assert!(limiter.check("k", 3, window, at(2500)).allowed);
        assert!(
            limiter.check("other", 3, window, at(2500)).allowed,
            "keys are independent"
        );
    }

    #[test]
    fn refusals_are_not_counted() {
        let limiter = MemoryLimiter::default();
        let start = Instant::now();
        limiter.check("k", 1, SEC, start);
        for ms in 1..100 {
            assert!(
                !limiter
                    .check("k", 1, SEC, start + Duration::from_millis(ms))
                    .allowed
            );
        }
        assert!(
            limiter.check("k", 1, SEC, start + SEC).allowed,
            "a flood does not extend the lockout"
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = MemoryLimiter::with_capacity(100);
        let start = Instant::now();
        for i in 0..1000 {
            limiter.check(
                &format!("k{i}"),
                5,
                60 * SEC,
                start + Duration::from_millis(i),
            );
        }
        assert!(limiter.len() <= 100, "{}", limiter.len());
        assert!(
            !limiter
                .check("k999", 1, 60 * SEC, start + Duration::from_millis(1000))
                .allowed,
            "recent windows survive"
        );
    }
}
