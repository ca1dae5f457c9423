//! The token lifecycle: login, refresh rotation with reuse detection,
//! verification, logout in three scopes, and the check every
//! authenticated request makes.
//!
//! An access token is accepted only while its signature and expiry hold, its
//! user exists and is active, its session is not revoked, and it was issued
//! no earlier than the user's `tokens_valid_after` (whole seconds, as `iat`
//! is). That state comes from one indexed query, remembered per session for
//! at most `jwt.revocation_cache_ttl` (see `access_cache`), so a revocation
//! anywhere takes effect on every instance within a second and at once on
//! the instance that made it. Store calls go through [`Db`].

use std::time::Duration;

use super::access_cache::AccessCache;
use super::hashing::{HashingPool, PoolBusy};
use super::jwt::{new_id, Claims, IssuedToken, JwtKeys, TokenType};
use super::legacy_jwt::LegacyKeys;
use crate::audit::Audit;
use crate::db::Db;
use crate::domain::{
    self, login_failure, AuditEvent, ClientInfo, Email, EventType, Origin, Password, User,
};
use crate::store::{
    revoked_reason, NewRefreshToken, NewSession, RevokeScope, RotateOutcome, Rotation, StoreError,
};

/// An access and a refresh token of one session.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The session both belong to.
    pub sid: String,
    pub access: IssuedToken,
    pub refresh: IssuedToken,
}

/// What the lifecycle can refuse. The HTTP edge maps each to one answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("token not valid")]
    TokenNotValid,
    /// Not one of the caller's live sessions (or no session at all).
    #[error("no such session")]
    UnknownSession,
    #[error(transparent)]
    Busy(#[from] PoolBusy),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum LogoutScope {
    /// The session of the presented token.
    Local,
    /// Every other session of the user.
    Others,
    /// Every session of the user.
    Global,
}

impl LogoutScope {
    /// The word the API takes.
    pub fn name(self) -> &'static str {
        match self {
            LogoutScope::Local => "local",
            LogoutScope::Others => "others",
            LogoutScope::Global => "global",
        }
    }
}

/// A request authenticated by an access token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    /// The token's session; `None` for a token the Django service issued.
    pub sid: Option<String>,
}

pub struct TokenService {
    pub(super) db: Db,
    pub(super) keys: JwtKeys,
    /// SimpleJWT's key, when `jwt.legacy_simplejwt` is on (see `legacy_tokens`).
    pub(super) legacy: Option<LegacyKeys>,
    pool: HashingPool,
    reuse_grace: Duration,
    access: AccessCache,
    pub(super) audit: Audit,
}

impl TokenService {
    pub fn new(
        db: Db,
        keys: JwtKeys,
        pool: HashingPool,
        reuse_grace: Duration,
        access: AccessCache,
        audit: Audit,
    ) -> TokenService {
        TokenService {
            db,
            keys,
            legacy: None,
            pool,
            reuse_grace,
            access,
            audit,
        }
    }

    /// Drops what this instance remembers of `user`'s access checks; call
    /// after committing any change to the user or their sessions.
    pub(super) fn forget_user(&self, user: crate::domain::UserId) {
        self.access.forget_user(user);
    }

    /// Also accepts the Django service's SimpleJWT tokens, verified by `legacy`.
    pub fn with_legacy(self, legacy: Option<LegacyKeys>) -> TokenService {
        TokenService { legacy, ..self }
    }

    /// The legacy keys, when `token` is a SimpleJWT token and they are configured.
    fn legacy_for(&self, token: &str) -> Option<&LegacyKeys> {
        self.legacy
            .as_ref()
            .filter(|_| LegacyKeys::is_legacy(token))
    }

    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    pub fn pool(&self) -> &HashingPool {
        &self.pool
    }

