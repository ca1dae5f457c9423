//! authd's configuration: every setting in one typed [`Config`] with its
//! default, loaded in layers (defaults < TOML file < environment < flags, see
//! [`load`]) and checked as a whole (see [`validate`]). `config.example.toml`
//! documents each key; a test keeps it in step with this file.

mod defaults;
mod environment;
mod load;
mod validate;
mod values;

use std::{net::SocketAddr, path::PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::domain::Rate;

pub use load::{from_toml_str, load, ConfigError, ConfigSource, FlagOverride, LoadOptions};
pub use values::{ConnectionUrl, Duration, Secret, REDACTED};

/// The key id `SECRET_KEY` is known by in `jwt.keys` and in tokens' `kid`.
pub const SECRET_KEY_ID: &str = "default";

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Development mode (`DEBUG`): relaxes the secret and cookie checks.
    pub debug: bool,
    /// `SECRET_KEY`: the signing secret used when `jwt.keys` is empty.
    pub secret_key: Secret,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub http: HttpConfig,
    pub jwt: JwtConfig,
    pub password: PasswordConfig,
    pub throttle: ThrottleConfig,
    pub reset: ResetConfig,
    pub mail: MailConfig,
    pub blacklist: BlacklistConfig,
    pub audit: AuditConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub docs: DocsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://...` (`DATABASE_URL`).
    pub url: ConnectionUrl,
    /// Most connections the pool keeps open.
    pub pool_size: u32,
    /// Connections the pool keeps open even when idle (Postgres).
    pub min_idle: u32,
    /// An idle connection above `min_idle` is closed after this (Postgres),
    /// so a pool grown by a burst gives its slots back.
    pub idle_timeout: Duration,
    /// How long to wait for a connection before giving up.
    pub connect_timeout: Duration,
    /// Postgres: how long a request waits for a free pooled connection when every one
    /// is in use; then it is answered 503 with `Retry-After`.
    pub pool_timeout: Duration,
    /// SQLite: how long a writer waits for the lock before failing.
    pub busy_timeout: Duration,
    /// Apply pending migrations at start-up. Unset: on for SQLite, off for Postgres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_migrate: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://host:port/db` (`REDIS_URL`); unset: throttles and reset tokens live in process.
    /// Also `rediss://` (TLS), `redis+cluster://h1:p,h2:p/`, `redis+sentinel://h1:p,h2:p/SERVICE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<ConnectionUrl>,
    /// PEM roots to check a TLS Redis with; unset: the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Allow `#insecure` in a `rediss://` URL (TLS without certificate checks).
    pub tls_insecure: bool,
    /// Prepended to every key authd writes.
    pub key_prefix: String,
    /// Per-operation timeout.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    pub max_body_bytes: u64,
    pub max_connections: u32,
    /// From accept, or from the first byte of a later request, to its whole head.
    pub header_read_timeout: Duration,
    /// Longest silence between requests on a kept-alive connection.
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Accepted `Host` header values (`ALLOWED_HOSTS`); `*` allows any,
    /// `.example.com` a domain and its subdomains.
    pub allowed_hosts: Vec<String>,
    pub cors_allowed_origins: Vec<String>,
    /// This server's origin as browsers see it (`https://auth.example.com`),
    /// for the refresh cookie's cross-origin check; unset: the request's
    /// scheme and `Host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Peers whose forwarding header (`forwarded_header`) is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The one header the trusted proxies set: `x-forwarded-for` or
    /// `forwarded`; the other is ignored (a client could have written it).
    pub forwarded_header: ForwardedHeader,
    pub hsts: bool,
    pub refresh_cookie: String,
    /// The refresh cookie's `Secure` attribute; switch off for plain-http development only.
    pub cookie_secure: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtConfig {
    /// Signing keys; the first active one that can sign signs, all verify.
    /// With `SECRET_KEY` set too, its key (id `default`) is kept after them
    /// as a verify-only key.
    pub keys: Vec<SigningKeyConfig>,
    /// Where a first run in development writes its generated key.
    pub key_file: PathBuf,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    pub leeway: Duration,
    pub refresh_reuse_grace: Duration,
    /// How long an instance may rely on an access check it made (at most
    /// 1 s, API.md's bound for a revocation to reach every instance); zero
    /// asks the database on every authenticated request.
    pub revocation_cache_ttl: Duration,
    /// How long verifiers may cache `/.well-known/jwks.json`
    /// (`Cache-Control: max-age`); a `next` key must be published at least
    /// this long before it signs.
    pub jwks_max_age: Duration,
    /// Accepting the tokens the Django service (SimpleJWT) issued.
    pub legacy_simplejwt: LegacySimpleJwtConfig,
}

/// SimpleJWT's tokens (HS256, no `kid`, a `user_id` claim), accepted until
/// they expire so a switch from the Django service logs no one out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LegacySimpleJwtConfig {
    pub enabled: bool,
    /// The key SimpleJWT signed with: its `SIGNING_KEY`, by default Django's `SECRET_KEY`.
    pub secret_key: Secret,
    /// SimpleJWT's `USER_ID_CLAIM`.
    pub user_id_claim: String,
    /// SimpleJWT's `ISSUER`, when it set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// SimpleJWT's `AUDIENCE`, when it set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// SimpleJWT's `LEEWAY`.
    pub leeway: Duration,
}

