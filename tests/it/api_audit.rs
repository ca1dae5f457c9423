//! The audit log over real HTTP and from the admin commands, on SQLite and
//! (in CI) Postgres: every event is stored with its fields (who, from
//! where, which request and session, how it ended), failed logins keep
//! their reasons apart, a login flood adds a bounded number of rows, and
//! old events are pruned after `audit.retention`.

use crate::common;

use std::time::{Duration, Instant};

use authd::domain::{self, AuditEvent, EventType, Origin};
use authd::store::{audit, AuditQuery, StoredAuditEvent};
use common::server::{access, blocking, http_suite, refresh, Reply, TestServer, PASSWORD};
use common::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

http_suite!(
    account_and_token_events_carry_who_where_and_which_request,
    failed_logins_keep_their_reasons_apart,
    a_login_flood_adds_a_bounded_number_of_rows,
    reset_requests_are_rows_for_accounts_and_a_count_for_unknown_emails,
    admin_commands_record_the_os_user,
    events_past_the_retention_are_pruned,
);

const IP: &str = "198.51.100.7";
const AGENT: &str = "audit-test/1.0";

async fn start(db: &TestDb) -> TestServer {
    TestServer::start(db, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        // Replays past the grace count as reuse at once.
        config.jwt.refresh_reuse_grace = authd::config::Duration::secs(0);
    })
    .await
}

/// A request from [`IP`] with [`AGENT`] and the request id `request_id`.
async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Value,
    request_id: &str,
) -> Reply {
    let mut request = server
        .client
        .request(method, server.url(path))
        .header("x-forwarded-for", IP)
        .header("user-agent", AGENT)
        .header("x-request-id", request_id)
        .json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    Reply::from(request.send().await.unwrap()).await
}

/// A POST without a token, as [`send`].
async fn post(server: &TestServer, path: &str, body: Value, request_id: &str) -> Reply {
    send(server, Method::POST, path, None, body, request_id).await
}