    /// Checks the credentials (the same hashing work for an unknown email, a
    /// wrong password and a disabled account), upgrades an outdated or
    /// imported hash, and starts a session recording `client`. A failed
    /// upgrade costs only the upgrade, except for a legacy hash below its
    /// floor (see `password`).
    pub async fn login(
        &self,
        email: Email,
        password: Password,
        origin: &Origin,
    ) -> Result<(User, TokenPair), AuthError> {
        let attempted = email.as_str().to_string();
        let found = self.db.call(move |s| s.find_credentials(&email)).await?;
        let (user, stored) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let verified = self.pool.verify(password.clone(), stored.clone()).await?;
        let failure = match &user {
            None => Some(login_failure::UNKNOWN_EMAIL),
            Some(_) if !verified.matched => Some(login_failure::WRONG_PASSWORD),
            Some(user) if !user.is_active => Some(login_failure::DISABLED),
            Some(_) => None,
        };
        let user = match (user, failure) {
            (Some(user), None) => user,
            (user, reason) => {
                let reason = reason.unwrap_or(login_failure::UNKNOWN_EMAIL);
                let event = AuditEvent::failure(EventType::Login, reason, origin);
                self.audit.record(match &user {
                    Some(user) => event.user(user),
                    None => event.email(&attempted),
                });
                return Err(AuthError::InvalidCredentials);
            }
        };
        let stored = stored.expect("a match implies a stored hash");
        if verified.must_upgrade {
            // Accepted for this one login only: if the replacement cannot be
            // stored, the login fails rather than leave the weak hash in use.
            tracing::warn!(user_id = %user.id, "accepted a legacy password hash below password.legacy_pbkdf2_min_iterations once; replacing it");
            self.upgrade_hash(&user, password, stored).await?;
        } else if verified.needs_rehash {
            if let Err(error) = self.upgrade_hash(&user, password, stored).await {
                tracing::warn!(user_id = %user.id, error = %crate::error_chain::Chain(&error), "could not upgrade a password hash");
            }
        }
        let (pair, started) = self.start_session(&user, origin.client.clone()).await?;
        // start_session set last_login to the session's start.
        let user = User {
            last_login: Some(started),
            ..user
        };
        self.audit.record(
            AuditEvent::success(EventType::Login, origin)
                .user(&user)
                .session(&pair.sid),
        );
        Ok((user, pair))
    }

    /// Replaces `old` (outdated parameters, or imported from Django) with
    /// an argon2id hash of the current parameters.
    async fn upgrade_hash(
        &self,
        user: &User,
        password: Password,
        old: crate::domain::PasswordHash,
    ) -> Result<(), AuthError> {
        let new = self.pool.rehash(password).await?;
        let id = user.id;
        self.db
            .call(move |s| s.upgrade_password_hash(id, &old, &new))
            .await?;
        Ok(())
    }

    /// Starts a new session for `user` from `client`; returns its first
    /// pair and its start.
    pub(super) async fn start_session(
        &self,
        user: &User,
        client: Option<ClientInfo>,
    ) -> Result<(TokenPair, domain::Timestamp), AuthError> {
        let now = domain::now();
        let sid = new_id();
        let pair = self.pair(user.id, &sid, now);
        let session = NewSession {
            sid,
            user_id: user.id,
            created_at: now,
            client,
            refresh: NewRefreshToken {
                jti: pair.refresh.jti.clone(),
                expires_at: pair.refresh.expires_at,
            },
        };
        self.db.call(move |s| s.start_session(&session)).await?;
        Ok((pair, now))
    }

    pub(super) fn pair(
        &self,
        user: crate::domain::UserId,
        sid: &str,
        now: domain::Timestamp,
    ) -> TokenPair {
        TokenPair {
            sid: sid.to_string(),
            access: self.keys.issue(TokenType::Access, user, sid, now),
            refresh: self.keys.issue(TokenType::Refresh, user, sid, now),
        }
    }

