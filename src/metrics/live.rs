//! Values read at each scrape rather than counted as they happen: the
//! hashing pool's queue, the database pool, Redis as the throttle sees it,
//! the reset requests and given-up emails, and the latest readiness check.
//! The components keep plain counters; this collector turns them into
//! metrics.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::auth::HashingPool;
use crate::reset::ResetStats;
use crate::store::Store;
use crate::throttle::{RedisState, Throttle};

/// The components a scrape reads.
pub struct Sources {
    pub hashing: HashingPool,
    pub store: Arc<dyn Store>,
    pub throttle: Arc<Throttle>,
    pub reset: Arc<ResetStats>,
    pub prune: Arc<crate::maintenance::PruneStats>,
    pub readiness: Arc<LastReadiness>,
    /// Registered as counters, not read at the scrape.
    pub audit: crate::audit::AuditCounters,
}

/// The answer of this instance's latest `/readyz` check. Reading it at a
/// scrape costs nothing; running the check there would put database work
/// on every scrape.
#[derive(Debug, Default)]
pub struct LastReadiness(AtomicU8);

impl LastReadiness {
    const UNKNOWN: u8 = 0;
    const NOT_READY: u8 = 1;
    const READY: u8 = 2;

    pub fn record(&self, ready: bool) {
        let value = if ready { Self::READY } else { Self::NOT_READY };
        self.0.store(value, Ordering::Relaxed);
    }

    /// `None` until the first check.
    pub fn get(&self) -> Option<bool> {
        match self.0.load(Ordering::Relaxed) {
            Self::UNKNOWN => None,
            value => Some(value == Self::READY),
        }
    }
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sources")
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

impl Collector for Sources {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let gauge = |encoder: &mut DescriptorEncoder, name, help, value: i64| {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        let counter = |encoder: &mut DescriptorEncoder, name, help, value: u64| {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };

        gauge(
            &mut encoder,
            "hashing_running",
            "Password hashes computing now",
            count(self.hashing.running()),
        )?;
        gauge(
            &mut encoder,
            "hashing_queue_depth",
            "Password hashes admitted and waiting for a worker",
            count(self.hashing.waiting()),
        )?;
        gauge(
            &mut encoder,
            "hashing_workers",
            "Password hashes that can compute at once (password.hash_workers)",
            count(self.hashing.workers()),
        )?;
        gauge(
            &mut encoder,
            "hashing_queue_capacity",
            "Password hashes that may wait for a worker (password.hash_queue); beyond, 503",
            count(self.hashing.queue_capacity()),
        )?;
        counter(
            &mut encoder,
            "hashing_refused",
            "Password hashes refused with 503 because every worker and queue place was taken",
            self.hashing.refused(),
        )?;
        gauge(
            &mut encoder,
            "hashing_memory_bytes",
            "argon2 memory the hashing workers hold (freed after a second idle)",
            i64::try_from(self.hashing.memory_bytes()).unwrap_or(i64::MAX),
        )?;

        counter(
            &mut encoder,
            "log_lines_dropped",
            "Log lines dropped because stderr was read more slowly than they were logged",
            crate::logging::dropped_lines(),
        )?;

        let pool = self.store.pool_state();
        let mut family = encoder.encode_descriptor(
            "db_connections",
            "Database pool connections, by state (in_use, idle)",
            None,
            MetricType::Gauge,
        )?;
        for (state, value) in [("in_use", pool.in_use), ("idle", pool.idle)] {
            ConstGauge::new(i64::from(value))
                .encode(family.encode_family(&StateLabel { state })?)?;
        }
        counter(
            &mut encoder,
            "db_calls",
            "Database calls made (each one a pooled connection's transaction or query)",
            pool.calls,
        )?;
        counter(
            &mut encoder,
            "db_errors",
            "Database calls that failed (unreachable, timed out, or an error)",
            pool.errors,
        )?;

        let redis = self.throttle.redis_state();
        if redis != RedisState::Disabled {
            gauge(
                &mut encoder,
                "redis_up",
                "1 while the throttle reaches Redis, 0 while it uses its fallback",
                i64::from(redis == RedisState::Up),
            )?;
            counter(
                &mut encoder,
                "redis_errors",
                "Failed Redis operations of the throttle",
                self.throttle.redis_errors(),
            )?;
            counter(
                &mut encoder,
                "throttle_redis_calls",
                "Throttle decisions asked of Redis (refusals that still stand are answered locally)",
                self.throttle.redis_calls(),
            )?;
        }
        gauge(
            &mut encoder,
            "throttle_fallback_active",
            "1 while Redis is down and throttle.on_redis_error decides",
            i64::from(redis == RedisState::Down),
        )?;

        let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        // Neither moves differently for an existing account than for an
        // unknown email: nothing here tells what the 202 hides.
        counter(
            &mut encoder,
            "reset_requests",
            "Password reset requests accepted (202), whether or not an account has the email",
            load(&self.reset.requests),
        )?;
        counter(
            &mut encoder,
            "reset_emails_abandoned",
            "Queued password reset emails given up after reset.delivery_timeout of failures, or never deliverable",
            load(&self.reset.abandoned),
        )?;
        counter(
            &mut encoder,
            "prune_rows",
            "Expired rows this instance's periodic prune removed",
            load(&self.prune.rows),
        )?;
        counter(
            &mut encoder,
            "prune_runs",
            "Periodic prunes this instance ran (the fleet runs one per interval)",
            load(&self.prune.runs),
        )?;
        gauge(
            &mut encoder,
            "prune_last_run_timestamp_seconds",
            "Unix time this instance last finished a periodic prune (0: never)",
            i64::try_from(load(&self.prune.last_run_unix)).unwrap_or(i64::MAX),
        )?;
        // Absent until a probe first asks: an instance nobody checks is
        // not reported as failing.
        match self.readiness.get() {
            None => Ok(()),
            Some(ready) => gauge(
                &mut encoder,
                "ready",
                "1 if this instance's latest /readyz check answered 200, 0 if 503",
                i64::from(ready),
            ),
        }
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
