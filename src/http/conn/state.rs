//! What one connection is doing, as three parties see it: its own task
//! (which reads the socket and enforces its deadline), its requests (which
//! run on other tasks over HTTP/2) and the accept loop (which picks idle
//! connections to shed). A few atomics, so the hot path never locks:
//!
//! - `in_flight`: requests handed to the service and not answered yet;
//! - `phase` and `mark`, packed in one word so they change together:
//!   `Fresh` (accepted, nothing received yet), `Idle` (between requests,
//!   nothing received since the last answer) or `Head` (bytes of a request
//!   head have arrived), and when that phase's clock started.
//!
//! A connection is *busy* while `in_flight > 0`; otherwise its deadline is
//! `mark + http.header_read_timeout` in `Fresh` and `Head` (for the first
//! request, from accept: protocol detection and the HTTP/2 preface count),
//! and `mark + http.idle_timeout` in `Idle`. Only `Fresh` and `Idle`
//! connections may be shed: a request has begun once its first byte came.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;

/// Accepted; no byte received yet. Sheddable.
const FRESH: u64 = 0;
/// Between requests; no byte of the next one yet. Sheddable.
const IDLE: u64 = 1;
/// A request head has begun (or, over HTTP/2, the connection preface).
const HEAD: u64 = 2;
const PHASE_BITS: u32 = 2;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;

/// Why a connection was told to close by someone else.
const NOT_ASKED: u8 = 0;
const SHED: u8 = 1;
const SHUTDOWN: u8 = 2;

/// How long a connection may wait, by what it waits for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From accept, or from the first byte of a later request, to a whole head.
    pub head: Duration,
    /// From an answer to the first byte of the next request.
    pub idle: Duration,
}

impl Limits {
    /// How far ahead a connection's timer is ever set. Every new deadline
    /// (a head starting now, an idle spell starting now) is at least this
    /// far away, so a timer set no further never fires late, and the hot
    /// path never has to move it.
    pub fn step(&self) -> Duration {
        self.head.min(self.idle)
    }
}

/// Milliseconds since the server started: the connections' shared clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn instant(&self, millis: u64) -> Instant {
        self.epoch + Duration::from_millis(millis)
    }
}

/// What the timer of a connection that is not closing yet should do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Past its deadline: close it.
    Expired,
    /// Look again at this time (milliseconds on the clock).
    CheckAt(u64),
}

/// Why the owning task should start closing, when someone asked it to.
#[derive(Debug, PartialEq, Eq)]
pub enum CloseRequest {
    /// The accept loop needs the slot; honoured only while still idle.
    Shed,
    /// The server is stopping.
    Shutdown,
}

/// One connection's state; shared by its task, its requests and the registry.
pub struct Conn {
    clock: Clock,
    in_flight: AtomicU32,
    /// `mark << PHASE_BITS | phase`, `mark` in milliseconds on `clock`.
    word: AtomicU64,
    /// The connection speaks HTTP/2: bytes between requests are frames
    /// (pings, window updates), not the start of a request.
    h2: AtomicBool,
    /// `SHED` or `SHUTDOWN` once someone asked the task to close.
    close: AtomicU8,
    /// Wakes the connection's task when `close` is set.
    waker: AtomicWaker,
}

