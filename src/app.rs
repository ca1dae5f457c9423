//! `App`: the shared state of a running server, one cheap-to-clone handle
//! around an `Arc`. It holds the configuration and the token service (which
//! owns the store pool, the signing keys and the hashing pool), the
//! throttle, the Redis connection, the metrics and the published
//! JWKS (the OpenAPI document is the HTTP layer's: `http::site`). Nothing in it is behind a lock: the pools are the synchronization, each bounded by
//! config (`database.pool_size`, `password.hash_workers` + `hash_queue`).

use std::sync::Arc;

use crate::accounts::Accounts;
use crate::audit::Audit;
use crate::auth::jwks::Jwks;
use crate::auth::jwt::{JwtKeys, TokenSettings};
use crate::auth::keys::{self, KeySource};
use crate::auth::legacy_jwt::LegacyKeys;
use crate::auth::tokens::TokenService;
use crate::auth::{AccessCache, HashingPool, PasswordHasher};
use crate::config::Config;
use crate::db::Db;
use crate::kv::Kv;
use crate::metrics::{Metrics, Sources};
use crate::reset::ResetService;
use crate::store::{self, StoreError};
use crate::throttle::Throttle;

#[derive(Clone)]
pub struct App(Arc<AppState>);

pub struct AppState {
    pub config: Config,
    /// The store, through the blocking hop every service uses.
    pub db: Db,
    pub tokens: TokenService,
    /// Every change to an account (see `accounts`).
    pub accounts: Accounts,
    pub throttle: Arc<Throttle>,
    pub reset: ResetService,
    pub metrics: Metrics,
    /// The public keys, as `/.well-known/jwks.json` serves them.
    pub jwks: Jwks,
    /// The shared Redis, when `redis.url` is set.
    pub kv: Option<Kv>,
    /// First-run development mode: generated key, non-Secure cookie.
    pub development: bool,
    /// What this instance's periodic prune did.
    pub prune: Arc<crate::maintenance::PruneStats>,
    /// The audit log (see `audit`).
    pub audit: Audit,
}

impl std::ops::Deref for App {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hashing(#[from] crate::auth::HashingError),
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] crate::kv::KvError),
    #[error(transparent)]
    Reset(#[from] crate::reset::ResetSetupError),
}

impl App {
    /// Opens the store (migrating it when `database.auto_migrate` says so),
    /// resolves the signing keys, starts the hashing pool and (lazily) the
    /// Redis connection. Blocking; must run within a tokio runtime context.
    pub fn build(config: Config, development: bool) -> Result<(App, KeySource), StartupError> {
        let (signing_keys, key_source) = keys::signing_keys(&config, development)?;
        let db = Db::new(store::open_current(&config, store::Role::Server)?);
        let audit = Audit::start(&config.audit, db.clone());
        let jwt = &config.jwt;
        let settings = TokenSettings {
            access_ttl: *jwt.access_ttl,
            refresh_ttl: *jwt.refresh_ttl,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            leeway: *jwt.leeway,
        };
        let pool = HashingPool::new(
            PasswordHasher::from_config(&config)?,
            config.hash_workers(),
            config.password.hash_queue as usize,
        )?;
        let access = AccessCache::new(*jwt.revocation_cache_ttl);
        let accounts = Accounts::new(
            db.clone(),
            pool.clone(),
            Some(access.clone()),
            audit.clone(),
        );
        let jwt_keys = JwtKeys::new(signing_keys, settings);
        let jwks = Jwks::new(&jwt_keys);
        let tokens = TokenService::new(
            db.clone(),
            jwt_keys,
            pool,
            *jwt.refresh_reuse_grace,
            access,
            audit.clone(),
        )
        .with_legacy(LegacyKeys::from_config(&jwt.legacy_simplejwt));
        let kv = Kv::connect_lazy(&config.redis)?;
        let throttle = Arc::new(Throttle::new(&config.throttle, kv.clone()));
        let reset = ResetService::start(&config, db.clone(), kv.clone(), audit.clone())?;
        let prune = Arc::new(crate::maintenance::PruneStats::default());
        let metrics = Metrics::new(Sources {
            prune: Arc::clone(&prune),
            hashing: tokens.pool().clone(),
            store: Arc::clone(db.store()),
            throttle: Arc::clone(&throttle),
            reset: reset.stats(),
            readiness: Default::default(),
            audit: audit.counters().clone(),
        });
        let state = AppState {
            config,
            db,
            tokens,
            accounts,
            throttle,
            reset,
            metrics,
            jwks,
            kv,
            development,
            prune,
            audit,
        };
        Ok((App(Arc::new(state)), key_source))
    }

    /// Whether the refresh cookie carries `Secure`.
    pub fn cookie_secure(&self) -> bool {
        self.config.http.cookie_secure && !self.development
    }
}
