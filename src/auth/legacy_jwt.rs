//! Tokens the Django service issued with SimpleJWT, accepted while
//! `jwt.legacy_simplejwt.enabled` so that switching to authd logs no one out.
//!
//! SimpleJWT signs HS256 with Django's `SECRET_KEY` (its `SIGNING_KEY`), puts
//! no `kid` in the header and no `sid` or `sub` in the claims: `token_type`,
//! `exp`, `iat`, `jti` and the user id under `USER_ID_CLAIM` (a string since
//! SimpleJWT 5.4, a number before). authd's own tokens always carry a `kid`,
//! so a token without one is a legacy token, and only then is this key
//! tried. The algorithm is pinned to HS256, the token size capped as for
//! authd's tokens, and `iss`/`aud` required when SimpleJWT set them.
//!
//! What a legacy token may do is decided by `tokens`: see `TokenService`.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::jwt::{self, TokenError, TokenType, MAX_TOKEN_BYTES};
use crate::config::LegacySimpleJwtConfig;
use crate::domain::{Timestamp, UserId};

/// Longest `jti` accepted (SimpleJWT's column holds 255 characters).
const MAX_JTI_CHARS: usize = 255;

/// The claims of a verified SimpleJWT token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyClaims {
    pub token_type: TokenType,
    pub user: UserId,
    pub jti: String,
    pub iat: Timestamp,
    pub exp: Timestamp,
}

/// Verifies SimpleJWT tokens.
pub struct LegacyKeys {
    key: DecodingKey,
    validation: Validation,
    /// The same checks without `exp`: logout accepts expired tokens.
    validation_any_age: Validation,
    user_id_claim: String,
}

