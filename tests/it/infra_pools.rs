//! The connection budget on a Postgres whose slots run out (a private
//! server the test starts with a tiny `max_connections`): a server's pool
//! shrinks back to `database.min_idle` once idle, and an admin command
//! waits up to `database.connect_timeout` for a free slot, then says
//! which server was full.

use crate::common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use authd::config::{Config, ConnectionUrl};
use authd::store::{self, Role, UserQuery};
use common::pg_server::PrivatePostgres;

fn connections_named(url: &str, name: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .unwrap()
        .get(0)
}

#[test]
fn an_idle_pool_shrinks_back_to_min_idle() {
    let Some(pg) = PrivatePostgres::start(module_path!(), 40) else {
        return;
    };
    let url = pg.url("127.0.0.1", "sslmode=disable");
    let mut config = Config::default();
    config.database.url = ConnectionUrl::new(url.clone());
    config.database.pool_size = 6;
    config.database.min_idle = 1;
    config.database.idle_timeout = authd::config::Duration::secs(1);
    config.database.pool_timeout = authd::config::Duration::secs(20);
    let admin = store::open(&config).unwrap();
    store::migrate::migrate_up(admin.as_ref()).unwrap();
    drop(admin);
    let server = store::open_as(&config, Role::Server).unwrap();
    let name = store::presence::server_application_name("public");

    // Six reads queued behind a lock hold six pooled connections at once.
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut tx = client.transaction().unwrap();
            tx.batch_execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                .unwrap();
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            tx.commit().unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let server = server.clone();
            std::thread::spawn(move || {
                server
                    .list_users(&UserQuery {
                        search: None,
                        limit: 1,
                        after: None,
                    })
                    .unwrap()
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while connections_named(&url, &name) < 6 {
        assert!(Instant::now() < deadline, "the pool never grew to 6");
        std::thread::sleep(Duration::from_millis(50));
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }

    // r2d2 closes idle connections above min_idle on its 30 s sweep.
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let open = connections_named(&url, &name);
        if open <= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections still open: the pool kept its size"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(server);
}

#[test]
fn an_admin_command_waits_for_a_free_slot_within_connect_timeout() {
    let Some(pg) = PrivatePostgres::start(module_path!(), 4) else {
        return;
    };
    let url = pg.url("127.0.0.1", "sslmode=disable");
    let db = common::TestDb::sqlite();
    let authd = |connect_timeout: &str, args: &[&str]| {
        db.authd()
            .env("DATABASE_URL", &url)
            .env("AUTHD_DATABASE__CONNECT_TIMEOUT", connect_timeout)
            .args(args)
            .output()
            .unwrap()
    };
    let migrated = authd("5s", &["migrate"]);
    assert!(migrated.status.success(), "{}", common::stderr(&migrated));

    // Every slot taken (superuser_reserved_connections = 0).
    let mut holders: Vec<_> = (0..4)
        .map(|_| postgres::Client::connect(&url, postgres::NoTls).unwrap())
        .collect();
    let full = authd("1s", &["user", "list"]);
    let message = common::stderr(&full);
    assert_eq!(full.status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{}", pg.port)) && message.contains("too many clients"),
        "{message}"
    );

    // A slot frees while the command waits: it gets it and runs.
    let last = holders.pop().unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        drop(last);
    });
    let waited = authd("20s", &["user", "list", "--output", "json"]);
    assert!(waited.status.success(), "{}", common::stderr(&waited));
    assert_eq!(common::stdout(&waited).trim(), "[]");
    releaser.join().unwrap();
    drop(holders);
}
