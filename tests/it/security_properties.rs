//! Security properties: no user enumeration by login (every failed login
//! does the same argon2 work as a successful one, counted by the hashing
//! pool, not timed) or by reset (same status, body and header names), and
//! no token, password, hash or key in the logs of a whole run at the most
//! verbose level.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::process::{serve_command, ServeProcess};
use common::server::{access, refresh, Reply, TestServer, PASSWORD};
use common::smtp::Received;
use common::{redis_url, unique_prefix, TestDb};
use reqwest::Method;
use serde_json::{json, Value};

const LOGIN: &str = "/api/auth/login/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_does_the_same_hashing_work_whoever_asks() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    server.register("known@example.com").await;
    server.register("disabled@example.com").await;
    server.register("unusable@example.com").await;
    db.execute("UPDATE users SET is_active = 0 WHERE email = 'disabled@example.com'");
    db.execute(
        "UPDATE users SET password_hash = '!no-password' WHERE email = 'unusable@example.com'",
    );
    let pool = server.app.tokens.pool();
    let mut work = Vec::new();
    let mut refusals = BTreeSet::new();
    for (case, email, password) in [
        ("known, right password", "known@example.com", PASSWORD),
        (
            "known, wrong password",
            "known@example.com",
            "not the password at all",
        ),
        (
            "known, other case",
            "KNOWN@example.com",
            "not the password at all",
        ),
        ("unknown", "nobody@example.com", PASSWORD),
        ("disabled, right password", "disabled@example.com", PASSWORD),
        ("no usable password", "unusable@example.com", PASSWORD),
    ] {
        let before = pool.work_done();
        let reply = server
            .post(LOGIN, json!({"email": email, "password": password}))
            .await;
        let done = pool.work_done() - before;
        if case != "known, right password" {
            reply.assert_problem(401, "invalid_credentials");
            refusals.insert(reply.text.clone());
        }
        work.push((case, done));
    }
    eprintln!("FIGURES login hashing work (KiB x passes x lanes): {work:?}");
    let expected = work[0].1;
    assert!(expected > 0, "a login hashes");
    for (case, done) in &work {
        assert_eq!(
            *done, expected,
            "{case} does the work of a successful login"
        );
    }
    assert_eq!(
        refusals.len(),
        1,
        "one answer for every refusal: {refusals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_answers_the_same_for_known_unknown_and_disabled_emails() {
    let db = TestDb::sqlite();
    // Three requests from one IP: the per-IP scope must not become the one
    // the headers describe halfway (its name would differ, not the account).
    let server = TestServer::start(&db, |c| {
        c.throttle.rates.password_reset_ip = "100000/minute".parse().unwrap()
    })
    .await;
    server.register("known@example.com").await;
    server.register("disabled@example.com").await;
    db.execute("UPDATE users SET is_active = 0 WHERE email = 'disabled@example.com'");
    let mut shapes = BTreeSet::new();
    for email in [
        "known@example.com",
        "nobody@example.com",
        "disabled@example.com",
    ] {
        let reply = server
            .post("/api/auth/password/reset/", json!({"email": email}))
            .await;
        // Header names and the values that are not per-request.
        let mut headers: Vec<String> = reply
            .headers
            .iter()
            .map(|(name, value)| match name.as_str() {
                "x-request-id"
                | "date"
                | "ratelimit"
                | "x-ratelimit-remaining"
                | "x-ratelimit-reset" => name.to_string(),
                _ => format!("{name}: {}", value.to_str().unwrap()),
            })
            .collect();
        headers.sort();
        shapes.insert((reply.status.as_u16(), reply.text.clone(), headers));
    }
    assert_eq!(shapes.len(), 1, "{shapes:#?}");
    let (status, ..) = shapes.into_iter().next().unwrap();
    assert_eq!(status, 202);
}

/// Every secret the scenario used, and the log lines of the whole run.
struct Scenario {
    secrets: Vec<(String, String)>,
    logs: Vec<String>,
}

impl Scenario {
    fn keep(&mut self, what: &str, secret: &str) {
        assert!(secret.len() >= 8, "{what} is a real secret: {secret:?}");
        self.secrets.push((what.to_string(), secret.to_string()));
        // A token's signature alone would be as bad.
        if let Some(signature) = secret.rsplit('.').next().filter(|s| s.len() >= 20) {
            self.secrets
                .push((format!("{what} signature"), signature.to_string()));
        }
    }
}

/// A client of one server process.
struct Api<'a> {
    client: reqwest::Client,
    server: &'a ServeProcess,
}

impl Api<'_> {
    async fn send(&self, method: Method, path: &str, bearer: Option<&str>, body: Value) -> Reply {
        let mut request = self.client.request(method, self.server.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    /// POSTs `body`; returns the status and the reply.
    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, None, body).await
    }
}

