//! JSON Web Tokens as API.md specifies them: header `{"alg", "typ": "JWT",
//! "kid"}`, claims `token_type`, `exp`, `iat`, `jti`, `sub`, `user_id`,
//! `sid`, `iss` (and `aud` when configured); `alg` HS256 by default, or
//! EdDSA, ES256 or RS256 for an asymmetric key.
//!
//! [`JwtKeys`] holds every configured key by id: the first active key that
//! can sign signs, all verify. Verification looks the key up by `kid` and
//! pins the algorithm to that key's, so `alg: none`, an algorithm other than
//! the key's (an HS256 token "signed" with an EdDSA key's public bytes), a
//! missing or unknown `kid`, or a key dropped from the list all fail. Tokens
//! over 8 KiB are refused before any parsing.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};

pub use super::claims::{Claims, IssuedToken, TokenError, TokenType};
use super::key_material::{jwt_algorithm, JwtKey};
use super::token_check::checked_claims;
use super::verified_tokens::VerifiedTokens;
use crate::domain::{Timestamp, UserId};

/// Longest token accepted (API.md).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

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
    /// Index in `keys` of the key that signs.
    signing: usize,
    keys: Vec<JwtKey>,
    /// Per key id: its index in `keys`, its algorithm and the checks, with
    /// and without `exp` (logout accepts expired tokens).
    verifying: HashMap<String, Verifier>,
    settings: TokenSettings,
    /// Access tokens already verified (see `verified_tokens` for why this
    /// is safe).
    verified: VerifiedTokens,
}

struct Verifier {
    index: usize,
    algorithm: Algorithm,
}

impl JwtKeys {
    /// `keys` must hold a key that can sign ([`JwtKey::can_sign`]); the
    /// first such key signs. Ids are unique (the configuration checks).
    pub fn new(keys: Vec<JwtKey>, settings: TokenSettings) -> JwtKeys {
        let signing = keys
            .iter()
            .position(JwtKey::can_sign)
            .expect("a key that can sign");
        let verifying = keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                let algorithm = jwt_algorithm(key.algorithm);
                (key.id.clone(), Verifier { index, algorithm })
            })
            .collect();
        JwtKeys {
            signing,
            keys,
            verifying,
            settings,
            verified: VerifiedTokens::default(),
        }
    }

    /// Every key, in configured order.
    pub fn keys(&self) -> &[JwtKey] {
        &self.keys
    }

    /// The key that signs new tokens.
    pub fn signing_key(&self) -> &JwtKey {
        &self.keys[self.signing]
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
        let key = self.signing_key();
        let mut header = Header::new(jwt_algorithm(key.algorithm));
        header.kid = Some(key.id.clone());
        let encoding = key.encoding().expect("the signing key can sign");
        // The key was parsed at startup; signing with it cannot fail.
        let token =
            jsonwebtoken::encode(&header, &claims, encoding).expect("signing with a loaded key");
        IssuedToken {
            token,
            jti,
            expires_at,
        }
    }

    /// Verifies signature, algorithm, key id, issuer, audience, expiry and
    /// shape; with `expected`, also the token type.
    pub fn verify(&self, token: &str, expected: Option<TokenType>) -> Result<Claims, TokenError> {
        self.verify_with(token, expected, false)
    }

    /// As [`verify`](Self::verify) but accepting expired tokens (logout is
    /// idempotent for any token this server signed).
    pub fn verify_any_age(
        &self,
        token: &str,
        expected: Option<TokenType>,
    ) -> Result<Claims, TokenError> {
        self.verify_with(token, expected, true)
    }

    fn verify_with(
        &self,
        token: &str,
        expected: Option<TokenType>,
        any_age: bool,
    ) -> Result<Claims, TokenError> {
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(i64::MAX);
        let cached = match any_age {
            false => self.verified.get(token, now, leeway),
            true => None,
        };
        if let Some(claims) = cached {
            return match expected {
                Some(t) if t != claims.token_type => Err(TokenError("wrong token type")),
                _ => Ok(claims),
            };
        }
        let header = checked_header(token)?;
        let kid = header.kid.ok_or(TokenError("no key id"))?;
        let verifier = self
            .verifying
            .get(&kid)
            .ok_or(TokenError("unknown key id"))?;
        // The key decides the algorithm, never the token: no confusion
        // between an asymmetric key's public bytes and an HMAC secret.
        if header.alg != verifier.algorithm {
            return Err(TokenError("algorithm does not match the key"));
        }
        let check = self.keys[verifier.index].signature_check();
        let claims = checked_claims(token, check, &self.settings, any_age)?;
        if expected.is_some_and(|t| t != claims.token_type) {
            return Err(TokenError("wrong token type"));
        }
        let user_ok =
            claims.sub == claims.user_id && claims.sub.parse().ok().and_then(UserId::new).is_some();
        if !user_ok || !is_id(&claims.jti) || claims.sid.is_empty() || claims.sid.len() > 64 {
            return Err(TokenError("malformed claims"));
        }
        if !any_age {
            self.verified.insert(token, &claims, now, leeway);
        }
        Ok(claims)
    }
}

/// The header of a token no longer than [`MAX_TOKEN_BYTES`] whose algorithm
/// is HS256 (SimpleJWT's).
pub(super) fn hs256_header(token: &str) -> Result<Header, TokenError> {
    let header = checked_header(token)?;
    if header.alg != Algorithm::HS256 {
        return Err(TokenError("algorithm not allowed"));
    }
    Ok(header)
}

