//! The server's heartbeat: while a server runs, it renews a row saying so
//! every [`HEARTBEAT_INTERVAL`], and deletes it when it stops cleanly, so
//! `authd migrate down` can tell that a server is using the database (see
//! `store::presence`). A failed beat is logged and tried again at the next
//! tick: it only weakens that guard, never the service.

use crate::app::App;
use crate::domain;
use crate::store::presence::{self, HEARTBEAT_INTERVAL};
use crate::store::{Store, StoreError};

/// The running heartbeat of one server.
pub struct Heartbeat {
    app: App,
    holder: String,
    task: tokio::task::JoinHandle<()>,
}

/// Beats once (so a server is known before it says it listens), then
/// every interval in a task of its own.
pub async fn start(app: &App) -> Heartbeat {
    let holder = crate::auth::jwt::new_id();
    let mut failing = beat(app, &holder, false).await;
    let task = {
        let (app, holder) = (app.clone(), holder.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                failing = beat(&app, &holder, failing).await;
            }
        })
    };
    Heartbeat {
        app: app.clone(),
        holder,
        task,
    }
}

/// One beat; whether it failed. A failure is logged once per outage (the
/// schema may be rolled back on purpose, every beat would repeat it).
async fn beat(app: &App, holder: &str, failing: bool) -> bool {
    let me = holder.to_string();
    let result = off_the_books(app, move |s| presence::beat(s, &me, domain::now())).await;
    match result {
        Ok(()) => false,
        Err(error) => {
            if !failing {
                tracing::warn!(error = %crate::error_chain::Chain(&error), "heartbeat: could not record that this server is running");
            }
            true
        }
    }
}

impl Heartbeat {
    /// Stops beating and removes this server's row.
    pub async fn stop(mut self) {
        self.task.abort();
        let holder = std::mem::take(&mut self.holder);
        if let Err(error) = off_the_books(&self.app, move |s| presence::forget(s, &holder)).await {
            tracing::debug!(error = %crate::error_chain::Chain(&error), "heartbeat: could not remove this server's row (it expires by itself)");
        }
    }
}

/// A server dropped without a clean stop (a failed start) stops beating;
/// its row expires by itself.
impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A store call that the database metrics do not count (see
/// [`crate::db::Db::call_uncounted`]).
async fn off_the_books(
    app: &App,
    call: impl FnOnce(&dyn Store) -> Result<(), StoreError> + Send + 'static,
) -> Result<(), StoreError> {
    app.db.call_uncounted(call).await
}
