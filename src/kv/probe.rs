//! The start-up check that `redis.url` fits the Redis behind it, so a
//! misfit is one clear line at start instead of a silent fallback later:
//! a Cluster node behind `redis://` would answer `MOVED` for most keys
//! (authd would count in process on each instance, without saying so),
//! and a plain server behind `redis+cluster://` cannot serve at all; a
//! TLS-only port behind `redis://` closes every plaintext connection, which
//! would look like an outage forever.
//! A Redis that does not answer yet is not an error: the server starts
//! on its fallback and uses Redis once it is up.

use super::{Address, Kv, KvError};

impl Kv {
    /// Checks the deployment answering at `redis.url` against its form.
    pub async fn probe(&self) -> Result<(), KvError> {
        let info = self
            .run(|mut c| async move {
                redis::cmd("INFO")
                    .arg("cluster")
                    .query_async::<String>(&mut c)
                    .await
            })
            .await;
        let info = match info {
            Ok(info) => info,
            Err(KvError::Redis(error))
                if matches!(self.address(), Address::Cluster { .. })
                    && error.to_string().contains("cluster support disabled") =>
            {
                return Err(KvError::Config(
                    "redis.url: this Redis is not a cluster node; use redis://host:port/".into(),
                ));
            }
            Err(error) if self.speaks_only_tls().await => {
                tracing::debug!(%error, "plaintext probe failed");
                return Err(KvError::Config(
                    "redis.url: this Redis port speaks TLS only; use rediss://host:port/ (with redis.ca_file for a private CA)".into(),
                ));
            }
            Err(error) => {
                tracing::warn!(%error, "Redis does not answer at start-up; throttling starts on its fallback");
                return Ok(());
            }
        };
        let cluster = info.contains("cluster_enabled:1");
        match self.address() {
            Address::Single { .. } | Address::Sentinel { .. } if cluster => Err(KvError::Config(
                "redis.url: this Redis is a cluster node; use redis+cluster://host1:port,host2:port/"
                    .into(),
            )),
            Address::Cluster { .. } if !cluster => Err(KvError::Config(
                "redis.url: this Redis is not a cluster node; use redis://host:port/".into(),
            )),
            _ => Ok(()),
        }
    }

    /// A plaintext `redis://` address whose port completes a TLS handshake
    /// and answers PING over it. The handshake skips certificate checks:
    /// this only asks what the port speaks, and nothing is sent but PING.
    async fn speaks_only_tls(&self) -> bool {
        let Address::Single { url, tls: false } = self.address() else {
            return false;
        };
        let Some(rest) = url.strip_prefix("redis://") else {
            return false;
        };
        let rest = rest.split('#').next().unwrap_or(rest);
        let Ok(client) = redis::Client::open(format!("rediss://{rest}#insecure")) else {
            return false;
        };
        let ping = async {
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        matches!(tokio::time::timeout(self.timeout, ping).await, Ok(Ok(_)))
    }
}
