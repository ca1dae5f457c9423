//! Password reset: single-use tokens and the emails that carry them.
//!
//! A reset request is one store call, the same for every email: it queues
//! an email in the database (`store::reset_queue`) when an active account
//! has the email, and does nothing otherwise; the answer is the same 202
//! either way. Once answered, the email is owed: it survives a flood of
//! other requests (one queued email per account, requests merged into it),
//! an SMTP outage (retried with backoff) and a restart of authd (the queue
//! is a table), and of several instances sharing the database one sends it
//! (`delivery`). If the queue cannot be written, the request fails with 503
//! for known and unknown emails alike.

mod backoff;
mod confirm;
mod delivery;
pub mod mail;
pub mod places;
pub mod templates;
pub mod token;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::audit::Audit;
use crate::config::Config;
use crate::db::Db;
use crate::domain::{self, AuditEvent, Email, EventType, Origin};
use crate::kv::Kv;
use crate::store::StoreError;
pub use confirm::ConfirmError;
use delivery::{Delivery, Mailer};
use mail::{MailError, Outgoing};
pub use places::{Place, ResetError, TokenPlaces};
use templates::Templates;
pub use token::ResetToken;

pub struct ResetService {
    db: Db,
    places: Arc<TokenPlaces>,
    stats: Arc<ResetStats>,
    /// Tells this instance's dispatcher that it queued a row.
    wake: Arc<Notify>,
    dispatcher: tokio::task::JoinHandle<()>,
    audit: Audit,
}

/// Counts for metrics. A request moves them the same whether or not it
/// named an existing account, so `/metrics` cannot tell what the answer
/// hides; nothing counts sent emails.
#[derive(Debug, Default)]
pub struct ResetStats {
    /// Reset requests answered 202.
    pub requests: AtomicU64,
    /// Queued emails given up: still failing after `reset.delivery_timeout`
    /// (a mail server down that long), or a message the mailer can never
    /// build. The only thing ever dropped; never caused by other clients.
    pub abandoned: AtomicU64,
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
        db: Db,
        kv: Option<Kv>,
        audit: Audit,
    ) -> Result<ResetService, ResetSetupError> {
        if config.reset.queue.is_some() {
            tracing::warn!("reset.queue is no longer used (reset emails wait in the database, one per account); remove it");
        }
        let places = Arc::new(TokenPlaces {
            kv,
            db: db.clone(),
            ttl: *config.reset.token_ttl,
            primary: config.reset_store(),
            fallback: config.reset.on_redis_error,
        });
        let stats = Arc::new(ResetStats::default());
        let wake = Arc::new(Notify::new());
        // A send is a token (Redis or the database) and an SMTP exchange of
        // a few commands, each bounded by mail.smtp.timeout.
        let attempt_timeout = config
            .mail
            .smtp
            .timeout
            .saturating_mul(3)
            .saturating_add(Duration::from_secs(10));
        let delivery = Arc::new(Delivery {
            db: db.clone(),
            mailer: Mailer {
                places: Arc::clone(&places),
                outgoing: Outgoing::from_config(&config.mail)?,
                templates: Templates::load(config.mail.templates_dir.as_deref())
                    .map_err(ResetSetupError::Templates)?,
                url_template: config.reset.url_template.clone(),
                product_name: config.mail.product_name.clone(),
                valid_minutes: config.reset.token_ttl.as_secs().div_ceil(60),
            },
            stats: Arc::clone(&stats),
            workers: Arc::new(Semaphore::new(config.reset.workers as usize)),
            wake: Arc::clone(&wake),
            poll_interval: *config.reset.poll_interval,
            attempt_timeout,
            lease: attempt_timeout.saturating_add(Duration::from_secs(30)),
            delivery_timeout: *config.reset.delivery_timeout,
        });
        let dispatcher = tokio::spawn(delivery.run());
        Ok(ResetService {
            db,
            places,
            stats,
            wake,
            dispatcher,
            audit,
        })
    }

    /// Queues a reset email for `email` if an active account has it. The
    /// same one statement whether it does or not, and nothing returned
    /// tells which; an error means nothing was queued. The audit log
    /// keeps the difference: a row for an existing account, a count for
    /// unknown emails (so a flood of made-up addresses adds no rows).
    pub async fn request(&self, email: Email, origin: &Origin) -> Result<(), StoreError> {
        let at = domain::now();
        let address = email.as_str().to_string();
        let queued = self.db.call(move |s| s.enqueue_reset(&email, at)).await?;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if queued {
            self.wake.notify_one();
            self.audit
                .record(AuditEvent::success(EventType::ResetRequested, origin).email(&address));
        } else {
            self.audit.reset_requested_for_unknown_email(origin);
        }
        Ok(())
    }

    pub fn places(&self) -> &TokenPlaces {
        &self.places
    }

    pub fn stats(&self) -> Arc<ResetStats> {
        Arc::clone(&self.stats)
    }
}

/// Stops the dispatcher with the server: what it had not sent stays queued
/// for the next instance to start (or another one already running).
impl Drop for ResetService {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}