impl Conn {
    /// A connection accepted now.
    pub fn new(clock: Clock) -> Conn {
        Conn {
            clock,
            in_flight: AtomicU32::new(0),
            word: AtomicU64::new(pack(clock.now(), FRESH)),
            h2: AtomicBool::new(false),
            close: AtomicU8::new(NOT_ASKED),
            waker: AtomicWaker::new(),
        }
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Bytes arrived on the socket. Costs one or two loads unless a request
    /// head begins.
    pub fn on_bytes(&self) {
        let word = self.word.load(Ordering::Acquire);
        let phase = word & PHASE_MASK;
        if phase == HEAD || self.in_flight.load(Ordering::Acquire) > 0 {
            return;
        }
        let next = match phase {
            // The first request's head was due from accept.
            FRESH => (word & !PHASE_MASK) | HEAD,
            _ if self.h2.load(Ordering::Relaxed) => return,
            _ => pack(self.clock.now(), HEAD),
        };
        // Lost only to a request ending or starting meanwhile: either way
        // the connection is no longer in the phase this was meant to leave.
        let _ = self
            .word
            .compare_exchange(word, next, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// A request reached the service; the connection is busy until the
    /// returned guard drops.
    pub fn begin(self: &Arc<Self>, h2: bool) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if h2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        InFlight(Arc::clone(self))
    }

    pub fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Since when the connection has been sheddable, or `None` when it is
    /// busy, inside a request head, or already told to close.
    pub fn idle_since(&self) -> Option<u64> {
        if self.close.load(Ordering::Acquire) != NOT_ASKED {
            return None;
        }
        self.sheddable_since()
    }

    /// Since when the connection has been silent (since accept, or since
    /// its last answer), whether or not it was told to close.
    pub fn sheddable_since(&self) -> Option<u64> {
        if self.is_busy() {
            return None;
        }
        let word = self.word.load(Ordering::Acquire);
        (word & PHASE_MASK != HEAD).then_some(word >> PHASE_BITS)
    }

    /// What the connection's timer should do at `now`.
    pub fn verdict(&self, limits: Limits, now: u64) -> Verdict {
        let recheck = now + limits.step().as_millis() as u64;
        if self.is_busy() {
            return Verdict::CheckAt(recheck);
        }
        let word = self.word.load(Ordering::Acquire);
        let limit = match word & PHASE_MASK {
            IDLE => limits.idle,
            _ => limits.head,
        };
        let deadline = (word >> PHASE_BITS) + limit.as_millis() as u64;
        if now >= deadline {
            Verdict::Expired
        } else {
            Verdict::CheckAt(deadline.min(recheck))
        }
    }

    /// Asks the task to close the connection to free its slot, unless it
    /// was asked to close already. Returns whether this call asked.
    pub fn ask_to_shed(&self) -> bool {
        let asked = self
            .close
            .compare_exchange(NOT_ASKED, SHED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if asked {
            self.waker.wake();
        }
        asked
    }

    /// Asks the task to close the connection because the server stops.
    pub fn ask_to_shut_down(&self) {
        self.close.store(SHUTDOWN, Ordering::Release);
        self.waker.wake();
    }

    /// Registers the task to wake on a close request, then returns the
    /// pending request, if any (in that order, so none is missed).
    pub fn poll_close_request(&self, waker: &std::task::Waker) -> Option<CloseRequest> {
        self.waker.register(waker);
        match self.close.load(Ordering::Acquire) {
            SHED => Some(CloseRequest::Shed),
            SHUTDOWN => Some(CloseRequest::Shutdown),
            _ => None,
        }
    }

    /// Withdraws a shed request that came too late (a request began
    /// meanwhile), so the accept loop picks another connection.
    pub fn decline_shed(&self) {
        let _ = self
            .close
            .compare_exchange(SHED, NOT_ASKED, Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// A request being served; when the last one on a connection ends, the
/// connection's idle time starts.
pub struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let conn = &self.0;
        if conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            conn.word
                .store(pack(conn.clock.now(), IDLE), Ordering::Release);
        }
    }
}

fn pack(mark: u64, phase: u64) -> u64 {
    mark << PHASE_BITS | phase
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        head: Duration::from_secs(10),
        idle: Duration::from_secs(75),
    };

    fn conn() -> Arc<Conn> {
        Arc::new(Conn::new(Clock::new()))
    }

    #[test]
    fn a_silent_connection_expires_a_head_timeout_after_accept() {
        let conn = conn();
        let accepted = conn.idle_since().expect("sheddable from accept");
        assert_eq!(
            conn.verdict(LIMITS, accepted),
            Verdict::CheckAt(accepted + 10_000)
        );
        assert_eq!(conn.verdict(LIMITS, accepted + 10_000), Verdict::Expired);
    }

    #[test]
    fn the_first_bytes_keep_the_deadline_from_accept_and_make_it_unsheddable() {
        let conn = conn();
        let accepted = conn.idle_since().expect("sheddable from accept");
        conn.on_bytes();
        assert_eq!(conn.verdict(LIMITS, accepted + 10_000), Verdict::Expired);
        assert_eq!(conn.idle_since(), None);
    }

    #[test]
    fn a_busy_connection_never_expires_nor_is_shed() {
        let conn = conn();
        conn.on_bytes();
        let request = conn.begin(false);
        let later = conn.clock().now() + 1_000_000;
        assert_eq!(
            conn.verdict(LIMITS, later),
            Verdict::CheckAt(later + 10_000)
        );
        assert_eq!(conn.idle_since(), None);
        drop(request);
        assert!(conn.idle_since().is_some());
    }

    #[test]
    fn after_an_answer_the_idle_timeout_applies_until_the_next_head_begins() {
        let conn = conn();
        conn.on_bytes();
        drop(conn.begin(false));
        let idle = conn.idle_since().expect("idle after the answer");
        assert_eq!(
            conn.verdict(LIMITS, idle + 10_000),
            Verdict::CheckAt(idle + 20_000)
        );
        assert_eq!(conn.verdict(LIMITS, idle + 75_000), Verdict::Expired);
        conn.on_bytes();
        assert_eq!(conn.idle_since(), None);
        assert_eq!(conn.verdict(LIMITS, idle + 80_000), Verdict::Expired);
    }

    #[test]
    fn frames_between_http2_requests_do_not_start_a_head() {
        let conn = conn();
        conn.on_bytes();
        drop(conn.begin(true));
        conn.on_bytes();
        assert!(conn.idle_since().is_some());
    }

    #[test]
    fn a_connection_is_shed_once_and_a_late_shed_can_be_declined() {
        let conn = conn();
        let waker = std::task::Waker::noop();
        assert!(conn.ask_to_shed());
        assert!(!conn.ask_to_shed());
        assert_eq!(conn.idle_since(), None);
        assert_eq!(conn.poll_close_request(waker), Some(CloseRequest::Shed));
        conn.decline_shed();
        assert_eq!(conn.poll_close_request(waker), None);
        conn.ask_to_shut_down();
        assert_eq!(conn.poll_close_request(waker), Some(CloseRequest::Shutdown));
    }
}