/// One `[[jwt.keys]]` entry. An HS256 key has a `secret`; an asymmetric
/// key a `private_key_file` (it can sign) or a `public_key_file` (it only
/// verifies). The first `active` key that can sign signs; every key verifies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    /// The `kid` header of tokens this key signs.
    pub id: String,
    #[serde(default)]
    pub algorithm: KeyAlgorithm,
    /// HS256 only.
    #[serde(default, skip_serializing_if = "secret_unset")]
    pub secret: Secret,
    /// PKCS#8 PEM private key (EdDSA, ES256, RS256); owner-only file mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    /// SubjectPublicKeyInfo PEM public key: a key that only verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
    #[serde(default)]
    pub state: KeyState,
}

fn secret_unset(secret: &Secret) -> bool {
    !secret.is_set()
}

/// The algorithms a signing key can have (`alg` of its tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// HMAC-SHA256 with a shared secret: SimpleJWT's, the default.
    #[default]
    HS256,
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys or more.
    RS256,
}

impl KeyAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::HS256 => "HS256",
            KeyAlgorithm::EdDSA => "EdDSA",
            KeyAlgorithm::ES256 => "ES256",
            KeyAlgorithm::RS256 => "RS256",
        }
    }

    pub fn is_symmetric(self) -> bool {
        self == KeyAlgorithm::HS256
    }
}

