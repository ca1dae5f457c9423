//! Django's bcrypt hashes: `bcrypt_sha256$$2b$12$<salt><hash>`, where the
//! password is first hashed with SHA-256 and hex-encoded (so long passwords
//! are not truncated), and the older `bcrypt$$2b$...` of the raw password.
//! Verification is the `bcrypt` crate's, which compares in constant time.

use sha2::{Digest, Sha256};

use super::{LegacyHashError, MAX_BCRYPT_COST};

/// A parsed bcrypt hash (no `Debug`: `LegacyHash`'s redacts it).
#[derive(Clone, PartialEq, Eq)]
pub struct BcryptHash {
    sha256: bool,
    /// The modular-crypt string, `$2b$12$...` (60 characters).
    encoded: String,
}

impl BcryptHash {
    /// Parses what follows `bcrypt_sha256$` (`sha256`) or `bcrypt$`.
    pub fn parse(sha256: bool, rest: &str) -> Result<BcryptHash, LegacyHashError> {
        let algorithm = if sha256 { "bcrypt_sha256" } else { "bcrypt" };
        let malformed = || LegacyHashError::Malformed(algorithm);
        // Django writes "<algorithm>$" then bcrypt's own "$2b$...".
        let well_formed = rest.len() == 60
            && rest.is_ascii()
            && matches!(&rest[..4], "$2a$" | "$2b$" | "$2y$")
            && rest.as_bytes()[6] == b'$';
        if !well_formed {
            return Err(malformed());
        }
        let cost: u32 = rest[4..6].parse().map_err(|_| malformed())?;
        if cost < 4 {
            return Err(malformed());
        }
        if cost > MAX_BCRYPT_COST {
            return Err(LegacyHashError::TooCostly(algorithm));
        }
        if rest[7..]
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'/'))
        {
            return Err(malformed());
        }
        Ok(BcryptHash {
            sha256,
            encoded: rest.to_string(),
        })
    }

    pub fn algorithm(&self) -> &'static str {
        if self.sha256 {
            "bcrypt_sha256"
        } else {
            "bcrypt"
        }
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        let result = if self.sha256 {
            let prehashed = hex::encode(Sha256::digest(password));
            ::bcrypt::verify(prehashed.as_bytes(), &self.encoded)
        } else {
            ::bcrypt::verify(password, &self.encoded)
        };
        result.unwrap_or(false)
    }
}
