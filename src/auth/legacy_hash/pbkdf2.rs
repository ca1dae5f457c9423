//! Django's PBKDF2 hashes: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`
//! (and `pbkdf2_sha1$...`). The salt is used as its UTF-8 bytes and the
//! derived key is as long as the digest, as Django's `pbkdf2()` does.

use base64::{engine::general_purpose::STANDARD, Engine};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{LegacyHashError, MAX_PBKDF2_ITERATIONS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pbkdf2Digest {
    Sha256,
    Sha1,
}

impl Pbkdf2Digest {
    pub fn algorithm(self) -> &'static str {
        match self {
            Pbkdf2Digest::Sha256 => "pbkdf2_sha256",
            Pbkdf2Digest::Sha1 => "pbkdf2_sha1",
        }
    }

    fn output_len(self) -> usize {
        match self {
            Pbkdf2Digest::Sha256 => 32,
            Pbkdf2Digest::Sha1 => 20,
        }
    }
}

/// A parsed PBKDF2 hash (no `Debug`: `LegacyHash`'s redacts it).
#[derive(Clone, PartialEq, Eq)]
pub struct Pbkdf2Hash {
    pub digest: Pbkdf2Digest,
    pub iterations: u32,
    salt: String,
    hash: Vec<u8>,
}

impl Pbkdf2Hash {
    /// Parses what follows `pbkdf2_sha256$`.
    pub fn parse(digest: Pbkdf2Digest, rest: &str) -> Result<Pbkdf2Hash, LegacyHashError> {
        let malformed = || LegacyHashError::Malformed(digest.algorithm());
        let mut parts = rest.split('$');
        let (Some(iterations), Some(salt), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let iterations: u32 = iterations.parse().map_err(|_| malformed())?;
        if iterations == 0 || salt.is_empty() {
            return Err(malformed());
        }
        if iterations > MAX_PBKDF2_ITERATIONS {
            return Err(LegacyHashError::TooCostly(digest.algorithm()));
        }
        let hash = STANDARD.decode(hash).map_err(|_| malformed())?;
        if hash.len() != digest.output_len() {
            return Err(malformed());
        }
        Ok(Pbkdf2Hash {
            digest,
            iterations,
            salt: salt.to_string(),
            hash,
        })
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        let mut derived = vec![0u8; self.hash.len()];
        let salt = self.salt.as_bytes();
        match self.digest {
            Pbkdf2Digest::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, self.iterations, &mut derived)
            }
            Pbkdf2Digest::Sha1 => {
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, self.iterations, &mut derived)
            }
        }
        derived.ct_eq(&self.hash).into()
    }
}