/// The header of a token no longer than [`MAX_TOKEN_BYTES`], with no
/// critical extension.
fn checked_header(token: &str) -> Result<Header, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError("too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError("malformed header"))?;
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
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                TokenError("algorithm not allowed")
            }
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
    use crate::auth::key_material::generate_private_pem;
    use crate::config::{KeyAlgorithm, KeyState};
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    fn key(id: &str, secret: &str) -> JwtKey {
        JwtKey::hs256(id, secret.as_bytes())
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
            vec![
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
        let old = JwtKeys::new(
            vec![key("k1", "first-secret-first-secret-123456")],
            settings(),
        );
        let token = old
            .issue(TokenType::Refresh, user(), "s", crate::domain::now())
            .token;
        assert!(
            keys().verify(&token, Some(TokenType::Refresh)).is_ok(),
            "k1 still verifies"
        );
        let rotated = JwtKeys::new(
            vec![key("k2", "second-secret-second-secret-1234")],
            settings(),
        );
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

        let other = JwtKeys::new(
            vec![key("k2", "an-attackers-secret-of-32-bytes!")],
            settings(),
        );
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
            vec![key("k2", "second-secret-second-secret-1234")],
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
            vec![key("k2", "second-secret-second-secret-1234")],
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

    fn asymmetric(id: &str, algorithm: KeyAlgorithm) -> JwtKey {
        let pem = generate_private_pem(algorithm).unwrap();
        JwtKey::from_private_pem(id, algorithm, &pem).unwrap()
    }

    fn sign_hs256(kid: &str, claims: &serde_json::Value, secret: &[u8]) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn each_asymmetric_algorithm_signs_and_verifies_with_its_kid() {
        for algorithm in [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::RS256,
        ] {
            let keys = JwtKeys::new(
                vec![
                    asymmetric("a1", algorithm),
                    key("h1", "first-secret-first-secret-123456"),
                ],
                settings(),
            );
            let token = keys
                .issue(TokenType::Access, user(), "s", crate::domain::now())
                .token;
            assert_eq!(
                part(&token, 0),
                serde_json::json!({"alg": algorithm.name(), "typ": "JWT", "kid": "a1"})
            );
            assert_eq!(
                keys.verify(&token, Some(TokenType::Access)).unwrap().user(),
                user()
            );
        }
    }

    #[test]
    fn an_hs256_token_keyed_with_an_eddsa_public_key_is_refused() {
        let ed = asymmetric("ed", KeyAlgorithm::EdDSA);
        let keys = JwtKeys::new(vec![ed.clone()], settings());
        let claims = part(
            &keys
                .issue(TokenType::Access, user(), "s", crate::domain::now())
                .token,
            1,
        );
        // The classic confusion: HMAC over the token with the published key
        // bytes as the secret, both as the raw x and as the JWK text.
        let jwk = serde_json::to_value(ed.public_jwk().unwrap()).unwrap();
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        for secret in [x, jwk.to_string().into_bytes()] {
            let forged = sign_hs256("ed", &claims, &secret);
            assert_eq!(
                keys.verify(&forged, None),
                Err(TokenError("algorithm does not match the key"))
            );
        }
    }

    #[test]
    fn a_token_naming_a_kid_of_another_algorithm_is_refused() {
        let es = asymmetric("es", KeyAlgorithm::ES256);
        let ed = asymmetric("ed", KeyAlgorithm::EdDSA);
        let verifier = JwtKeys::new(
            vec![ed.clone(), es.clone().with_state(KeyState::Next)],
            settings(),
        );
        // Signed by the ES256 key but claiming the EdDSA key's kid, and the
        // other way round.
        let mut es_token = JwtKeys::new(vec![es], settings())
            .issue(TokenType::Access, user(), "s", crate::domain::now())
            .token;
        let (_, rest) = es_token.split_once('.').unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT","kid":"ed"}"#);
        es_token = format!("{header}.{rest}");
        assert_eq!(
            verifier.verify(&es_token, None),
            Err(TokenError("algorithm does not match the key"))
        );
        let ed_token = verifier
            .issue(TokenType::Access, user(), "s", crate::domain::now())
            .token;
        let (_, rest) = ed_token.split_once('.').unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT","kid":"es"}"#);
        assert_eq!(
            verifier.verify(&format!("{header}.{rest}"), None),
            Err(TokenError("algorithm does not match the key"))
        );
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"ed"}"#);
        let payload = rest.split('.').next().unwrap();
        assert!(verifier
            .verify(&format!("{none}.{payload}."), None)
            .is_err());
        assert!(verifier.verify(&ed_token, None).is_ok());
    }

    #[test]
    fn a_next_key_verifies_but_does_not_sign() {
        let next = asymmetric("n", KeyAlgorithm::EdDSA).with_state(KeyState::Next);
        let keys = JwtKeys::new(
            vec![next.clone(), key("h", "first-secret-first-secret-123456")],
            settings(),
        );
        assert_eq!(keys.signing_key().id, "h");
        let from_next = JwtKeys::new(vec![next.with_state(KeyState::Active)], settings())
            .issue(TokenType::Access, user(), "s", crate::domain::now())
            .token;
        assert!(keys.verify(&from_next, None).is_ok());
    }
}
