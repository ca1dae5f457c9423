//! Redis killed and restarted under steady register + login + refresh load,
//! with `authd serve` as a process on a private redis-server (never the
//! shared one). Checked: which requests failed and how (the documented
//! fallback: `memory` keeps answering, `deny` answers 503 with
//! `Retry-After` on the throttled endpoints only), no 500, no hang past the
//! request timeout, throttling back on Redis within 1 s of its return, and
//! no acknowledged write lost or half done.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::config::ConnectionUrl;
use common::load::{assert_nothing_lost, join_all, spawn_account_flows, Tally};
use common::process::{bounded_client, serve_command, ServeProcess};
use common::redis_server::PrivateRedis;
use common::server::TestServer;
use common::{unique_prefix, TestDb};

/// Clients running the account flow at once; the first refreshes one
/// session all along, the others register, log in and refresh 3 times.
const CLIENTS: usize = 6;
/// Load before the kill, outage, load after the return.
const BEFORE: Duration = Duration::from_millis(1500);
const OUTAGE: Duration = Duration::from_secs(2);
const AFTER: Duration = Duration::from_millis(2500);
/// Throttling must be back on Redis this soon after it answers again:
/// the 1 s (one probe interval), plus slack for a loaded two-core machine.
const RECOVERY_BOUND: Duration = Duration::from_millis(1250);