impl LegacyKeys {
    /// `None` unless `jwt.legacy_simplejwt.enabled`.
    pub fn from_config(config: &LegacySimpleJwtConfig) -> Option<LegacyKeys> {
        if !config.enabled {
            return None;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        let mut required = vec!["exp", "iat"];
        match &config.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &config.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation.leeway = config.leeway.as_secs();
        let mut validation_any_age = validation.clone();
        validation_any_age.validate_exp = false;
        Some(LegacyKeys {
            key: DecodingKey::from_secret(config.secret_key.expose().as_bytes()),
            validation,
            validation_any_age,
            user_id_claim: config.user_id_claim.clone(),
        })
    }

    /// True when `token` has the shape of a legacy token: a JWT header
    /// without `kid`. Says nothing about its validity.
    pub fn is_legacy(token: &str) -> bool {
        token.len() <= MAX_TOKEN_BYTES
            && jsonwebtoken::decode_header(token).is_ok_and(|header| header.kid.is_none())
    }

    /// Verifies signature, algorithm, expiry, issuer and audience (when
    /// configured) and the claims' shape; with `expected`, the token type.
    pub fn verify(
        &self,
        token: &str,
        expected: Option<TokenType>,
    ) -> Result<LegacyClaims, TokenError> {
        self.verify_with(token, expected, &self.validation)
    }

    /// As [`verify`](Self::verify), accepting expired tokens (for logout).
    pub fn verify_any_age(
        &self,
        token: &str,
        expected: Option<TokenType>,
    ) -> Result<LegacyClaims, TokenError> {
        self.verify_with(token, expected, &self.validation_any_age)
    }

    fn verify_with(
        &self,
        token: &str,
        expected: Option<TokenType>,
        validation: &Validation,
    ) -> Result<LegacyClaims, TokenError> {
        if jwt::hs256_header(token)?.kid.is_some() {
            return Err(TokenError("not a legacy token"));
        }
        let claims: Map<String, Value> = jwt::decode(token, &self.key, validation)?;
        let parsed = self
            .parse_claims(&claims)
            .ok_or(TokenError("malformed claims"))?;
        if expected.is_some_and(|t| t != parsed.token_type) {
            return Err(TokenError("wrong token type"));
        }
        Ok(parsed)
    }

    fn parse_claims(&self, claims: &Map<String, Value>) -> Option<LegacyClaims> {
        let token_type = match claims.get("token_type")?.as_str()? {
            "access" => TokenType::Access,
            "refresh" => TokenType::Refresh,
            _ => return None,
        };
        let user = match claims.get(&self.user_id_claim)? {
            Value::String(text) => text.parse().ok(),
            Value::Number(number) => number.as_i64(),
            _ => None,
        }
        .and_then(UserId::new)?;
        let jti = claims.get("jti")?.as_str()?;
        if jti.is_empty()
            || jti.chars().count() > MAX_JTI_CHARS
            || jti.chars().any(char::is_control)
        {
            return None;
        }
        let time = |name: &str| {
            claims
                .get(name)?
                .as_i64()
                .and_then(|secs| Timestamp::from_timestamp(secs, 0))
        };
        Some(LegacyClaims {
            token_type,
            user,
            jti: jti.to_string(),
            iat: time("iat")?,
            exp: time("exp")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Duration, Secret};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "django-insecure-0123456789abcdefghijklmnopqrstuvwxyz";

    fn config() -> LegacySimpleJwtConfig {
        LegacySimpleJwtConfig {
            enabled: true,
            secret_key: Secret::new(SECRET),
            ..LegacySimpleJwtConfig::default()
        }
    }

    /// A token as SimpleJWT 5.5 signs it.
    fn simplejwt(claims: Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(token_type: &str, user_id: Value, exp_offset: i64) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({"token_type": token_type, "exp": now + exp_offset, "iat": now - 60,
               "jti": "3bd7c4bd4a2c4b57b5a3a0f3f0b5f1a2", "user_id": user_id})
    }

    #[test]
    fn simplejwt_tokens_verify_with_string_or_numeric_user_ids() {
        let keys = LegacyKeys::from_config(&config()).unwrap();
        let token = simplejwt(claims("refresh", json!("42"), 3600), SECRET);
        assert!(LegacyKeys::is_legacy(&token));
        let verified = keys.verify(&token, Some(TokenType::Refresh)).unwrap();
        assert_eq!(verified.user, UserId::new(42).unwrap());
        assert_eq!(verified.jti, "3bd7c4bd4a2c4b57b5a3a0f3f0b5f1a2");
        let numeric = simplejwt(claims("access", json!(42), 3600), SECRET);
        assert_eq!(
            keys.verify(&numeric, Some(TokenType::Access)).unwrap().user,
            UserId::new(42).unwrap()
        );
        assert_eq!(
            keys.verify(&numeric, Some(TokenType::Refresh)),
            Err(TokenError("wrong token type"))
        );
    }

    #[test]
    fn forged_expired_and_malformed_tokens_are_refused() {
        let keys = LegacyKeys::from_config(&config()).unwrap();
        let forged = simplejwt(claims("access", json!("1"), 3600), "another-secret");
        assert_eq!(keys.verify(&forged, None), Err(TokenError("bad signature")));
        let expired = simplejwt(claims("refresh", json!("1"), -10), SECRET);
        assert_eq!(keys.verify(&expired, None), Err(TokenError("expired")));
        assert!(keys.verify_any_age(&expired, None).is_ok());
        for bad_user in [json!("0"), json!("-3"), json!("ada"), json!(null)] {
            let token = simplejwt(claims("access", bad_user, 3600), SECRET);
            assert_eq!(
                keys.verify(&token, None),
                Err(TokenError("malformed claims"))
            );
        }
        let sliding = simplejwt(claims("sliding", json!("1"), 3600), SECRET);
        assert!(keys.verify(&sliding, None).is_err());
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims("access", json!("1"), 3600),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            keys.verify(&hs512, None),
            Err(TokenError("algorithm not allowed"))
        );
        let mut with_kid = Header::new(Algorithm::HS256);
        with_kid.kid = Some("default".into());
        let authd_shaped = jsonwebtoken::encode(
            &with_kid,
            &claims("access", json!("1"), 3600),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(!LegacyKeys::is_legacy(&authd_shaped));
        assert!(keys.verify(&authd_shaped, None).is_err());
    }

    #[test]
    fn a_configured_issuer_audience_and_claim_name_are_required() {
        let keys = LegacyKeys::from_config(&LegacySimpleJwtConfig {
            issuer: Some("old-service".into()),
            audience: Some("api".into()),
            user_id_claim: "uid".into(),
            leeway: Duration::secs(5),
            ..config()
        })
        .unwrap();
        let plain = simplejwt(claims("access", json!("1"), 3600), SECRET);
        assert!(keys.verify(&plain, None).is_err());
        let mut full = claims("access", json!("1"), 3600);
        full["iss"] = "old-service".into();
        full["aud"] = "api".into();
        full["uid"] = "9".into();
        let token = simplejwt(full, SECRET);
        assert_eq!(
            keys.verify(&token, None).unwrap().user,
            UserId::new(9).unwrap()
        );
        assert!(LegacyKeys::from_config(&LegacySimpleJwtConfig::default()).is_none());
    }
}
