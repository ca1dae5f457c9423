//! `authd migrate` as an operator runs it beside live servers: `migrate
//! down` destroys data, so it asks (or needs `--yes`), and it refuses while
//! a server uses the database unless `--force`.

use crate::common;

use std::process::Output;

use common::process::{serve_command, ServeProcess};
use common::{stderr, TestDb};

common::on_both_backends!(
    migrate_down_needs_yes_without_a_terminal,
    migrate_down_refuses_while_a_server_runs,
);

fn run(db: &TestDb, args: &[&str]) -> Output {
    db.authd().args(args).output().expect("run authd")
}

fn ok(db: &TestDb, args: &[&str]) {
    let output = run(db, args);
    assert!(
        output.status.success(),
        "authd {args:?} failed: {}",
        stderr(&output)
    );
}

fn latest() -> u32 {
    authd::store::migrate::SQLITE.last().unwrap().version
}

fn schema_version(db: &TestDb) -> i64 {
    db.query_i64("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM authd_schema_migrations")
}

fn readyz(server: &ServeProcess) -> u16 {
    let url = server.url("/readyz");
    common::server::runtime().block_on(async move {
        common::process::bounded_client()
            .get(url)
            .send()
            .await
            .expect("GET /readyz")
            .status()
            .as_u16()
    })
}

fn migrate_down_needs_yes_without_a_terminal(db: &TestDb) {
    ok(db, &["migrate"]);
    let refused = run(db, &["migrate", "down", "--to", "0"]);
    let message = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{message}");
    assert!(message.contains("without --yes"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "one line: {message}");
    assert_eq!(schema_version(db), i64::from(latest()), "nothing reverted");

    ok(db, &["migrate", "down", "--to", "1", "--yes"]);
    assert_eq!(schema_version(db), 1);
}

fn migrate_down_refuses_while_a_server_runs(db: &TestDb) {
    ok(db, &["migrate"]);
    let server = ServeProcess::start(serve_command(db));
    assert_eq!(readyz(&server), 200);

    let refused = run(db, &["migrate", "down", "--to", "0", "--yes"]);
    let message = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{message}");
    assert!(
        message.contains("server") && message.contains("--force"),
        "{message}"
    );
    assert_eq!(schema_version(db), i64::from(latest()), "nothing reverted");
    assert_eq!(readyz(&server), 200);
    if let TestDb::Postgres { .. } = db {
        // Without its heartbeat, a server is still seen by its connections.
        db.execute("DELETE FROM authd_locks WHERE name LIKE 'server:%'");
        let refused = run(db, &["migrate", "down", "--to", "0", "--yes"]);
        assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    }

    ok(db, &["migrate", "down", "--to", "1", "--yes", "--force"]);
    assert_eq!(schema_version(db), 1);
    assert_eq!(
        readyz(&server),
        503,
        "a server whose schema was reverted is not ready"
    );

    ok(db, &["migrate"]);
    let mut server = server;
    server.terminate();
    assert_eq!(server.exit_code(), Some(0));
    // A clean shutdown takes the server's heartbeat with it.
    ok(db, &["migrate", "down", "--to", "0", "--yes"]);
    assert_eq!(schema_version(db), 0);
}
