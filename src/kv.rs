//! The Redis connection: one multiplexed, self-reconnecting connection
//! (redis' `ConnectionManager`) shared by every request, every operation
//! bounded by `redis.timeout`, every key under `redis.key_prefix`. It is
//! created lazily, so a server starts (and falls back) while Redis is down.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisConfig;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("redis timed out after {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

#[derive(Clone)]
pub struct Kv {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl Kv {
    /// A lazy connection to `redis.url`; must be called within a tokio runtime.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Option<Kv>, KvError> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let client = redis::Client::open(url.expose())?;
        let timeout = *config.timeout;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Some(Kv {
            connection,
            prefix: config.key_prefix.clone(),
            timeout,
        }))
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
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            match operation(self.connection.clone()).await {
                Err(error) if error.is_connection_refusal() => {
                    operation(self.connection.clone()).await
                }
                result => result,
            }
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
