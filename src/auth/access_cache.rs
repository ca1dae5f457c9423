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
//!
//! Misses are single-flight: while one request asks the store for a
//! (user, session), the others that miss on it wait for that answer instead
//! of asking too, so a burst on one session makes one query, not one per
//! connection. A waiter takes the answer only if no local change came
//! between the query's start and its own arrival (the answer would be older
//! than the change); otherwise it asks itself. If the asking request is
//! cancelled, a waiter asks in its place. The table of queries in flight
//! holds one entry per (user, session) being asked, so it is bounded by the
//! requests in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use tokio::sync::watch;

use crate::db::Db;
use crate::domain::UserId;
use crate::store::{AccessState, StoreError};

/// Most (user, session) answers kept. An entry is a few hundred bytes, so
/// this bounds the cache to a few MiB; beyond it, the least recently used
/// sessions are asked of the database again.
const CAPACITY: u64 = 10_000;

type Key = (UserId, String);

/// A store answer as waiters receive it: the error is shared, since
/// `StoreError` cannot be cloned.
type Answer = Result<Option<AccessState>, Arc<StoreError>>;

#[derive(Clone)]
pub struct AccessCache {
    /// `None` when the TTL is zero: every request asks the database.
    entries: Option<Cache<Key, Entry>>,
    ttl: Duration,
    /// Bumped by every local change, so a query that raced one is not kept.
    generation: Arc<AtomicU64>,
    /// The queries in flight, by key.
    flights: Arc<Mutex<HashMap<Key, Flight>>>,
}

/// One query in flight: the generation it started in, and where its answer
/// will be published (`None` until then).
#[derive(Clone)]
struct Flight {
    generation: u64,
    answer: watch::Receiver<Option<Answer>>,
}

/// What a request that missed does: ask the store (in the generation its
/// flight was registered in), or wait for a flight.
enum Role {
    Ask(watch::Sender<Option<Answer>>, u64),
    Wait(watch::Receiver<Option<Answer>>),
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
            flights: Arc::default(),
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
        loop {
            if let Some(entry) = entries.get(&key) {
                if entry.read_at.elapsed() < self.ttl {
                    return Ok(entry.state);
                }
            }
            match self.join(&key) {
                Role::Ask(publish, generation) => {
                    return self.ask(db, entries, key, publish, generation).await;
                }
                Role::Wait(mut answer) => {
                    // Err: the asking request was cancelled; try again.
                    if let Ok(answer) = answer.wait_for(Option::is_some).await {
                        return match answer.as_ref().expect("waited for an answer") {
                            Ok(state) => Ok(state.clone()),
                            Err(error) => Err(StoreError::echo(error)),
                        };
                    }
                }
            }
        }
    }

    /// Joins the flight for `key` if one is up and started after the last
    /// local change; otherwise registers a new one.
    fn join(&self, key: &Key) -> Role {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(flight) = flights.get(key) {
            if flight.generation == generation && flight.answer.has_changed().is_ok() {
                return Role::Wait(flight.answer.clone());
            }
        }
        let (publish, answer) = watch::channel(None);
        flights.insert(key.clone(), Flight { generation, answer });
        Role::Ask(publish, generation)
    }

    /// Asks the store, keeps the answer unless a local change raced it, and
    /// hands it to the waiters.
    async fn ask(
        &self,
        db: &Db,
        entries: &Cache<Key, Entry>,
        key: Key,
        publish: watch::Sender<Option<Answer>>,
        generation: u64,
    ) -> Result<Option<AccessState>, StoreError> {
        let landing = Landing {
            flights: &self.flights,
            key: &key,
            answer: publish.subscribe(),
        };
        let read_at = Instant::now();
        let (user, lookup) = (key.0, key.1.clone());
        let answer = db.call(move |s| s.access_state(user, &lookup)).await;
        let state = match answer {
            Ok(state) => state,
            Err(error) => {
                let error = Arc::new(error);
                publish.send_replace(Some(Err(Arc::clone(&error))));
                drop(landing);
                return Err(StoreError::echo(&error));
            }
        };
        if self.generation.load(Ordering::Acquire) == generation {
            let entry = Entry {
                read_at,
                state: state.clone(),
            };
            entries.insert(key.clone(), entry);
        }
        publish.send_replace(Some(Ok(state.clone())));
        drop(landing);
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

/// Takes a flight off the table when its asker finishes or is cancelled,
/// unless a newer flight for the same key replaced it meanwhile.
struct Landing<'a> {
    flights: &'a Mutex<HashMap<Key, Flight>>,
    key: &'a Key,
    answer: watch::Receiver<Option<Answer>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights
            .get(self.key)
            .is_some_and(|flight| flight.answer.same_channel(&self.answer))
        {
            flights.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConnectionUrl};

    fn db(dir: &std::path::Path) -> Db {
        let mut config = Config::default();
        config.database.url =
            ConnectionUrl::new(format!("sqlite://{}", dir.join("authd.db").display()));
        let store = crate::store::open(&config).unwrap();
        crate::store::migrate::migrate_up(store.as_ref()).unwrap();
        Db::new(store)
    }

    fn calls(db: &Db) -> u64 {
        db.store().pool_state().calls
    }

    /// 64 requests on one session miss together: one query answers them
    /// all. On one thread, every request misses before the query returns.
    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_misses_on_one_session_make_one_store_call() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let cache = AccessCache::new(Duration::from_millis(500));
        let user = UserId::new(7).unwrap();
        let before = calls(&db);
        let checks: Vec<_> = (0..64)
            .map(|_| {
                let (cache, db) = (cache.clone(), db.clone());
                tokio::spawn(async move { cache.access_state(&db, user, "sid-1").await })
            })
            .collect();
        for check in checks {
            assert!(check.await.unwrap().unwrap().is_none(), "no such user");
        }
        assert_eq!(calls(&db) - before, 1);
        assert!(
            cache.flights.lock().unwrap().is_empty(),
            "no flight left behind"
        );

        // Another session of the same user is asked of its own.
        cache.access_state(&db, user, "sid-2").await.unwrap();
        assert_eq!(calls(&db) - before, 2);
    }

    /// A request that misses after a local change does not take the answer
    /// of a query that started before it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_miss_after_a_local_change_asks_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let cache = AccessCache::new(Duration::from_millis(500));
        let user = UserId::new(7).unwrap();
        let before = calls(&db);
        let first = {
            let (cache, db) = (cache.clone(), db.clone());
            tokio::spawn(async move { cache.access_state(&db, user, "sid").await })
        };
        tokio::task::yield_now().await;
        cache.forget_user(user);
        cache.access_state(&db, user, "sid").await.unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(calls(&db) - before, 2);
    }

    /// When the asking request is cancelled, a waiter asks in its place.
    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_asker_hands_over_to_a_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let cache = AccessCache::new(Duration::from_millis(500));
        let user = UserId::new(7).unwrap();
        let asker = {
            let (cache, db) = (cache.clone(), db.clone());
            tokio::spawn(async move { cache.access_state(&db, user, "sid").await })
        };
        tokio::task::yield_now().await;
        let waiter = {
            let (cache, db) = (cache.clone(), db.clone());
            tokio::spawn(async move { cache.access_state(&db, user, "sid").await })
        };
        tokio::task::yield_now().await;
        asker.abort();
        assert!(waiter.await.unwrap().unwrap().is_none());
        assert!(cache.flights.lock().unwrap().is_empty());
    }
}
