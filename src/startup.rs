//! Starting a server from a built [`App`]: check the Redis it was given,
//! bind the API's listener (and `metrics.bind`'s), announce this instance
//! to the fleet (its heartbeat), then serve until told to stop, with the
//! periodic prune running beside. `authd serve` and the test servers start
//! through here alike, so the wiring a deployment runs is the wiring the
//! tests exercise.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use crate::app::App;
use crate::heartbeat::{self, Heartbeat};
use crate::http::Server;

/// How long a stopping server waits for the audit writer to store what is
/// queued.
const AUDIT_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// How often a warning reports log lines dropped since the last one.
const LOG_DROPS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Redis behind `redis.url` does not fit it (see `kv::probe`).
    #[error("Redis at {url}: {reason}")]
    Redis { url: String, reason: String },
    #[error("cannot listen on {address}{what}: {source}")]
    Listen {
        address: SocketAddr,
        /// Which setting named the address, when not the API's.
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// A server bound and announced, not yet serving.
pub struct Started {
    app: App,
    api: Server,
    metrics: Option<Server>,
    heartbeat: Heartbeat,
}

/// Checks Redis, binds the listeners and starts the heartbeat. Once this
/// returns, `migrate down` sees the server (so a test may rely on it).
pub async fn start(app: &App, bind: SocketAddr) -> Result<Started, StartError> {
    if let Some(kv) = &app.kv {
        kv.probe().await.map_err(|e| StartError::Redis {
            // The URL's Display redacts its password.
            url: app
                .config
                .redis
                .url
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
            reason: e.to_string(),
        })?;
    }
    let listen = |address, what| {
        move |source| StartError::Listen {
            address,
            what,
            source,
        }
    };
    let api = Server::bind(app.clone(), bind)
        .await
        .map_err(listen(bind, ""))?;
    let metrics = match app.config.metrics.bind {
        None => None,
        Some(address) => Some(
            Server::bind_metrics(&api, address)
                .await
                .map_err(listen(address, " (metrics.bind)"))?,
        ),
    };
    let heartbeat = heartbeat::start(app).await;
    Ok(Started {
        app: app.clone(),
        api,
        metrics,
        heartbeat,
    })
}

impl Started {
    /// Where the API listens (the port chosen, for a bind to port 0).
    pub fn api_address(&self) -> io::Result<SocketAddr> {
        self.api.local_addr()
    }

    /// Where `/metrics` listens when `metrics.bind` is set.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|m| m.local_addr().ok())
    }

    /// Serves until `shutdown` completes: both listeners stop, in-flight
    /// requests drain, the prune and the heartbeat stop, and the audit
    /// writer stores what the drained requests recorded.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let metrics = self.metrics.map(|server| {
            let mut stopped = stopped.clone();
            tokio::spawn(server.run(async move {
                let _ = stopped.changed().await;
            }))
        });
        let pruner = crate::maintenance::spawn_auto_prune(&self.app);
        let drops = tokio::spawn(crate::logging::report_drops(LOG_DROPS_EVERY));
        self.api
            .run(async move {
                shutdown.await;
                let _ = stop.send(true);
            })
            .await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        if let Some(pruner) = pruner {
            pruner.abort();
        }
        drops.abort();
        self.app.audit.close(AUDIT_CLOSE_GRACE).await;
        self.heartbeat.stop().await;
    }
}
