//! The material of one JWT key: an HS256 secret, or an asymmetric key read
//! from PEM (PKCS#8 private, SubjectPublicKeyInfo public) through the
//! RustCrypto crates jsonwebtoken's backend signs with, and the public JWK
//! `/.well-known/jwks.json` publishes for it. New private keys for `authd
//! key generate` come from the same crates. No cryptography is done here
//! beyond calling them.

// One pkcs8 crate serves all three key types (the same version).
use super::token_check::SignatureCheck;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use zeroize::Zeroizing;

use crate::config::{KeyAlgorithm, KeyState};

/// The smallest RSA modulus accepted (NIST SP 800-57: 112-bit security).
pub const MIN_RSA_BITS: usize = 2048;

/// Why a key file could not be used (never shows key bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMaterialError {
    #[error(
        "not a PKCS#8 PEM {0} private key (\"BEGIN PRIVATE KEY\"; `authd key generate` writes one)"
    )]
    Private(&'static str),
    #[error("not a PEM {0} public key (\"BEGIN PUBLIC KEY\")")]
    Public(&'static str),
    #[error("an RSA key of {0} bits: at least {MIN_RSA_BITS} are required")]
    RsaTooSmall(usize),
    #[error("HS256 keys have a secret, not a key file")]
    Symmetric,
}

/// One key ready to verify with, and to sign with when it has the private
/// part (or secret).
#[derive(Clone)]
pub struct JwtKey {
    pub id: String,
    pub algorithm: KeyAlgorithm,
    pub state: KeyState,
    encoding: Option<EncodingKey>,
    /// What verifies this key's signatures, built once.
    check: SignatureCheck,
    /// The public JWK; `None` for HS256, whose secret is never published.
    public: Option<Jwk>,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "JwtKey({:?}, {}, {:?}, [redacted])",
            self.id,
            self.algorithm.name(),
            self.state
        )
    }
}

impl JwtKey {
    /// An HS256 key: signs and verifies with `secret`.
    pub fn hs256(id: &str, secret: &[u8]) -> JwtKey {
        JwtKey {
            id: id.to_string(),
            algorithm: KeyAlgorithm::HS256,
            state: KeyState::Active,
            encoding: Some(EncodingKey::from_secret(secret)),
            check: SignatureCheck::hs256(secret),
            public: None,
        }
    }

    /// A key that signs, from its PKCS#8 PEM private key.
    pub fn from_private_pem(
        id: &str,
        algorithm: KeyAlgorithm,
        pem: &str,
    ) -> Result<JwtKey, KeyMaterialError> {
        let bad = || KeyMaterialError::Private(algorithm.name());
        let (encoding, decoding, check) = match algorithm {
            KeyAlgorithm::HS256 => return Err(KeyMaterialError::Symmetric),
            KeyAlgorithm::EdDSA => {
                let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| bad())?;
                let der = key.to_pkcs8_der().map_err(|_| bad())?;
                (
                    EncodingKey::from_ed_der(der.as_bytes()),
                    DecodingKey::from_ed_der(key.verifying_key().as_bytes()),
                    SignatureCheck::EdDsa(key.verifying_key()),
                )
            }
            KeyAlgorithm::ES256 => {
                let key = p256::SecretKey::from_pkcs8_pem(pem).map_err(|_| bad())?;
                let der = key.to_pkcs8_der().map_err(|_| bad())?;
                let point = key.public_key().to_sec1_bytes();
                (
                    EncodingKey::from_ec_der(der.as_bytes()),
                    DecodingKey::from_ec_der(&point),
                    SignatureCheck::Es256(key.public_key().into()),
                )
            }
            KeyAlgorithm::RS256 => {
                let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|_| bad())?;
                check_rsa_size(key.n().bits())?;
                // jsonwebtoken's RSA signer reads PKCS#1.
                let der = key.to_pkcs1_der().map_err(|_| bad())?;
                (
                    EncodingKey::from_rsa_der(der.as_bytes()),
                    DecodingKey::from_rsa_raw_components(
                        &key.n().to_bytes_be(),
                        &key.e().to_bytes_be(),
                    ),
                    SignatureCheck::Rs256(key.to_public_key()),
                )
            }
        };
        Ok(JwtKey::asymmetric(
            id,
            algorithm,
            Some(encoding),
            decoding,
            check,
        ))
    }

    /// A key that only verifies, from its SubjectPublicKeyInfo PEM.
    pub fn from_public_pem(
        id: &str,
        algorithm: KeyAlgorithm,
        pem: &str,
    ) -> Result<JwtKey, KeyMaterialError> {
        let bad = || KeyMaterialError::Public(algorithm.name());
        let (decoding, check) = match algorithm {
            KeyAlgorithm::HS256 => return Err(KeyMaterialError::Symmetric),
            KeyAlgorithm::EdDSA => {
                let key =
                    ed25519_dalek::VerifyingKey::from_public_key_pem(pem).map_err(|_| bad())?;
                let decoding = DecodingKey::from_ed_der(key.as_bytes());
                (decoding, SignatureCheck::EdDsa(key))
            }
            KeyAlgorithm::ES256 => {
                let key = p256::PublicKey::from_public_key_pem(pem).map_err(|_| bad())?;
                let decoding = DecodingKey::from_ec_der(&key.to_sec1_bytes());
                (decoding, SignatureCheck::Es256(key.into()))
            }
            KeyAlgorithm::RS256 => {
                let key = rsa::RsaPublicKey::from_public_key_pem(pem).map_err(|_| bad())?;
                check_rsa_size(key.n().bits())?;
                let decoding = DecodingKey::from_rsa_raw_components(
                    &key.n().to_bytes_be(),
                    &key.e().to_bytes_be(),
                );
                (decoding, SignatureCheck::Rs256(key))
            }
        };
        Ok(JwtKey::asymmetric(id, algorithm, None, decoding, check))
    }

    fn asymmetric(
        id: &str,
        algorithm: KeyAlgorithm,
        encoding: Option<EncodingKey>,
        decoding: DecodingKey,
        check: SignatureCheck,
    ) -> JwtKey {
        let mut public = Jwk::from_decoding_key(&decoding, Some(jwt_algorithm(algorithm)))
            .expect("a parsed public key has JWK members");
        public.common.key_id = Some(id.to_string());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        JwtKey {
            id: id.to_string(),
            algorithm,
            state: KeyState::Active,
            encoding,
            check,
            public: Some(public),
        }
    }

    /// The same key in `state`.
    pub fn with_state(self, state: KeyState) -> JwtKey {
        JwtKey { state, ..self }
    }

    /// Whether the key may sign: active, with a private key or secret.
    pub fn can_sign(&self) -> bool {
        self.state == KeyState::Active && self.encoding.is_some()
    }

    /// The public JWK (asymmetric keys only).
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public.as_ref()
    }

    pub(super) fn encoding(&self) -> Option<&EncodingKey> {
        self.encoding.as_ref()
    }

    pub(super) fn signature_check(&self) -> &SignatureCheck {
        &self.check
    }
}

