//! Sending the queued reset emails (`store::reset_queue`): one dispatcher
//! per instance takes due rows and runs at most `reset.workers` sends at
//! once. A send looks the account up, issues a fresh token (so an email
//! delayed by an outage still carries a token valid for `reset.token_ttl`,
//! and no raw token ever waits in the database) and mails it. Then:
//!
//! - sent, or nothing to send (the account was disabled meanwhile): the row
//!   is deleted, unless a request came in since the send began (then it is
//!   due again);
//! - failed (SMTP, Redis or the database down): the row is due again after
//!   a capped, jittered backoff (`backoff`), until `reset.delivery_timeout`
//!   after the latest request; then it is given up, logged and counted;
//! - a message that can never be built (an address the mailer refuses) is
//!   given up at once, logged and counted.
//!
//! The dispatcher wakes when this instance queues a row, when the earliest
//! row of the queue is due, and at least every `reset.poll_interval` (rows
//! queued by other instances).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use super::backoff::retry_delay;
use super::mail::{MailError, Outgoing};
use super::places::TokenPlaces;
use super::templates::{Templates, Values};
use super::ResetStats;
use crate::db::Db;
use crate::domain::{self, Timestamp, UserRef};
use crate::store::{Claimed, Finished, QueuedReset};

/// The shortest wait before looking again for a row that is due but was
/// being taken by another sender.
const MIN_WAIT: Duration = Duration::from_millis(50);
/// The first wait before asking a failing database again (then doubled,
/// up to `reset.poll_interval`).
const ERROR_PAUSE: Duration = Duration::from_millis(500);

/// What renders and mails one email.
pub(super) struct Mailer {
    pub places: Arc<TokenPlaces>,
    pub outgoing: Outgoing,
    pub templates: Templates,
    pub url_template: String,
    pub product_name: String,
    pub valid_minutes: u64,
}

/// The dispatcher's settings and shared state.
pub(super) struct Delivery {
    pub db: Db,
    pub mailer: Mailer,
    pub stats: Arc<ResetStats>,
    pub workers: Arc<Semaphore>,
    pub wake: Arc<Notify>,
    pub poll_interval: Duration,
    /// The longest one send may take; a slower one counts as failed.
    pub attempt_timeout: Duration,
    /// How long a row stays leased to its sender: longer than any send.
    pub lease: Duration,
    pub delivery_timeout: Duration,
}

/// How one send went.
enum Outcome {
    Sent,
    NothingToSend,
    /// Worth another try later.
    Failed,
    /// No try will ever succeed.
    Undeliverable,
}

