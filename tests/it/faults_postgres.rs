//! The Postgres connection cut for 2 s under steady register + login +
//! refresh load: `authd serve` as a process reaches a throwaway schema of
//! the shared Postgres through a TCP proxy the test cuts (every connection
//! dropped, new ones refused), so the shared server itself is never
//! touched. Checked: failures are 503 with `Retry-After` (never a 500, never
//! a hang past the request timeout), the service recovers by itself within
//! 1 s of the database's return, and no acknowledged write was lost or half
//! done.

use crate::common;

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::load::{assert_nothing_lost, join_all, spawn_account_flows, Tally};
use common::process::{bounded_client, serve_command, ServeProcess};
use common::proxy::TcpProxy;
use common::TestDb;

const CLIENTS: usize = 6;
const BEFORE: Duration = Duration::from_millis(1500);
const OUTAGE: Duration = Duration::from_secs(2);
const AFTER: Duration = Duration::from_millis(2500);
/// The 1 s, plus slack for a loaded two-core machine (the pool
/// retries at most 500 ms apart).
const RECOVERY_BOUND: Duration = Duration::from_millis(1250);

/// `db`'s URL with its host and port replaced by the proxy's, and the
/// address the proxy forwards to.
fn through_proxy(db: &TestDb) -> (String, std::net::SocketAddr, String) {
    let url = db.url();
    let config: postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("a TCP Postgres is needed, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = (host.as_str(), port)
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    (url, upstream, format!("{host}:{port}"))
}

#[test]
fn a_two_second_database_cut_costs_503s_then_recovers_and_loses_nothing() {
    let Some(db) = TestDb::postgres(
        "faults_postgres::a_two_second_database_cut_costs_503s_then_recovers_and_loses_nothing",
    ) else {
        return;
    };
    // The sync Postgres client (TestDb) must not run on the runtime.
    let tally = common::server::runtime().block_on(load_with_a_cut(&db));
    assert_nothing_lost(&db, &tally);
}

/// Runs the load, cuts the database, checks the answers; returns the tally.
async fn load_with_a_cut(db: &TestDb) -> Arc<Tally> {
    let (url, upstream, authority) = through_proxy(db);
    let proxy = TcpProxy::start(upstream);
    let proxied = url.replacen(&authority, &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(proxied, url, "the URL names {authority} explicitly");
    let mut command = serve_command(db);
    command
        .env("DATABASE_URL", &proxied)
        .env("AUTHD_DATABASE__AUTO_MIGRATE", "true");
    let server = ServeProcess::start(command);
    let tally = Arc::new(Tally::default());
    let until = Instant::now() + BEFORE + OUTAGE + AFTER;
    let workers = spawn_account_flows(&server.base, &tally, CLIENTS, until, bounded_client);
    tokio::time::sleep(BEFORE).await;
    let cut = Instant::now();
    proxy.cut(OUTAGE);
    let back = cut + OUTAGE;
    join_all(workers).await;
    tally.report("postgres cut");

    // Tally::send already failed any 503 without Retry-After or its code, and any 500.
    tally.assert_only("postgres cut", &["200", "201", "503"]);
    let database_calls = ["register", "login", "refresh"];
    let recovery = tally
        .recovery_after(back, &database_calls)
        .expect("the service answered again after the cut");
    let failed_late = tally.failures_sent_after(back + RECOVERY_BOUND);
    let outcomes = tally.outcomes();
    let failed = outcomes.iter().filter(|o| o.status == Some(503)).count();
    let waited_through = outcomes
        .iter()
        .filter(|o| o.sent < back && o.done >= back && o.status.is_some_and(|s| s < 300))
        .count();
    eprintln!(
        "FIGURES postgres cut: {} ms outage; {failed} answered 503; {waited_through} sent during the cut waited for a connection and succeeded; first success {} ms after the return",
        OUTAGE.as_millis(),
        recovery.as_millis()
    );
    assert!(
        recovery <= RECOVERY_BOUND,
        "first success only {recovery:?} after the database's return"
    );
    assert!(
        failed_late.is_empty(),
        "requests sent {RECOVERY_BOUND:?} after the return still failed: {failed_late:#?}"
    );
    let logs = server.logs();
    assert!(
        !logs.iter().any(|l| l.contains("status=500")),
        "no request ended in a 500"
    );
    tally
}
