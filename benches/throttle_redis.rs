//! The latency one throttle decision adds when it goes to Redis: N
//! sequential decisions (the Lua script round trip) on distinct keys,
//! reported as p50 / p99 / max. Also the in-memory decision, for scale.
//!
//! Run: `cargo bench --bench throttle_redis` (Redis at $AUTHD_BENCH_REDIS_URL,
//! default redis://127.0.0.1:6379; keys under a throwaway prefix that expire
//! within a minute).

use std::time::{Duration, Instant};

use authd::config::{ConnectionUrl, RedisConfig};
use authd::kv::Kv;
use authd::throttle::{Ask, MemoryLimiter, RedisLimiter, Scope};

const DECISIONS: usize = 20_000;

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    format!(
        "p50 {:?}  p99 {:?}  max {:?}",
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    )
}

fn main() {
    let url =
        std::env::var("AUTHD_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let memory = MemoryLimiter::default();
    let mut samples = Vec::with_capacity(DECISIONS);
    for i in 0..DECISIONS {
        let started = Instant::now();
        let key = format!("bench_{}", i % 1000);
        let ask = Ask {
            scope: Scope::Login,
            key: &key,
            limit: 5,
            window: Duration::from_secs(60),
        };
        memory.check(&[ask], Instant::now());
        samples.push(started.elapsed());
    }
    println!(
        "in-memory decision ({DECISIONS} sequential):  {}",
        percentiles(samples)
    );

    runtime.block_on(async {
        let config = RedisConfig {
            url: Some(ConnectionUrl::new(url.clone())),
            key_prefix: format!("authd_bench_{}:", std::process::id()),
            timeout: authd::config::Duration::secs(1),
            ..RedisConfig::default()
        };
        let kv = Kv::connect_lazy(&config)
            .expect("a valid Redis URL")
            .expect("a Redis URL");
        if kv.ping().await.is_err() {
            println!("Redis at {url} is not answering; skipping the Redis decision bench");
            return;
        }
        let limiter = RedisLimiter::new(kv);
        let mut samples = Vec::with_capacity(DECISIONS);
        for i in 0..DECISIONS {
            let started = Instant::now();
            limiter
                .check(&[(&format!("bench_{}", i % 1000), 5, Duration::from_secs(60))])
                .await
                .expect("decision");
            samples.push(started.elapsed());
        }
        println!(
            "Redis decision ({DECISIONS} sequential, loopback): {}",
            percentiles(samples)
        );
    });
}
