//! `authd serve`: build the app from the configuration, start it (see
//! `startup`), serve until SIGTERM/SIGINT, drain, exit 0.
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
use crate::http::shutdown_signal;
use crate::startup::{self, StartError};

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
        let started = startup::start(&app, bind).await?;
        let address = started.api_address()?;
        let signal = shutdown_signal()?;
        tracing::info!(%address, "listening on http://{address}");
        if let Some(metrics) = started.metrics_address() {
            tracing::info!(%metrics, "metrics on http://{metrics}/metrics");
        }
        started.run(signal).await;
        Ok(())
    })
}

impl From<StartError> for CliError {
    fn from(error: StartError) -> CliError {
        CliError::Failed(error.to_string())
    }
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
