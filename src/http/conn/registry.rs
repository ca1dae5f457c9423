//! The live connections of one listener, so the accept loop can shed the
//! longest-idle one when every slot is taken, and shutdown can reach them
//! all.
//!
//! The map sits behind a mutex that is taken when a connection starts or
//! ends, when the accept loop looks for a connection to shed (only while
//! at `http.max_connections`, at most every `SHED_RECHECK`) and at
//! shutdown: never per request. A scan is linear in the open connections,
//! which `http.max_connections` bounds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::state::{Clock, Conn};

pub struct Registry {
    clock: Clock,
    live: Mutex<Live>,
}

#[derive(Default)]
struct Live {
    next_id: u64,
    conns: HashMap<u64, Arc<Conn>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            clock: Clock::new(),
            live: Mutex::default(),
        }
    }

    /// Records a connection accepted now; it leaves the registry when the
    /// returned handle drops.
    pub fn register(self: &Arc<Self>) -> Registered {
        let conn = Arc::new(Conn::new(self.clock));
        let mut live = self.lock();
        let id = live.next_id;
        live.next_id += 1;
        live.conns.insert(id, Arc::clone(&conn));
        Registered {
            registry: Arc::clone(self),
            id,
            conn,
        }
    }

    /// Asks the connection that has been sheddable (silent since accept, or
    /// idle between requests) the longest to close. Returns whether there
    /// was one.
    pub fn shed_longest_idle(&self) -> bool {
        let live = self.lock();
        let oldest = live
            .conns
            .values()
            .filter_map(|conn| Some((conn.idle_since()?, conn)))
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((since, conn)) => {
                let asked = conn.ask_to_shed();
                if asked {
                    let idle_ms = self.clock.now().saturating_sub(since);
                    tracing::debug!(
                        idle_ms,
                        "at the connection limit: closing the longest-idle connection"
                    );
                }
                asked
            }
            None => false,
        }
    }

    /// Asks every open connection to close once its requests are answered.
    pub fn shut_down_all(&self) {
        for conn in self.lock().conns.values() {
            conn.ask_to_shut_down();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        // The map stays consistent even if a holder panicked: every change
        // is a single insert or remove.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's place in the registry.
pub struct Registered {
    registry: Arc<Registry>,
    id: u64,
    conn: Arc<Conn>,
}

impl Registered {
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().conns.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_connection_is_shed_and_busy_ones_never() {
        let registry = Arc::new(Registry::new());
        let busy = registry.register();
        let _request = busy.conn().begin(false);
        let first = registry.register();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = registry.register();

        assert!(registry.shed_longest_idle());
        let waker = std::task::Waker::noop();
        assert!(first.conn().poll_close_request(waker).is_some());
        assert!(second.conn().poll_close_request(waker).is_none());

        assert!(registry.shed_longest_idle());
        assert!(second.conn().poll_close_request(waker).is_some());
        assert!(!registry.shed_longest_idle(), "only a busy one is left");
        assert!(busy.conn().poll_close_request(waker).is_none());
    }

    #[test]
    fn a_closed_connection_leaves_the_registry() {
        let registry = Arc::new(Registry::new());
        drop(registry.register());
        assert!(!registry.shed_longest_idle());
    }
}
