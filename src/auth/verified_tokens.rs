//! Access tokens this process has verified, remembered so a client that
//! sends the same token on every request pays for the signature check and
//! the claims parsing once.
//!
//! Security review:
//! - **What is cached**: the claims of an access token that passed every
//!   check of `JwtKeys::verify` (key by `kid`, pinned algorithm, signature,
//!   `exp`, `iss`, `aud`, claim shapes), keyed by the token's exact bytes.
//!   A token that differs in any byte (a forged signature, tampered
//!   claims, another header) is a miss and is verified in full. Only
//!   verified tokens are inserted, so a client cannot fill the cache with
//!   tokens of its choosing without holding valid ones. Refresh tokens are
//!   not cached (each is used once), nor is `verify_any_age` (logout).
//! - **For how long**: until the token's own `exp` (with `jwt.leeway`, the
//!   rule verification applies), checked on every hit: an expired token is
//!   dropped and refused exactly as without the cache. The keys and claim
//!   settings it was verified against cannot change while the process runs
//!   (they are loaded at start-up), so no other input of the check can
//!   turn a verified token invalid before then.
//! - **What evicts it**: its expiry (on a hit, or when the cache is full),
//!   and the size bound: at most [`CAPACITY`] tokens of at most
//!   [`MAX_CACHED_TOKEN_BYTES`] each (a few MiB); when full, expired
//!   tokens are dropped, and if none were, all of them.
//! - **Revocation**: not a property of the token. Logout, a password
//!   change, a disabled account or `authd token revoke` are checked after
//!   this, on every request, against the store through the access-check
//!   cache (`access_cache`: at most `jwt.revocation_cache_ttl`, <= 1 s,
//!   old), so a revoked token is refused within the same bound as before.
//!   A token type check (`expected`) also runs on every hit.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::claims::{Claims, TokenType};

/// Most tokens remembered.
pub const CAPACITY: usize = 4096;

/// Longer tokens are never cached (authd's own are ~350 bytes), so the
/// cache holds at most a few MiB.
pub const MAX_CACHED_TOKEN_BYTES: usize = 1024;

/// Verified access tokens by their bytes.
#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, Claims>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it was verified and has not expired at
    /// `now` (seconds since the epoch) given `leeway` seconds.
    pub fn get(&self, token: &str, now: i64, leeway: i64) -> Option<Claims> {
        let mut entries = self.entries.lock();
        let claims = entries.get(token)?;
        if claims.exp < now.saturating_sub(leeway) {
            entries.remove(token);
            return None;
        }
        Some(claims.clone())
    }

    /// Remembers `claims`, just verified for `token`.
    pub fn insert(&self, token: &str, claims: &Claims, now: i64, leeway: i64) {
        if claims.token_type != TokenType::Access || token.len() > MAX_CACHED_TOKEN_BYTES {
            return;
        }
        let mut entries = self.entries.lock();
        if entries.len() >= CAPACITY {
            let horizon = now.saturating_sub(leeway);
            entries.retain(|_, claims| claims.exp >= horizon);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.into(), claims.clone());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(token_type: TokenType, exp: i64) -> Claims {
        Claims {
            token_type,
            exp,
            iat: 0,
            jti: "0".repeat(32),
            sub: "7".into(),
            user_id: "7".into(),
            sid: "s".into(),
            iss: "authd".into(),
            aud: None,
        }
    }

    #[test]
    fn an_expired_token_is_not_served_and_is_dropped() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", &claims(TokenType::Access, 100), 50, 0);
        assert_eq!(cache.get("a.b.c", 100, 0).map(|c| c.exp), Some(100));
        assert_eq!(cache.get("a.b.c", 101, 0), None, "expired at 101");
        assert!(cache.is_empty(), "and forgotten");

        cache.insert("a.b.c", &claims(TokenType::Access, 100), 50, 0);
        assert!(cache.get("a.b.c", 130, 60).is_some(), "within the leeway");
    }

    #[test]
    fn only_the_exact_token_hits() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", &claims(TokenType::Access, 100), 50, 0);
        assert_eq!(cache.get("a.b.d", 60, 0), None);
        assert_eq!(cache.get("a.b.c ", 60, 0), None);
    }

    #[test]
    fn refresh_and_oversized_tokens_are_not_cached() {
        let cache = VerifiedTokens::default();
        cache.insert("r", &claims(TokenType::Refresh, 100), 50, 0);
        let long = "x".repeat(MAX_CACHED_TOKEN_BYTES + 1);
        cache.insert(&long, &claims(TokenType::Access, 100), 50, 0);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = VerifiedTokens::default();
        for i in 0..CAPACITY + 10 {
            cache.insert(&format!("t{i}"), &claims(TokenType::Access, 100), 50, 0);
            assert!(cache.len() <= CAPACITY);
        }
        // Full of live tokens: it starts over rather than grow.
        assert!(cache.len() <= CAPACITY);
        assert!(cache.get(&format!("t{}", CAPACITY + 9), 60, 0).is_some());

        // Full with expired ones among them: those go first.
        let cache = VerifiedTokens::default();
        for i in 0..CAPACITY {
            let exp = if i % 2 == 0 { 10 } else { 100 };
            cache.insert(&format!("t{i}"), &claims(TokenType::Access, exp), 5, 0);
        }
        cache.insert("new", &claims(TokenType::Access, 100), 50, 0);
        assert_eq!(cache.len(), CAPACITY / 2 + 1);
        assert!(cache.get("t1", 60, 0).is_some(), "live tokens stay");
    }
}

#[cfg(test)]
mod through_jwt_keys {
    use std::time::Duration;

    use crate::auth::jwt::{JwtKeys, TokenError, TokenSettings, TokenType};
    use crate::auth::key_material::JwtKey;
    use crate::domain::UserId;

    fn keys() -> JwtKeys {
        let settings = TokenSettings {
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(86_400),
            issuer: "authd".into(),
            audience: None,
            leeway: Duration::ZERO,
        };
        JwtKeys::new(
            vec![JwtKey::hs256("k", b"a-secret-of-thirty-two-bytes-123")],
            settings,
        )
    }

    /// Once an access token is cached, the checks that do not depend on
    /// its bytes still run, and any other bytes are verified in full.
    #[test]
    fn a_cached_token_still_meets_every_check_of_its_use() {
        let keys = keys();
        let user = UserId::new(7).unwrap();
        let token = keys
            .issue(TokenType::Access, user, "s", crate::domain::now())
            .token;
        assert!(keys.verify(&token, Some(TokenType::Access)).is_ok());
        assert!(
            keys.verify(&token, Some(TokenType::Access)).is_ok(),
            "a hit"
        );
        assert_eq!(
            keys.verify(&token, Some(TokenType::Refresh)),
            Err(TokenError("wrong token type"))
        );
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.verify(&forged, None).is_err());
    }
}
