//! `authd audit list|tail|stats` as an admin runs them, as a separate
//! process, on SQLite and (when configured) Postgres: events are seeded
//! through the store (as the writer stores them), then read back through
//! the command's filters, tables and JSON.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use authd::domain::{Actor, AuditEvent, ClientInfo, EventType, Origin, Timestamp, UserId};
use common::{run_with_stdin, stderr, stdout, TestDb};
use serde_json::Value;

common::on_both_backends!(
    list_filters_and_prints_every_field_as_json,
    list_prints_a_table_with_its_columns,
    stats_count_by_type_and_outcome_with_the_top_failed_login_ips,
    tail_prints_the_newest_oldest_first_then_follows,
    bad_filters_exit_2_naming_the_argument,
);

/// Every field of an event in `--output json`.
const FIELDS: [&str; 15] = [
    "id",
    "at",
    "type",
    "outcome",
    "reason",
    "user_id",
    "email",
    "ip",
    "user_agent",
    "request_id",
    "session_id",
    "actor",
    "actor_name",
    "detail",
    "count",
];

fn run(db: &TestDb, args: &[&str]) -> Output {
    db.authd().args(args).output().expect("run authd")
}

/// The cells of a table row as comfy-table draws it.
fn cells(row: &str) -> Vec<&str> {
    row.split(['│', '┆'])
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

/// The ids of `audit list` with `filters`, as printed.
fn listed(db: &TestDb, filters: &[&str]) -> Vec<i64> {
    let mut args = vec!["audit", "list"];
    args.extend(filters);
    db.json_of(&args)
        .as_array()
        .expect("an array")
        .iter()
        .map(|event| event["id"].as_i64().unwrap())
        .collect()
}

fn api(ip: &str, user_agent: Option<&str>, request_id: Option<&str>) -> Origin {
    Origin::api(
        ClientInfo::new(ip.parse::<IpAddr>().unwrap(), user_agent),
        request_id.map(str::to_string),
    )
}

fn cli() -> Origin {
    Origin {
        actor: Actor::Cli {
            os_user: "root".into(),
        },
        client: None,
        request_id: None,
    }
}

fn ago(minutes: i64) -> Timestamp {
    authd::domain::now() - chrono::Duration::minutes(minutes)
}

fn at(event: AuditEvent, minutes_ago: i64) -> AuditEvent {
    AuditEvent {
        at: ago(minutes_ago),
        ..event
    }
}

fn user(id: i64) -> UserId {
    UserId::new(id).unwrap()
}

/// Stores `events` in this order (so ids follow it) and returns their ids.
fn seed(db: &TestDb, events: &[AuditEvent]) -> Vec<i64> {
    let store = db.store();
    store.insert_audit_events(events).unwrap();
    let stored = store
        .list_audit_events(&authd::store::AuditQuery {
            limit: events.len() as u32,
            ..Default::default()
        })
        .unwrap();
    stored.iter().rev().map(|event| event.id).collect()
}

fn login_failure(ip: &str, reason: &'static str, minutes_ago: i64) -> AuditEvent {
    at(
        AuditEvent::failure(EventType::Login, reason, &api(ip, None, None)),
        minutes_ago,
    )
}

fn list_filters_and_prints_every_field_as_json(db: &TestDb) {
    let ids = seed(
        db,
        &[
            // 0: Ada logs in, three hours ago.
            at(
                AuditEvent::success(
                    EventType::Login,
                    &api("192.0.2.7", Some("curl/8.5"), Some("req-1")),
                )
                .user_id(user(1))
                .email("Ada@example.com")
                .session("s1"),
                180,
            ),
            // 1: someone tries her address, in other letter case, without an id.
            at(
                AuditEvent::failure(
                    EventType::Login,
                    "unknown_email",
                    &api("198.51.100.9", None, None),
                )
                .email("ADA@EXAMPLE.COM"),
                30,
            ),
            // 2: and an address nobody has.
            at(
                AuditEvent::failure(
                    EventType::Login,
                    "unknown_email",
                    &api("198.51.100.9", None, None),
                )
                .email("NoBody@Example.com"),
                20,
            ),
            // 3: an admin creates Bob.
            at(
                AuditEvent::success(EventType::UserCreated, &cli())
                    .user_id(user(2))
                    .email("bob@example.com"),
                10,
            ),
            // 4: an admin ends Ada's session: the event names her id alone.
            at(
                AuditEvent::success(EventType::TokenRevoked, &cli())
                    .user_id(user(1))
                    .session("s1")
                    .detail("session"),
                1,
            ),
            // 5: her account is created.
            AuditEvent::success(EventType::UserCreated, &cli())
                .user_id(user(1))
                .email("ada@example.com"),
        ],
    );
    // The account, so `--user EMAIL` names an existing one (id 1); its own
    // event is the one seeded above.
    let mut create = db.authd();
    create.env("AUTHD_AUDIT__TABLE", "false").args([
        "user",
        "create",
        "--email",
        "ada@example.com",
        "--password-stdin",
    ]);
    let account = run_with_stdin(create, "correct horse battery\n");
    assert!(account.status.success(), "{}", stderr(&account));
    assert_eq!(
        db.json_of(&["user", "show", "ada@example.com"])["id"],
        1,
        "{}",
        stderr(&account)
    );

    let all = db.json_of(&["audit", "list"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), ids.len(), "{all:?}");
    let all_ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        all_ids.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first: {all_ids:?}"
    );

    let login = all.iter().find(|e| e["id"] == ids[0]).unwrap();
    let keys: Vec<&str> = login
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = FIELDS.to_vec();
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected, "every field and no other: {login}");
    assert_eq!(login["type"], "login");
    assert_eq!(login["outcome"], "success");
    assert_eq!(login["reason"], Value::Null);
    assert_eq!(login["user_id"], 1);
    assert_eq!(login["email"], "Ada@example.com");
    assert_eq!(login["ip"], "192.0.2.7");
    assert_eq!(login["user_agent"], "curl/8.5");
    assert_eq!(login["request_id"], "req-1");
    assert_eq!(login["session_id"], "s1");
    assert_eq!(login["actor"], "api");
    assert_eq!(login["actor_name"], Value::Null);
    assert_eq!(login["count"], 1);
    assert!(login["at"].as_str().unwrap().ends_with('Z'), "{login}");
    let revoked = all.iter().find(|e| e["id"] == ids[4]).unwrap();
    assert_eq!(
        (
            &revoked["actor"],
            &revoked["actor_name"],
            &revoked["detail"]
        ),
        (
            &Value::from("cli"),
            &Value::from("root"),
            &Value::from("session")
        )
    );

    let newest = ids[5];
    assert_eq!(
        listed(db, &["--user", "1"]),
        [newest, ids[4], ids[0]],
        "by id: her events, not those naming her address alone"
    );
    assert_eq!(
        listed(db, &["--user", "ada@EXAMPLE.com"]),
        [newest, ids[4], ids[1], ids[0]],
        "by email, any case: her account's events and those naming the address"
    );
    assert_eq!(
        listed(db, &["--user", "ada@example.com", "--type", "login"]),
        [ids[1], ids[0]],
        "the other filters hold for either kind of match"
    );
    assert_eq!(
        listed(db, &["--user", "nobody@example.COM"]),
        [ids[2]],
        "an address no account has"
    );
    assert_eq!(listed(db, &["--user", "3"]), Vec::<i64>::new());
    assert_eq!(
        listed(db, &["--type", "user_created", "--type", "token_revoked"]),
        [newest, ids[4], ids[3]]
    );
    assert_eq!(
        listed(db, &["--type", "login", "--outcome", "failure"]),
        [ids[2], ids[1]]
    );
    assert_eq!(listed(db, &["--ip", "198.51.100.9"]), [ids[2], ids[1]]);
    assert_eq!(listed(db, &["--ip", "::ffff:192.0.2.7"]), [ids[0]]);
    assert_eq!(
        listed(db, &["--since", "1h"]),
        [newest, ids[4], ids[3], ids[2], ids[1]]
    );
    assert_eq!(listed(db, &["--until", "1h"]), [ids[0]]);
    assert_eq!(
        listed(db, &["--since", "25m", "--until", "5m"]),
        [ids[3], ids[2]]
    );
    let since = db.json_of(&["audit", "list", "--type", "token_revoked"])[0]["at"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        listed(db, &["--since", &since, "--type", "token_revoked"]),
        [ids[4]],
        "an RFC 3339 time, as printed"
    );
    assert_eq!(listed(db, &["--limit", "2"]), [newest, ids[4]]);
}

