//! A sliding-window count-min sketch: where the in-process limiter counts
//! the identities its table of exact windows has no room for, in a fixed
//! amount of memory however many identities there are.
//!
//! The sketch keeps `DEPTH` rows of `WIDTH` counters for each of the last
//! `SLOTS + 1` slots of time (a slot is a `SLOTS`th of the window). A key
//! adds one to one counter per row, chosen by a hash with a per-process
//! random seed (so no client can aim its keys at someone else's counters),
//! in the current slot. Its count is, over the rows, the least sum of its
//! counters over the live slots.
//!
//! Every error is an over-count, never an under-count: other keys sharing
//! a counter only add to it, and the live slots cover the whole window plus
//! up to one slot more. So a sketch can refuse a key early (the more keys
//! it holds, the sooner), never let one through that its exact window
//! would refuse, and a count it refused on can only fall as slots age out.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// Rows: the chance that every row of a key is crowded falls with each.
const DEPTH: usize = 4;
/// Counters per row.
const WIDTH: usize = 2048;
/// Slots per window: the over-count in time is at most one slot.
const SLOTS: u64 = 8;
/// Live slots: the current one and the `SLOTS` before it.
const LIVE: usize = SLOTS as usize + 1;

/// Memory of one sketch, for the docs: about 288 KiB.
pub const SKETCH_BYTES: usize = LIVE * DEPTH * WIDTH * std::mem::size_of::<u32>();

pub struct Sketch {
    origin: Instant,
    slot: Duration,
    seed: RandomState,
    /// `LIVE` generations, each `DEPTH * WIDTH` counters; the generation of
    /// slot `n` is at `n % LIVE`.
    counters: Box<[u32]>,
    /// The slot number each generation holds.
    holds: [u64; LIVE],
}

/// A key's counter in each row.
pub type Cells = [usize; DEPTH];

impl Sketch {
    /// A sketch for windows of length `window`, starting empty at `origin`.
    pub fn new(window: Duration, origin: Instant) -> Sketch {
        let slot = (window / SLOTS as u32).max(Duration::from_millis(1));
        Sketch {
            origin,
            slot,
            seed: RandomState::new(),
            counters: vec![0; LIVE * DEPTH * WIDTH].into_boxed_slice(),
            holds: [u64::MAX; LIVE],
        }
    }

    pub fn cells(&self, key: &str) -> Cells {
        std::array::from_fn(|row| {
            let hash = self.seed.hash_one((row, key));
            row * WIDTH + (hash % WIDTH as u64) as usize
        })
    }

    fn slot_at(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed / self.slot.as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// When the generation of slot `n` stops counting.
    fn expires(&self, n: u64) -> Instant {
        let nanos = self.slot.as_nanos() * u128::from(n + SLOTS + 1);
        self.origin + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The live slots at `now`, oldest first.
    fn live(&self, now: Instant) -> impl Iterator<Item = u64> + '_ {
        let current = self.slot_at(now);
        (current.saturating_sub(SLOTS)..=current)
            .filter(move |n| self.holds[(*n % LIVE as u64) as usize] == *n)
    }

    fn counter(&self, n: u64, cell: usize) -> u32 {
        self.counters[(n % LIVE as u64) as usize * DEPTH * WIDTH + cell]
    }

    /// The key's count at `now`: at least the requests it made in the last window.
    pub fn count(&self, cells: &Cells, now: Instant) -> u32 {
        self.count_after(cells, now, None)
    }

    /// The count once the slots up to `dropped` (inclusive) have aged out.
    fn count_after(&self, cells: &Cells, now: Instant, dropped: Option<u64>) -> u32 {
        cells
            .iter()
            .map(|&cell| {
                self.live(now)
                    .filter(|n| dropped.is_none_or(|d| *n > d))
                    .map(|n| self.counter(n, cell))
                    .fold(0u32, u32::saturating_add)
            })
            .min()
            .unwrap_or(0)
    }

    /// Counts one request of the key at `now`.
    pub fn add(&mut self, cells: &Cells, now: Instant) {
        let current = self.slot_at(now);
        let generation = (current % LIVE as u64) as usize;
        let counters = &mut self.counters[generation * DEPTH * WIDTH..][..DEPTH * WIDTH];
        if self.holds[generation] != current {
            // The slot it held has aged out: reuse it for this one.
            counters.fill(0);
            self.holds[generation] = current;
        }
        for &cell in cells {
            counters[cell] = counters[cell].saturating_add(1);
        }
    }

    /// How long until the key's count falls below `threshold` if nothing
    /// more is added (zero if it already is).
    pub fn until_below(&self, cells: &Cells, threshold: u32, now: Instant) -> Duration {
        if self.count(cells, now) < threshold {
            return Duration::ZERO;
        }
        for n in self.live(now) {
            if self.count_after(cells, now, Some(n)) < threshold {
                return self.expires(n).saturating_duration_since(now);
            }
        }
        self.expires(self.slot_at(now))
            .saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(8);

    #[test]
    fn a_key_counts_its_requests_for_at_least_the_window() {
        let start = Instant::now();
        let mut sketch = Sketch::new(WINDOW, start);
        let ada = sketch.cells("ada");
        for i in 0..3u64 {
            sketch.add(&ada, start + Duration::from_millis(500 * i));
        }
        assert_eq!(sketch.count(&ada, start + Duration::from_secs(1)), 3);
        assert_eq!(sketch.count(&sketch.cells("bob"), start), 0);
        assert_eq!(
            sketch.count(&ada, start + WINDOW + Duration::from_millis(999)),
            3,
            "counted up to one slot past the window"
        );
        assert_eq!(
            sketch.count(&ada, start + WINDOW + Duration::from_secs(2)),
            0
        );
    }

    #[test]
    fn until_below_is_when_enough_slots_have_aged_out() {
        let start = Instant::now();
        let mut sketch = Sketch::new(WINDOW, start);
        let ada = sketch.cells("ada");
        sketch.add(&ada, start);
        sketch.add(&ada, start + Duration::from_millis(3_500));
        let now = start + Duration::from_secs(4);
        assert_eq!(sketch.until_below(&ada, 3, now), Duration::ZERO);
        // The first request's slot (0) stops counting at 9 s, the second's (3) at 12 s.
        assert_eq!(sketch.until_below(&ada, 2, now), Duration::from_secs(5));
        assert_eq!(sketch.until_below(&ada, 1, now), Duration::from_secs(8));
        assert_eq!(sketch.count(&ada, start + Duration::from_secs(9)), 1);
    }

    #[test]
    fn crowding_over_counts_and_never_under_counts() {
        let start = Instant::now();
        let mut sketch = Sketch::new(WINDOW, start);
        let ada = sketch.cells("ada");
        for _ in 0..5 {
            sketch.add(&ada, start);
        }
        for i in 0..200_000 {
            let key = format!("spray{i}");
            sketch.add(&sketch.cells(&key), start);
        }
        assert!(sketch.count(&ada, start) >= 5);
        let crowded = (0..100)
            .filter(|i| sketch.count(&sketch.cells(&format!("new{i}")), start) >= 5)
            .count();
        assert!(
            crowded > 90,
            "a flood makes new keys refused early: {crowded}"
        );
    }
}
