//! Files that hold secrets are owner-only whatever the umask authd
//! inherits (found by an outside review: under umask 022 the SQLite
//! database, its -wal/-shm and outbox messages were world-readable).

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use common::process::{serve_command, ServeProcess};
use common::TestDb;
use serde_json::json;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_outbox_are_owner_only_under_umask_022() {
    let db = TestDb::sqlite();
    let mut command = serve_command(&db);
    // SAFETY: umask(2) in the child before exec; async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    let server = ServeProcess::start(command);
    let client = reqwest::Client::new();
    let post =
        |path: &str, body: serde_json::Value| client.post(server.url(path)).json(&body).send();
    let credentials = json!({"email": "ada@example.com", "password": common::server::PASSWORD});
    assert_eq!(
        post("/api/auth/register/", credentials.clone())
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post("/api/auth/login/", credentials)
            .await
            .unwrap()
            .status(),
        200
    );
    let reset = post(
        "/api/auth/password/reset/",
        json!({"email": "ada@example.com"}),
    );
    assert_eq!(reset.await.unwrap().status(), 202);

    let outbox = db.dir().join("outbox");
    let mut messages = Vec::new();
    for _ in 0..200 {
        messages = std::fs::read_dir(&outbox)
            .map(|dir| dir.map(|entry| entry.unwrap().path()).collect())
            .unwrap_or_default();
        if !messages.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(messages.len(), 1, "the reset email in {}", outbox.display());

    let database = db.dir().join("authd.db");
    let mut files = vec![database.clone(), messages[0].clone()];
    for suffix in ["-wal", "-shm"] {
        let companion = database.with_file_name(format!("authd.db{suffix}"));
        assert!(companion.exists(), "WAL mode keeps {}", companion.display());
        files.push(companion);
    }
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&outbox), 0o700, "{}", outbox.display());
    drop(server);
}
