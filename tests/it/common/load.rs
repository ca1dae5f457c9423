//! Bounded load for the fault suites: a few clients running the account
//! flow (register, log in, refresh a few times) in a loop for a few
//! seconds, a tally of every answer by status, and a ledger of every write
//! the server acknowledged (each 201 registration, each 200 rotation), so a
//! test can check afterwards that none was lost or half done.
//!
//! The figures (sent, by status, slowest answer) are printed with
//! `eprintln!` for RELIABILITY.md; assertions are about correctness (which
//! statuses, no hang past the client's bound), never about throughput.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::server::{Reply, PASSWORD};
use super::TestDb;

/// One answer, or the transport error that took its place.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `None`: no HTTP answer (connection refused or reset, or the client's timeout).
    pub status: Option<u16>,
    pub sent: Instant,
    pub done: Instant,
    /// What the request was, e.g. "register".
    pub what: &'static str,
}

/// Every outcome of a run, and what the server acknowledged.
#[derive(Default)]
pub struct Tally {
    outcomes: Mutex<Vec<Outcome>>,
    /// Problems found while the run went on (a 503 without `Retry-After`, ...).
    problems: Mutex<Vec<String>>,
    /// The first few transport errors, to explain a failure.
    transport_errors: Mutex<Vec<String>>,
    /// Emails whose registration got 201.
    pub registered: Mutex<Vec<String>>,
    /// (old refresh jti, new refresh jti) of every refresh that got 200.
    pub rotations: Mutex<Vec<(String, String)>>,
    /// Refresh tokens presented without a 200: the rotation may or may not
    /// have happened (the answer can be lost after the commit).
    pub unsure: Mutex<Vec<String>>,
}

impl Tally {
    /// Sends `request`, records its outcome, and returns the reply if there was one.
    pub async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Option<Reply> {
        let sent = Instant::now();
        let result = request.send().await;
        let reply = match result {
            Ok(response) => Some(Reply::from(response).await),
            Err(error) => {
                let mut errors = self.transport_errors.lock().unwrap();
                if errors.len() < 20 {
                    errors.push(format!("{what}: {error}"));
                }
                None
            }
        };
        let done = Instant::now();
        if let Some(reply) = &reply {
            let status = reply.status.as_u16();
            if status == 503
                && (reply.header("retry-after").is_none()
                    || reply.body["code"] != "service_unavailable")
            {
                self.problem(format!(
                    "{what}: a 503 without Retry-After or code: {}",
                    reply.text
                ));
            }
            if status == 500 {
                self.problem(format!("{what}: 500: {}", reply.text));
            }
        }
        self.outcomes.lock().unwrap().push(Outcome {
            status: reply.as_ref().map(|r| r.status.as_u16()),
            sent,
            done,
            what,
        });
        reply
    }

    pub fn problem(&self, text: String) {
        self.problems.lock().unwrap().push(text);
    }

    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().unwrap().clone()
    }

    /// Count of answers by status ("none" for no answer).
    pub fn by_status(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for outcome in self.outcomes.lock().unwrap().iter() {
            let key = outcome.status.map_or("none".into(), |s| s.to_string());
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    pub fn slowest(&self) -> Duration {
        self.outcomes
            .lock()
            .unwrap()
            .iter()
            .map(|o| o.done - o.sent)
            .max()
            .unwrap_or_default()
    }

    /// Prints the figures of the run under `label`.
    pub fn report(&self, label: &str) {
        let sent = self.outcomes.lock().unwrap().len();
        eprintln!(
            "FIGURES {label}: sent {sent}, by status {:?}, slowest {} ms, registered {}, rotations {}",
            self.by_status(),
            self.slowest().as_millis(),
            self.registered.lock().unwrap().len(),
            self.rotations.lock().unwrap().len(),
        );
    }

    /// Panics unless every status is one of `allowed` and nothing went wrong.
    pub fn assert_only(&self, label: &str, allowed: &[&str]) {
        let problems = self.problems();
        assert!(problems.is_empty(), "{label}: {problems:#?}");
        for (status, count) in self.by_status() {
            assert!(
                allowed.contains(&status.as_str()),
                "{label}: {count} answers with status {status}; allowed {allowed:?}; transport errors: {:#?}",
                self.transport_errors.lock().unwrap()
            );
        }
    }

    /// The time from `back` (the dependency's return) to the first success
    /// of a request that needs it, completed after `back`.
    pub fn recovery_after(&self, back: Instant, needs: &[&str]) -> Option<Duration> {
        self.outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| needs.contains(&o.what) && o.done >= back)
            .filter(|o| o.status.is_some_and(|s| (200..300).contains(&s)))
            .map(|o| o.done - back)
            .min()
    }

    /// Requests sent at or after `since` that did not succeed.
    pub fn failures_sent_after(&self, since: Instant) -> Vec<Outcome> {
        self.outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.sent >= since && !o.status.is_some_and(|s| (200..300).contains(&s)))
            .cloned()
            .collect()
    }
}

