//! The access check of recent requests, remembered for less than a second.
//!
//! Every authenticated request must honour revocations (logout, password
//! change or reset, a disabled account, `authd token revoke`), and API.md
//! gives a revocation up to one second to reach every instance. Asking the
//! database on each request made `/me` and `token/verify` cost a blocking
//! round trip apiece; this cache keeps `Store::access_state` per (user,
//! session) for at most `jwt.revocation_cache_ttl` (<= 1 s, checked when the
//! configuration loads), counted from the moment the query *started*, so an
//! answer is never older than the contract allows, however slow the query.
//!
//! Changes made through this instance take effect here at once: they call
//! [`AccessCache::forget_user`], which drops that user's entries and makes
//! any query already in flight (which may have read the old rows) not be
//! stored. Other instances and the CLI are covered by the time bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::db::Db;
use crate::domain::UserId;
use crate::store::{AccessState, StoreError};

/// Most (user, session) answers kept. An entry is a few hundred bytes, so
/// this bounds the cache to a few MiB; beyond it, the least recently used
/// sessions are asked of the database again.
const CAPACITY: u64 = 10_000;

#[derive(Clone)]
pub struct AccessCache {
    /// `None` when the TTL is zero: every request asks the database.
    entries: Option<Cache<(UserId, String), Entry>>,
    ttl: Duration,
    /// Bumped by every local change, so a query that raced one is not kept.
    generation: Arc<AtomicU64>,
}

#[derive(Clone)]
struct Entry {
    /// When the query that produced `state` started.
    read_at: Instant,
    state: Option<AccessState>,
}

impl AccessCache {
    /// A cache whose answers are at most `ttl` old (zero: no cache).
    pub fn new(ttl: Duration) -> AccessCache {
        let entries = (!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build()
        });
        AccessCache {
            entries,
            ttl,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The user and the session's revocation, as the store said at most
    /// `ttl` ago (`None`: no such user, or the session is not theirs).
    pub async fn access_state(
        &self,
        db: &Db,
        user: UserId,
        sid: &str,
    ) -> Result<Option<AccessState>, StoreError> {
        let Some(entries) = &self.entries else {
            let sid = sid.to_owned();
            return db.call(move |s| s.access_state(user, &sid)).await;
        };
        let key = (user, sid.to_owned());
        if let Some(entry) = entries.get(&key) {
            if entry.read_at.elapsed() < self.ttl {
                return Ok(entry.state);
            }
        }
        let generation = self.generation.load(Ordering::Acquire);
        let read_at = Instant::now();
        let lookup = key.1.clone();
        let state = db.call(move |s| s.access_state(user, &lookup)).await?;
        if self.generation.load(Ordering::Acquire) == generation {
            entries.insert(
                key,
                Entry {
                    read_at,
                    state: state.clone(),
                },
            );
        }
        Ok(state)
    }

    /// Forgets what is known of `user`: call after any change to the user
    /// or their sessions has been committed.
    pub fn forget_user(&self, user: UserId) {
        let Some(entries) = &self.entries else {
            return;
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries
            .invalidate_entries_if(move |(id, _), _| *id == user)
            .expect("the cache is built with invalidation closures");
    }
}