fn list_prints_a_table_with_its_columns(db: &TestDb) {
    db.store();
    assert_eq!(db.stdout_of(&["audit", "list"]).trim(), "No events.");
    seed(
        db,
        &[
            AuditEvent::success(EventType::PasswordSet, &cli())
                .user_id(user(7))
                .email("ada.lovelace@analytical-engine.example"),
            AuditEvent::failure(
                EventType::ResetRequested,
                "unknown_email",
                &api("2001:db8::1", None, None),
            )
            .count(5),
        ],
    );
    let table = db.stdout_of(&["audit", "list"]);
    let header = table
        .lines()
        .find(|line| line.contains("time"))
        .expect("a header row");
    assert_eq!(
        cells(header),
        ["time", "type", "outcome", "reason", "user", "ip", "actor", "detail"],
        "{table}"
    );
    let rows: Vec<&str> = table.lines().filter(|line| line.contains('Z')).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows[0].contains("reset_requested")
            && rows[0].contains("unknown_email")
            && rows[0].contains("2001:db8::1")
            && rows[0].contains("5 times"),
        "the newest first, an aggregate row with its count: {table}"
    );
    assert!(
        rows[1].contains("7 <ada.lovelace@analytical-engine.example>")
            && rows[1].contains("cli:root"),
        "{table}"
    );
}

