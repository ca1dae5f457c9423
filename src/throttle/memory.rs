//! The in-process sliding window: the same semantics as the Redis script,
//! for a single instance without Redis and as the fallback when Redis fails.
//!
//! Each identity gets an exact window in a table: the instants of the
//! requests that passed within its window (at most `limit` of them). One
//! mutex guards the table; a check holds it for a few hundred nanoseconds.
//!
//! Memory is bounded by `throttle.memory_windows`, and no request can make
//! a window forget what it counts: a window leaves the table only once
//! every request in it has left its window (an exact count of zero). When
//! the table is full of windows that still count something, an identity
//! that has none is counted in its scope's [`Sketch`] instead: a fixed-size
//! count-min sketch that can only over-count. So at the bound a flood of
//! new identities in one scope makes that scope refuse other new identities
//! early (it fails closed), while every identity already in the table keeps
//! its exact window, a refusing window keeps refusing until its time, and
//! other scopes are untouched. An identity counted in the sketch stays
//! there until its count falls to zero, so moving to the table never resets
//! it either. Expired windows are swept out at most once a second, and only
//! when the table is full, so a flood cannot make every check scan the table.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::decision::Window;
use super::sketch::{Cells, Sketch};
use super::Scope;

/// Default most exact windows kept in memory (`throttle.memory_windows`).
pub const DEFAULT_WINDOWS: usize = 100_000;

/// Least time between two sweeps of expired windows.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Least time between two warnings that the table is full.
const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// One window to decide: a scope's key and its rule.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub scope: Scope,
    pub key: &'a str,
    pub limit: u32,
    pub window: Duration,
}

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

    fn window(&self, allowed: bool, now: Instant) -> Window {
        let until_free = self.hits.front().map_or(Duration::ZERO, |oldest| {
            self.window.saturating_sub(now - *oldest)
        });
        Window {
            allowed,
            counted: self.hits.len() as u32,
            until_free,
        }
    }
}

/// Where an identity is counted.
enum Place {
    Table,
    Sketch(Cells),
    /// Counted nowhere yet: a table window if one fits when the request
    /// is recorded, else the sketch.
    New,
}

pub struct MemoryLimiter {
    state: Mutex<State>,
}

struct State {
    windows: HashMap<String, Entry>,
    capacity: usize,
    /// One per scope (by `Scope::index`), made when first needed.
    sketches: [Option<Box<Sketch>>; Scope::ALL.len()],
    /// No sweep before then.
    next_sweep: Option<Instant>,
    /// No warning before then.
    next_warning: Option<Instant>,
}

impl Default for MemoryLimiter {
    fn default() -> MemoryLimiter {
        MemoryLimiter::with_capacity(DEFAULT_WINDOWS)
    }
}

impl MemoryLimiter {
    /// A limiter keeping at most `capacity` exact windows.
    pub fn with_capacity(capacity: usize) -> MemoryLimiter {
        MemoryLimiter {
            state: Mutex::new(State {
                windows: HashMap::new(),
                capacity: capacity.max(1),
                sketches: Default::default(),
                next_sweep: None,
                next_warning: None,
            }),
        }
    }

    /// Decides one request counted by every window of `asks` at `now`: it
    /// passes only if each has room, and is then recorded in each; a
    /// refused request is recorded in none. One window per ask, in order.
    pub fn check(&self, asks: &[Ask<'_>], now: Instant) -> Vec<Window> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut places = Vec::with_capacity(asks.len());
        let mut room = Vec::with_capacity(asks.len());
        for ask in asks {
            let (place, counted) = state.find(ask, now);
            room.push(counted < ask.limit);
            places.push(place);
        }
        let pass = room.iter().all(|r| *r);
        if pass {
            for (ask, place) in asks.iter().zip(&mut places) {
                state.record(ask, place, asks, now);
            }
        }
        asks.iter()
            .zip(&places)
            .zip(room)
            .map(|((ask, place), room)| state.window(ask, place, room, now))
            .collect()
    }

    /// Exact windows held.
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.windows.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    fn sketch(&mut self, ask: &Ask<'_>, now: Instant) -> &mut Sketch {
        self.sketches[ask.scope.index()]
            .get_or_insert_with(|| Box::new(Sketch::new(ask.window, now)))
    }

    /// Where the ask's identity is counted now, and its count.
    fn find(&mut self, ask: &Ask<'_>, now: Instant) -> (Place, u32) {
        if let Some(entry) = self.windows.get_mut(ask.key) {
            entry.window = ask.window;
            entry.expire(now);
            return (Place::Table, entry.hits.len() as u32);
        }
        // No sketch yet: nothing was ever counted outside the table.
        let Some(sketch) = &self.sketches[ask.scope.index()] else {
            return (Place::New, 0);
        };
        let cells = sketch.cells(ask.key);
        match sketch.count(&cells, now) {
            0 => (Place::New, 0),
            counted => (Place::Sketch(cells), counted),
        }
    }

    /// Records the request in the ask's window; `asks` are all the windows
    /// of the request, which a sweep leaves in place.
    fn record(&mut self, ask: &Ask<'_>, place: &mut Place, asks: &[Ask<'_>], now: Instant) {
        if let Place::New = place {
            *place = if self.has_room(asks, now) {
                let entry = Entry {
                    hits: VecDeque::new(),
                    window: ask.window,
                };
                self.windows.insert(ask.key.to_string(), entry);
                Place::Table
            } else {
                let sketch = self.sketch(ask, now);
                Place::Sketch(sketch.cells(ask.key))
            };
        }
        match place {
            Place::Table => {
                if let Some(entry) = self.windows.get_mut(ask.key) {
                    entry.hits.push_back(now);
                }
            }
            Place::Sketch(cells) => self.sketch(ask, now).add(cells, now),
            Place::New => {}
        }
    }

