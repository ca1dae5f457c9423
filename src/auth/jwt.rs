//! JSON Web Tokens as API.md specifies them: HS256 only, header
//! `{"alg", "typ": "JWT", "kid"}`, claims `token_type`, `exp`, `iat`, `jti`,
//! `sub`, `user_id`, `sid`, `iss` (and `aud` when configured).
//!
//! [`JwtKeys`] holds every configured key by id: the first signs, all
//! verify. Verification pins the algorithm and looks the key up by `kid`, so
//! `alg: none`, another algorithm, a missing or unknown `kid`, or a key
//! dropped from the list all fail the same way. Tokens over 8 KiB are refused
//! before any parsing.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{Timestamp, UserId};

/// Longest token accepted (API.md).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of an authd token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub sub: String,
    /// The user id as a string, as SimpleJWT 5 emits it; a number is accepted too.
    #[serde(deserialize_with = "string_or_number")]
    pub user_id: String,
    pub sid: String,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    /// The user the token is for (`sub` and `user_id` agree; checked in `verify`).
    pub fn user(&self) -> UserId {
        self.sub
            .parse()
            .ok()
            .and_then(UserId::new)
            .expect("verified claims carry a valid user id")
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(i64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    })
}

/// Why a token was refused. The HTTP answer is the same for all
/// (`token_not_valid`); the reason is for debug logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token not valid: {0}")]
pub struct TokenError(pub &'static str);

/// A freshly signed token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    pub expires_at: Timestamp,
}

/// A signing key from the configuration: its `kid` and secret bytes.
#[derive(Clone)]
pub struct SigningKey {
    pub id: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?}, [redacted])", self.id)
    }
}

/// Token lifetimes and claim settings.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub issuer: String,
    pub audience: Option<String>,
    pub leeway: Duration,
}

/// Signs and verifies tokens.
pub struct JwtKeys {
    signing_id: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    validation: Validation,
    /// The same checks without `exp`: logout accepts expired tokens.
    validation_any_age: Validation,
    settings: TokenSettings,
}

impl JwtKeys {
    /// `keys` must not be empty; the first one signs.
    pub fn new(keys: &[SigningKey], settings: TokenSettings) -> JwtKeys {
        let first = keys.first().expect("at least one signing key");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        // jsonwebtoken only checks `aud` when present; requiring it makes a
        // token without one fail where an audience is configured.
        let required: &[&str] = match settings.audience {
            Some(_) => &["exp", "iat", "iss", "sub", "aud"],
            None => &["exp", "iat", "iss", "sub"],
        };
        validation.set_required_spec_claims(required);
        validation.leeway = settings.leeway.as_secs();
        match &settings.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let mut validation_any_age = validation.clone();
        validation_any_age.validate_exp = false;
        validation_any_age.set_required_spec_claims(&required[1..]);
        JwtKeys {
            signing_id: first.id.clone(),
            signing: EncodingKey::from_secret(&first.secret),
            verifying: keys
                .iter()
                .map(|k| (k.id.clone(), DecodingKey::from_secret(&k.secret)))
                .collect(),
            validation,
            validation_any_age,
            settings,
        }
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Signs a token of `token_type` for `user` in session `sid`, issued `now`.
    pub fn issue(
        &self,
        token_type: TokenType,
        user: UserId,
        sid: &str,
        now: Timestamp,
    ) -> IssuedToken {
        let ttl = match token_type {
            TokenType::Access => self.settings.access_ttl,
            TokenType::Refresh => self.settings.refresh_ttl,
        };
        let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let jti = new_id();
        let claims = Claims {
            token_type,
            exp: expires_at.timestamp(),
            iat: now.timestamp(),
            jti: jti.clone(),
            sub: user.to_string(),
            user_id: user.to_string(),
            sid: sid.to_string(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_id.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing)
            .expect("HS256 signing cannot fail");
        IssuedToken {
            token,
            jti,
            expires_at,
        }
    }

    /// Verifies signature, algorithm, key id, issuer, audience, expiry and
    /// shape; with `expected`, also the token type.
    pub fn verify(&self, token: &str, expected: Option<TokenType>) -> Result<Claims, TokenError> {
        self.verify_with(token, expected, &self.validation)
    }

    /// As [`verify`](Self::verify) but accepting expired tokens (logout is
    /// idempotent for any token this server signed).
    pub fn verify_any_age(
        &self,
        token: &str,
        expected: Option<TokenType>,
    ) -> Result<Claims, TokenError> {
        self.verify_with(token, expected, &self.validation_any_age)
    }

    fn verify_with(
        &self,
        token: &str,
        expected: Option<TokenType>,
        validation: &Validation,
    ) -> Result<Claims, TokenError> {
        let header = hs256_header(token)?;
        let kid = header.kid.ok_or(TokenError("no key id"))?;
        let key = self
            .verifying
            .get(&kid)
            .ok_or(TokenError("unknown key id"))?;
        let claims: Claims = decode(token, key, validation)?;
        if expected.is_some_and(|t| t != claims.token_type) {
            return Err(TokenError("wrong token type"));
        }
        let user_ok =
            claims.sub == claims.user_id && claims.sub.parse().ok().and_then(UserId::new).is_some();
        if !user_ok || !is_id(&claims.jti) || claims.sid.is_empty() || claims.sid.len() > 64 {
            return Err(TokenError("malformed claims"));
        }
        Ok(claims)
    }
}

/// The header of a token no longer than [`MAX_TOKEN_BYTES`] whose algorithm
/// is HS256 (the only one authd and SimpleJWT use).
pub(super) fn hs256_header(token: &str) -> Result<Header, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError("too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError("malformed header"))?;
    if header.alg != Algorithm::HS256 {
        return Err(TokenError("algorithm not allowed"));
    }
    // RFC 7515 4.1.11: extensions listed in `crit` must be understood, and
    // authd understands none; the JWT library would ignore them.
    if header.crit.is_some() {
        return Err(TokenError("critical header extension"));
    }
    Ok(header)
}

/// Verifies signature and `validation`, and deserializes the claims.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<T, TokenError> {
    jsonwebtoken::decode::<T>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError("expired"),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError("bad signature"),
            _ => TokenError("invalid claims"),
        })
}

