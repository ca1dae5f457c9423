//! The forms `redis.url` takes, parsed into what to connect to:
//!
//! - `redis://[user:pass@]host:port/db`, `rediss://...` (TLS),
//!   `unix:///path` / `redis+unix:///path`: one server;
//! - `redis+cluster://[user:pass@]host1:port,host2:port/` (`rediss+cluster`
//!   for TLS): a Redis Cluster, any of its nodes to start from;
//! - `redis+sentinel://host1:26379,host2:26379/SERVICE[/db]`
//!   (`rediss+sentinel`): the master Sentinel names SERVICE; a password
//!   in the URL is the master's.
//!
//! `#insecure` (TLS without checking the certificate) is accepted only
//! with `redis.tls_insecure = true`.

/// What `redis.url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// One server; the URL as the redis crate reads it.
    Single { url: String, tls: bool },
    /// Node URLs (`redis://host:port`, with the credentials).
    Cluster { nodes: Vec<String>, tls: bool },
    /// Sentinel URLs, the service, the master's credentials and db.
    Sentinel {
        sentinels: Vec<String>,
        service: String,
        username: Option<String>,
        password: Option<String>,
        db: i64,
        tls: bool,
    },
}

impl Address {
    pub fn parse(url: &str, tls_insecure: bool) -> Result<Address, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "expected redis://host:port/db".to_string())?;
        if url.ends_with("#insecure") && !tls_insecure {
            return Err(
                "#insecure turns off TLS certificate checks; set redis.tls_insecure = true to allow it"
                    .into(),
            );
        }
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "redis" | "rediss" | "unix" | "redis+unix" => Ok(Address::Single {
                url: url.to_string(),
                tls: scheme == "rediss",
            }),
            "redis+cluster" | "rediss+cluster" => {
                let tls = scheme.starts_with("rediss");
                let (userinfo, hosts, _) = split(rest)?;
                let node_scheme = if tls { "rediss" } else { "redis" };
                let nodes = hosts
                    .iter()
                    .map(|host| format!("{node_scheme}://{userinfo}{host}{}", fragment(url)))
                    .collect();
                Ok(Address::Cluster { nodes, tls })
            }
            "redis+sentinel" | "rediss+sentinel" => {
                let tls = scheme.starts_with("rediss");
                let (userinfo, hosts, path) = split(rest)?;
                let mut parts = path.split('/').filter(|p| !p.is_empty());
                let service = parts
                    .next()
                    .ok_or("name the master: redis+sentinel://host:26379/SERVICE")?
                    .to_string();
                let db = match parts.next() {
                    None => 0,
                    Some(db) => db.parse().map_err(|_| format!("invalid db {db:?}"))?,
                };
                let userinfo = userinfo.trim_end_matches('@');
                let (username, password) = match userinfo.split_once(':') {
                    _ if userinfo.is_empty() => (None, None),
                    Some((user, pass)) => (
                        Some(user.to_string()).filter(|u| !u.is_empty()),
                        Some(pass.to_string()),
                    ),
                    None => (Some(userinfo.to_string()), None),
                };
                let node_scheme = if tls { "rediss" } else { "redis" };
                Ok(Address::Sentinel {
                    sentinels: hosts
                        .iter()
                        .map(|h| format!("{node_scheme}://{h}{}", fragment(url)))
                        .collect(),
                    service,
                    username,
                    password,
                    db,
                    tls,
                })
            }
            _ => Err(format!(
                "unsupported scheme {scheme}: expected redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://"
            )),
        }
    }

    pub fn tls(&self) -> bool {
        match self {
            Address::Single { tls, .. }
            | Address::Cluster { tls, .. }
            | Address::Sentinel { tls, .. } => *tls,
        }
    }
}

/// `#insecure` when the URL has it, for each node's URL.
fn fragment(url: &str) -> &'static str {
    if url.ends_with("#insecure") {
        "#insecure"
    } else {
        ""
    }
}

/// `user:pass@h1:p1,h2:p2/path#frag` into (`user:pass@`, hosts, `path`).
fn split(rest: &str) -> Result<(String, Vec<String>, String), String> {
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    let hosts: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    if hosts.is_empty() {
        return Err("name at least one host:port".into());
    }
    Ok((userinfo, hosts, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_every_node_with_the_credentials() {
        assert_eq!(
            Address::parse("redis+cluster://:pw@a:7000,b:7001/", false).unwrap(),
            Address::Cluster {
                nodes: vec!["redis://:pw@a:7000".into(), "redis://:pw@b:7001".into()],
                tls: false
            }
        );
    }

    #[test]
    fn sentinel_urls_name_the_service() {
        assert_eq!(
            Address::parse("rediss+sentinel://u:pw@s1:26379,s2:26379/mymaster/2", false).unwrap(),
            Address::Sentinel {
                sentinels: vec!["rediss://s1:26379".into(), "rediss://s2:26379".into()],
                service: "mymaster".into(),
                username: Some("u".into()),
                password: Some("pw".into()),
                db: 2,
                tls: true,
            }
        );
        assert!(Address::parse("redis+sentinel://s1:26379/", false).is_err());
    }

    #[test]
    fn insecure_tls_needs_the_option() {
        let error = Address::parse("rediss://h:6380/#insecure", false).unwrap_err();
        assert!(error.contains("redis.tls_insecure"), "{error}");
        assert!(Address::parse("rediss://h:6380/#insecure", true).is_ok());
    }
}
