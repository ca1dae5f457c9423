//! Refusals Redis gave, remembered by this instance for half a second.
//!
//! A window Redis refused stays full until its oldest entry leaves it:
//! other instances can only add entries, and a refused request adds none.
//! So until then, every request of that key would be refused again, and
//! asking Redis each time only turns a flood of refused requests into a
//! flood of round trips (one Lua call per 429). An instance that has seen a
//! refusal answers the same refusal itself, with the same headers, until the
//! window frees, but for at most [`REFUSAL_MEMORY`]: the one thing that
//! empties a window early is `authd throttle clear`, which running servers
//! thus honour within that time. The deadline counts from when the request
//! to Redis was sent, before Redis read its clock, so it is never later than
//! the moment Redis itself would let a request through.

use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::decision::Window;

/// The longest a refusal is answered without asking Redis again.
pub const REFUSAL_MEMORY: Duration = Duration::from_millis(500);

/// Most windows remembered; beyond, the least recently used are asked of
/// Redis again.
const CAPACITY: u64 = 10_000;

#[derive(Clone, Copy)]
struct Refusal {
    counted: u32,
    /// When the oldest counted request leaves the window.
    frees_at: Instant,
    /// When to ask Redis again.
    until: Instant,
}

pub struct Refusals {
    windows: Cache<String, Refusal>,
}

impl Default for Refusals {
    fn default() -> Refusals {
        Refusals {
            windows: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(REFUSAL_MEMORY)
                .build(),
        }
    }
}

impl Refusals {
    /// The refusal still standing for `key` at `now`, if one is known.
    pub fn get(&self, key: &str, now: Instant) -> Option<Window> {
        let refusal = self.windows.get(key)?;
        (now < refusal.until).then(|| Window {
            allowed: false,
            counted: refusal.counted,
            until_free: refusal.frees_at.saturating_duration_since(now),
        })
    }

    /// Remembers what Redis answered for `key` to a request sent at `sent`,
    /// when it was a refusal.
    pub fn remember(&self, key: &str, window: &Window, sent: Instant) {
        if window.allowed {
            return;
        }
        let frees_at = sent + window.until_free;
        let until = frees_at.min(sent + REFUSAL_MEMORY);
        if until > Instant::now() {
            let refusal = Refusal {
                counted: window.counted,
                frees_at,
                until,
            };
            self.windows.insert(key.to_owned(), refusal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(until_free: Duration) -> Window {
        Window {
            allowed: false,
            counted: 5,
            until_free,
        }
    }

    #[test]
    fn a_refusal_stands_until_the_window_frees_or_the_memory_ends() {
        let refusals = Refusals::default();
        let sent = Instant::now();
        refusals.remember("long", &refused(Duration::from_secs(30)), sent);
        refusals.remember("short", &refused(Duration::from_millis(200)), sent);
        let later = sent + Duration::from_millis(100);
        let long = refusals.get("long", later).unwrap();
        assert!(!long.allowed && long.counted == 5);
        assert_eq!(
            long.until_free,
            Duration::from_millis(29_900),
            "headers as Redis's"
        );
        assert_eq!(
            refusals.get("short", later).unwrap().until_free,
            Duration::from_millis(100)
        );
        assert!(refusals
            .get("short", sent + Duration::from_millis(200))
            .is_none());
        assert!(
            refusals.get("long", sent + REFUSAL_MEMORY).is_none(),
            "Redis is asked again"
        );
        assert!(refusals.get("other", later).is_none());
    }

    #[test]
    fn passes_are_never_remembered() {
        let refusals = Refusals::default();
        let passed = Window {
            allowed: true,
            counted: 1,
            until_free: Duration::from_secs(60),
        };
        refusals.remember("key", &passed, Instant::now());
        assert!(refusals.get("key", Instant::now()).is_none());
    }
}