    /// Rotates a refresh token: the presented one is revoked, a new pair of
    /// the same session returned, and `client` recorded as the session's
    /// last. A token already rotated is refused, and past the reuse grace
    /// its whole session is revoked.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        origin: &Origin,
    ) -> Result<TokenPair, AuthError> {
        if let Some(legacy) = self.legacy_for(refresh_token) {
            return self.refresh_legacy(legacy, refresh_token, origin).await;
        }
        let claims = self
            .keys
            .verify(refresh_token, Some(TokenType::Refresh))
            .map_err(|_| AuthError::TokenNotValid)?;
        let now = domain::now();
        let pair = self.pair(claims.user(), &claims.sid, now);
        let rotation = Rotation {
            jti: claims.jti.clone(),
            next: NewRefreshToken {
                jti: pair.refresh.jti.clone(),
                expires_at: pair.refresh.expires_at,
            },
            at: now,
            reuse_grace: self.reuse_grace,
            client: origin.client.clone(),
        };
        match self.db.rotate_refresh(rotation).await? {
            RotateOutcome::Rotated { user_id, sid }
                if user_id == claims.user() && sid == claims.sid =>
            {
                self.audit.record(
                    AuditEvent::success(EventType::Refresh, origin)
                        .user_id(user_id)
                        .session(&sid),
                );
                Ok(pair)
            }
            RotateOutcome::Rotated { .. } => {
                tracing::error!("a refresh token's row disagrees with its claims");
                Err(AuthError::TokenNotValid)
            }
            RotateOutcome::ReuseDetected { sid } => {
                self.forget_user(claims.user());
                tracing::warn!(user_id = %claims.user(), session = %sid, "refresh token reuse detected; session revoked");
                self.record_reuse(claims.user(), &sid, origin);
                Err(AuthError::TokenNotValid)
            }
            RotateOutcome::Refused => Err(AuthError::TokenNotValid),
        }
    }

    /// Authenticates an access token (the `Authorization: Bearer` of a request).
    pub async fn authenticate(&self, access_token: &str) -> Result<Authenticated, AuthError> {
        if let Some(legacy) = self.legacy_for(access_token) {
            return self
                .check_legacy(legacy, access_token, TokenType::Access)
                .await;
        }
        let claims = self
            .keys
            .verify(access_token, Some(TokenType::Access))
            .map_err(|_| AuthError::TokenNotValid)?;
        self.access_allowed(claims).await
    }

    /// The revocation check of a verified access token: its user active, its
    /// session not revoked, the token not older than a password change.
    async fn access_allowed(&self, claims: Claims) -> Result<Authenticated, AuthError> {
        let state = self
            .access
            .access_state(&self.db, claims.user(), &claims.sid)
            .await?;
        match state {
            Some(state)
                if state.user.is_active
                    && !state.session_revoked
                    && claims.iat >= state.user.tokens_valid_after.timestamp() =>
            {
                Ok(Authenticated {
                    user: state.user,
                    sid: Some(claims.sid),
                })
            }
            _ => Err(AuthError::TokenNotValid),
        }
    }

    /// `token/verify`: an access or refresh token that is valid now.
    pub async fn verify(&self, token: &str) -> Result<(), AuthError> {
        if let Some(legacy) = self.legacy_for(token) {
            let token_type = legacy
                .verify(token, None)
                .map_err(|_| AuthError::TokenNotValid)?
                .token_type;
            return self
                .check_legacy(legacy, token, token_type)
                .await
                .map(|_| ());
        }
        let claims = self
            .keys
            .verify(token, None)
            .map_err(|_| AuthError::TokenNotValid)?;
        match claims.token_type {
            // Verified once: only the revocation check is left.
            TokenType::Access => self.access_allowed(claims).await.map(|_| ()),
            TokenType::Refresh => {
                let jti = claims.jti.clone();
                let live = self
                    .db
                    .call(move |s| s.refresh_is_live(&jti, domain::now()))
                    .await?;
                live.then_some(()).ok_or(AuthError::TokenNotValid)
            }
        }
    }

    /// Ends the session(s) `scope` names. Idempotent for any refresh token
    /// this server signed, expired or already revoked.
    pub async fn logout(
        &self,
        refresh_token: &str,
        scope: LogoutScope,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        if let Some(legacy) = self.legacy_for(refresh_token) {
            return self.logout_legacy(legacy, refresh_token, scope).await;
        }
        let claims = self
            .keys
            .verify_any_age(refresh_token, Some(TokenType::Refresh))
            .map_err(|_| AuthError::TokenNotValid)?;
        let now = domain::now();
        let jti = claims.jti.clone();
        let live = self.db.call(move |s| s.refresh_is_live(&jti, now)).await?;
        if !live {
            // Only a live token may act: a dead one (expired, revoked, its
            // session gone) must not end the user's other sessions. A local
            // logout stays idempotent, but a token rotated past the grace is
            // a replay and revokes its own session, as on refresh.
            if scope != LogoutScope::Local {
                return Err(AuthError::TokenNotValid);
            }
            let (jti, grace) = (claims.jti.clone(), self.reuse_grace);
            let reused = self
                .db
                .call(move |s| s.revoke_if_reused(&jti, now, grace))
                .await?;
            if let Some(sid) = reused {
                self.forget_user(claims.user());
                self.record_reuse(claims.user(), &sid, origin);
            }
            return Ok(());
        }
        let revoke = match scope {
            LogoutScope::Local => RevokeScope::Session(claims.sid.clone()),
            LogoutScope::Others => RevokeScope::OtherSessions {
                user_id: claims.user(),
                keep: claims.sid.clone(),
            },
            LogoutScope::Global => RevokeScope::AllSessions(claims.user()),
        };
        self.db
            .call(move |s| s.revoke_sessions(&revoke, revoked_reason::LOGOUT, now))
            .await?;
        self.forget_user(claims.user());
        self.audit.record(
            AuditEvent::success(EventType::Logout, origin)
                .user_id(claims.user())
                .session(&claims.sid)
                .detail(scope.name()),
        );
        Ok(())
    }

    /// A rotated refresh token came back after the grace: its session
    /// `sid` was revoked.
    fn record_reuse(&self, user: crate::domain::UserId, sid: &str, origin: &Origin) {
        self.audit.record(
            AuditEvent::failure(EventType::RefreshReuse, "session_revoked", origin)
                .user_id(user)
                .session(sid),
        );
    }

    /// A fresh session for `user` from `client` (after a password change,
    /// which ended every other).
    pub async fn new_session(&self, user: &User, origin: &Origin) -> Result<TokenPair, AuthError> {
        Ok(self.start_session(user, origin.client.clone()).await?.0)
    }
}
