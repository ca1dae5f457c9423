//! A `202` to a reset request for an existing account always leads to its
//! email: through a flood of requests from others, an SMTP outage, a
//! restart of authd, and with two instances sharing the database (each
//! email sent once). The emails wait in the database (`password_reset_queue`).

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::config::{Config, MailBackend, SmtpTls};
use common::process::{serve_command, ServeProcess};
use common::server::{all_at_once, blocking, http_suite, Reply, TestServer};
use common::smtp::{free_port, Received, SmtpServer};
use common::TestDb;
use reqwest::StatusCode;
use serde_json::json;

http_suite!(
    a_flood_of_requests_does_not_lose_a_real_users_email,
    a_request_accepted_while_smtp_is_down_is_sent_when_it_returns,
    an_accepted_request_survives_a_restart_of_authd,
    two_servers_on_one_database_send_each_email_once,
);

const RESET: &str = "/api/auth/password/reset/";
const NEW_PASSWORD: &str = "a fresh and long passphrase";

/// Mail through the test SMTP server on `port`.
fn smtp_on(port: u16) -> impl FnOnce(&mut Config) {
    move |c| {
        c.mail.backend = MailBackend::Smtp;
        c.mail.smtp.host = "127.0.0.1".into();
        c.mail.smtp.port = port;
        c.mail.smtp.tls = SmtpTls::None;
    }
}

/// The address a message went to, as the test SMTP server saw it.
fn recipient(mail: &Received) -> String {
    mail.to
        .join(",")
        .trim_matches(|c| c == '<' || c == '>')
        .to_string()
}

/// Reads messages until every address in `wanted` has one or `bound` has
/// passed; returns every message read, by recipient.
async fn collect(
    smtp: &mut SmtpServer,
    wanted: &[&str],
    bound: Duration,
) -> BTreeMap<String, Vec<Received>> {
    let deadline = Instant::now() + bound;
    let mut got: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    while !wanted.iter().all(|w| got.contains_key(*w)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(mail) = smtp.next(left).await else {
            break;
        };
        got.entry(recipient(&mail)).or_default().push(mail);
    }
    got
}

async fn confirm(base: &str, client: &reqwest::Client, token: &str) -> StatusCode {
    client
        .post(format!("{base}/api/auth/password/reset/confirm/"))
        .json(&json!({"token": token, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
}

/// 1,500 requests, a third for emails nobody has and the rest for one
/// account, sent 32 at a time to a mail server that takes 20 ms a message;
/// three real users ask in the middle of it. Each real user gets an email,
/// and the link in it works.
async fn a_flood_of_requests_does_not_lose_a_real_users_email(db: &TestDb) {
    let mut smtp = SmtpServer::start_slow(Duration::from_millis(20)).await;
    let server = TestServer::start(db, smtp_on(smtp.port)).await;
    let real = ["ada@example.com", "bob@example.com", "carol@example.com"];
    for email in real.iter().chain(["mallory@example.com"].iter()) {
        server.register(email).await;
    }
    let mut emails: Vec<String> = (0..1500)
        .map(|i| match i % 3 {
            0 => format!("ghost{i}@example.com"),
            _ => "mallory@example.com".to_string(),
        })
        .collect();
    for (at, email) in [800, 1000, 1200].into_iter().zip(real) {
        emails.insert(at, email.to_string());
    }
    let emails = Arc::new(emails);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..32)
        .map(|_| {
            let (emails, next) = (Arc::clone(&emails), Arc::clone(&next));
            let (client, url) = (server.client.clone(), server.url(RESET));
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(email) = emails.get(i) else {
                        return statuses;
                    };
                    let reply = client
                        .post(&url)
                        .json(&json!({ "email": email }))
                        .send()
                        .await
                        .expect("the server answers");
                    statuses.push((email.clone(), reply.status()));
                }
            })
        })
        .collect();
    for sender in senders {
        for (email, status) in sender.await.unwrap() {
            assert_eq!(status, StatusCode::ACCEPTED, "{email}");
        }
    }
    let flood = started.elapsed();

    let got = collect(&mut smtp, &real, Duration::from_secs(60)).await;
    let mallory = got.get("mallory@example.com").map_or(0, Vec::len);
    eprintln!(
        "FIGURES reset flood: {} requests in {flood:?}; emails: {:?}",
        emails.len(),
        got.iter().map(|(to, m)| (to, m.len())).collect::<Vec<_>>()
    );
    for email in real {
        assert!(got.contains_key(email), "{email} got no email: {got:?}");
    }
    assert!(
        got.keys()
            .all(|to| real.contains(&to.as_str()) || to == "mallory@example.com"),
        "nobody else: {:?}",
        got.keys()
    );
    assert!(mallory >= 1, "mallory asked too");
    let ada = got["ada@example.com"].last().unwrap().token();
    assert_eq!(
        confirm(&server.base, &server.client, &ada).await,
        StatusCode::OK,
        "ada's link works"
    );
}