/// Starts `clients` account flows against `base` until `until`, each with a
/// client from `client`: the first refreshes one session all along (steady
/// refresh load), the others register, log in and refresh three times.
pub fn spawn_account_flows(
    base: &str,
    tally: &Arc<Tally>,
    clients: usize,
    until: Instant,
    client: impl Fn() -> reqwest::Client,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|worker| {
            let refreshes = if worker == 0 { usize::MAX } else { 3 };
            tokio::spawn(account_flow(
                client(),
                base.to_string(),
                Arc::clone(tally),
                worker,
                refreshes,
                until,
            ))
        })
        .collect()
}

/// Waits for every flow to end.
pub async fn join_all(flows: Vec<tokio::task::JoinHandle<()>>) {
    for flow in flows {
        flow.await.unwrap();
    }
}

/// One client's loop until `until`: register a new account, log in, refresh
/// `refreshes` times; any failure starts over with a new account (a refresh
/// whose answer was lost may have rotated the token, so it is never retried).
async fn account_flow(
    client: reqwest::Client,
    base: String,
    tally: Arc<Tally>,
    worker: usize,
    refreshes: usize,
    until: Instant,
) {
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let email = format!("w{worker}n{n}@load.example.com");
        let register = client
            .post(format!("{base}/api/auth/register/"))
            .json(&json!({"email": email, "password": PASSWORD}));
        match tally.send("register", register).await {
            Some(reply) if reply.status == 201 => {
                tally.registered.lock().unwrap().push(email.clone())
            }
            // Unknown outcome: this email is not used again either way.
            _ => continue,
        }
        let login = client
            .post(format!("{base}/api/auth/login/"))
            .json(&json!({"email": email, "password": PASSWORD}));
        let Some(reply) = tally.send("login", login).await else {
            continue;
        };
        if reply.status != 200 {
            continue;
        }
        let mut refresh = reply.body["refresh"].as_str().unwrap().to_string();
        for _ in 0..refreshes {
            if Instant::now() >= until {
                break;
            }
            let request = client
                .post(format!("{base}/api/auth/token/refresh/"))
                .json(&json!({"refresh": refresh}));
            match tally.send("refresh", request).await {
                Some(reply) if reply.status == 200 => {
                    let next = reply.body["refresh"].as_str().unwrap().to_string();
                    tally
                        .rotations
                        .lock()
                        .unwrap()
                        .push((jti(&refresh), jti(&next)));
                    refresh = next;
                }
                _ => {
                    tally.unsure.lock().unwrap().push(jti(&refresh));
                    break;
                }
            }
        }
    }
}

/// The `jti` claim of a token (read without verifying: the test issued nothing).
pub fn jti(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    let claims: Value = serde_json::from_slice(&bytes).expect("JSON claims");
    claims["jti"].as_str().expect("a jti").to_string()
}

/// Checks, in the database itself, that no acknowledged write was lost or
/// half done: every 201 registration is a user; every 200 refresh revoked
/// its old token (replaced by the new one) and left the new one valid,
/// unless the client presented it again later; and every rotated token
/// anywhere has its successor (the rotation is one transaction), which also
/// covers the refreshes whose answer never came.
pub fn assert_nothing_lost(db: &TestDb, tally: &Tally) {
    let users: HashSet<String> = db
        .query_strings("SELECT email FROM users")
        .into_iter()
        .map(|row| row[0].clone().unwrap())
        .collect();
    let registered = tally.registered.lock().unwrap().clone();
    let lost: Vec<&String> = registered.iter().filter(|e| !users.contains(*e)).collect();
    assert!(
        lost.is_empty(),
        "registrations answered 201 but missing: {lost:?}"
    );

    let tokens: BTreeMap<String, (Option<String>, Option<String>)> = db
        .query_strings("SELECT jti, revoked_reason, replaced_by FROM refresh_tokens")
        .into_iter()
        .map(|row| (row[0].clone().unwrap(), (row[1].clone(), row[2].clone())))
        .collect();
    let rotations = tally.rotations.lock().unwrap().clone();
    let unsure = tally.unsure.lock().unwrap().clone();
    let presented_again: HashSet<&String> = rotations
        .iter()
        .map(|(old, _)| old)
        .chain(unsure.iter())
        .collect();
    for (old, new) in &rotations {
        assert_eq!(
            tokens.get(old),
            Some(&(Some("rotated".to_string()), Some(new.clone()))),
            "a 200 refresh left its old token {old} not rotated into {new}"
        );
        let (reason, _) = tokens
            .get(new)
            .unwrap_or_else(|| panic!("a 200 refresh's new token {new} is missing"));
        if !presented_again.contains(new) {
            assert_eq!(
                reason, &None,
                "a 200 refresh's new token {new} is not valid"
            );
        }
    }
    for (jti, (reason, next)) in &tokens {
        if reason.as_deref() == Some("rotated") {
            let next = next
                .as_ref()
                .unwrap_or_else(|| panic!("{jti} rotated into nothing"));
            assert!(
                tokens.contains_key(next),
                "{jti} rotated into a missing token {next}"
            );
        }
    }
    eprintln!(
        "FIGURES checked: {} registrations and {} rotations acknowledged, all present; {} users, {} refresh tokens in the database",
        registered.len(),
        rotations.len(),
        users.len(),
        tokens.len()
    );
}
