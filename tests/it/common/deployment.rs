//! authd as an operator runs it, for tests that follow an operator's
//! procedure (key rotation): one config file and one SQLite database,
//! `SECRET_KEY` in the environment or not, the admin CLI run against that
//! file, and `authd serve` restarted between stages. Plus the few HTTP calls
//! those tests make.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use serde_json::{json, Value};

use super::process::{serve_command, ServeProcess};
use super::server::{PASSWORD, TEST_SECRET};
use super::TestDb;

pub struct Deployment {
    pub db: TestDb,
    /// The config file (`authd.toml`, owner-only: it may hold secrets).
    pub config: PathBuf,
    secret_key: Option<String>,
}

impl Deployment {
    /// A deployment with `SECRET_KEY` set (the test secret) and `text` as
    /// its config file.
    pub fn new(text: &str) -> Deployment {
        let db = TestDb::sqlite();
        let config = db.dir().join("authd.toml");
        std::fs::write(&config, text).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        Deployment {
            db,
            config,
            secret_key: Some(TEST_SECRET.into()),
        }
    }

    /// Sets or unsets `SECRET_KEY` for later commands and servers.
    pub fn set_secret_key(&mut self, value: Option<&str>) {
        self.secret_key = value.map(str::to_string);
    }

    pub fn read_config(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    /// Adds `text` at the end of the config file, as an operator pastes an entry.
    pub fn append_config(&self, text: &str) {
        let mut config = self.read_config();
        config.push('\n');
        config.push_str(text);
        config.push('\n');
        self.write_config(&config);
    }

    /// Runs `authd --config FILE ARGS...`; panics unless it exits 0.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = self.cli_output(args);
        assert!(
            output.status.success(),
            "authd {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn cli_output(&self, args: &[&str]) -> Output {
        let mut command = self.db.authd();
        command.arg("--config").arg(&self.config).args(args);
        match &self.secret_key {
            Some(value) => command.env("SECRET_KEY", value),
            None => command.env_remove("SECRET_KEY"),
        };
        command.output().unwrap()
    }

    /// Starts `authd serve` on this deployment's file and database.
    pub fn serve(&self) -> ServeProcess {
        let mut command = serve_command(&self.db);
        command.arg("--config").arg(&self.config);
        match &self.secret_key {
            Some(value) => command.env("SECRET_KEY", value),
            None => command.env_remove("SECRET_KEY"),
        };
        ServeProcess::start(command)
    }
}

/// A token pair from one login.
#[derive(Debug, Clone)]
pub struct Pair {
    pub access: String,
    pub refresh: String,
}

impl Pair {
    /// The `kid` and `alg` of the access token's header.
    pub fn key(&self) -> (String, String) {
        let header = self.part(0);
        (
            header["kid"].as_str().unwrap().to_string(),
            header["alg"].as_str().unwrap().to_string(),
        )
    }

    /// The access token's `sub`.
    pub fn subject(&self) -> String {
        self.part(1)["sub"].as_str().unwrap().to_string()
    }

    fn part(&self, index: usize) -> Value {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let segment = self.access.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }
}

pub async fn register(server: &ServeProcess, email: &str) {
    let reply = reqwest::Client::new()
        .post(server.url("/api/auth/register/"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);
}

pub async fn login(server: &ServeProcess, email: &str) -> Pair {
    let reply = reqwest::Client::new()
        .post(server.url("/api/auth/login/"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    Pair {
        access: body["access"].as_str().unwrap().to_string(),
        refresh: body["refresh"].as_str().unwrap().to_string(),
    }
}

/// Whether the server takes every token of `pair`: the access token on
/// `GET /me`, the refresh token on `token/verify` (which spends nothing).
pub async fn accepted(server: &ServeProcess, pair: &Pair) -> bool {
    let client = reqwest::Client::new();
    let me = client
        .get(server.url("/api/auth/me/"))
        .bearer_auth(&pair.access)
        .send()
        .await
        .unwrap()
        .status();
    let verify = client
        .post(server.url("/api/auth/token/verify/"))
        .json(&json!({"token": pair.refresh}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        me.is_success(),
        verify.is_success(),
        "me {me}, verify {verify}"
    );
    me.is_success()
}
