//! `authd serve`: build the app from the configuration, listen, serve until
//! SIGTERM/SIGINT, drain, exit 0.
//!
//! With no configuration at all (a first run) or `DEBUG` on, it runs in
//! development mode: a signing key is generated into `jwt.key_file` and the
//! refresh cookie drops `Secure` (plain http on localhost). Otherwise a
//! missing secret is a startup error.

use std::net::SocketAddr;

use clap::Args;

use super::{CliError, Context};
use crate::app::{App, StartupError};
use crate::auth::keys::{KeyError, KeySource};
use crate::http::{shutdown_signal, Server};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8000 (overrides http.bind). With
    /// neither, $PORT (set by Railway, Heroku, Cloud Run) means 0.0.0.0:$PORT.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

impl From<StartupError> for CliError {
    fn from(error: StartupError) -> CliError {
        match error {
            StartupError::Keys(KeyError::Missing) | StartupError::Hashing(_) => {
                CliError::Usage(error.to_string())
            }
            other => CliError::Failed(other.to_string()),
        }
    }
}

pub fn run(_args: ServeArgs, context: &Context) -> Result<(), CliError> {
    let config = context.config.clone();
    let bind = config.http.bind;
    // Blocking work (store calls, hashing) runs on tokio's blocking pool: one
    // thread per database connection and per hashing worker, plus a few for
    // the reset jobs' and the pruner's store calls.
    let blocking_threads = config.database.pool_size as usize + config.hash_workers() + 8;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("authd")
        .max_blocking_threads(blocking_threads)
        .build()?;
    // The Redis connection manager spawns its tasks on this runtime.
    let _runtime = runtime.enter();
    let (app, keys) = App::build(config, context.development)?;
    announce(&app, &keys);
    runtime.block_on(async {
        if let Some(kv) = &app.kv {
            kv.probe().await.map_err(|e| match &app.config.redis.url {
                // The URL (password redacted) says which server refused.
                Some(url) => CliError::Failed(format!("Redis at {url}: {e}")),
                None => CliError::Failed(e.to_string()),
            })?;
        }
        let server = Server::bind(app.clone(), bind)
            .await
            .map_err(|e| CliError::Failed(format!("cannot listen on {bind}: {e}")))?;
        let address = server.local_addr()?;
        // One signal stops both listeners.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let signal = shutdown_signal()?;
        tracing::info!(%address, "listening on http://{address}");
        let metrics = match app.config.metrics.bind {
            None => None,
            Some(metrics_bind) => {
                let server = Server::bind_metrics(app.clone(), metrics_bind)
                    .await
                    .map_err(|e| {
                        CliError::Failed(format!(
                            "cannot listen on {metrics_bind} (metrics.bind): {e}"
                        ))
                    })?;
                let metrics = server.local_addr()?;
                tracing::info!(%metrics, "metrics on http://{metrics}/metrics");
                let mut stopped = stopped.clone();
                Some(tokio::spawn(server.run(async move {
                    let _ = stopped.changed().await;
                })))
            }
        };
        server
            .run(async move {
                signal.await;
                let _ = stop.send(true);
            })
            .await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        Ok(())
    })
}

fn announce(app: &App, keys: &KeySource) {
    if let KeySource::Generated { path, created } = keys {
        let verb = if *created {
            "generated a signing key into"
        } else {
            "using the development signing key in"
        };
        tracing::warn!(
            "development mode: {verb} {path}; set SECRET_KEY or jwt.keys for production"
        );
    }
    let keys = app.tokens.keys();
    let signing = keys.signing_key();
    // Which key signs, and how many verify: what an operator checks after a rotation.
    tracing::info!(
        kid = %signing.id,
        algorithm = signing.algorithm.name(),
        verifying = keys.keys().len(),
        published = keys.keys().iter().filter(|k| k.public_jwk().is_some()).count(),
        "signing key"
    );
    if app.development {
        tracing::warn!("development mode: the refresh cookie is sent without Secure (plain http); never expose this server");
    }
}
