//! The connection behind [`super::Kv`], whichever Redis deployment it is:
//! one server (redis' self-reconnecting `ConnectionManager`), a Cluster
//! (redis' cluster connection, which follows `MOVED`/`ASK` and refreshes
//! its slot map), or the master Sentinel names (looked up again after a
//! connection fails or the old master answers `READONLY`, so a failover
//! is followed without a restart).
//!
//! Every operation authd runs touches one key, so a cluster never sees a
//! command that crosses slots.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use super::address::Address;

/// One operation's handle on the connection (cheap to clone).
#[derive(Clone)]
pub enum KvConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Node(MultiplexedConnection),
}

impl ConnectionLike for KvConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            KvConnection::Single(c) => c.req_packed_command(cmd),
            KvConnection::Cluster(c) => c.req_packed_command(cmd),
            KvConnection::Node(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            KvConnection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            KvConnection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            KvConnection::Node(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            KvConnection::Single(c) => c.get_db(),
            KvConnection::Cluster(c) => c.get_db(),
            KvConnection::Node(c) => c.get_db(),
        }
    }
}

/// TLS settings beside the URL.
pub struct TlsFiles {
    /// PEM roots (`redis.ca_file`); `None`: the system's.
    pub root_cert: Option<Vec<u8>>,
}

impl TlsFiles {
    fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: None,
            root_cert: self.root_cert.clone(),
        }
    }
}

/// Where connections come from.
pub enum Target {
    Single(ConnectionManager),
    Cluster {
        client: ClusterClient,
        current: Mutex<Option<ClusterConnection>>,
    },
    Sentinel {
        client: tokio::sync::Mutex<SentinelClient>,
        current: Mutex<Option<MultiplexedConnection>>,
        timeout: Duration,
    },
}

impl Target {
    /// Builds the target without connecting (a server starts while Redis is down).
    pub fn new(address: &Address, tls: &TlsFiles, timeout: Duration) -> RedisResult<Target> {
        match address {
            Address::Single { url, tls: secure } => {
                let client = if *secure && tls.root_cert.is_some() {
                    redis::Client::build_with_tls(url.as_str(), tls.certificates())?
                } else {
                    redis::Client::open(url.as_str())?
                };
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Ok(Target::Single(ConnectionManager::new_lazy_with_config(
                    client, config,
                )?))
            }
            Address::Cluster { nodes, tls: secure } => {
                let mut builder = ClusterClient::builder(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(200);
                if *secure && tls.root_cert.is_some() {
                    builder = builder.certs(tls.certificates());
                }
                Ok(Target::Cluster {
                    client: builder.build()?,
                    current: Mutex::new(None),
                })
            }
            Address::Sentinel {
                sentinels,
                service,
                username,
                password,
                db,
                tls: secure,
            } => {
                let mut redis_info = redis::RedisConnectionInfo::default().set_db(*db);
                if let Some(username) = username {
                    redis_info = redis_info.set_username(username);
                }
                if let Some(password) = password {
                    redis_info = redis_info.set_password(password);
                }
                let mut node =
                    SentinelNodeConnectionInfo::default().set_redis_connection_info(redis_info);
                if *secure {
                    node = node.set_tls_mode(redis::TlsMode::Secure);
                }
                let client = SentinelClient::build(
                    sentinels.clone(),
                    service.as_str(),
                    Some(node),
                    SentinelServerType::Master,
                )?;
                Ok(Target::Sentinel {
                    client: tokio::sync::Mutex::new(client),
                    current: Mutex::new(None),
                    timeout,
                })
            }
        }
    }

    /// A connection for one operation (connecting first when there is none).
    pub async fn connection(&self) -> RedisResult<KvConnection> {
        match self {
            Target::Single(manager) => Ok(KvConnection::Single(manager.clone())),
            Target::Cluster { client, current } => {
                if let Some(c) = current.lock().expect("kv lock").clone() {
                    return Ok(KvConnection::Cluster(c));
                }
                let c = client.get_async_connection().await?;
                *current.lock().expect("kv lock") = Some(c.clone());
                Ok(KvConnection::Cluster(c))
            }
            Target::Sentinel {
                client,
                current,
                timeout,
            } => {
                if let Some(c) = current.lock().expect("kv lock").clone() {
                    return Ok(KvConnection::Node(c));
                }
                // One lookup at a time; whoever waited finds the new connection.
                let mut sentinel = client.lock().await;
                if let Some(c) = current.lock().expect("kv lock").clone() {
                    return Ok(KvConnection::Node(c));
                }
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(*timeout))
                    .set_response_timeout(Some(*timeout));
                let c = sentinel.get_async_connection_with_config(&config).await?;
                *current.lock().expect("kv lock") = Some(c.clone());
                Ok(KvConnection::Node(c))
            }
        }
    }

    /// After a failed operation: forget a connection that cannot recover by
    /// itself, so the next operation connects (or asks Sentinel) again.
    pub fn failed(&self, error: &RedisError) {
        let lost = error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
            || error.code() == Some("READONLY")
            || error.code() == Some("MASTERDOWN");
        if !lost {
            return;
        }
        match self {
            Target::Single(_) => {}
            Target::Cluster { current, .. } => {
                // The cluster connection reconnects to its nodes itself; it is
                // replaced only when it could not reach any.
                if error.is_connection_refusal() {
                    *current.lock().expect("kv lock") = None;
                }
            }
            Target::Sentinel { current, .. } => *current.lock().expect("kv lock") = None,
        }
    }
}
