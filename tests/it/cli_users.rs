//! `authd migrate` and `authd user ...` driven as a new admin would drive
//! them, as a separate process, on SQLite and (when configured) Postgres.

use crate::common;

use std::process::Output;

use common::{run_with_stdin, stderr, stdout, TestDb};
use serde_json::Value;

common::on_both_backends!(
    the_admin_flow_of_a_new_user,
    thirty_two_parallel_creates_of_one_email_leave_one_user,
    errors_are_one_line_with_meaningful_exit_codes,
    set_password_and_disable_cut_off_tokens,
);

fn run(db: &TestDb, args: &[&str]) -> Output {
    db.authd().args(args).output().expect("run authd")
}

fn ok(db: &TestDb, args: &[&str]) -> String {
    let output = run(db, args);
    assert!(
        output.status.success(),
        "authd {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

fn json(db: &TestDb, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.extend(["--output", "json"]);
    serde_json::from_str(&ok(db, &with_json)).expect("valid JSON on stdout")
}

fn create(db: &TestDb, email: &str, password: &str, extra: &[&str]) -> Output {
    let mut command = db.authd();
    command
        .args(["user", "create", "--email", email, "--password-stdin"])
        .args(extra);
    run_with_stdin(command, &format!("{password}\n"))
}

fn the_admin_flow_of_a_new_user(db: &TestDb) {
    assert!(ok(db, &["migrate"]).contains("Applied 0001_initial"));
    assert!(ok(db, &["migrate"]).contains("Nothing to do"));

    let created = create(
        db,
        "Ada@Example.com",
        "correct horse battery",
        &["--full-name", "Ada Lovelace", "--staff"],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("Ada@example.com"));
    assert!(
        !stdout(&created).contains("correct horse") && !stderr(&created).contains("correct horse")
    );

    let list = ok(db, &["user", "list"]);
    assert!(
        list.contains("Ada@example.com") && list.contains("Ada Lovelace"),
        "{list}"
    );

    assert_eq!(
        json(db, &["user", "list", "--after", "1"]),
        serde_json::json!([]),
        "the page after the only account is empty"
    );
    let bad_page = run(db, &["user", "list", "--after", "0"]);
    assert_eq!(bad_page.status.code(), Some(2), "ids are positive");
    assert!(
        stderr(&bad_page).contains("is not a user id"),
        "{}",
        stderr(&bad_page)
    );

    let shown = json(db, &["user", "show", "ada@EXAMPLE.com"]);
    assert_eq!(shown["id"], 1);
    assert_eq!(shown["email"], "Ada@example.com");
    assert_eq!(shown["full_name"], "Ada Lovelace");
    assert_eq!(shown["is_active"], true);
    assert_eq!(shown["is_staff"], true);
    assert_eq!(shown["is_superuser"], false);
    assert!(shown["date_joined"].as_str().unwrap().ends_with('Z'));
    assert_eq!(shown["last_login"], Value::Null);
    assert_eq!(
        shown.as_object().unwrap().len(),
        8,
        "the documented fields and no others: {shown}"
    );
    assert_eq!(json(db, &["user", "show", "1"]), shown);

    let updated = json(
        db,
        &[
            "user",
            "update",
            "1",
            "--no-staff",
            "--superuser",
            "--full-name",
            "Ada King",
        ],
    );
    assert_eq!(
        (
            updated["is_staff"].as_bool(),
            updated["is_superuser"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert_eq!(updated["full_name"], "Ada King");

    let status = json(db, &["migrate", "status"]);
    assert_eq!(status[0]["version"], 1);
    assert_eq!(status[0]["state"], "applied");

    let down = json(db, &["migrate", "down", "--to", "0", "--yes"]);
    assert_eq!(down["version"], 0);
    assert_eq!(json(db, &["migrate", "status"])[0]["state"], "pending");
    let latest = authd::store::migrate::SQLITE.len();
    assert_eq!(
        json(db, &["migrate"])["version"],
        latest,
        "every embedded migration applied again"
    );
    assert_eq!(json(db, &["user", "list"]), serde_json::json!([]));

    let deleted = run(db, &["user", "delete", "1", "--yes"]);
    assert_eq!(
        deleted.status.code(),
        Some(1),
        "the user went with the schema"
    );
    assert!(create(db, "ada@example.com", "correct horse battery", &[])
        .status
        .success());
    assert!(ok(db, &["user", "delete", "ada@example.com", "--yes"]).contains("Deleted user"));
    assert_eq!(json(db, &["user", "list"]), serde_json::json!([]));
}

fn thirty_two_parallel_creates_of_one_email_leave_one_user(db: &TestDb) {
    ok(db, &["migrate"]);
    let children: Vec<_> = (0..32)
        .map(|i| {
            let email = match i % 3 {
                0 => "race@example.com",
                1 => "RACE@example.com",
                _ => "Race@EXAMPLE.COM",
            };
            let mut command = db.authd();
            command
                .args(["user", "create", "--email", email, "--password-stdin"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = command.spawn().unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"correct horse battery\n")
                .unwrap();
            child
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let created = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(created, 1, "exactly one create wins");
    for failed in outputs.iter().filter(|o| !o.status.success()) {
        let message = stderr(failed);
        assert_eq!(failed.status.code(), Some(1), "{message}");
        assert!(message.contains("already exists"), "{message}");
        assert_eq!(
            message.trim_end().lines().count(),
            1,
            "one clean line: {message}"
        );
    }
    let users = json(db, &["user", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 1);
}

fn errors_are_one_line_with_meaningful_exit_codes(db: &TestDb) {
    ok(db, &["migrate"]);
    let cases: Vec<(Output, i32, &str)> = vec![
        (
            create(db, "not-an-email", "correct horse battery", &[]),
            2,
            "invalid email",
        ),
        (
            create(db, "ada@example.com", "password", &[]),
            2,
            "too common",
        ),
        (
            create(db, "ada@example.com", "1234567890123", &[]),
            2,
            "entirely numeric",
        ),
        (create(db, "ada@example.com", "short", &[]), 2, "too short"),
        (create(db, "ada@example.com", "", &[]), 2, "no password"),
        (
            run(db, &["user", "create", "--email", "ada@example.com"]),
            2,
            "--password-stdin",
        ),
        (
            run(
                db,
                &[
                    "user",
                    "create",
                    "--email",
                    "a@example.com",
                    "--password",
                    "x",
                ],
            ),
            2,
            "unexpected argument",
        ),
        (run(db, &["user", "show", "42"]), 1, "no such user: id 42"),
        (
            run(db, &["user", "show", "nobody"]),
            2,
            "neither a user id nor an email",
        ),
        (
            run(db, &["user", "update", "ghost@example.com", "--staff"]),
            1,
            "no such user",
        ),
        (
            run(db, &["migrate", "down", "--to", "99"]),
            1,
            "cannot migrate down to version 99",
        ),
    ];
    for (output, code, needle) in cases {
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(code), "{needle}: {message}");
        assert!(
            message.contains(needle),
            "expected {needle:?} in {message:?}"
        );
    }
    assert_eq!(
        json(db, &["user", "list"]),
        serde_json::json!([]),
        "nothing half-written"
    );

    assert!(create(db, "ada@example.com", "correct horse battery", &[])
        .status
        .success());
    let refused = run(db, &["user", "delete", "1"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--yes"));
    let weak = run_with_stdin(
        {
            let mut c = db.authd();
            c.args(["user", "set-password", "1", "--password-stdin"]);
            c
        },
        "ada@example.com\n",
    );
    assert_eq!(weak.status.code(), Some(2));
    assert!(
        stderr(&weak).contains("too similar to the email"),
        "{}",
        stderr(&weak)
    );
    assert_eq!(
        json(db, &["user", "list"]).as_array().unwrap().len(),
        1,
        "the user is still there"
    );
}

fn set_password_and_disable_cut_off_tokens(db: &TestDb) {
    ok(db, &["migrate"]);
    assert!(create(db, "ada@example.com", "correct horse battery", &[])
        .status
        .success());
    let before = db.query_i64("SELECT COUNT(*) FROM users WHERE tokens_valid_after = date_joined");
    assert_eq!(before, 1);
    let mut command = db.authd();
    command.args([
        "user",
        "set-password",
        "ada@example.com",
        "--password-stdin",
    ]);
    let changed = run_with_stdin(command, "another fine passphrase\n");
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM users WHERE tokens_valid_after > date_joined"),
        1
    );

    let disabled = json(db, &["user", "disable", "1"]);
    assert_eq!(disabled["is_active"], false);
    assert_eq!(json(db, &["user", "enable", "1"])["is_active"], true);
}

/// Run from the wrong directory (or with a typo in the path), an admin
/// command must not create an empty database and report success: it names
/// the file it looked for and where the path came from. Only `migrate`
/// creates one.
#[test]
fn admin_commands_never_create_a_sqlite_database() {
    let db = TestDb::sqlite();
    let dir = db.dir();
    let missing = dir.join("missing.db");
    let file = common::file_in(
        dir,
        "other.toml",
        "[database]\nurl = \"sqlite://other.db\"\n",
    );
    let config = file.to_str().unwrap();
    let cases: [(&[&str], Option<&str>, &str, &str); 4] = [
        (
            &["user", "list"],
            Some("sqlite://missing.db"),
            "missing.db",
            "environment variable DATABASE_URL",
        ),
        (
            &["migrate", "status"],
            Some("sqlite://missing.db"),
            "missing.db",
            "environment variable DATABASE_URL",
        ),
        (
            &["blacklist", "stats"],
            None,
            "authd.db",
            "the default database.url",
        ),
        (
            &["user", "list", "--config", config],
            None,
            "other.db",
            "config file",
        ),
    ];
    for (args, url, name, chosen) in cases {
        let mut command = db.authd();
        command.env_remove("DATABASE_URL");
        if let Some(url) = url {
            command.env("DATABASE_URL", url);
        }
        let output = command.args(args).output().unwrap();
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        let absolute = dir.join(name);
        assert!(
            message.contains(&absolute.display().to_string()) && message.contains(chosen),
            "{args:?}: {message}"
        );
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
        assert!(
            !absolute.exists(),
            "{args:?} created {}",
            absolute.display()
        );
    }

    let with_missing = |args: &[&str]| {
        db.authd()
            .env("DATABASE_URL", "sqlite://missing.db")
            .args(args)
            .output()
            .unwrap()
    };
    assert!(!with_missing(&["migrate", "down", "--to", "0", "--yes"])
        .status
        .success());
    assert!(!missing.exists());
    assert!(with_missing(&["migrate"]).status.success());
    assert!(missing.exists(), "migrate creates the database");
    let listed = with_missing(&["user", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
}

/// "Connection refused" alone does not say which server refused.
#[test]
fn a_refused_connection_names_the_server() {
    let db = TestDb::sqlite();
    let port = common::free_port();
    let output = db
        .authd()
        .env(
            "DATABASE_URL",
            format!("postgres://authd@127.0.0.1:{port}/authd"),
        )
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
}

/// A search_path naming no existing schema used to surface as
/// "3F000: no schema has been selected" at the first query.
#[test]
fn a_missing_postgres_schema_is_named() {
    let Some(base) = common::postgres_url("cli_users::a_missing_postgres_schema_is_named") else {
        return;
    };
    let db = TestDb::sqlite();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-csearch_path%3Dauthd_no_such_schema");
    let output = db
        .authd()
        .env("DATABASE_URL", url)
        .args(["migrate"])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("authd_no_such_schema") && !message.contains("3F000"),
        "{message}"
    );
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
}
