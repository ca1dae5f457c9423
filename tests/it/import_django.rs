//! Moving from the Django service, with hashes and tokens made by Django
//! and SimpleJWT themselves: `tests/django/make_fixtures.py` builds a Django
//! project (custom email user model, every password hasher, SimpleJWT with
//! its blacklist) and writes its SQLite database, a dumpdata file and a
//! manifest. The tests import both into authd (SQLite and, in CI, Postgres),
//! log every user in over HTTP, and use the live SimpleJWT tokens.
//!
//! The fixtures need the Python of `AUTHD_TEST_DJANGO_PYTHON` (CI makes a
//! venv with pinned Django packages); without it the tests are skipped by
//! name, and with `AUTHD_TEST_REQUIRE_SERVICES=1` they fail instead. Tokens
//! expire, so fixtures are made once per test run, never committed.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::server::{access, blocking, http_suite, refresh, TestServer};
use common::{stderr, stdout, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

http_suite!(
    every_user_imported_from_the_database_logs_in,
    every_user_imported_from_dumpdata_logs_in,
    simplejwt_tokens_keep_working_and_revoked_ones_do_not,
    dry_runs_conflicts_and_bad_rows,
);

/// The fixtures Django made, once per test binary.
struct Fixtures {
    dir: PathBuf,
    manifest: Value,
}

static FIXTURES: OnceLock<Fixtures> = OnceLock::new();

/// The fixtures, or `None` (after saying so) when there is no Django Python.
fn fixtures(test: &str) -> Option<&'static Fixtures> {
    let python = common::service_url("AUTHD_TEST_DJANGO_PYTHON", test)?;
    Some(FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("django-fixtures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/django/make_fixtures.py");
        let made = Command::new(&python)
            .arg(&script)
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("run {python}: {e}"));
        assert!(made.status.success(), "make_fixtures.py: {}", stderr(&made));
        let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        Fixtures {
            manifest: serde_json::from_str(&manifest).unwrap(),
            dir,
        }
    }))
}

impl Fixtures {
    fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.join("django.sqlite3").display())
    }

    fn dumpdata(&self) -> String {
        self.dir.join("dumpdata.json").display().to_string()
    }

    fn users(&self) -> &Vec<Value> {
        self.manifest["users"].as_array().unwrap()
    }

    fn token(&self, name: &str) -> &str {
        self.manifest["tokens"][name].as_str().unwrap()
    }
}

