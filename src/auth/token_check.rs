//! Checking a token once its key is known (`jwt` finds the key by `kid`
//! and pins the algorithm): the signature, with a verifier built once when
//! the key loads, then the claims, parsed once.
//!
//! The verifier is the HMAC state keyed with the secret (HS256), or the
//! parsed public key (EdDSA, ES256, RS256). jsonwebtoken's `decode` rebuilt
//! these from the key bytes for every token (an HMAC key schedule, an
//! elliptic-curve point decompression, an RSA modulus parse), parsed the
//! header a second time and the claims twice; the checks are the same
//! RustCrypto calls it makes and the same claim checks, in the same order,
//! as the `Validation` this service gave it, so a token is accepted here
//! exactly when it was there.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::Verifier as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::claims::{Claims, TokenError};
use super::jwt::TokenSettings;

/// Verifies one key's signatures over `header.payload`.
#[derive(Clone)]
pub(super) enum SignatureCheck {
    Hs256(Hmac<Sha256>),
    EdDsa(ed25519_dalek::VerifyingKey),
    Es256(p256::ecdsa::VerifyingKey),
    Rs256(rsa::RsaPublicKey),
}

impl SignatureCheck {
    pub(super) fn hs256(secret: &[u8]) -> SignatureCheck {
        SignatureCheck::Hs256(
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length"),
        )
    }

    /// Whether `signature` (decoded from base64url) signs `message`.
    pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            SignatureCheck::Hs256(keyed) => {
                let mut mac = keyed.clone();
                mac.update(message);
                // Constant time, like every comparison of a MAC.
                mac.verify_slice(signature).is_ok()
            }
            SignatureCheck::EdDsa(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            SignatureCheck::Es256(key) => {
                use p256::ecdsa::signature::Verifier as _;
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok())
            }
            SignatureCheck::Rs256(key) => key
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(message),
                    signature,
                )
                .is_ok(),
        }
    }
}

/// The claims of `token` if `check` verifies its signature and they pass:
/// `exp` (unless `any_age`; with `jwt.leeway`), `iss`, and `aud` when one
/// is configured. `token`'s header was checked by the caller.
pub(super) fn checked_claims(
    token: &str,
    check: &SignatureCheck,
    settings: &TokenSettings,
    any_age: bool,
) -> Result<Claims, TokenError> {
    let malformed = TokenError("malformed token");
    let (message, signature) = token.rsplit_once('.').ok_or(malformed.clone())?;
    let (_, payload) = message.rsplit_once('.').ok_or(malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError("bad signature"))?;
    if !check.verify(message.as_bytes(), &signature) {
        return Err(TokenError("bad signature"));
    }
    let invalid = TokenError("invalid claims");
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| invalid.clone())?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| invalid.clone())?;
    if !any_age {
        // jsonwebtoken reads `exp` as an unsigned number.
        if claims.exp < 0 {
            return Err(invalid);
        }
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(settings.leeway.as_secs()).unwrap_or(i64::MAX);
        if claims.exp < now.saturating_sub(leeway) {
            return Err(TokenError("expired"));
        }
    }
    if claims.iss != settings.issuer {
        return Err(invalid);
    }
    if let Some(audience) = &settings.audience {
        if claims.aud.as_ref() != Some(audience) {
            return Err(invalid);
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SECRET: &[u8] = b"a-secret-of-thirty-two-bytes-123";

    fn settings(leeway: u64) -> TokenSettings {
        TokenSettings {
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(60),
            issuer: "authd".into(),
            audience: None,
            leeway: Duration::from_secs(leeway),
        }
    }

    fn signed(claims: serde_json::Value) -> String {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    fn claims(exp: i64) -> serde_json::Value {
        serde_json::json!({
            "token_type": "access", "exp": exp, "iat": 0, "jti": "j", "sub": "7",
            "user_id": "7", "sid": "s", "iss": "authd",
        })
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    #[test]
    fn expiry_is_checked_with_the_leeway() {
        let check = SignatureCheck::hs256(SECRET);
        let lately = signed(claims(now() - 30));
        assert_eq!(
            checked_claims(&lately, &check, &settings(0), false),
            Err(TokenError("expired"))
        );
        assert!(checked_claims(&lately, &check, &settings(60), false).is_ok());
        assert!(checked_claims(&lately, &check, &settings(0), true).is_ok());

        let negative = signed(claims(-1));
        assert!(checked_claims(&negative, &check, &settings(0), false).is_err());
    }

    #[test]
    fn a_token_signed_with_another_secret_or_missing_a_claim_is_refused() {
        let check = SignatureCheck::hs256(b"another-secret-of-thirty-two-byt");
        let token = signed(claims(now() + 60));
        assert_eq!(
            checked_claims(&token, &check, &settings(0), false),
            Err(TokenError("bad signature"))
        );
        let check = SignatureCheck::hs256(SECRET);
        let mut without_iss = claims(now() + 60);
        without_iss.as_object_mut().unwrap().remove("iss");
        assert_eq!(
            checked_claims(&signed(without_iss), &check, &settings(0), false),
            Err(TokenError("invalid claims"))
        );
    }
}