/// The stored events matching `query` once at least `want` are there
/// (the writer stores them in the background), oldest first.
async fn events_when(db: &TestDb, query: AuditQuery, want: usize) -> Vec<StoredAuditEvent> {
    let store = blocking(|| db.store());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let query = AuditQuery {
            limit: 1000,
            ..query.clone()
        };
        let mut events = blocking(|| store.list_audit_events(&query)).unwrap();
        if events.len() >= want || Instant::now() > deadline {
            events.reverse();
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn events_of(db: &TestDb, kind: EventType, want: usize) -> Vec<StoredAuditEvent> {
    let query = AuditQuery {
        kinds: vec![kind],
        ..AuditQuery::default()
    };
    events_when(db, query, want).await
}

/// The one event of `kind`, checked to come from the API request `request_id`.
async fn api_event(db: &TestDb, kind: EventType, request_id: &str) -> StoredAuditEvent {
    let events = events_of(db, kind, 1).await;
    let event = events
        .iter()
        .find(|e| e.request_id.as_deref() == Some(request_id))
        .unwrap_or_else(|| panic!("no {kind} event of request {request_id}: {events:#?}"))
        .clone();
    assert_eq!(event.actor, "api");
    assert_eq!(event.actor_name, None);
    assert_eq!(event.ip.as_deref(), Some(IP), "{event:?}");
    assert_eq!(event.user_agent.as_deref(), Some(AGENT), "{event:?}");
    assert_eq!(event.count, 1);
    event
}

fn session_of(token: &str) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

async fn account_and_token_events_carry_who_where_and_which_request(db: &TestDb) {
    let server = start(db).await;
    let email = "ada@example.com";
    let body = json!({"email": email, "password": PASSWORD, "full_name": "Ada Lovelace"});
    let reply = post(&server, "/api/auth/register/", body, "r-register").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let user_id = reply.body["id"].as_i64().unwrap();

    let credentials = json!({"email": email, "password": PASSWORD});
    let login = post(&server, "/api/auth/login/", credentials, "r-login").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let sid = session_of(&access(&login.body));

    let old = refresh(&login.body);
    let rotated = post(
        &server,
        "/api/auth/token/refresh/",
        json!({"refresh": old}),
        "r-refresh",
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    // The rotated token again, past the (zero) grace: reuse, session revoked.
    let replay = post(
        &server,
        "/api/auth/token/refresh/",
        json!({"refresh": old}),
        "r-replay",
    )
    .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);

    let second = server.login(email).await;
    let second_sid = session_of(&access(&second));
    let token = access(&second);
    let patch = send(
        &server,
        Method::PATCH,
        "/api/auth/me/",
        Some(&token),
        json!({"full_name": "Ada King"}),
        "r-me",
    )
    .await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.text);
    let third = server.login(email).await;
    let ended = send(
        &server,
        Method::DELETE,
        &format!("/api/auth/sessions/{}/", session_of(&access(&third))),
        Some(&token),
        json!({}),
        "r-end",
    )
    .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
    let change = json!({"old_password": PASSWORD, "new_password": "another long passphrase"});
    let changed = send(
        &server,
        Method::POST,
        "/api/auth/password/change/",
        Some(&token),
        change,
        "r-change",
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let logout = json!({"refresh": refresh(&changed.body), "scope": "global"});
    let out = post(&server, "/api/auth/logout/", logout, "r-logout").await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);

    let register = api_event(db, EventType::Register, "r-register").await;
    assert_eq!(
        (register.outcome.as_str(), register.user_id),
        ("success", Some(user_id))
    );
    assert_eq!(register.email.as_deref(), Some(email));
    let login = api_event(db, EventType::Login, "r-login").await;
    assert_eq!(login.outcome, "success");
    assert_eq!(
        (login.user_id, login.session_id.as_deref()),
        (Some(user_id), Some(sid.as_str()))
    );
    let refreshed = api_event(db, EventType::Refresh, "r-refresh").await;
    assert_eq!(refreshed.session_id.as_deref(), Some(sid.as_str()));
    let reuse = api_event(db, EventType::RefreshReuse, "r-replay").await;
    assert_eq!(
        (reuse.outcome.as_str(), reuse.reason.as_deref()),
        ("failure", Some("session_revoked"))
    );
    assert_eq!(reuse.session_id.as_deref(), Some(sid.as_str()));
    let updated = api_event(db, EventType::UserUpdated, "r-me").await;
    assert_eq!(updated.detail.as_deref(), Some("full_name"));
    let session_ended = api_event(db, EventType::SessionEnded, "r-end").await;
    assert_ne!(
        session_ended.session_id.as_deref(),
        Some(second_sid.as_str())
    );
    let password = api_event(db, EventType::PasswordChanged, "r-change").await;
    assert_eq!(
        (password.outcome.as_str(), password.user_id),
        ("success", Some(user_id))
    );
    let logged_out = api_event(db, EventType::Logout, "r-logout").await;
    assert_eq!(
        (logged_out.detail.as_deref(), logged_out.user_id),
        (Some("global"), Some(user_id))
    );

    // The same events are counted by type and outcome.
    let metrics = server.call(Method::GET, "/metrics", None, None).await.text;
    assert!(
        metrics.contains(r#"authd_audit_events_total{type="login",outcome="success"} 3"#),
        "{metrics}"
    );
}

async fn failed_logins_keep_their_reasons_apart(db: &TestDb) {
    let server = start(db).await;
    server.register("ada@example.com").await;
    server.register("bob@example.com").await;
    let bob = server.login("bob@example.com").await;
    let user = blocking(|| {
        db.store().find_user(&authd::domain::UserRef::Email(
            authd::domain::Email::parse("bob@example.com").unwrap(),
        ))
    })
    .unwrap()
    .unwrap();
    server
        .app
        .accounts
        .set_active(user.id, false, &Origin::cli())
        .await
        .unwrap();
    drop(bob);
    for (email, password, request_id) in [
        ("nobody@example.com", PASSWORD, "f-unknown"),
        ("ada@example.com", "not the password", "f-wrong"),
        ("bob@example.com", PASSWORD, "f-disabled"),
    ] {
        let body = json!({"email": email, "password": password});
        let reply = post(&server, "/api/auth/login/", body, request_id).await;
        // The client cannot tell them apart.
        reply.assert_problem(401, "invalid_credentials");
    }
    let unknown = api_event(db, EventType::Login, "f-unknown").await;
    assert_eq!(
        (unknown.reason.as_deref(), unknown.user_id),
        (Some("unknown_email"), None)
    );
    assert_eq!(unknown.email.as_deref(), Some("nobody@example.com"));
    let wrong = api_event(db, EventType::Login, "f-wrong").await;
    assert_eq!(wrong.reason.as_deref(), Some("wrong_password"));
    assert!(wrong.user_id.is_some());
    let disabled = api_event(db, EventType::Login, "f-disabled").await;
    assert_eq!(
        (disabled.reason.as_deref(), disabled.user_id),
        (Some("disabled"), Some(user.id.get()))
    );
    let by_cli = events_of(db, EventType::UserDisabled, 1).await;
    assert_eq!(by_cli[0].actor, "cli");
}

async fn a_login_flood_adds_a_bounded_number_of_rows(db: &TestDb) {
    let server = TestServer::start(db, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        // The default rates, which the test server otherwise raises.
        config.throttle.rates = authd::config::ThrottleRates::default();
    })
    .await;
    server.register("ada@example.com").await;
    let before = events_when(db, AuditQuery::default(), 1).await.len();
    let mut refused = 0;
    for i in 0..200 {
        let body = json!({"email": "ada@example.com", "password": "guess"});
        let reply = post(&server, "/api/auth/login/", body, &format!("flood-{i}")).await;
        refused += u32::from(reply.status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(
        refused >= 190,
        "the default rate refuses the flood: {refused} refused"
    );
    // Give the writer time to store everything the flood caused.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = events_when(db, AuditQuery::default(), 0).await;
    let added = events.len() - before;
    let logins = events.iter().filter(|e| e.kind == "login").count();
    let refusals: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "throttle_refused")
        .collect();
    assert_eq!(
        logins,
        200 - refused as usize,
        "one row per login that was let through"
    );
    assert!(
        (1..=2).contains(&refusals.len()),
        "one refusal per scope that refused (login, login_ip), not per request: {refusals:#?}"
    );
    assert!(refusals
        .iter()
        .all(|e| e.ip.as_deref() == Some(IP) && e.outcome == "failure"));
    assert!(added <= 10, "{added} rows for 200 requests");
}

async fn reset_requests_are_rows_for_accounts_and_a_count_for_unknown_emails(db: &TestDb) {
    let server = TestServer::start(db, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        config.throttle.rates.password_reset = "100/min".parse().unwrap();
        config.throttle.rates.password_reset_ip = "100/min".parse().unwrap();
    })
    .await;
    server.register("ada@example.com").await;
    let ada = json!({"email": "ada@example.com"});
    let reply = post(&server, "/api/auth/password/reset/", ada, "reset-ada").await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    for i in 0..7 {
        let body = json!({"email": format!("ghost{i}@example.com")});
        let reply = post(&server, "/api/auth/password/reset/", body, "reset-ghost").await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    let known = api_event(db, EventType::ResetRequested, "reset-ada").await;
    assert_eq!(
        (known.outcome.as_str(), known.email.as_deref()),
        ("success", Some("ada@example.com"))
    );
    // The unknown ones: one aggregate row (stored at the writer's next
    // tick), never one per request, and no address of theirs.
    let query = AuditQuery {
        kinds: vec![EventType::ResetRequested],
        outcome: Some(domain::Outcome::Failure),
        ..AuditQuery::default()
    };
    let unknown = events_when(db, query, 1).await;
    assert_eq!(unknown.len(), 1, "{unknown:#?}");
    assert_eq!(
        (unknown[0].count, unknown[0].reason.as_deref()),
        (7, Some("unknown_email"))
    );
    assert_eq!(
        (unknown[0].email.as_deref(), unknown[0].ip.as_deref()),
        (None, None)
    );

    // A confirm is recorded with its account.
    let user = blocking(|| {
        db.store().find_user(&authd::domain::UserRef::Email(
            authd::domain::Email::parse("ada@example.com").unwrap(),
        ))
    })
    .unwrap()
    .unwrap();
    let token = server.app.reset.places().issue(&user).await.unwrap();
    let body = json!({"token": token.expose(), "new_password": "a fresh and long passphrase"});
    let confirmed = post(
        &server,
        "/api/auth/password/reset/confirm/",
        body,
        "reset-confirm",
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    let event = api_event(db, EventType::ResetConfirmed, "reset-confirm").await;
    assert_eq!(event.user_id, Some(user.id.get()));
}

async fn admin_commands_record_the_os_user(db: &TestDb) {
    let migrated = db.authd().arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", common::stderr(&migrated));
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut command = db.authd();
        command.env("USER", "grace").args(args);
        let output = match stdin {
            Some(input) => common::run_with_stdin(command, input),
            None => command.output().unwrap(),
        };
        assert!(
            output.status.success(),
            "{args:?}: {}",
            common::stderr(&output)
        );
    };
    run(
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    run(&["user", "update", "ada@example.com", "--staff"], None);
    run(&["user", "disable", "ada@example.com"], None);
    run(&["user", "enable", "ada@example.com"], None);
    run(
        &[
            "user",
            "set-password",
            "ada@example.com",
            "--password-stdin",
        ],
        Some("another long passphrase"),
    );
    run(&["token", "revoke", "--user", "ada@example.com"], None);
    run(&["user", "delete", "ada@example.com", "--yes"], None);
    run(&["key", "generate", "--id", "k2"], None);
    let dump = common::file_in(
        db.dir(),
        "dumpdata.json",
        r#"[{"model": "accounts.user", "pk": 41, "fields": {"email": "lin@example.com",
            "password": "!unusable", "is_active": true, "date_joined": "2020-01-01T00:00:00Z"}}]"#,
    );
    run(
        &[
            "import",
            "django",
            "--from-dumpdata",
            dump.to_str().unwrap(),
        ],
        None,
    );

    let mut events = events_when(db, AuditQuery::default(), 9).await;
    let import = events.pop().unwrap();
    assert_eq!(
        (import.kind.as_str(), import.actor_name.as_deref()),
        ("django_import", Some("grace"))
    );
    assert!(
        import
            .detail
            .as_deref()
            .unwrap()
            .starts_with("read=1 imported=1 "),
        "{import:?}"
    );
    let key = events.pop().unwrap();
    assert_eq!(
        (key.kind.as_str(), key.actor.as_str()),
        ("key_generated", "cli")
    );
    assert!(
        key.detail
            .as_deref()
            .unwrap()
            .starts_with("id=k2 algorithm=HS256 state="),
        "{key:?}"
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "user_created",
            "user_updated",
            "user_disabled",
            "user_enabled",
            "password_set",
            "token_revoked",
            "user_deleted"
        ]
    );
    for event in &events {
        assert_eq!(
            (event.actor.as_str(), event.actor_name.as_deref()),
            ("cli", Some("grace"))
        );
        assert_eq!(event.email.as_deref(), Some("ada@example.com"), "{event:?}");
        assert_eq!(
            (event.ip.as_deref(), event.request_id.as_deref()),
            (None, None)
        );
    }
    assert_eq!(events[1].detail.as_deref(), Some("is_staff"));
    // The account is gone; its events stay, found by email.
    let query = AuditQuery {
        subject: Some(authd::store::AuditSubject::Email("ADA@example.com".into())),
        ..AuditQuery::default()
    };
    assert_eq!(events_when(db, query, 7).await.len(), 7);
}

