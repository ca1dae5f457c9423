//! `/readyz` tells the truth about the database (schema version,
//! writability) and the modes in force; the periodic prune runs once per
//! interval across the fleet.

use crate::common;

use authd::store::migrate;
use common::pg_server::PrivatePostgres;
use common::server::{runtime, TestServer};
use common::TestDb;
use reqwest::StatusCode;

#[test]
fn readyz_reports_a_schema_migrated_down_under_a_running_server() {
    let db = TestDb::sqlite();
    runtime().block_on(async {
        let server = TestServer::start(&db, |_| {}).await;
        let ready = server.get("/readyz", "").await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
        assert_eq!(ready.body["database"], "ok");
        assert_eq!(ready.body["schema_version"], ready.body["schema_expected"]);
        assert_eq!(ready.body["throttle"], "memory");
        assert_eq!(ready.body["reset_tokens"], "database");

        let latest = ready.body["schema_expected"].as_u64().unwrap() as u32;
        let store = db.store();
        migrate::migrate_down(store.as_ref(), latest - 1).unwrap();
        let ready = server.get("/readyz", "").await;
        ready.assert_problem(503, "service_unavailable");
        assert_eq!(ready.body["database"], "schema_mismatch", "{}", ready.text);
        assert_eq!(ready.body["schema_version"], latest - 1);
    });
}

#[test]
fn readyz_reports_a_database_that_refuses_writes() {
    let Some(pg) = PrivatePostgres::start(module_path!(), 20) else {
        return;
    };
    let url = pg.url("localhost", "sslmode=disable");
    runtime().block_on(async {
        let mut config = authd::config::Config::default();
        config.database.url = authd::config::ConnectionUrl::new(&url);
        config.database.auto_migrate = Some(true);
        config.secret_key = authd::config::Secret::new("x".repeat(64));
        let server = TestServer::start_with(config).await;
        assert_eq!(server.get("/readyz", "").await.status, StatusCode::OK);

        // As after a failover to a standby: every transaction is read-only.
        let admin = url.clone();
        common::server::blocking(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            client
                .batch_execute("ALTER SYSTEM SET default_transaction_read_only = on")
                .unwrap();
            client.batch_execute("SELECT pg_reload_conf()").unwrap();
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let ready = server.get("/readyz", "").await;
            if ready.status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(ready.body["database"], "read_only", "{}", ready.text);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{}", ready.text);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
}

#[test]
fn the_fleet_prunes_once_per_interval() {
    let db = TestDb::sqlite();
    runtime().block_on(async {
        let one = TestServer::start(&db, |_| {}).await;
        let two = TestServer::start(&db, |_| {}).await;
        authd::maintenance::run_once(&one.app, "one").await;
        authd::maintenance::run_once(&two.app, "two").await;
        authd::maintenance::run_once(&one.app, "three").await;
        let runs = |s: &TestServer| s.app.prune.runs.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            runs(&one) + runs(&two),
            1,
            "the others skip until the interval has passed"
        );
        assert!(
            one.app
                .prune
                .last_run_unix
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        );
    });
}

/// With every pooled connection busy, a request waits `database.pool_timeout`
/// for one, then gets 503 with `Retry-After`, instead of queueing until the
/// client gives up.
#[test]
fn a_server_at_its_pool_limit_answers_503_quickly() {
    let Some(db) = TestDb::postgres(module_path!()) else {
        return;
    };
    // A lock held elsewhere makes the one pooled connection wait on it.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let url = db.url();
    runtime().block_on(async {
        let server = TestServer::start(&db, |c| {
            c.database.pool_size = 1;
            c.database.pool_timeout = authd::config::Duration::millis(300);
            c.jwt.revocation_cache_ttl = authd::config::Duration::secs(0);
        })
        .await;
        server.register("ada@example.com").await;
        let token = common::server::access(&server.login("ada@example.com").await);

        let holder = std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut tx = client.transaction().unwrap();
            tx.batch_execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                .unwrap();
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            tx.commit().unwrap();
        });
        locked_rx.recv().unwrap();
        let waiting = {
            let (client, url, token) = (
                server.client.clone(),
                server.url("/api/auth/me/"),
                token.clone(),
            );
            tokio::spawn(async move {
                client
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;

        let started = std::time::Instant::now();
        let busy = server.get("/api/auth/me/", &token).await;
        let waited = started.elapsed();
        busy.assert_problem(503, "service_unavailable");
        assert_eq!(busy.header("retry-after"), Some("1"));
        assert!(
            waited < std::time::Duration::from_secs(5),
            "answered after the pool timeout, not the lock: {waited:?}"
        );

        release_tx.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(
            waiting.await.unwrap(),
            StatusCode::OK,
            "the waiting request completes"
        );
    });
}