fn stats_count_by_type_and_outcome_with_the_top_failed_login_ips(db: &TestDb) {
    let mut events = vec![
        // Two days ago: outside the default day.
        login_failure("203.0.113.5", "wrong_password", 48 * 60),
        login_failure("203.0.113.5", "wrong_password", 48 * 60),
    ];
    for _ in 0..3 {
        events.push(login_failure("198.51.100.9", "wrong_password", 30));
    }
    events.push(login_failure("192.0.2.7", "unknown_email", 20));
    events.push(at(
        AuditEvent::success(EventType::Login, &api("192.0.2.7", None, None)).user_id(user(1)),
        10,
    ));
    events.push(at(
        AuditEvent::failure(EventType::ResetRequested, "unknown_email", &cli()).count(40),
        5,
    ));
    seed(db, &events);

    let counts = |stats: &Value| -> Vec<(String, String, i64)> {
        stats["by_type"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["type"].as_str().unwrap().to_string(),
                    row["outcome"].as_str().unwrap().to_string(),
                    row["events"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let ips = |stats: &Value| -> Vec<(String, i64)> {
        stats["failed_login_ips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["ip"].as_str().unwrap().to_string(),
                    row["failed_logins"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let own = |rows: &[(&str, &str, i64)]| -> Vec<(String, String, i64)> {
        rows.iter()
            .map(|(t, o, n)| (t.to_string(), o.to_string(), *n))
            .collect()
    };

    let day = db.json_of(&["audit", "stats"]);
    assert!(day["since"].as_str().unwrap().ends_with('Z'), "{day}");
    assert_eq!(
        counts(&day),
        own(&[
            ("reset_requested", "failure", 40),
            ("login", "failure", 4),
            ("login", "success", 1),
        ]),
        "an aggregate row counts as many as it stands for"
    );
    assert_eq!(
        ips(&day),
        [
            ("198.51.100.9".to_string(), 3),
            ("192.0.2.7".to_string(), 1)
        ]
    );

    let all = db.json_of(&["audit", "stats", "--all", "--top", "2"]);
    assert_eq!(all["since"], Value::Null);
    assert_eq!(
        ips(&all),
        [
            ("198.51.100.9".to_string(), 3),
            ("203.0.113.5".to_string(), 2)
        ],
        "the top 2"
    );
    assert_eq!(
        counts(&db.json_of(&["audit", "stats", "--since", "72h"]))
            .iter()
            .find(|(t, o, _)| t == "login" && o == "failure")
            .map(|row| row.2),
        Some(6)
    );

    let table = db.stdout_of(&["audit", "stats"]);
    let login_row = table
        .lines()
        .find(|line| line.contains("│ login"))
        .unwrap_or_else(|| panic!("{table}"));
    assert_eq!(
        cells(login_row),
        ["login", "1", "4", "5"],
        "type, success, failure, total"
    );
    assert!(table.contains("198.51.100.9"), "{table}");
}

fn tail_prints_the_newest_oldest_first_then_follows(db: &TestDb) {
    let ids = seed(
        db,
        &[
            login_failure("192.0.2.1", "wrong_password", 3),
            login_failure("192.0.2.2", "wrong_password", 2),
            login_failure("192.0.2.3", "wrong_password", 1),
        ],
    );
    let tailed: Vec<Value> = db
        .stdout_of(&["audit", "tail", "-n", "2", "--output", "json"])
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let tailed_ids: Vec<i64> = tailed.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(tailed_ids, [ids[1], ids[2]], "the 2 newest, oldest first");
    let lines = db.stdout_of(&["audit", "tail", "-n", "2"]);
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("192.0.2.2") && lines[1].contains("192.0.2.3"),
        "{lines:?}"
    );

    let mut child = db
        .authd()
        .args(["audit", "tail", "--follow", "-n", "1", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn authd audit tail --follow");
    let (sender, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // Bounds on a hung process, not timings: a line comes within a poll.
    let next = |what: &str| -> Value {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line for {what}"));
        serde_json::from_str(&line).expect("one JSON object per line")
    };
    assert_eq!(next("the newest event")["id"], ids[2]);
    let later = seed(
        db,
        &[AuditEvent::success(EventType::UserDisabled, &cli()).user_id(user(4))],
    );
    let followed = next("the event stored after tail started");
    assert_eq!(followed["id"], later[0]);
    assert_eq!(followed["type"], "user_disabled");
    assert_eq!(followed["user_id"], 4);

    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM ends a follow cleanly");

    // `authd audit tail -f | head -1`: the reader leaving ends it too.
    let mut child = db
        .authd()
        .args(["audit", "tail", "--follow", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn authd audit tail --follow");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("user_disabled"), "{first}");
    drop(reader);
    seed(
        db,
        &[AuditEvent::success(EventType::UserEnabled, &cli()).user_id(user(4))],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("tail --follow kept running with nobody reading");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "a closed pipe ends a follow cleanly"
    );
}

fn bad_filters_exit_2_naming_the_argument(db: &TestDb) {
    db.store();
    let cases: [(&[&str], &str); 8] = [
        (&["list", "--type", "logon"], "--type"),
        (&["list", "--ip", "192.0.2"], "--ip"),
        (&["list", "--since", "yesterday"], "--since"),
        (&["list", "--until", "2026-13-01T00:00:00Z"], "--until"),
        (&["list", "--limit", "0"], "--limit"),
        (&["list", "--outcome", "maybe"], "--outcome"),
        (&["list", "--user", "not an email"], "--user"),
        (&["stats", "--since", "soon"], "--since"),
    ];
    for (args, named) in cases {
        let mut command = vec!["audit"];
        command.extend(args);
        let output = run(db, &command);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        let first = message.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: invalid value") && first.contains(named),
            "{args:?}: the first line says what is wrong: {message}"
        );
        assert!(stdout(&output).is_empty(), "{args:?}");
    }

    let output = run(db, &["audit", "list", "--since", "1h", "--until", "2h"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("must be before --until"), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
}
