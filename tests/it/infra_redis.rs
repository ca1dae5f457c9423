//! Redis as production runs it, on private deployments the tests start: a
//! TLS-only server with a test CA, a three-master Cluster, and a master and
//! replica behind Sentinels (failed over under load).

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use authd::config::{Config, ConnectionUrl, RedisConfig};
use authd::kv::{Kv, KvError};
use authd::throttle::{ClientNet, Identity, RedisState, Scope, Throttle};
use common::redis_topology::{self, Cluster, SentinelSet, TlsRedis};

fn redis_config(url: &str) -> RedisConfig {
    let mut config = Config::default().redis;
    config.url = Some(ConnectionUrl::new(url));
    config.timeout = authd::config::Duration::millis(500);
    config
}

fn kv(config: &RedisConfig) -> Kv {
    Kv::connect_lazy(config).unwrap().unwrap()
}

fn identity(n: u8) -> Identity {
    Identity {
        client: ClientNet::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)), 64),
        email: Some(format!("user{n}@example.com")),
        user: None,
    }
}

/// Login attempts of `who` passed, asked alternately of `throttles`.
async fn passes(throttles: &[&Throttle], who: &Identity, attempts: usize) -> usize {
    let mut passed = 0;
    for i in 0..attempts {
        let decision = throttles[i % throttles.len()]
            .check(&[Scope::Login], who)
            .await
            .expect("memory fallback never refuses");
        if decision.is_none_or(|d| d.allowed()) {
            passed += 1;
        }
    }
    passed
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_redis_is_reached_with_the_configured_ca_only() {
    if !redis_topology::available(module_path!()) {
        return;
    }
    let redis = TlsRedis::start();
    let mut config = redis_config(&redis.url("localhost"));
    config.ca_file = Some(redis.ca.cert.clone());
    kv(&config).ping().await.expect("TLS with the test CA");

    // The system roots do not know the test CA.
    config.ca_file = None;
    assert!(kv(&config).ping().await.is_err());

    // Plaintext to a TLS port gets nothing, and the start-up probe says
    // why instead of starting on the fallback for good.
    let plain = redis_config(&format!("redis://127.0.0.1:{}/0", redis.node.port));
    assert!(kv(&plain).ping().await.is_err());
    let error = kv(&plain).probe().await.unwrap_err().to_string();
    assert!(error.contains("speaks TLS only; use rediss://"), "{error}");

    // Skipping certificate checks takes an explicit option.
    let mut insecure = redis_config(&format!("{}#insecure", redis.url("localhost")));
    match Kv::connect_lazy(&insecure) {
        Err(KvError::Config(reason)) => assert!(reason.contains("redis.tls_insecure"), "{reason}"),
        _ => panic!("#insecure without redis.tls_insecure must be refused"),
    }
    insecure.tls_insecure = true;
    kv(&insecure)
        .ping()
        .await
        .expect("insecure TLS when allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_limits_are_exact_across_instances_and_survive_a_node_restart() {
    if !redis_topology::available(module_path!()) {
        return;
    }
    let mut cluster = Cluster::start();
    let config = redis_config(&cluster.url());
    let throttle_config = Config::default().throttle;
    let limit = throttle_config.rates.login.count as usize;
    let (a, b) = (kv(&config), kv(&config));
    a.probe()
        .await
        .expect("a cluster behind redis+cluster:// fits");
    let one = Throttle::new(&throttle_config, Some(a.clone()));
    let two = Throttle::new(&throttle_config, Some(b.clone()));
    // Identities whose keys land on every master.
    for n in 1..=12 {
        assert_eq!(passes(&[&one, &two], &identity(n), limit + 4).await, limit);
    }
    assert_eq!(one.redis_state(), RedisState::Up);
    assert_eq!(one.redis_errors() + two.redis_errors(), 0);

    // Reset tokens (SET, GET, GETDEL) on keys all over the slots.
    for n in 0..30 {
        let key = a.key(&format!("password_reset:{n}"));
        let k = key.clone();
        a.run(|mut c| {
            let k = k.clone();
            async move {
                redis::cmd("SET")
                    .arg(&k)
                    .arg("x")
                    .arg("EX")
                    .arg(60)
                    .query_async::<()>(&mut c)
                    .await
            }
        })
        .await
        .unwrap();
        let taken: Option<String> = b
            .run(|mut c| {
                let k = key.clone();
                async move { redis::cmd("GETDEL").arg(&k).query_async(&mut c).await }
            })
            .await
            .unwrap();
        assert_eq!(taken.as_deref(), Some("x"));
    }

    // A node dies and comes back: every key is served again, by itself.
    cluster.nodes[0].kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.nodes[0].restart();
    cluster.wait_ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut all = true;
        for n in 0..30 {
            let key = a.key(&format!("after-restart:{n}"));
            let ok = a
                .run(|mut c| {
                    let k = key.clone();
                    async move {
                        redis::cmd("SET")
                            .arg(&k)
                            .arg(1)
                            .query_async::<()>(&mut c)
                            .await
                    }
                })
                .await
                .is_ok();
            all &= ok;
        }
        if all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster was not served again after a node restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_that_does_not_fit_the_deployment_is_refused_at_start() {
    if !redis_topology::available(module_path!()) {
        return;
    }
    let cluster = Cluster::start();
    let node = redis_config(&format!("redis://127.0.0.1:{}/0", cluster.nodes[0].port));
    let error = kv(&node).probe().await.unwrap_err().to_string();
    assert!(error.contains("use redis+cluster://"), "{error}");

    let plain = common::redis_server::PrivateRedis::start(module_path!()).unwrap();
    let as_cluster = redis_config(&format!("redis+cluster://127.0.0.1:{}/", plain.port));
    let error = kv(&as_cluster).probe().await.unwrap_err().to_string();
    assert!(error.contains("not a cluster node"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_failover_under_load_returns_throttling_to_the_new_master() {
    if !redis_topology::available(module_path!()) {
        return;
    }
    let mut set = SentinelSet::start();
    let config = redis_config(&set.url());
    let throttle = Throttle::new(&Config::default().throttle, Some(kv(&config)));
    let who = |n: u32| {
        Identity::client(ClientNet::new(
            IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + n)),
            64,
        ))
    };
    // Sentinels need a moment to agree on the master and see the replica.
    let deadline = Instant::now() + Duration::from_secs(15);
    while throttle
        .check(&[Scope::Registration], &who(0))
        .await
        .unwrap()
        .is_none()
        || throttle.redis_state() != RedisState::Up
    {
        assert!(Instant::now() < deadline, "sentinel set never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let old = set.master_port();
    set.master.kill();
    let killed = Instant::now();
    let (mut requests, mut on_redis) = (0u32, 0u32);
    let mut back_after = None;
    while killed.elapsed() < Duration::from_secs(40) {
        requests += 1;
        throttle
            .check(&[Scope::Registration], &who(requests))
            .await
            .unwrap();
        if throttle.redis_state() == RedisState::Up && set.master_port() != old {
            on_redis += 1;
            if on_redis >= 20 {
                back_after = Some(killed.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let back_after = back_after.expect("throttling did not return to the new master");
    eprintln!(
        "failover: {requests} requests, throttling back on the new master after {back_after:?}, {} Redis errors",
        throttle.redis_errors()
    );
    assert_eq!(set.master_port(), Some(set.replica.port));
}

/// Locks twelve emails out through a throttle on `config`'s Redis, then
/// shows and clears them with `authd throttle` given only the environment
/// an operator would give it.
async fn admin_commands_reach_the_windows(config: &RedisConfig, env: &[(&str, String)]) {
    let mut config = config.clone();
    config.key_prefix = common::unique_prefix();
    let throttle_config = Config::default().throttle;
    let limit = throttle_config.rates.login.count as usize;
    let throttle = Throttle::new(&throttle_config, Some(kv(&config)));
    for n in 1..=12 {
        assert_eq!(passes(&[&throttle], &identity(n), limit + 1).await, limit);
    }
    let db = common::TestDb::sqlite();
    let authd = |args: &[&str]| {
        let mut command = db.authd();
        command
            .env("REDIS_URL", config.url.as_ref().unwrap().expose())
            .env("AUTHD_REDIS__KEY_PREFIX", &config.key_prefix)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["--output", "json", "throttle"])
            .args(args);
        let output = common::server::blocking(|| command.output().unwrap());
        assert!(
            output.status.success(),
            "{args:?}: {}",
            common::stderr(&output)
        );
        serde_json::from_str::<serde_json::Value>(&common::stdout(&output)).unwrap()
    };
    let one = authd(&["show", "--scope", "login", "--email", "user3@example.com"]);
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(one[0]["locked"], true);
    // Every window, wherever its slot lives.
    let all = authd(&["show", "--scope", "login"]);
    assert_eq!(all.as_array().map(Vec::len), Some(12), "{all}");
    assert_eq!(
        authd(&["clear", "--scope", "login", "--all"])["cleared"],
        12
    );
    tokio::time::sleep(authd::throttle::REFUSAL_MEMORY * 2).await;
    assert_eq!(passes(&[&throttle], &identity(3), 1).await, 1, "unlocked");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttle_show_and_clear_work_on_a_cluster_a_sentinel_set_and_tls() {
    if !redis_topology::available(module_path!()) {
        return;
    }
    let cluster = Cluster::start();
    admin_commands_reach_the_windows(&redis_config(&cluster.url()), &[]).await;
    drop(cluster);

    let tls = TlsRedis::start();
    let mut config = redis_config(&tls.url("localhost"));
    config.ca_file = Some(tls.ca.cert.clone());
    let ca = tls.ca.cert.display().to_string();
    admin_commands_reach_the_windows(&config, &[("AUTHD_REDIS__CA_FILE", ca)]).await;
    drop(tls);

    let set = SentinelSet::start();
    let config = redis_config(&set.url());
    let throttle = Throttle::new(&Config::default().throttle, Some(kv(&config)));
    let deadline = Instant::now() + Duration::from_secs(15);
    while throttle
        .check(&[Scope::Registration], &identity(200))
        .await
        .unwrap()
        .is_none()
        || throttle.redis_state() != RedisState::Up
    {
        assert!(Instant::now() < deadline, "sentinel set never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin_commands_reach_the_windows(&config, &[]).await;
}
