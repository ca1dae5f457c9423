//! `authd serve` (a real process) sent SIGTERM under steady register +
//! login + refresh load. Checked: every request the server took got its
//! answer (2xx: in-flight work finishes), requests after the signal find
//! the listener closed rather than hanging, no answer is a 500 or 503, the
//! process exits 0 well within `http.shutdown_grace`, and no acknowledged
//! write was lost or half done.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::load::{assert_nothing_lost, join_all, spawn_account_flows, Tally};
use common::process::{serve_command, ServeProcess};
use common::TestDb;

const CLIENTS: usize = 8;
const BEFORE: Duration = Duration::from_millis(1500);
/// How long the clients keep trying after the signal.
const AFTER: Duration = Duration::from_millis(1000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_what_it_took_and_loses_nothing() {
    let db = TestDb::sqlite();
    let mut command = serve_command(&db);
    // Real hashing cost and one worker, so requests are queued at the signal.
    command
        .env("AUTHD_PASSWORD__MEMORY_KIB", "19456")
        .env("AUTHD_PASSWORD__ITERATIONS", "2")
        .env("AUTHD_PASSWORD__HASH_WORKERS", "1")
        .env("AUTHD_PASSWORD__HASH_QUEUE", "64");
    let mut server = ServeProcess::start(command);
    let tally = Arc::new(Tally::default());
    let until = Instant::now() + BEFORE + AFTER;
    // A fresh connection per request: kept-alive idle connections are
    // closed at the signal, and a request racing that close is the client's
    // to retry, not the server's to lose.
    let fresh_connections = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(common::process::REQUEST_TIMEOUT + Duration::from_secs(3))
            .build()
            .unwrap()
    };
    let workers = spawn_account_flows(&server.base, &tally, CLIENTS, until, fresh_connections);
    tokio::time::sleep(BEFORE).await;
    let signalled = Instant::now();
    server.terminate();
    let code = server.exit_code();
    let exited = signalled.elapsed();
    join_all(workers).await;
    tally.report("sigterm");
    let outcomes = tally.outcomes();
    let in_flight = outcomes
        .iter()
        .filter(|o| o.sent < signalled && o.done >= signalled && o.status.is_some())
        .count();
    let refused = outcomes.iter().filter(|o| o.status.is_none()).count();
    eprintln!(
        "FIGURES sigterm: exit code {code:?} {} ms after the signal; {in_flight} requests in flight at the signal answered; {refused} later requests found the listener closed",
        exited.as_millis()
    );
    assert_eq!(code, Some(0));
    assert!(
        exited < Duration::from_secs(30),
        "within http.shutdown_grace"
    );
    for outcome in &outcomes {
        match outcome.status {
            Some(status) => assert!(
                (200..300).contains(&status),
                "every answer is a success: {outcome:?}"
            ),
            None => assert!(
                outcome.done >= signalled,
                "no request failed before the signal: {outcome:?}"
            ),
        }
    }
    assert!(
        in_flight > 0,
        "the signal came while requests were in flight"
    );
    let logs = server.logs();
    assert!(logs.iter().any(|l| l.contains("SIGTERM received")));
    assert_nothing_lost(&db, &tally);
}