    fn window(&mut self, ask: &Ask<'_>, place: &Place, room: bool, now: Instant) -> Window {
        let nothing = Window {
            allowed: room,
            counted: 0,
            until_free: Duration::ZERO,
        };
        match place {
            Place::New => nothing,
            Place::Table => self
                .windows
                .get(ask.key)
                .map_or(nothing, |entry| entry.window(room, now)),
            Place::Sketch(cells) => {
                let sketch = self.sketch(ask, now);
                let counted = sketch.count(cells, now);
                let threshold = if room { counted } else { ask.limit };
                Window {
                    allowed: room,
                    counted: counted.min(ask.limit),
                    until_free: sketch.until_below(cells, threshold, now),
                }
            }
        }
    }

    /// Whether a new exact window fits, sweeping out windows that count
    /// nothing any more when the table is full (at most once a second;
    /// never the windows of `asks`, which the request is being recorded in).
    fn has_room(&mut self, asks: &[Ask<'_>], now: Instant) -> bool {
        if self.windows.len() < self.capacity {
            return true;
        }
        if self.next_sweep.is_none_or(|at| now >= at) {
            self.next_sweep = Some(now + SWEEP_INTERVAL);
            self.windows.retain(|key, entry| {
                entry.expire(now);
                !entry.hits.is_empty() || asks.iter().any(|ask| ask.key == key)
            });
        }
        let room = self.windows.len() < self.capacity;
        if !room && self.next_warning.is_none_or(|at| now >= at) {
            self.next_warning = Some(now + WARN_INTERVAL);
            tracing::warn!(
                windows = self.windows.len(),
                "the in-memory throttle's table is full (throttle.memory_windows): new identities are counted approximately, and may be refused early, until windows expire"
            );
        }
        room
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn ask(key: &str, limit: u32, window: Duration) -> Ask<'_> {
        Ask {
            scope: Scope::Login,
            key,
            limit,
            window,
        }
    }

    fn one(
        limiter: &MemoryLimiter,
        key: &str,
        limit: u32,
        window: Duration,
        at: Instant,
    ) -> Window {
        limiter.check(&[ask(key, limit, window)], at)[0]
    }

    #[test]
    fn at_most_limit_pass_in_any_window_and_it_slides() {
        let limiter = MemoryLimiter::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let window = 2 * SEC;
        assert!(one(&limiter, "k", 3, window, at(0)).allowed);
        assert!(one(&limiter, "k", 3, window, at(500)).allowed);
        let third = one(&limiter, "k", 3, window, at(1000));
        assert!(third.allowed && third.counted == 3);
        let refused = one(&limiter, "k", 3, window, at(1999));
        assert!(!refused.allowed);
        assert_eq!(refused.until_free, Duration::from_millis(1));
        let again = one(&limiter, "k", 3, window, at(2000));
        assert!(again.allowed, "exactly when the oldest leaves the window");
        assert!(!one(&limiter, "k", 3, window, at(2100)).allowed);
        assert!(one(&limiter, "k", 3, window, at(2500)).allowed);
        assert!(
            one(&limiter, "other", 3, window, at(2500)).allowed,
            "keys are independent"
        );
    }

    #[test]
    fn refusals_are_not_counted() {
        let limiter = MemoryLimiter::default();
        let start = Instant::now();
        one(&limiter, "k", 1, SEC, start);
        for ms in 1..100 {
            assert!(!one(&limiter, "k", 1, SEC, start + Duration::from_millis(ms)).allowed);
        }
        assert!(
            one(&limiter, "k", 1, SEC, start + SEC).allowed,
            "a flood does not extend the lockout"
        );
    }

    #[test]
    fn a_request_passes_only_if_every_window_has_room_and_is_counted_by_all_or_none() {
        let limiter = MemoryLimiter::default();
        let start = Instant::now();
        let ip = |email: &'static str| {
            [
                ask(email, 3, 60 * SEC),
                Ask {
                    scope: Scope::LoginIp,
                    ..ask("ip", 2, 60 * SEC)
                },
            ]
        };
        let first = limiter.check(&ip("ada"), start);
        assert!(first.iter().all(|w| w.allowed && w.counted == 1));
        assert!(limiter.check(&ip("bob"), start).iter().all(|w| w.allowed));
        let refused = limiter.check(&ip("ada"), start);
        assert_eq!(
            refused
                .iter()
                .map(|w| (w.allowed, w.counted))
                .collect::<Vec<_>>(),
            [(true, 1), (false, 2)],
            "ada's window had room but the client's did not: neither counts it"
        );
        assert!(one(&limiter, "ada", 3, 60 * SEC, start).counted == 2);
    }