async fn events_past_the_retention_are_pruned(db: &TestDb) {
    let store = blocking(|| db.store());
    let origin = Origin::cli();
    let now = domain::now();
    let event = |days_ago: i64| AuditEvent {
        at: now - chrono::Duration::days(days_ago),
        ..AuditEvent::success(EventType::KeyGenerated, &origin)
    };
    let events: Vec<AuditEvent> = (0..2_500)
        .map(|i| event(100 + i % 3))
        .chain([event(1), event(89)])
        .collect();
    blocking(|| store.insert_audit_events(&events)).unwrap();
    let before = now - chrono::Duration::days(90);
    // At most two batches this run: the rest waits for the next one.
    assert_eq!(
        blocking(|| audit::prune_older_than(store.as_ref(), before, 2)).unwrap(),
        2_000
    );
    assert_eq!(
        blocking(|| audit::prune_older_than(store.as_ref(), before, 100)).unwrap(),
        500
    );
    let left = blocking(|| {
        store.list_audit_events(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
    })
    .unwrap();
    assert_eq!(left.len(), 2);
}

/// The JSON log line of each event, for log shippers: with the table off
/// too, and then nothing is stored.
#[test]
fn events_are_json_log_lines_with_or_without_the_table() {
    for table in [true, false] {
        let db = TestDb::sqlite();
        let mut command = common::process::serve_command(&db);
        command
            .env("AUTHD_LOG__FORMAT", "json")
            .env("AUTHD_AUDIT__TABLE", table.to_string());
        let server = common::process::ServeProcess::start(command);
        common::server::runtime().block_on(async {
            common::deployment::register(&server, "ada@example.com").await;
            common::deployment::login(&server, "ada@example.com").await;
        });
        let logins: Vec<Value> = server
            .logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["target"] == "authd::audit" && line["type"] == "login")
            .collect();
        assert_eq!(logins.len(), 1, "table = {table}: {:#?}", server.logs());
        let line = &logins[0];
        assert_eq!(
            (line["outcome"].as_str(), line["actor"].as_str()),
            (Some("success"), Some("api"))
        );
        assert_eq!(line["email"], "ada@example.com");
        assert_eq!(line["ip"], "127.0.0.1");
        assert!(
            line["session_id"].is_string() && line["request_id"].is_string(),
            "{line}"
        );
        server.terminate();
        let stored = db.query_i64("SELECT COUNT(*) FROM audit_events");
        assert_eq!(stored > 0, table, "table = {table}: {stored} rows");
    }
}