impl Delivery {
    /// Takes due rows and sends them, forever (the service aborts it).
    pub async fn run(self: Arc<Self>) {
        // Consecutive failures to read the queue: logged when they start and
        // end, not each time, and asked again less and less often.
        let mut failures: u32 = 0;
        loop {
            let Ok(permit) = Arc::clone(&self.workers).acquire_owned().await else {
                return;
            };
            let claim = crate::auth::jwt::new_id();
            let now = domain::now();
            let lease_until = later(now, self.lease);
            let held = claim.clone();
            let claimed = self
                .db
                .call(move |s| s.claim_reset(&held, now, lease_until))
                .await;
            if claimed.is_ok() && failures > 0 {
                tracing::info!("password reset: the queue can be read again");
                failures = 0;
            }
            let wait = match claimed {
                Ok(Claimed::Job(job)) => {
                    let delivery = Arc::clone(&self);
                    tokio::spawn(async move {
                        delivery.attempt(job, claim).await;
                        drop(permit);
                        // The row may be due at a new time (a retry), and a
                        // sender is free: look again.
                        delivery.wake.notify_one();
                    });
                    continue;
                }
                Ok(Claimed::Idle { next_due }) => next_due.map_or(self.poll_interval, |due| {
                    (due - domain::now())
                        .to_std()
                        .unwrap_or_default()
                        .clamp(MIN_WAIT, self.poll_interval)
                }),
                Err(error) => {
                    if failures == 0 {
                        tracing::warn!(error = %crate::error_chain::Chain(&error), "password reset: the queue cannot be read; retrying until it can");
                    }
                    failures = failures.saturating_add(1);
                    ERROR_PAUSE
                        .saturating_mul(1 << failures.min(10))
                        .min(self.poll_interval)
                }
            };
            drop(permit);
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
    }

    async fn attempt(&self, job: QueuedReset, claim: String) {
        let outcome = tokio::time::timeout(self.attempt_timeout, self.mailer.deliver(&job))
            .await
            .unwrap_or_else(|_| {
                tracing::warn!(user_id = %job.user_id, "password reset email timed out");
                Outcome::Failed
            });
        let now = domain::now();
        match outcome {
            Outcome::Sent | Outcome::NothingToSend => {
                self.finish(&job, claim, now, false).await;
            }
            Outcome::Undeliverable => self.finish(&job, claim, now, true).await,
            Outcome::Failed if now - job.requested_at >= to_chrono(self.delivery_timeout) => {
                self.finish(&job, claim, now, true).await;
            }
            Outcome::Failed => {
                let next = later(now, retry_delay(job.attempts));
                let user_id = job.user_id;
                match self
                    .db
                    .call(move |s| s.retry_reset(user_id, &claim, next))
                    .await
                {
                    Ok(true) => tracing::info!(
                        %user_id,
                        attempts = job.attempts,
                        "password reset email will be retried"
                    ),
                    Ok(false) => {
                        tracing::warn!(%user_id, "password reset: the lease on a failed email ran out; another sender has it")
                    }
                    // The lease runs out and the row is taken again.
                    Err(error) => {
                        tracing::warn!(error = %crate::error_chain::Chain(&error), %user_id, "password reset: could not schedule the retry")
                    }
                }
            }
        }
    }

    /// Removes the row of a send that is over (`give_up`: without an email).
    async fn finish(&self, job: &QueuedReset, claim: String, now: Timestamp, give_up: bool) {
        let (user_id, generation) = (job.user_id, job.generation);
        let finished = self
            .db
            .call(move |s| s.finish_reset(user_id, &claim, generation, now))
            .await;
        match finished {
            Ok(Finished::Deleted) if give_up => {
                self.stats.abandoned.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    %user_id,
                    attempts = job.attempts,
                    "password reset email given up"
                );
            }
            Ok(Finished::Deleted) => {}
            Ok(Finished::Rearmed) => {
                tracing::debug!(%user_id, "password reset asked again during the send; another email follows");
            }
            Ok(Finished::LeaseLost) => tracing::warn!(
                %user_id,
                "password reset: the lease ran out during the send; the email may be sent twice"
            ),
            Err(error) => tracing::warn!(
                %error,
                %user_id,
                "password reset: could not mark the email sent; it may be sent again"
            ),
        }
    }
}

impl Mailer {
    async fn deliver(&self, job: &QueuedReset) -> Outcome {
        let id = job.user_id;
        let user = match self
            .places
            .db
            .call(move |s| s.find_user(&UserRef::Id(id)))
            .await
        {
            Ok(Some(user)) if user.is_active => user,
            Ok(_) => {
                tracing::debug!(user_id = %id, "password reset for an account no longer active; nothing sent");
                return Outcome::NothingToSend;
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain::Chain(&error), user_id = %id, "password reset: the account lookup failed");
                return Outcome::Failed;
            }
        };
        let token = match self.places.issue(&user).await {
            Ok(token) => token,
            Err(error) => {
                tracing::warn!(error = %crate::error_chain::Chain(&error), user_id = %id, "password reset: no token could be issued");
                return Outcome::Failed;
            }
        };
        let link = self.url_template.replace("{token}", token.expose());
        let rendered = self.templates.render(&Values {
            product_name: &self.product_name,
            link: &link,
            email: user.email.as_str(),
            valid_minutes: self.valid_minutes,
        });
        match self.outgoing.send(user.email.as_str(), &rendered).await {
            Ok(()) => {
                tracing::info!(user_id = %id, "password reset email sent");
                Outcome::Sent
            }
            Err(error @ MailError::Message(_)) => {
                tracing::warn!(error = %crate::error_chain::Chain(&error), user_id = %id, "password reset email cannot be built");
                Outcome::Undeliverable
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain::Chain(&error), user_id = %id, "password reset email failed");
                Outcome::Failed
            }
        }
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// `duration` after `at`, or the end of time for absurd configured values.
fn later(at: Timestamp, duration: Duration) -> Timestamp {
    at.checked_add_signed(to_chrono(duration))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}
