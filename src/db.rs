//! `Db`: how services reach the store. Store calls block (rusqlite, the
//! sync postgres client), so each runs on tokio's blocking pool, off the
//! async workers; and each call and database error is counted on the store
//! for `/metrics`. The one place that hop is made, so no service or edge
//! needs to know the store is blocking.

use std::sync::Arc;

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
        tokio::task::spawn_blocking(move || {
            let result = call(store.as_ref());
            store.note_call(result.as_ref().is_err_and(StoreError::is_failure));
            result
        })
        .await
        .unwrap_or_else(|_| Err(StoreError::Internal("a store call panicked".into())))
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