/// Runs the scenario with `throttle.on_redis_error = fallback`; returns the
/// tally and the instants of the kill and the return.
async fn scenario(test: &str, fallback: &str) -> Option<(Arc<Tally>, Instant, Instant, TestDb)> {
    let mut redis = PrivateRedis::start(test)?;
    let db = TestDb::sqlite();
    let prefix = unique_prefix();
    let mut command = serve_command(&db);
    command
        .env("REDIS_URL", redis.url())
        .env("AUTHD_REDIS__KEY_PREFIX", &prefix)
        .env("AUTHD_THROTTLE__ON_REDIS_ERROR", fallback)
        // A killed Redis fails fast (refused, broken pipe); a longer timeout
        // only keeps a starved test machine from faking outages.
        .env("AUTHD_REDIS__TIMEOUT", "1s");
    let server = ServeProcess::start(command);
    let tally = Arc::new(Tally::default());
    let until = Instant::now() + BEFORE + OUTAGE + AFTER;
    let workers = spawn_account_flows(&server.base, &tally, CLIENTS, until, bounded_client);

    tokio::time::sleep(BEFORE).await;
    let keys_pattern = format!("{prefix}throttle_*");
    assert!(
        count_keys(&redis.url(), &keys_pattern) > 0,
        "throttling used Redis before the kill"
    );
    let killed = Instant::now();
    tokio::task::block_in_place(|| redis.kill());
    tokio::time::sleep(OUTAGE).await;
    // restart() returns once the port accepts: that is the return.
    tokio::task::block_in_place(|| redis.restart());
    let back = Instant::now();
    // The new redis-server starts empty: the first throttle window written
    // to it is throttling back on Redis.
    let recovery = tokio::task::block_in_place(|| {
        let deadline = back + Duration::from_secs(10);
        while Instant::now() < deadline {
            if count_keys(&redis.url(), &keys_pattern) > 0 {
                return Some(back.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    });
    join_all(workers).await;
    tally.report(&format!("redis kill ({fallback})"));
    let recovery = recovery.expect("throttling never went back to Redis");
    eprintln!(
        "FIGURES redis kill ({fallback}): killed at +{} ms for {} ms; throttling back on Redis {} ms after it answered",
        BEFORE.as_millis(),
        (back - killed).as_millis(),
        recovery.as_millis()
    );
    assert!(
        recovery <= RECOVERY_BOUND,
        "throttling went back to Redis only {recovery:?} after its return"
    );
    let logs = server.logs();
    let count = |text: &str| logs.iter().filter(|l| l.contains(text)).count();
    let (started, ended) = (
        count("Redis is unavailable; throttling is"),
        count("Redis is back"),
    );
    // Logged when an outage starts and when it ends, not per request (a
    // starved machine may see a slow Redis as a short outage of its own).
    assert!(
        (1..=3).contains(&started) && started == ended,
        "{started} outages logged, {ended} ends: {logs:#?}"
    );
    drop(server);
    Some((tally, killed, back, db))
}

fn count_keys(url: &str, pattern: &str) -> usize {
    let Ok(mut connection) = redis::Client::open(url).unwrap().get_connection() else {
        return 0;
    };
    redis::cmd("KEYS")
        .arg(pattern)
        .query::<Vec<String>>(&mut connection)
        .map_or(0, |keys| keys.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_memory_fallback_a_redis_outage_costs_no_request() {
    let Some((tally, _, _, db)) = scenario(
        "faults_redis::with_the_memory_fallback_a_redis_outage_costs_no_request",
        "memory",
    )
    .await
    else {
        return;
    };
    tally.assert_only("memory fallback", &["200", "201"]);
    assert_nothing_lost(&db, &tally);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_deny_fallback_only_throttled_endpoints_answer_503() {
    let Some((tally, killed, back, db)) = scenario(
        "faults_redis::with_the_deny_fallback_only_throttled_endpoints_answer_503",
        "deny",
    )
    .await
    else {
        return;
    };
    // Tally::send already failed any 503 without Retry-After or its code.
    tally.assert_only("deny fallback", &["200", "201", "503"]);
    let outcomes = tally.outcomes();
    let refused: Vec<_> = outcomes.iter().filter(|o| o.status == Some(503)).collect();
    assert!(!refused.is_empty(), "the outage was seen");
    for outcome in &refused {
        assert!(
            matches!(outcome.what, "register" | "login"),
            "only throttled endpoints need Redis: {outcome:?}"
        );
        assert!(
            outcome.done >= killed && outcome.sent <= back + RECOVERY_BOUND,
            "503 only during the outage: {outcome:?}"
        );
    }
    assert!(
        outcomes.iter().any(|o| o.what == "refresh"
            && o.status == Some(200)
            && o.sent > killed
            && o.done < back),
        "refreshes went on during the outage"
    );
    let recovery = tally
        .recovery_after(back, &["register", "login"])
        .expect("throttled endpoints answered again");
    eprintln!(
        "FIGURES redis kill (deny): first throttled success {} ms after the return",
        recovery.as_millis()
    );
    assert_nothing_lost(&db, &tally);
}

/// The precise mechanism behind the recovery figure: the first throttle
/// decision that probes Redis after its return is made on Redis (the
/// connection manager's stale failed connection is not the probe's answer).
#[test]
fn the_first_probe_after_redis_returns_is_decided_on_redis() {
    let test = "faults_redis::the_first_probe_after_redis_returns_is_decided_on_redis";
    let Some(mut redis) = PrivateRedis::start(test) else {
        return;
    };
    let db = TestDb::sqlite();
    let prefix = unique_prefix();
    // The login scope's window (not `login_ip`'s, which `throttle_login_*` also matches).
    let logins = format!("{prefix}throttle_login_127.0.0.1_*");
    common::server::runtime().block_on(async {
        let (url, key_prefix) = (redis.url(), prefix.clone());
        let server = TestServer::start(&db, move |c| {
            c.redis.url = Some(ConnectionUrl::new(url));
            c.redis.key_prefix = key_prefix;
        })
        .await;
        server.register("ada@example.com").await;
        server.login("ada@example.com").await;
        assert_eq!(count_keys(&redis.url(), &logins), 1);

        tokio::task::block_in_place(|| redis.kill());
        // Decided in memory; the connection manager's reconnection fails.
        server.login("ada@example.com").await;
        // Past the manager's own retry of that reconnection.
        tokio::time::sleep(Duration::from_millis(600)).await;
        tokio::task::block_in_place(|| redis.restart());
        // The next probe is due a second after the failure.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        server.login("ada@example.com").await;
        assert_eq!(
            count_keys(&redis.url(), &logins),
            1,
            "the first login after the return was counted on Redis"
        );
    });
}