/// Runs `authd import django ARGS --output json` (after `authd migrate`:
/// Postgres is not migrated automatically); returns the report.
fn import(db: &TestDb, args: &[&str]) -> Value {
    let migrated = db.authd().arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let output = db
        .authd()
        .args(["import", "django", "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

fn stored_hash(db: &TestDb, email: &str) -> String {
    blocking(|| {
        let email = authd::domain::Email::parse(email).unwrap();
        db.store()
            .find_credentials(&email)
            .unwrap()
            .expect("the user exists")
            .1
            .as_str()
            .to_string()
    })
}

/// A server that also accepts the Django service's tokens.
async fn server(db: &TestDb, fixtures: &Fixtures) -> TestServer {
    let secret = fixtures.manifest["secret_key"]
        .as_str()
        .unwrap()
        .to_string();
    TestServer::start(db, |c| {
        c.jwt.legacy_simplejwt.enabled = true;
        c.jwt.legacy_simplejwt.secret_key = authd::config::Secret::new(secret);
    })
    .await
}

/// Logs every user of the manifest in: those with a usable password and an
/// active account get in (keeping their Django id) and their hash becomes
/// argon2id; the others are refused.
async fn log_everyone_in(db: &TestDb, fixtures: &Fixtures) {
    let server = server(db, fixtures).await;
    for user in fixtures.users() {
        let email = user["email"].as_str().unwrap();
        let Some(password) = user["password"].as_str() else {
            let refused = server
                .post(
                    "/api/auth/login/",
                    json!({"email": email, "password": "anything at all"}),
                )
                .await;
            refused.assert_problem(401, "invalid_credentials");
            assert!(stored_hash(db, email).starts_with('!'), "still unusable");
            continue;
        };
        let reply = server
            .post(
                "/api/auth/login/",
                json!({"email": email, "password": password}),
            )
            .await;
        if user["is_active"] == false {
            reply.assert_problem(401, "invalid_credentials");
            continue;
        }
        assert_eq!(reply.status, StatusCode::OK, "{email}: {}", reply.text);
        assert_eq!(reply.body["user"]["id"], user["id"], "{email} keeps its id");
        assert_eq!(reply.body["user"]["full_name"], user["full_name"]);
        assert!(
            stored_hash(db, email).starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{email}: the {} hash was replaced",
            user["hasher"]
        );
        let wrong = server
            .post(
                "/api/auth/login/",
                json!({"email": email, "password": format!("{password}!")}),
            )
            .await;
        wrong.assert_problem(401, "invalid_credentials");
        let again = server
            .post(
                "/api/auth/login/",
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(again.status, StatusCode::OK, "{email} with argon2id now");
    }
}

async fn every_user_imported_from_the_database_logs_in(db: &TestDb) {
    let test = "every_user_imported_from_the_database_logs_in";
    let Some(fixtures) = fixtures(test) else {
        return;
    };
    let report = import(db, &["--from-database", &fixtures.database_url()]);
    assert_eq!(report["table"], "accounts_user");
    assert_eq!(
        (&report["read"], &report["imported"], &report["skipped"]),
        (&json!(8), &json!(8), &json!(0))
    );
    assert_eq!(report["unusable_passwords"], 1);
    assert_eq!(report["rejected"], json!([]));
    assert_eq!(report["blacklist"], json!({"read": 2, "imported": 2}));
    assert!(
        stored_hash(db, "weak@example.com").starts_with("pbkdf2_sha256$20000$"),
        "hashes are copied, not recomputed"
    );
    log_everyone_in(db, fixtures).await;

    let again = import(db, &["--from-database", &fixtures.database_url()]);
    assert_eq!(
        (&again["imported"], &again["skipped"]),
        (&json!(0), &json!(8)),
        "running the import again is safe"
    );
    assert_eq!(again["blacklist"], json!({"read": 2, "imported": 0}));
    assert!(stored_hash(db, "pbkdf2@example.com").starts_with("$argon2id$"));
}

async fn every_user_imported_from_dumpdata_logs_in(db: &TestDb) {
    let test = "every_user_imported_from_dumpdata_logs_in";
    let Some(fixtures) = fixtures(test) else {
        return;
    };
    let report = import(db, &["--from-dumpdata", &fixtures.dumpdata()]);
    assert_eq!(report["table"], "accounts.user");
    assert_eq!(
        (&report["read"], &report["imported"]),
        (&json!(8), &json!(8))
    );
    assert_eq!(report["blacklist"], json!({"read": 2, "imported": 2}));
    log_everyone_in(db, fixtures).await;
}

async fn simplejwt_tokens_keep_working_and_revoked_ones_do_not(db: &TestDb) {
    let test = "simplejwt_tokens_keep_working_and_revoked_ones_do_not";
    let Some(fixtures) = fixtures(test) else {
        return;
    };
    import(db, &["--from-database", &fixtures.database_url()]);
    let user_id = fixtures.manifest["tokens"]["user_id"].clone();

    let without_legacy = TestServer::start(db, |_| {}).await;
    without_legacy
        .get("/api/auth/me/", fixtures.token("access"))
        .await
        .assert_problem(401, "token_not_valid");
    drop(without_legacy);

    let server = server(db, fixtures).await;
    let me = server.get("/api/auth/me/", fixtures.token("access")).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["id"], user_id);
    let verify = |token: &str| server.post("/api/auth/token/verify/", json!({"token": token}));
    assert_eq!(
        verify(fixtures.token("access")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        verify(fixtures.token("refresh")).await.status,
        StatusCode::OK
    );
    verify(fixtures.token("blacklisted_refresh"))
        .await
        .assert_problem(401, "token_not_valid");

    for revoked in ["blacklisted_refresh", "other_blacklisted_refresh"] {
        server
            .post(
                "/api/auth/token/refresh/",
                json!({"refresh": fixtures.token(revoked)}),
            )
            .await
            .assert_problem(401, "token_not_valid");
    }
    let pair = server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": fixtures.token("refresh")}),
        )
        .await;
    assert_eq!(pair.status, StatusCode::OK, "{}", pair.text);
    let me = server.get("/api/auth/me/", &access(&pair.body)).await;
    assert_eq!(me.body["id"], user_id, "an authd pair for the same user");
    let rotated = server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&pair.body)}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "a real authd session");
    server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": fixtures.token("refresh")}),
        )
        .await
        .assert_problem(401, "token_not_valid");
    verify(fixtures.token("refresh"))
        .await
        .assert_problem(401, "token_not_valid");

    // A dead SimpleJWT token (blacklisted, or used up by the refresh above)
    // cannot end the user's other sessions; a local logout with it stays a
    // harmless 200.
    for dead in ["blacklisted_refresh", "refresh"] {
        for scope in ["global", "others"] {
            server
                .post(
                    "/api/auth/logout/",
                    json!({"refresh": fixtures.token(dead), "scope": scope}),
                )
                .await
                .assert_problem(401, "token_not_valid");
        }
        let local = server
            .post(
                "/api/auth/logout/",
                json!({"refresh": fixtures.token(dead)}),
            )
            .await;
        assert_eq!(local.status, StatusCode::OK, "{}", local.text);
    }
    assert_eq!(
        server
            .get("/api/auth/me/", &access(&rotated.body))
            .await
            .status,
        StatusCode::OK,
        "the user's authd session lives on"
    );

    let registered = server.register("new@example.com").await;
    assert_eq!(
        registered["id"], 9,
        "new accounts are numbered after the imported ones"
    );

    let disabled = db
        .authd()
        .args(["user", "disable", "pbkdf2@example.com"])
        .output()
        .unwrap();
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    server
        .get("/api/auth/me/", fixtures.token("access"))
        .await
        .assert_problem(401, "token_not_valid");
}