/// Every endpoint, successes and failures, at log level `trace`.
async fn whole_scenario(db: &TestDb, redis: (String, String)) -> Scenario {
    let mut command = serve_command(db);
    command
        .env("AUTHD_LOG__LEVEL", "trace")
        .env("AUTHD_DATABASE__AUTO_MIGRATE", "true")
        .env("REDIS_URL", &redis.0)
        .env("AUTHD_REDIS__KEY_PREFIX", &redis.1);
    let server = ServeProcess::start(command);
    let api = Api {
        client: reqwest::Client::new(),
        server: &server,
    };
    let mut scenario = Scenario {
        secrets: Vec::new(),
        logs: Vec::new(),
    };
    scenario.keep("SECRET_KEY", common::server::TEST_SECRET);
    let [first, second, third, wrong] = [
        PASSWORD,
        "a second long passphrase",
        "a third long passphrase",
        "a wrong long passphrase",
    ];
    for password in [first, second, third, wrong] {
        scenario.keep("a password", password);
    }
    let (email, refresh_path) = ("ada@example.com", "/api/auth/token/refresh/");
    let credentials = |password: &str| json!({"email": email, "password": password});
    let status = |reply: Reply| reply.status.as_u16();

    assert_eq!(
        status(api.post("/api/auth/register/", credentials(first)).await),
        201
    );
    let login = api.post(LOGIN, credentials(first)).await;
    let (a1, r1) = (access(&login.body), refresh(&login.body));
    let rotated = api.post(refresh_path, json!({"refresh": r1})).await;
    let (a2, r2) = (access(&rotated.body), refresh(&rotated.body));
    let verify = api
        .post("/api/auth/token/verify/", json!({"token": a2}))
        .await;
    assert_eq!(status(verify), 200);
    let me = api
        .send(Method::GET, "/api/auth/me/", Some(&a2), Value::Null)
        .await;
    assert_eq!(status(me), 200);
    let forged = format!("{}x", &a2[..a2.len() - 1]);
    let me = api
        .send(Method::GET, "/api/auth/me/", Some(&forged), Value::Null)
        .await;
    assert_eq!(status(me), 401);
    assert_eq!(status(api.post(LOGIN, credentials(wrong)).await), 401);
    let change = json!({"old_password": first, "new_password": second});
    let changed = api
        .send(
            Method::POST,
            "/api/auth/password/change/",
            Some(&a2),
            change,
        )
        .await;
    let (a3, r3) = (access(&changed.body), refresh(&changed.body));
    // A rotated token presented again.
    assert_eq!(
        status(api.post(refresh_path, json!({"refresh": r1})).await),
        401
    );
    let reset = api
        .post("/api/auth/password/reset/", json!({"email": email}))
        .await;
    assert_eq!(status(reset), 202);
    let token = outbox_token(db).await;
    let confirm = json!({"token": token, "new_password": third});
    let confirm_path = "/api/auth/password/reset/confirm/";
    assert_eq!(status(api.post(confirm_path, confirm.clone()).await), 200);
    assert_eq!(status(api.post(confirm_path, confirm).await), 400);
    let last = api.post(LOGIN, credentials(third)).await;
    let (a4, r4) = (access(&last.body), refresh(&last.body));
    let logout = api.post("/api/auth/logout/", json!({"refresh": r4})).await;
    assert_eq!(status(logout), 200);

    for token in [&a1, &r1, &a2, &r2, &a3, &r3, &a4, &r4, &forged] {
        scenario.keep("a token", token);
    }
    scenario.keep("the reset token", &token);
    // block_in_place: the Postgres client runs a runtime of its own.
    let query = |sql: &str| tokio::task::block_in_place(|| db.query_strings(sql));
    let hash = query("SELECT password_hash FROM users")[0][0]
        .clone()
        .unwrap();
    scenario.keep("the password hash", &hash);
    // Its digest alone (the PHC string's last field).
    scenario.keep(
        "the password hash's digest",
        hash.rsplit('$').next().unwrap(),
    );
    for row in query("SELECT jti FROM refresh_tokens") {
        scenario.keep("a refresh token id", row[0].as_deref().unwrap());
    }
    server.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    scenario.logs = server.logs();
    scenario
}

/// The reset token of the one email in the outbox.
async fn outbox_token(db: &TestDb) -> String {
    let outbox = db.dir().join("outbox");
    for _ in 0..200 {
        if let Some(entry) = std::fs::read_dir(&outbox).ok().and_then(|mut d| d.next()) {
            let raw = std::fs::read(entry.unwrap().path()).unwrap();
            return Received {
                from: String::new(),
                to: vec![],
                raw,
            }
            .token();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no reset email in {}", outbox.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_password_hash_or_key_is_ever_logged() {
    no_secret_in_trace_logs(&TestDb::sqlite()).await;
}

/// On Postgres the driver (tokio_postgres) logs query parameters at debug:
/// trace must stay authd's own level, not the driver's.
#[test]
fn no_token_password_hash_or_key_is_ever_logged_on_postgres() {
    let test = "security_properties::no_token_password_hash_or_key_is_ever_logged_on_postgres";
    // Outside the runtime: the Postgres client runs a runtime of its own.
    if let Some(db) = TestDb::postgres(test) {
        common::server::runtime().block_on(no_secret_in_trace_logs(&db));
    }
}

async fn no_secret_in_trace_logs(db: &TestDb) {
    let Some(redis) = redis_url("security_properties::no_secret_in_trace_logs") else {
        return;
    };
    let scenario = whole_scenario(db, (redis, unique_prefix())).await;
    let logs = &scenario.logs;
    assert!(
        logs.len() > 15
            && logs
                .iter()
                .any(|l| l.contains("route=\"/api/auth/token/refresh/\"")),
        "the run was logged, requests included: {logs:#?}"
    );
    let mut leaks = Vec::new();
    for (what, secret) in &scenario.secrets {
        for line in logs.iter().filter(|line| line.contains(secret.as_str())) {
            leaks.push(format!("{what} in: {line}"));
        }
    }
    eprintln!(
        "FIGURES log grep: {} lines at trace level, {} secrets searched, {} found",
        logs.len(),
        scenario.secrets.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}
