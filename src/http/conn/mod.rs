//! The connections of one listener: how many may be open, how long each may
//! sit without a request, and which one gives way when all slots are taken.
//!
//! - **Slots**: a semaphore of `http.max_connections` permits; a connection
//!   holds one from accept to close.
//! - **Deadlines** (`state`, `drive`): from accept to a whole request head
//!   (protocol detection and the HTTP/2 preface included), and from the
//!   first byte of each later request to its whole head,
//!   `http.header_read_timeout`; between requests (HTTP/1 keep-alive, or
//!   HTTP/2 with no open stream), `http.idle_timeout`. Past it the
//!   connection is closed; requests being served have
//!   `http.request_timeout` instead and are never cut.
//! - **Shedding** (`registry`): a client accepted while every slot is taken
//!   makes the connection that has been silent the longest (since accept, or
//!   since its last answer) close, and takes its slot. A connection inside a
//!   request (from the request's first byte to its answer) is never shed;
//!   with no silent connection, the new client waits for a slot.

mod drive;
mod io;
mod registry;
mod state;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use drive::serve;
pub use io::Watched;
pub use registry::Registered;
pub use state::Limits;

use registry::Registry;

/// How often a client waiting for a slot looks again for a connection to
/// shed: one picked may turn out busy, and busy ones become idle.
const SHED_RECHECK: Duration = Duration::from_millis(50);

pub struct Connections {
    slots: Arc<Semaphore>,
    max: u32,
    registry: Arc<Registry>,
}

/// A connection's slot and its entry in the registry; both freed on drop.
pub struct Slot {
    pub registered: Registered,
    _permit: OwnedSemaphorePermit,
}

impl Connections {
    pub fn new(max: u32) -> Connections {
        Connections {
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
            registry: Arc::new(Registry::new()),
        }
    }

    /// Waits until there is a slot, for a client just accepted; while every
    /// slot is taken, sheds the longest-silent connection to free one.
    pub async fn admit(&self) -> Slot {
        let permit = loop {
            if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
                break permit;
            }
            self.registry.shed_longest_idle();
            let waited =
                tokio::time::timeout(SHED_RECHECK, Arc::clone(&self.slots).acquire_owned()).await;
            if let Ok(permit) = waited {
                break permit.expect("the semaphore is never closed");
            }
        };
        Slot {
            registered: self.registry.register(),
            _permit: permit,
        }
    }

    /// Asks every connection to close once its requests are answered, and
    /// completes when all have.
    pub async fn close_all(&self) {
        self.registry.shut_down_all();
        let _all = self
            .slots
            .acquire_many(self.max)
            .await
            .expect("the semaphore is never closed");
    }
}