/// jsonwebtoken's name for the algorithm.
pub fn jwt_algorithm(algorithm: KeyAlgorithm) -> Algorithm {
    match algorithm {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::RS256 => Algorithm::RS256,
    }
}

fn check_rsa_size(bits: usize) -> Result<(), KeyMaterialError> {
    if bits < MIN_RSA_BITS {
        return Err(KeyMaterialError::RsaTooSmall(bits));
    }
    Ok(())
}

/// A new private key of `algorithm` as PKCS#8 PEM (RSA: 2048 bits), from
/// the OS CSPRNG.
pub fn generate_private_pem(
    algorithm: KeyAlgorithm,
) -> Result<Zeroizing<String>, KeyMaterialError> {
    let mut rng = rand::rngs::OsRng;
    let failed = || KeyMaterialError::Private(algorithm.name());
    let pem = match algorithm {
        KeyAlgorithm::HS256 => return Err(KeyMaterialError::Symmetric),
        KeyAlgorithm::EdDSA => ed25519_dalek::SigningKey::generate(&mut rng)
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| failed())?,
        KeyAlgorithm::ES256 => p256::SecretKey::random(&mut rng)
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| failed())?,
        KeyAlgorithm::RS256 => rsa::RsaPrivateKey::new(&mut rng, MIN_RSA_BITS)
            .map_err(|_| failed())?
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| failed())?,
    };
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::EncodePublicKey;

    #[test]
    fn generated_keys_load_and_publish_their_public_members() {
        for (algorithm, kty, members) in [
            (KeyAlgorithm::EdDSA, "OKP", &["crv", "x"][..]),
            (KeyAlgorithm::ES256, "EC", &["crv", "x", "y"]),
            (KeyAlgorithm::RS256, "RSA", &["n", "e"]),
        ] {
            let pem = generate_private_pem(algorithm).unwrap();
            let key = JwtKey::from_private_pem("k", algorithm, &pem).unwrap();
            assert!(key.can_sign());
            let jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["kid"], "k");
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], algorithm.name());
            for member in members {
                assert!(jwk[member].is_string(), "{member} in {jwk}");
            }
            assert!(jwk.get("d").is_none(), "no private member: {jwk}");
        }
    }

    #[test]
    fn a_key_of_another_algorithm_is_refused() {
        let ed = generate_private_pem(KeyAlgorithm::EdDSA).unwrap();
        assert_eq!(
            JwtKey::from_private_pem("k", KeyAlgorithm::ES256, &ed).unwrap_err(),
            KeyMaterialError::Private("ES256")
        );
        assert!(JwtKey::from_private_pem("k", KeyAlgorithm::RS256, "junk").is_err());
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused() {
        let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let private = small.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(
            JwtKey::from_private_pem("k", KeyAlgorithm::RS256, &private).unwrap_err(),
            KeyMaterialError::RsaTooSmall(1024)
        );
        let public = small
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert_eq!(
            JwtKey::from_public_pem("k", KeyAlgorithm::RS256, &public).unwrap_err(),
            KeyMaterialError::RsaTooSmall(1024)
        );
    }

    #[test]
    fn a_public_key_verifies_only_and_next_keys_never_sign() {
        let pem = generate_private_pem(KeyAlgorithm::ES256).unwrap();
        let private = p256::SecretKey::from_pkcs8_pem(&pem).unwrap();
        let public_pem = private
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let public = JwtKey::from_public_pem("p", KeyAlgorithm::ES256, &public_pem).unwrap();
        assert!(!public.can_sign());
        let signing = JwtKey::from_private_pem("p", KeyAlgorithm::ES256, &pem).unwrap();
        assert_eq!(
            serde_json::to_value(public.public_jwk()).unwrap(),
            serde_json::to_value(signing.public_jwk()).unwrap()
        );
        assert!(!signing.with_state(KeyState::Next).can_sign());
        assert!(JwtKey::hs256("h", b"secret").public_jwk().is_none());
    }
}
