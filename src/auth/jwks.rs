//! The JSON Web Key Set served at `/.well-known/jwks.json` (RFC 7517): the
//! public key of every asymmetric key, signing, verify-only and `next`, so
//! other services verify authd's tokens on their own. HS256 secrets are
//! never in it. Built once at startup (keys change only on restart), with a
//! strong `ETag` over its bytes for conditional requests.

use sha2::{Digest, Sha256};

use super::jwt::JwtKeys;

/// The document and its validator.
#[derive(Debug, Clone)]
pub struct Jwks {
    body: String,
    etag: String,
}

impl Jwks {
    pub fn new(keys: &JwtKeys) -> Jwks {
        let published: Vec<_> = keys.keys().iter().filter_map(|k| k.public_jwk()).collect();
        let body = serde_json::json!({ "keys": published }).to_string();
        let digest = Sha256::digest(body.as_bytes());
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        Jwks { body, etag }
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    /// The strong entity tag, quoted.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Whether an `If-None-Match` value names this document (RFC 9110
    /// 13.1.2: `*`, or a list compared weakly, so `W/"..."` matches too).
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.trim() == "*"
            || if_none_match
                .split(',')
                .map(|tag| tag.trim())
                .any(|tag| tag.strip_prefix("W/").unwrap_or(tag) == self.etag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::TokenSettings;
    use crate::auth::key_material::{generate_private_pem, JwtKey};
    use crate::config::{KeyAlgorithm, KeyState};

    fn keys(list: Vec<JwtKey>) -> JwtKeys {
        let settings = TokenSettings {
            access_ttl: std::time::Duration::from_secs(60),
            refresh_ttl: std::time::Duration::from_secs(60),
            issuer: "authd".into(),
            audience: None,
            leeway: std::time::Duration::ZERO,
        };
        JwtKeys::new(list, settings)
    }

    fn ed(id: &str) -> JwtKey {
        let pem = generate_private_pem(KeyAlgorithm::EdDSA).unwrap();
        JwtKey::from_private_pem(id, KeyAlgorithm::EdDSA, &pem).unwrap()
    }

    #[test]
    fn publishes_asymmetric_keys_only_and_never_a_secret() {
        let secret = "hs256-secret-hs256-secret-hs256-secret";
        let jwks = Jwks::new(&keys(vec![
            JwtKey::hs256("h", secret.as_bytes()),
            ed("e1"),
            ed("e2").with_state(KeyState::Next),
        ]));
        let document: serde_json::Value = serde_json::from_str(jwks.body()).unwrap();
        let kids: Vec<_> = document["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["e1", "e2"]);
        assert!(!jwks.body().contains(secret) && !jwks.body().contains("\"oct\""));
        let only_hs256 = Jwks::new(&keys(vec![JwtKey::hs256("h", secret.as_bytes())]));
        assert_eq!(only_hs256.body(), r#"{"keys":[]}"#);
    }

    #[test]
    fn the_etag_follows_the_keys_and_if_none_match_compares_weakly() {
        let one = keys(vec![ed("e1")]);
        let jwks = Jwks::new(&one);
        assert_eq!(jwks.etag(), Jwks::new(&one).etag());
        assert_ne!(jwks.etag(), Jwks::new(&keys(vec![ed("e1")])).etag());
        let tag = jwks.etag().to_string();
        assert!(jwks.matches(&tag));
        assert!(jwks.matches(&format!("\"other\", W/{tag}")));
        assert!(jwks.matches("*"));
        assert!(!jwks.matches("\"other\""));
        assert!(!jwks.matches(""));
    }
}
