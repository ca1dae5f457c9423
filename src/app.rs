//! `App`: the shared state of a running server, one cheap-to-clone handle
//! around an `Arc`. It holds the configuration and the token service (which
//! owns the store pool, the signing keys and the hashing pool). Nothing in it
//! is behind a lock: the pools are the synchronization, each bounded by
//! config (`database.pool_size`, `password.hash_workers` + `hash_queue`).

use std::sync::Arc;

use crate::auth::jwt::{JwtKeys, TokenSettings};
use crate::auth::keys::{self, KeySource};
use crate::auth::tokens::TokenService;
use crate::auth::HashingPool;
use crate::auth::PasswordHasher;
use crate::config::Config;
use crate::store::{self, StoreError};

#[derive(Clone)]
pub struct App(Arc<AppState>);

pub struct AppState {
    pub config: Config,
    pub tokens: TokenService,
    /// First-run development mode: generated key, non-Secure cookie.
    pub development: bool,
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
}

impl App {
    /// Opens the store (migrating it when `database.auto_migrate` says so),
    /// resolves the signing keys and starts the hashing pool. Blocking.
    pub fn build(config: Config, development: bool) -> Result<(App, KeySource), StartupError> {
        let (signing_keys, key_source) = keys::signing_keys(&config, development)?;
        let store = store::open_current(&config)?;
        let jwt = &config.jwt;
        let settings = TokenSettings {
            access_ttl: *jwt.access_ttl,
            refresh_ttl: *jwt.refresh_ttl,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            leeway: *jwt.leeway,
        };
        let workers = match config.password.hash_workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n as usize,
        };
        let pool = HashingPool::new(
            PasswordHasher::new(config.hash_params())?,
            workers,
            config.password.hash_queue as usize,
        )?;
        let tokens = TokenService::new(
            store,
            JwtKeys::new(&signing_keys, settings),
            pool,
            *jwt.refresh_reuse_grace,
        );
        Ok((
            App(Arc::new(AppState {
                config,
                tokens,
                development,
            })),
            key_source,
        ))
    }

    /// Whether the refresh cookie carries `Secure`.
    pub fn cookie_secure(&self) -> bool {
        self.config.http.cookie_secure && !self.development
    }
}
