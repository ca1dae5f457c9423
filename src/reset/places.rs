//! Where reset tokens live. With `reset.store = "redis"`, a token is a key
//! `{prefix}password_reset:{sha256 of the token}` holding the account's
//! email and when the token was issued, expiring after `reset.token_ttl`;
//! consuming it is one GETDEL, so of concurrent confirms exactly one gets
//! the email. Any new password ends the tokens issued before it: a Redis
//! token issued before the user's `tokens_valid_after` is refused, and the
//! store marks the user's database tokens used in the transaction that
//! sets the password. With `"database"` (or
//! while Redis is down and `reset.on_redis_error = "database"`) it is a row
//! of `password_reset_tokens`. A confirm looks in Redis and then in the
//! database, so tokens issued to either place during an outage stay valid.

use std::time::Duration;

use super::token::ResetToken;
use crate::config::{ResetFallback, ResetStore};
use crate::db::Db;
use crate::domain::PasswordHash;
use crate::domain::{self, Email, User, UserRef};
use crate::kv::Kv;
use crate::store::{revoked_reason, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(
        "reset tokens are unavailable (Redis is down and reset.on_redis_error = \"unavailable\")"
    )]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a live token was found, so it is consumed in the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Redis,
    Database,
}

pub struct TokenPlaces {
    pub(super) kv: Option<Kv>,
    pub(super) db: Db,
    pub(super) ttl: Duration,
    pub(super) primary: ResetStore,
    pub(super) fallback: ResetFallback,
}

impl TokenPlaces {
    fn key(kv: &Kv, token: &ResetToken) -> String {
        kv.key(&format!("password_reset:{}", token.digest()))
    }

    /// Stores a fresh token for `user` and returns it.
    pub async fn issue(&self, user: &User) -> Result<ResetToken, ResetError> {
        let token = ResetToken::generate();
        if let (ResetStore::Redis, Some(kv)) = (self.primary, &self.kv) {
            let key = Self::key(kv, &token);
            let value = format!("{}\n{}", user.email, domain::now().timestamp_micros());
            let ttl = self.ttl.as_secs().max(1);
            let stored = kv
                .run(|mut c| {
                    let mut set = redis::cmd("SET");
                    set.arg(&key).arg(&value).arg("EX").arg(ttl);
                    async move { set.query_async::<()>(&mut c).await }
                })
                .await;
            match stored {
                Ok(()) => return Ok(token),
                Err(error) if self.fallback == ResetFallback::Database => {
                    tracing::warn!(error = %crate::error_chain::Chain(&error), "Redis is unavailable; the reset token goes to the database");
                }
                Err(error) => {
                    tracing::warn!(error = %crate::error_chain::Chain(&error), "Redis is unavailable; no reset token can be issued");
                    return Err(ResetError::Unavailable);
                }
            }
        }
        let (digest, id) = (token.digest(), user.id);
        let expires =
            domain::now() + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX);
        self.db
            .call(move |s| s.insert_reset_token(&digest, id, expires))
            .await?;
        Ok(token)
    }

    /// The active user a live token belongs to, and where it lives.
    pub async fn find(&self, token: &ResetToken) -> Result<Option<(User, Place)>, ResetError> {
        if let Some(kv) = &self.kv {
            let key = Self::key(kv, token);
            match kv
                .run(|mut c| {
                    let mut get = redis::cmd("GET");
                    get.arg(&key);
                    async move { get.query_async::<Option<String>>(&mut c).await }
                })
                .await
            {
                Ok(Some(value)) => {
                    let (email, issued) = parse_value(&value);
                    let user = self.active_user_by_email(email).await?;
                    // Issued before the password last changed (or every
                    // token of the user was cut off): no longer valid.
                    return Ok(user
                        .filter(|u| issued.is_none_or(|at| at >= u.tokens_valid_after))
                        .map(|u| (u, Place::Redis)));
                }
                Ok(None) => {}
                Err(error) if self.fallback == ResetFallback::Database => {
                    tracing::warn!(error = %crate::error_chain::Chain(&error), "Redis is unavailable; looking for the reset token in the database only");
                }
                Err(error) => {
                    tracing::warn!(error = %crate::error_chain::Chain(&error), "Redis is unavailable; reset tokens cannot be checked");
                    return Err(ResetError::Unavailable);
                }
            }
        }
        let digest = token.digest();
        let Some(id) = self
            .db
            .call(move |s| s.reset_token_user(&digest, domain::now()))
            .await?
        else {
            return Ok(None);
        };
        let user = self.db.call(move |s| s.find_user(&UserRef::Id(id))).await?;
        Ok(user.filter(|u| u.is_active).map(|u| (u, Place::Database)))
    }

    /// Consumes the token where it was found and sets the new password
    /// (every token of the user stops working). False when a concurrent
    /// confirm consumed it first.
    pub async fn consume(
        &self,
        token: &ResetToken,
        place: Place,
        user: &User,
        hash: PasswordHash,
    ) -> Result<bool, ResetError> {
        match (place, &self.kv) {
            (Place::Redis, Some(kv)) => {
                let key = Self::key(kv, token);
                let email = kv
                    .run(|mut c| {
                        let mut getdel = redis::cmd("GETDEL");
                        getdel.arg(&key);
                        async move { getdel.query_async::<Option<String>>(&mut c).await }
                    })
                    .await
                    .map_err(|error| {
                        tracing::warn!(error = %crate::error_chain::Chain(&error), "Redis failed while consuming a reset token");
                        ResetError::Unavailable
                    })?;
                if !email.is_some_and(|value| {
                    parse_value(&value)
                        .0
                        .eq_ignore_ascii_case(user.email.as_str())
                }) {
                    return Ok(false);
                }
                let id = user.id;
                self.db
                    .call(move |s| {
                        s.set_password(id, &hash, domain::now(), revoked_reason::PASSWORD_RESET)
                    })
                    .await?;
                Ok(true)
            }
            _ => {
                let digest = token.digest();
                let consumed = self
                    .db
                    .call(move |s| s.consume_reset_token(&digest, &hash, domain::now()))
                    .await?;
                Ok(consumed == Some(user.id))
            }
        }
    }

    async fn active_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(None);
        };
        let user = self
            .db
            .call(move |s| s.find_user(&UserRef::Email(email)))
            .await?;
        Ok(user.filter(|u| u.is_active))
    }
}

/// A Redis token's value: the email, then (since tokens are invalidated by
/// a password change) the issue time in microseconds. Tokens written
/// before that carry the email alone and count as issued at no known time.
fn parse_value(value: &str) -> (&str, Option<domain::Timestamp>) {
    match value.split_once('\n') {
        Some((email, micros)) => (
            email,
            micros
                .parse()
                .ok()
                .and_then(chrono::DateTime::from_timestamp_micros),
        ),
        None => (value, None),
    }
}