/// Where a key is in its rotation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Verifies; signs when it is the first active key that can.
    #[default]
    Active,
    /// Published and verifying, never signing: the key the next rotation
    /// makes active, so verifiers that cache the JWKS already know it.
    Next,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordConfig {
    /// argon2id memory cost in KiB.
    pub memory_kib: u32,
    /// argon2id time cost (passes).
    pub iterations: u32,
    /// argon2id lanes.
    pub parallelism: u32,
    /// Hashes computed at once; 0 means one per CPU core.
    pub hash_workers: u32,
    /// Hash requests that may wait for a worker before logins get 503.
    pub hash_queue: u32,
    /// The weakest argon2id hash that verifies: memory in KiB.
    pub min_memory_kib: u32,
    /// The weakest argon2id hash that verifies: passes.
    pub min_iterations: u32,
    /// The weakest argon2id hash that verifies: lanes.
    pub min_parallelism: u32,
    /// Imported Django PBKDF2 hashes with fewer iterations verify only for
    /// the login that replaces them.
    pub legacy_pbkdf2_min_iterations: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleConfig {
    pub rates: ThrottleRates,
    pub on_redis_error: ThrottleFallback,
    /// Most exact windows the in-process limiter keeps (no Redis, or its
    /// `memory` fallback); past them, new identities are counted by a
    /// fixed-size sketch per scope that can only over-count.
    pub memory_windows: u32,
    /// IPv6 clients are counted per network of this prefix length.
    pub ipv6_prefix: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleRates {
    pub login: Rate,
    pub password_reset: Rate,
    pub registration: Rate,
    pub password_reset_completion: Rate,
    pub login_ip: Rate,
    pub password_reset_ip: Rate,
    pub password_change: Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, ...`
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, ...`
    Forwarded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleFallback {
    /// Count in process, per instance.
    Memory,
    /// Let every request through.
    Allow,
    /// Answer 503.
    Deny,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ResetConfig {
    pub token_ttl: Duration,
    /// The link mailed to the user; `{token}` is replaced by the token.
    pub url_template: String,
    /// Unset: `redis` when `redis.url` is set, else `database`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<ResetStore>,
    pub on_redis_error: ResetFallback,
    /// No longer used: reset emails wait in the database, one per
    /// account (see `store::reset_queue`). Still accepted, with a warning,
    /// so files that set it keep loading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<u32>,
    /// Reset emails sent at once by this instance.
    pub workers: u32,
    /// How often an idle instance looks for reset emails queued by another
    /// instance (its own are taken at once, retries when they are due).
    pub poll_interval: Duration,
    /// How long a reset email is retried (SMTP or Redis down) before it is
    /// given up, logged and counted.
    pub delivery_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetStore {
    Redis,
    Database,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetFallback {
    Database,
    Unavailable,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailConfig {
    pub backend: MailBackend,
    /// Where the `file` backend writes `.eml` files.
    pub outbox_dir: PathBuf,
    /// The `From` header: `Name <address>` or a bare address.
    pub from: String,
    /// The product name used in the templates.
    pub product_name: String,
    /// Folder with replacement templates; unset: the built-in ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates_dir: Option<PathBuf>,
    pub smtp: SmtpConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailBackend {
    Smtp,
    File,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    pub password: Secret,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BlacklistConfig {
    /// How often `serve` prunes expired tokens; `0s` switches it off.
    pub auto_prune_interval: Duration,
}

/// The audit log (see `audit`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditConfig {
    /// Whether events are stored in the `audit_events` table; the JSON log
    /// lines (target `authd::audit`) are written either way.
    pub table: bool,
    /// How long stored events are kept; `0s` keeps them forever.
    pub retention: Duration,
    /// Events waiting for the background writer; past it they are dropped
    /// (and counted), never waited for.
    pub queue: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// A separate listener for `/metrics`; then the public listener never
    /// serves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    /// Without `bind`: the clients (their IP as resolved through
    /// `http.trusted_proxies`) the public listener serves `/metrics` to;
    /// everyone else gets 404.
    pub allow: Vec<IpNet>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter (`info`, `authd=debug`); `RUST_LOG` wins when set.
    pub level: String,
    /// The share of successful requests (status below 400) whose access
    /// line is logged, 0.0 to 1.0; errors are always logged.
    pub sample_successes: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DocsConfig {
    pub redoc_script_url: String,
}

impl Config {
    /// Whether pending migrations are applied when a store is opened.
    pub fn auto_migrate(&self) -> bool {
        self.database
            .auto_migrate
            .unwrap_or_else(|| self.database.url.scheme().as_deref() == Some("sqlite"))
    }

    /// The reset-token store in force (`reset.store`, else by `redis.url`).
    pub fn reset_store(&self) -> ResetStore {
        self.reset.store.unwrap_or(if self.redis.url.is_some() {
            ResetStore::Redis
        } else {
            ResetStore::Database
        })
    }

    /// Hashing workers in force: `password.hash_workers`, or one per CPU core when 0.
    pub fn hash_workers(&self) -> usize {
        match self.password.hash_workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n as usize,
        }
    }

    /// The argon2 parameters of `[password]`.
    pub fn hash_params(&self) -> crate::domain::HashParams {
        crate::domain::HashParams {
            memory_kib: self.password.memory_kib,
            iterations: self.password.iterations,
            parallelism: self.password.parallelism,
        }
    }

    /// The weakest hashes `[password]` accepts.
    pub fn hash_floors(&self) -> crate::domain::HashFloors {
        crate::domain::HashFloors {
            native: crate::domain::HashParams {
                memory_kib: self.password.min_memory_kib,
                iterations: self.password.min_iterations,
                parallelism: self.password.min_parallelism,
            },
            legacy_pbkdf2_iterations: self.password.legacy_pbkdf2_min_iterations,
        }
    }
}