/// The mail server is down when the request comes and for the first
/// attempts; the email goes out once it is back, with a working link.
async fn a_request_accepted_while_smtp_is_down_is_sent_when_it_returns(db: &TestDb) {
    let port = free_port();
    let server = TestServer::start(db, smtp_on(port)).await;
    server.register("ada@example.com").await;
    let reply = server
        .post(RESET, json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    // The first attempts fail (connection refused) and are retried.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let attempts =
        blocking(|| db.query_i64("SELECT CAST(attempts AS BIGINT) FROM password_reset_queue"));
    assert!(
        attempts >= 2,
        "retried while the mail server is down: {attempts}"
    );

    let mut smtp = SmtpServer::start_on(port).await;
    let mail = smtp
        .next(Duration::from_secs(30))
        .await
        .expect("the email once the mail server is back");
    assert_eq!(recipient(&mail), "ada@example.com");
    assert_eq!(
        confirm(&server.base, &server.client, &mail.token()).await,
        StatusCode::OK
    );
    assert!(
        smtp.next(Duration::from_secs(2)).await.is_none(),
        "one email"
    );
    assert_eq!(
        blocking(|| db.query_i64("SELECT count(*) FROM password_reset_queue")),
        0,
        "nothing left in the queue"
    );
}

/// `authd serve` accepts a request while the mail server is down and is
/// killed; a new process on the same database sends the email.
async fn an_accepted_request_survives_a_restart_of_authd(db: &TestDb) {
    blocking(|| drop(db.store())); // migrated, as `authd migrate` would
    let port = free_port();
    let serve = || {
        let mut command = serve_command(db);
        command
            .env("AUTHD_MAIL__BACKEND", "smtp")
            .env("AUTHD_MAIL__SMTP__HOST", "127.0.0.1")
            .env("AUTHD_MAIL__SMTP__PORT", port.to_string())
            .env("AUTHD_MAIL__SMTP__TLS", "none")
            // Bounds the lease of a send cut short by the kill.
            .env("AUTHD_MAIL__SMTP__TIMEOUT", "1s");
        ServeProcess::start(command)
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let first = serve();
    let post = |url: String, body: serde_json::Value| {
        let client = client.clone();
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let registered = post(
        first.url("/api/auth/register/"),
        json!({"email": "ada@example.com", "password": common::server::PASSWORD}),
    )
    .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let accepted = post(first.url(RESET), json!({"email": "ada@example.com"})).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    // Its first attempt has failed (the mail server is down): stop it now.
    let deadline = Instant::now() + Duration::from_secs(10);
    let waiting = "SELECT count(*) FROM password_reset_queue WHERE attempts > 0 AND claim IS NULL";
    while blocking(|| db.query_i64(waiting)) == 0 {
        assert!(Instant::now() < deadline, "the first attempt was made");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(first); // SIGKILL: nothing runs after the last attempt
    assert_eq!(
        blocking(|| db.query_i64("SELECT count(*) FROM password_reset_queue")),
        1,
        "the request waits in the database"
    );

    let mut smtp = SmtpServer::start_on(port).await;
    let second = serve();
    let mail = smtp
        .next(Duration::from_secs(60))
        .await
        .expect("the new process sends the email");
    assert_eq!(recipient(&mail), "ada@example.com");
    assert_eq!(
        confirm(&second.base, &client, &mail.token()).await,
        StatusCode::OK
    );
}

/// Two servers on one database, each accepting half of 20 requests while
/// the mail server is down, both looking for due emails every 50 ms: once
/// it is back, every account gets exactly one email.
async fn two_servers_on_one_database_send_each_email_once(db: &TestDb) {
    let port = free_port();
    let tweak = |c: &mut Config| {
        smtp_on(port)(c);
        c.reset.poll_interval = authd::config::Duration::millis(50);
    };
    let a = TestServer::start(db, tweak).await;
    let b = TestServer::start(db, tweak).await;
    let accounts: Vec<String> = (0..20).map(|i| format!("user{i}@example.com")).collect();
    for email in &accounts {
        a.register(email).await;
    }
    let replies: Vec<Reply> = all_at_once(accounts.iter().enumerate().map(|(i, email)| {
        let server = if i % 2 == 0 { &a } else { &b };
        server
            .client
            .post(server.url(RESET))
            .json(&json!({ "email": email }))
    }))
    .await;
    assert!(replies.iter().all(|r| r.status == StatusCode::ACCEPTED));
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut smtp = SmtpServer::start_on(port).await;
    let wanted: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let mut got = collect(&mut smtp, &wanted, Duration::from_secs(60)).await;
    // Any second copy would come within a few polls.
    while let Some(mail) = smtp.next(Duration::from_secs(3)).await {
        got.entry(recipient(&mail)).or_default().push(mail);
    }
    let counts: BTreeMap<&String, usize> = got.iter().map(|(to, m)| (to, m.len())).collect();
    assert_eq!(counts.len(), accounts.len(), "every account: {counts:?}");
    assert!(counts.values().all(|n| *n == 1), "once each: {counts:?}");
}
