//! What the Django service's SimpleJWT tokens may do once authd serves
//! (`jwt.legacy_simplejwt`), decided so that nobody is logged out by the
//! switch and nothing revoked becomes usable again:
//!
//! - An access token works until it expires, on every authenticated
//!   endpoint, unless its user is gone or disabled, the user's tokens were
//!   cut off after its `iat` (password change or reset, `authd token revoke
//!   --user`, logout `global`), or its `jti` is blacklisted.
//! - A refresh token is exchanged, once, for an authd pair in a new session:
//!   its `jti` is recorded as used in the same transaction that starts the
//!   session (SimpleJWT's `BLACKLIST_AFTER_ROTATION`), so a replay, or a
//!   token SimpleJWT had blacklisted before the switch (imported), is refused.
//! - Logout with a refresh token blacklists it; `others` also ends every
//!   authd session of the user and `global` cuts off all of the user's tokens,
//!   legacy ones included. Other legacy tokens cannot be listed (SimpleJWT
//!   tokens are stateless), so `others` leaves them to expire.
//! - `token/verify` accepts either kind while the checks above hold.

use super::jwt::{new_id, TokenType};
use super::legacy_jwt::{LegacyClaims, LegacyKeys};
use super::tokens::{AuthError, Authenticated, LogoutScope, TokenPair, TokenService};
use crate::domain::{self, AuditEvent, EventType, Origin, UserRef};
use crate::store::legacy_tokens::reason;
use crate::store::{
    revoked_reason, LegacyBlacklistEntry, LegacyRedemption, NewRefreshToken, NewSession,
    RevokeScope,
};

impl TokenService {
    /// Authenticates a legacy token of `token_type` (see the module doc).
    pub(super) async fn check_legacy(
        &self,
        legacy: &LegacyKeys,
        token: &str,
        token_type: TokenType,
    ) -> Result<Authenticated, AuthError> {
        let claims = legacy
            .verify(token, Some(token_type))
            .map_err(|_| AuthError::TokenNotValid)?;
        let (user_id, jti) = (claims.user, claims.jti.clone());
        let state = self
            .db
            .call(move |s| s.legacy_access_state(user_id, &jti))
            .await?;
        match state {
            Some(state)
                if state.user.is_active
                    && !state.session_revoked
                    && claims.iat.timestamp() >= state.user.tokens_valid_after.timestamp() =>
            {
                Ok(Authenticated {
                    user: state.user,
                    sid: None,
                })
            }
            _ => Err(AuthError::TokenNotValid),
        }
    }

    /// Exchanges a legacy refresh token for an authd pair in a new session.
    pub(super) async fn refresh_legacy(
        &self,
        legacy: &LegacyKeys,
        token: &str,
        origin: &Origin,
    ) -> Result<TokenPair, AuthError> {
        let claims = legacy
            .verify(token, Some(TokenType::Refresh))
            .map_err(|_| AuthError::TokenNotValid)?;
        let now = domain::now();
        let sid = new_id();
        let pair = self.pair(claims.user, &sid, now);
        let redemption = LegacyRedemption {
            token: used(&claims, reason::REDEEMED, now),
            issued_at: claims.iat,
            session: NewSession {
                sid,
                user_id: claims.user,
                created_at: now,
                client: origin.client.clone(),
                refresh: NewRefreshToken {
                    jti: pair.refresh.jti.clone(),
                    expires_at: pair.refresh.expires_at,
                },
            },
        };
        if self
            .db
            .call(move |s| s.redeem_legacy_refresh(&redemption))
            .await?
        {
            tracing::info!(user_id = %claims.user, "exchanged a SimpleJWT refresh token for an authd session");
            self.audit.record(
                AuditEvent::success(EventType::Refresh, origin)
                    .user_id(claims.user)
                    .session(&pair.sid)
                    .detail("simplejwt"),
            );
            Ok(pair)
        } else {
            tracing::warn!(user_id = %claims.user, "refused a SimpleJWT refresh token: already used or blacklisted, or its user disabled or cut off");
            Err(AuthError::TokenNotValid)
        }
    }

    /// Logout with a legacy refresh token (see the module doc).
    pub(super) async fn logout_legacy(
        &self,
        legacy: &LegacyKeys,
        token: &str,
        scope: LogoutScope,
    ) -> Result<(), AuthError> {
        let claims = legacy
            .verify_any_age(token, Some(TokenType::Refresh))
            .map_err(|_| AuthError::TokenNotValid)?;
        let now = domain::now();
        let entry = used(&claims, reason::LOGOUT, now);
        let was_live = self.db.call(move |s| s.blacklist_legacy(&entry)).await?;
        if scope != LogoutScope::Local {
            // As for authd's tokens: only a live legacy token (unexpired,
            // not blacklisted until now, its user active and not cut off
            // since it was issued) may end other sessions.
            let user = claims.user;
            let user = self
                .db
                .call(move |s| s.find_user(&UserRef::Id(user)))
                .await?;
            let live = was_live
                && claims.exp > now
                && user.is_some_and(|u| {
                    u.is_active && claims.iat.timestamp() >= u.tokens_valid_after.timestamp()
                });
            if !live {
                return Err(AuthError::TokenNotValid);
            }
        }
        let revoke = match scope {
            LogoutScope::Local => return Ok(()),
            // No authd session is this token's: every one is "another".
            LogoutScope::Others => RevokeScope::OtherSessions {
                user_id: claims.user,
                keep: String::new(),
            },
            LogoutScope::Global => RevokeScope::AllSessions(claims.user),
        };
        self.db
            .call(move |s| s.revoke_sessions(&revoke, revoked_reason::LOGOUT, now))
            .await?;
        self.forget_user(claims.user);
        Ok(())
    }
}

/// The blacklist row that uses up a legacy token.
fn used(
    claims: &LegacyClaims,
    reason: &'static str,
    now: domain::Timestamp,
) -> LegacyBlacklistEntry {
    LegacyBlacklistEntry {
        jti: claims.jti.clone(),
        user_id: Some(claims.user),
        expires_at: claims.exp,
        blacklisted_at: now,
        reason,
    }
}
