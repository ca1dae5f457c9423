//! The Redis connection shared by every request: one server, a Cluster or
//! a Sentinel-managed master (see `address` for the URL forms and
//! `connection` for how each reconnects), every operation bounded by
//! `redis.timeout`, every key under `redis.key_prefix`. It is created
//! lazily, so a server starts (and falls back) while Redis is down.

mod address;
mod connection;
mod probe;
mod scan;

use std::time::Duration;

use std::sync::Arc;

pub use address::Address;
pub use connection::KvConnection;
use connection::{Target, TlsFiles};

use crate::config::RedisConfig;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("redis timed out after {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("{0}")]
    Config(String),
}

#[derive(Clone)]
pub struct Kv {
    target: Arc<Target>,
    address: Arc<Address>,
    prefix: String,
    timeout: Duration,
}

impl Kv {
    /// A lazy connection to `redis.url`; must be called within a tokio runtime.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Option<Kv>, KvError> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let address = Address::parse(url.expose(), config.tls_insecure)
            .map_err(|e| KvError::Config(format!("redis.url {url}: {e}")))?;
        let root_cert =
            match &config.ca_file {
                None => None,
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    KvError::Config(format!("redis.ca_file {}: {e}", path.display()))
                })?),
            };
        let timeout = *config.timeout;
        let target = Target::new(&address, &TlsFiles { root_cert }, timeout)?;
        Ok(Some(Kv {
            target: Arc::new(target),
            address: Arc::new(address),
            prefix: config.key_prefix.clone(),
            timeout,
        }))
    }

    /// What `redis.url` names.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// `{redis.key_prefix}{key}`.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs one operation on the shared connection within `redis.timeout`.
    ///
    /// The connection manager reports a failed (re)connection to the first
    /// operation after it and only then starts a new attempt, so right after
    /// Redis comes back the first operation would still fail, and the
    /// throttle's next probe is a second away. An operation refused at
    /// connection time was never sent, so it is safe to run once more on
    /// the fresh attempt, within the same timeout.
    pub async fn run<T, F, Fut>(&self, operation: F) -> Result<T, KvError>
    where
        F: Fn(KvConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let result = match operation(self.target.connection().await?).await {
                Err(error) if error.is_connection_refusal() => {
                    self.target.failed(&error);
                    operation(self.target.connection().await?).await
                }
                result => result,
            };
            if let Err(error) = &result {
                self.target.failed(error);
            }
            result
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(KvError::Timeout(self.timeout)),
        }
    }

    /// One PING.
    pub async fn ping(&self) -> Result<(), KvError> {
        self.run(|mut c| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map(|_| ())
        })
        .await
    }
}
