//! Password reset: single-use tokens and the emails that carry them.
//!
//! A reset request is answered before anything about the account is looked
//! up: the email goes into a bounded queue (`reset.queue`) and the answer is
//! always the same 202. A dispatcher hands queued requests to at most
//! `reset.workers` concurrent jobs, each of which looks the account up, and
//! for an active one issues a token (`places`) and sends the email
//! (`templates`, `mail`). A full queue drops the request with a log line;
//! the client cannot tell. Requests still queued when the server stops are
//! lost (the user asks again).

pub mod mail;
pub mod places;
pub mod templates;
pub mod token;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

use crate::auth::tokens::blocking;
use crate::config::Config;
use crate::domain::{Email, UserRef};
use crate::kv::Kv;
use crate::store::Store;
use mail::{MailError, Outgoing};
pub use places::{Place, ResetError, TokenPlaces};
use templates::{Templates, Values};
pub use token::ResetToken;

pub struct ResetService {
    queue: mpsc::Sender<Email>,
    places: Arc<TokenPlaces>,
    stats: Arc<ResetStats>,
}

/// Counts of what the reset jobs did, for metrics.
#[derive(Debug, Default)]
pub struct ResetStats {
    pub emails_sent: AtomicU64,
    pub emails_failed: AtomicU64,
    /// Requests refused because the queue was full.
    pub dropped: AtomicU64,
}

/// What a job needs to send one email.
struct Sender {
    places: Arc<TokenPlaces>,
    store: Arc<dyn Store>,
    outgoing: Outgoing,
    templates: Templates,
    url_template: String,
    product_name: String,
    valid_minutes: u64,
    stats: Arc<ResetStats>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResetSetupError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("{0}")]
    Templates(String),
}

impl ResetService {
    /// Starts the dispatcher; must run within a tokio runtime.
    pub fn start(
        config: &Config,
        store: Arc<dyn Store>,
        kv: Option<Kv>,
    ) -> Result<ResetService, ResetSetupError> {
        let places = Arc::new(TokenPlaces {
            kv,
            store: Arc::clone(&store),
            ttl: *config.reset.token_ttl,
            primary: config.reset_store(),
            fallback: config.reset.on_redis_error,
        });
        let stats = Arc::new(ResetStats::default());
        let sender = Arc::new(Sender {
            places: Arc::clone(&places),
            store,
            outgoing: Outgoing::from_config(&config.mail)?,
            templates: Templates::load(config.mail.templates_dir.as_deref())
                .map_err(ResetSetupError::Templates)?,
            url_template: config.reset.url_template.clone(),
            product_name: config.mail.product_name.clone(),
            valid_minutes: config.reset.token_ttl.as_secs().div_ceil(60),
            stats: Arc::clone(&stats),
        });
        let (queue, mut requests) = mpsc::channel::<Email>(config.reset.queue as usize);
        let jobs = Arc::new(Semaphore::new(config.reset.workers as usize));
        tokio::spawn(async move {
            while let Some(email) = requests.recv().await {
                let Ok(permit) = Arc::clone(&jobs).acquire_owned().await else {
                    break;
                };
                let sender = Arc::clone(&sender);
                tokio::spawn(async move {
                    sender.deliver(email).await;
                    drop(permit);
                });
            }
        });
        Ok(ResetService {
            queue,
            places,
            stats,
        })
    }

    /// Queues a reset email for `email` if an active account has it. Never
    /// waits and never tells whether the account exists.
    pub fn request(&self, email: Email) {
        if self.queue.try_send(email).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("the password reset queue is full; a reset request was dropped");
        }
    }

    pub fn places(&self) -> &TokenPlaces {
        &self.places
    }

    pub fn stats(&self) -> Arc<ResetStats> {
        Arc::clone(&self.stats)
    }
}

impl Sender {
    async fn deliver(&self, email: Email) {
        let lookup = email.clone();
        let user = match blocking(&self.store, move |s| s.find_user(&UserRef::Email(lookup))).await
        {
            Ok(Some(user)) if user.is_active => user,
            Ok(_) => {
                tracing::debug!("password reset requested for no active account; nothing sent");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "password reset: the account lookup failed");
                return;
            }
        };
        let token = match self.places.issue(&user).await {
            Ok(token) => token,
            Err(error) => {
                tracing::warn!(%error, user_id = %user.id, "password reset: no token could be issued");
                return;
            }
        };
        let link = self.url_template.replace("{token}", token.expose());
        let rendered = self.templates.render(&Values {
            product_name: &self.product_name,
            link: &link,
            email: &user.email,
            valid_minutes: self.valid_minutes,
        });
        match self.outgoing.send(&user.email, &rendered).await {
            Ok(()) => {
                self.stats.emails_sent.fetch_add(1, Ordering::Relaxed);
                tracing::info!(user_id = %user.id, "password reset email sent");
            }
            Err(error) => {
                self.stats.emails_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, user_id = %user.id, "password reset email failed");
            }
        }
    }
}