/// 32 lowercase hex characters from the OS CSPRNG: token ids and session ids.
pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    fn key(id: &str, secret: &str) -> SigningKey {
        SigningKey {
            id: id.into(),
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn settings() -> TokenSettings {
        TokenSettings {
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(86_400),
            issuer: "authd".into(),
            audience: None,
            leeway: Duration::ZERO,
        }
    }

    fn keys() -> JwtKeys {
        JwtKeys::new(
            &[
                key("k2", "second-secret-second-secret-1234"),
                key("k1", "first-secret-first-secret-123456"),
            ],
            settings(),
        )
    }

    fn user() -> UserId {
        UserId::new(7).unwrap()
    }

    fn part(token: &str, index: usize) -> serde_json::Value {
        let segment = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn tokens_carry_the_header_and_claims_of_the_api() {
        let issued = keys().issue(TokenType::Access, user(), &new_id(), crate::domain::now());
        assert_eq!(
            part(&issued.token, 0),
            serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "k2"})
        );
        let claims = part(&issued.token, 1);
        assert_eq!(claims["token_type"], "access");
        assert_eq!(claims["sub"], "7");
        assert_eq!(claims["user_id"], "7");
        assert_eq!(claims["iss"], "authd");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
        assert!(is_id(claims["jti"].as_str().unwrap()) && claims.get("aud").is_none());
        let verified = keys()
            .verify(&issued.token, Some(TokenType::Access))
            .unwrap();
        assert_eq!(verified.user(), user());
    }

    #[test]
    fn a_token_with_a_crit_header_is_refused_even_when_signed() {
        let issued = keys().issue(TokenType::Access, user(), &new_id(), crate::domain::now());
        let claims = part(&issued.token, 1);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k2".into());
        header.crit = Some(vec!["exp".into()]);
        let key = jsonwebtoken::EncodingKey::from_secret(b"second-secret-second-secret-1234");
        let with_crit = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        header.crit = None;
        let without = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        assert!(keys().verify(&without, Some(TokenType::Access)).is_ok());
        assert_eq!(
            keys()
                .verify(&with_crit, Some(TokenType::Access))
                .unwrap_err(),
            TokenError("critical header extension")
        );
    }

    #[test]
    fn every_configured_key_verifies_and_a_dropped_one_does_not() {
        let old = JwtKeys::new(&[key("k1", "first-secret-first-secret-123456")], settings());
        let token = old
            .issue(TokenType::Refresh, user(), "s", crate::domain::now())
            .token;
        assert!(
            keys().verify(&token, Some(TokenType::Refresh)).is_ok(),
            "k1 still verifies"
        );
        let rotated = JwtKeys::new(&[key("k2", "second-secret-second-secret-1234")], settings());
        assert_eq!(
            rotated.verify(&token, None),
            Err(TokenError("unknown key id"))
        );
    }

    #[test]
    fn forged_and_misused_tokens_are_refused() {
        let keys = keys();
        let now = crate::domain::now();
        let access = keys.issue(TokenType::Access, user(), "s", now).token;
        assert_eq!(
            keys.verify(&access, Some(TokenType::Refresh)),
            Err(TokenError("wrong token type"))
        );

        let (header, rest) = access.split_once('.').unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k2"}"#);
        let payload = rest.split('.').next().unwrap();
        assert!(keys
            .verify(&format!("{none_header}.{payload}."), None)
            .is_err());
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT","kid":"k2"}"#);
        assert!(keys.verify(&format!("{hs512}.{rest}"), None).is_err());
        let no_kid = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(
            keys.verify(&format!("{no_kid}.{rest}"), None),
            Err(TokenError("no key id"))
        );

        let other = JwtKeys::new(&[key("k2", "an-attackers-secret-of-32-bytes!")], settings());
        let forged = other.issue(TokenType::Access, user(), "s", now).token;
        assert_eq!(keys.verify(&forged, None), Err(TokenError("bad signature")));

        let mut tampered_claims = part(&access, 1);
        tampered_claims["sub"] = "1".into();
        tampered_claims["user_id"] = "1".into();
        let tampered = format!(
            "{header}.{}.{}",
            URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
            access.rsplit('.').next().unwrap()
        );
        assert_eq!(
            keys.verify(&tampered, None),
            Err(TokenError("bad signature"))
        );

        let expired = keys
            .issue(
                TokenType::Access,
                user(),
                "s",
                now - chrono::Duration::seconds(7200),
            )
            .token;
        assert_eq!(keys.verify(&expired, None), Err(TokenError("expired")));
        assert!(
            keys.verify_any_age(&expired, None).is_ok(),
            "logout accepts expired tokens"
        );

        let huge = format!("{header}.{}.sig", "a".repeat(9 * 1024));
        assert_eq!(keys.verify(&huge, None), Err(TokenError("too long")));
        assert!(keys.verify("not.a.token", None).is_err());
        assert!(keys.verify("", None).is_err());
    }

    #[test]
    fn issuer_and_audience_are_enforced() {
        let with_audience = JwtKeys::new(
            &[key("k2", "second-secret-second-secret-1234")],
            TokenSettings {
                audience: Some("api".into()),
                ..settings()
            },
        );
        let token = keys()
            .issue(TokenType::Access, user(), "s", crate::domain::now())
            .token;
        assert!(
            with_audience.verify(&token, None).is_err(),
            "no aud where one is required"
        );
        let own = with_audience
            .issue(TokenType::Access, user(), "s", crate::domain::now())
            .token;
        assert!(with_audience.verify(&own, None).is_ok());
        let other_issuer = JwtKeys::new(
            &[key("k2", "second-secret-second-secret-1234")],
            TokenSettings {
                issuer: "someone-else".into(),
                ..settings()
            },
        );
        assert!(other_issuer.verify(&token, None).is_err());
    }

    #[test]
    fn numeric_user_ids_from_older_simplejwt_are_read() {
        let json = r#"{"token_type":"access","exp":1,"iat":0,"jti":"j","sub":"5","user_id":5,"sid":"s","iss":"authd"}"#;
        let claims: Claims = serde_json::from_str(json).unwrap();
        assert_eq!(claims.user_id, "5");
    }
}