    /// The review's attack: lock out an email, then spray more unique
    /// identities than the table holds. The lockout must stand.
    #[test]
    fn a_flood_of_identities_cannot_reset_a_refusing_window() {
        let limiter = MemoryLimiter::with_capacity(100);
        let start = Instant::now();
        let minute = 60 * SEC;
        for _ in 0..5 {
            assert!(one(&limiter, "victim", 5, minute, start).allowed);
        }
        assert!(!one(&limiter, "victim", 5, minute, start).allowed);
        let registration = Ask {
            scope: Scope::Registration,
            ..ask("blocked-ip", 1, 3600 * SEC)
        };
        assert!(limiter.check(&[registration], start)[0].allowed);
        // Four guesses short of the limit must not be forgotten either.
        for _ in 0..4 {
            one(&limiter, "guesser", 5, minute, start);
        }
        for i in 0..110_000u64 {
            let at = start + Duration::from_micros(i);
            one(&limiter, &format!("spray{i}"), 5, minute, at);
        }
        assert!(limiter.len() <= 100, "{}", limiter.len());
        let later = start + 30 * SEC;
        let victim = one(&limiter, "victim", 5, minute, later);
        assert!(!victim.allowed, "still locked out");
        assert_eq!(victim.until_free, 30 * SEC);
        assert!(!limiter.check(&[registration], later)[0].allowed);
        assert!(one(&limiter, "guesser", 5, minute, later).allowed);
        assert!(
            !one(&limiter, "guesser", 5, minute, later).allowed,
            "one guess left, not five"
        );
        assert!(
            one(&limiter, "victim", 5, minute, start + minute).allowed,
            "and it ends on time"
        );
    }

    #[test]
    fn at_the_bound_new_identities_are_counted_by_the_sketch_and_never_less() {
        let limiter = MemoryLimiter::with_capacity(10);
        let start = Instant::now();
        let minute = 60 * SEC;
        for i in 0..10 {
            one(&limiter, &format!("k{i}"), 5, minute, start);
        }
        assert_eq!(limiter.len(), 10);
        for _ in 0..3 {
            assert!(one(&limiter, "late", 3, minute, start).allowed);
        }
        let refused = one(&limiter, "late", 3, minute, start + SEC);
        assert!(!refused.allowed, "the sketch enforces the limit");
        assert!(refused.until_free >= 59 * SEC, "{:?}", refused.until_free);
        // The table empties as its windows expire; "late" stays in the
        // sketch while it counts anything, so it is not given a fresh window.
        let after = start + minute + SEC;
        assert!(one(&limiter, "fresh", 3, minute, after).allowed);
        assert!(limiter.len() <= 2, "expired windows were swept out");
        assert!(
            !one(&limiter, "late", 3, minute, after).allowed,
            "over-counted by at most a slot of the window"
        );
    }

    #[test]
    fn a_sweep_keeps_the_windows_of_the_request_being_recorded() {
        let limiter = MemoryLimiter::with_capacity(2);
        let start = Instant::now();
        let client = Ask {
            scope: Scope::LoginIp,
            ..ask("client", 1, SEC)
        };
        assert!(limiter.check(&[client], start)[0].allowed);
        one(&limiter, "other", 5, 60 * SEC, start);
        // The table is full; the client's window is empty again and would be swept.
        let later = start + 2 * SEC;
        let both = limiter.check(&[ask("new email", 5, 60 * SEC), client], later);
        assert!(both.iter().all(|w| w.allowed));
        assert_eq!(both[1].counted, 1);
        assert!(
            !limiter.check(&[client], later)[0].allowed,
            "the request was counted for the client"
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = MemoryLimiter::with_capacity(100);
        let start = Instant::now();
        for i in 0..1000 {
            one(
                &limiter,
                &format!("k{i}"),
                5,
                60 * SEC,
                start + Duration::from_millis(i),
            );
        }
        assert!(limiter.len() <= 100, "{}", limiter.len());
        assert!(
            !one(
                &limiter,
                "k999",
                1,
                60 * SEC,
                start + Duration::from_millis(1000)
            )
            .allowed,
            "identities past the bound are still counted"
        );
    }
}
