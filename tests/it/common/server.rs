//! A real authd server on 127.0.0.1:0 for one test, on that test's private
//! database, and a small client for it.

use std::time::Duration;

use authd::app::App;
use authd::config::{Config, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::TestDb;

/// A signing secret for tests (not a secret of anything real).
pub const TEST_SECRET: &str = "test-signing-secret-of-at-least-32-bytes";
pub const PASSWORD: &str = "correct horse battery";

/// Generates `sqlite::NAME` and `postgres::NAME` tests, each running the
/// async suite function `NAME(&TestDb)` on a fresh database of that kind.
macro_rules! http_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() {
                let db = crate::common::TestDb::sqlite();
                crate::common::server::runtime().block_on(super::$name(&db));
            } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                let test = concat!(module_path!(), "::", stringify!($name));
                if let Some(db) = crate::common::TestDb::postgres(test) {
                    crate::common::server::runtime().block_on(super::$name(&db));
                }
            } )*
        }
    };
}
pub(crate) use http_suite;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A running server; stops when dropped.
pub struct TestServer {
    pub base: String,
    /// The server's shared state, for what a test must observe inside it.
    pub app: App,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// Starts a server with the test defaults, changed by `tweak`.
    pub async fn start(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = db.config();
        config.secret_key = Secret::new(TEST_SECRET);
        config.database.auto_migrate = Some(true);
        config.mail.outbox_dir = db.dir().join("outbox");
        // Suites about other things log in more than 5 times a minute;
        // throttling suites set the rates they test.
        let generous: authd::domain::Rate = "10000/minute".parse().unwrap();
        let rates = &mut config.throttle.rates;
        (
            rates.login,
            rates.password_reset,
            rates.registration,
            rates.password_reset_completion,
            rates.login_ip,
            rates.password_reset_ip,
            rates.password_change,
        ) = (
            generous, generous, generous, generous, generous, generous, generous,
        );
        tweak(&mut config);
        Self::start_with(config).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let (app, _) = tokio::task::spawn_blocking(move || App::build(config, false))
            .await
            .unwrap()
            .expect("build the app");
        let started = authd::startup::start(&app, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", started.api_address().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(started.run(async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        TestServer {
            base,
            app,
            client,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `body` as JSON (or nothing) with an optional Bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::from(request.send().await.expect("send request")).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn get(&self, path: &str, bearer: &str) -> Reply {
        self.call(Method::GET, path, Some(bearer), None).await
    }

    /// Registers `email` with the test password; panics unless 201.
    pub async fn register(&self, email: &str) -> Value {
        let reply = self
            .post(
                "/api/auth/register/",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Logs in; panics unless 200. Returns the whole body.
    pub async fn login(&self, email: &str) -> Value {
        let reply = self
            .post(
                "/api/auth/login/",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json error with `status` and `code`.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["detail"].is_string()
                && self.body["title"].is_string()
                && self.body["type"] == "about:blank"
        );
    }
}

/// The access token of a login or refresh body.
pub fn access(body: &Value) -> String {
    body["access"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// The refresh token of a login or refresh body.
pub fn refresh(body: &Value) -> String {
    body["refresh"]
        .as_str()
        .expect("a refresh token")
        .to_string()
}

/// Runs blocking test code (direct store or SQL access) from an async test.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

/// Sends every request at once, each on its own task, and returns the
/// replies in order. A request that gets no answer at all fails the test.
pub async fn all_at_once(
    requests: impl IntoIterator<Item = reqwest::RequestBuilder>,
) -> Vec<Reply> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            tokio::spawn(async move {
                Reply::from(request.send().await.expect("the server answers")).await
            })
        })
        .collect();
    let mut replies = Vec::with_capacity(tasks.len());
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

/// API.md's bound for a revocation made elsewhere (another instance, the
/// CLI) to reach every running server.
pub const REVOCATION_BOUND: std::time::Duration = std::time::Duration::from_secs(1);

/// Asks `status` every 50 ms until it answers `want` or the revocation
/// bound has passed since the call; returns the last answer.
pub async fn within_revocation_bound<F, Fut>(status: F, want: StatusCode) -> StatusCode
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    within_bound(status, want, REVOCATION_BOUND).await
}

/// Asks `status` until it answers `want` or `bound` has passed; returns the last answer.
pub async fn within_bound<F, Fut>(
    mut status: F,
    want: StatusCode,
    bound: std::time::Duration,
) -> StatusCode
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let deadline = std::time::Instant::now() + bound;
    loop {
        let got = status().await;
        if got == want || std::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