async fn dry_runs_conflicts_and_bad_rows(db: &TestDb) {
    let test = "dry_runs_conflicts_and_bad_rows";
    let Some(fixtures) = fixtures(test) else {
        return;
    };
    // A copy of Django's database with rows an import must refuse.
    let copy = db.dir().join("django-copy.sqlite3");
    std::fs::copy(fixtures.dir.join("django.sqlite3"), &copy).unwrap();
    rusqlite::Connection::open(&copy)
        .unwrap()
        .execute_batch(
            "INSERT INTO accounts_user (id, password, is_superuser, email, full_name, is_active, is_staff, date_joined)
             VALUES (20, 'md5$salt$5f4dcc3b5aa765d61d8327deb882cf99', 0, 'md5@example.com', '', 1, 0, '2020-01-01 00:00:00'),
                    (21, 'pbkdf2_sha256$1000$salt$short', 0, 'broken@example.com', '', 1, 0, '2020-01-01 00:00:00'),
                    (22, '!unusable', 0, 'not an email', '', 1, 0, '2020-01-01 00:00:00'),
                    (23, '!unusable', 0, 'PBKDF2@example.com', '', 1, 0, '2020-01-01 00:00:00')",
        )
        .unwrap();
    let url = format!("sqlite://{}", copy.display());

    // One batch: a dry run rolls each batch back, so only within one are
    // rows checked against each other.
    let dry = import(db, &["--from-database", &url, "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!((&dry["read"], &dry["imported"]), (&json!(12), &json!(8)));
    let reasons: Vec<(String, String)> = dry["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("id 20", "unsupported password hash algorithm \"md5\""),
            ("id 21", "malformed pbkdf2_sha256 password hash"),
            ("id 22", "invalid email: Enter a valid email address."),
            ("id 23", "the email belongs to authd user 1"),
        ]
        .map(|(row, reason)| (row.to_string(), reason.to_string()))
    );
    assert_eq!(
        blocking(|| db.query_i64("SELECT COUNT(*) FROM users")),
        0,
        "a dry run writes nothing"
    );

    let real = import(db, &["--from-database", &url, "--batch-size", "3"]);
    assert_eq!(real["imported"], 8);
    assert_eq!(real["rejected"], dry["rejected"]);
    let fail = db
        .authd()
        .args([
            "import",
            "django",
            "--from-database",
            &url,
            "--on-conflict",
            "fail",
        ])
        .output()
        .unwrap();
    assert_eq!(fail.status.code(), Some(1), "{}", stderr(&fail));
    assert!(stderr(&fail).contains("user id 1 exists already"));

    blocking(|| db.execute("UPDATE users SET full_name = 'Changed' WHERE id = 2"));
    let updated = import(
        db,
        &[
            "--from-dumpdata",
            &fixtures.dumpdata(),
            "--on-conflict",
            "update",
        ],
    );
    assert_eq!(updated["updated"], 8);
    assert_eq!(
        blocking(|| db
            .query_i64("SELECT COUNT(*) FROM users WHERE full_name = 'Grace Hopper' AND id = 2")),
        1
    );

    for (args, message) in [
        (vec!["import", "django"], "required"),
        (
            vec![
                "import",
                "django",
                "--from-database",
                &url,
                "--table",
                "auth_group",
            ],
            "has no email column",
        ),
        (
            vec![
                "import",
                "django",
                "--from-database",
                &url,
                "--table",
                "missing",
            ],
            "no table \"missing\"",
        ),
        (
            vec!["import", "django", "--from-dumpdata", &url],
            "cannot read",
        ),
    ] {
        let output = db.authd().args(&args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
