//! Finding keys by pattern for the admin commands (`authd throttle`), on
//! whichever deployment `redis.url` names: SCAN on one server or the
//! master Sentinel names, and SCAN on every master of a Cluster (each node
//! holds only its own slots, and cursors are per node). Never `KEYS`,
//! which would stall a production Redis; every step is bounded by
//! `redis.timeout`.

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{FromRedisValue, Value};

use super::{Kv, KvConnection, KvError};

/// Keys asked for per SCAN step.
const SCAN_COUNT: usize = 1000;

impl Kv {
    /// Every key matching `pattern` (a SCAN glob), sorted; at most `limit`.
    pub async fn scan_keys(&self, pattern: &str, limit: usize) -> Result<Vec<String>, KvError> {
        let connection = self.bounded(self.target.connection()).await?;
        let mut keys = match connection {
            KvConnection::Cluster(mut cluster) => {
                let mut keys = Vec::new();
                for (host, port) in self.masters(&mut cluster).await? {
                    let node = SingleNodeRoutingInfo::ByAddress { host, port };
                    let mut cursor = 0u64;
                    loop {
                        let step = scan_command(cursor, pattern);
                        let reply = self
                            .bounded(
                                cluster.route_command(step, RoutingInfo::SingleNode(node.clone())),
                            )
                            .await?;
                        let (next, found): (u64, Vec<String>) =
                            FromRedisValue::from_redis_value(reply).map_err(unexpected)?;
                        keys.extend(found);
                        cursor = next;
                        if cursor == 0 || keys.len() >= limit {
                            break;
                        }
                    }
                }
                keys
            }
            mut single => {
                let mut keys = Vec::new();
                let mut cursor = 0u64;
                loop {
                    let (next, found): (u64, Vec<String>) = self
                        .bounded(scan_command(cursor, pattern).query_async(&mut single))
                        .await?;
                    keys.extend(found);
                    cursor = next;
                    if cursor == 0 || keys.len() >= limit {
                        break;
                    }
                }
                keys
            }
        };
        keys.sort();
        keys.dedup();
        keys.truncate(limit);
        Ok(keys)
    }

    /// The masters' addresses, from `CLUSTER NODES` of any node.
    async fn masters(
        &self,
        cluster: &mut redis::cluster_async::ClusterConnection,
    ) -> Result<Vec<(String, u16)>, KvError> {
        let reply = self
            .bounded(cluster.route_command(
                redis::cmd("CLUSTER").arg("NODES").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            ))
            .await?;
        let text = match reply {
            Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            other => String::from_redis_value(other).map_err(unexpected)?,
        };
        Ok(parse_masters(&text))
    }

    async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, KvError> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(KvError::Timeout(self.timeout)),
        }
    }
}

fn unexpected(error: redis::ParsingError) -> KvError {
    KvError::Config(format!("unexpected Redis reply: {error}"))
}

fn scan_command(cursor: u64, pattern: &str) -> redis::Cmd {
    redis::cmd("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT)
        .clone()
}

/// `<id> <host:port@cport[,hostname]> <flags> ...` lines: the masters that
/// are not failed.
fn parse_masters(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, address, flags) = (fields.next()?, fields.next()?, fields.next()?);
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
                return None;
            }
            let address = address.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((
                host.trim_matches(['[', ']']).to_string(),
                port.parse().ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_masters;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003,node3.example master - 0 1426238318243 3 connected 10923-16383
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
9a1b 127.0.0.1:30005@40005 master,fail - 0 0 5 disconnected
";
        assert_eq!(
            parse_masters(nodes),
            vec![
                ("127.0.0.1".to_string(), 30002),
                ("127.0.0.1".to_string(), 30003),
                ("127.0.0.1".to_string(), 30001)
            ]
        );
    }
}
