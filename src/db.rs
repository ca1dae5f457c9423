//! `Db`: how services reach the store. Store calls block (rusqlite, the
//! sync postgres client), so each runs on tokio's blocking pool, off the
//! async workers; and each call and database error is counted on the store
//! for `/metrics`. The one place that hop is made, so no service or edge
//! needs to know the store is blocking. A refresh rotation skips the hop
//! where the store writes rotations on a thread of its own (SQLite's group
//! commit): the call then awaits the store's answer.

use std::sync::Arc;

use crate::store::sessions::{RotateOutcome, Rotation};
use crate::store::{Store, StoreError};

/// A cheap-to-clone handle on the store.
#[derive(Clone)]
pub struct Db {
    store: Arc<dyn Store>,
}

impl Db {
    pub fn new(store: Arc<dyn Store>) -> Db {
        Db { store }
    }

    /// Runs `call` against the store on the blocking pool.
    pub async fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        let result = tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .unwrap_or_else(|_| Err(StoreError::Internal("a store call panicked".into())));
        self.counted(result)
    }

    /// Counts a store call and whether the database failed it.
    fn counted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.store
            .note_call(result.as_ref().is_err_and(StoreError::is_failure));
        result
    }

    /// A refresh rotation: handed to the store's own writer where it has
    /// one (no blocking thread waits for it; see
    /// `SessionStore::queue_rotation`), else run like any other call.
    pub async fn rotate_refresh(&self, rotation: Rotation) -> Result<RotateOutcome, StoreError> {
        match self.store.queue_rotation(&rotation) {
            Some(ticket) => self.counted(ticket.await),
            None => self.call(move |s| s.rotate_refresh(&rotation)).await,
        }
    }

    /// Like [`Db::call`], but not counted in the database metrics: for the
    /// heartbeat, whose beat every few seconds would blur what requests cause.
    pub async fn call_uncounted<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .unwrap_or_else(|_| Err(StoreError::Internal("a store call panicked".into())))
    }

    /// The store itself, for the wiring that needs it whole (metrics, the
    /// periodic prune); services go through [`Db::call`].
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
