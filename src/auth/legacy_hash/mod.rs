//! Django's password hash formats, so accounts imported from the Django
//! service keep their passwords (see `authd import django`).
//!
//! A Django hash is `<algorithm>$<rest>`; [`LegacyHash::parse`] turns one
//! into a typed value (the import rejects a row whose hash does not parse),
//! and [`LegacyHash::verify`] checks a password against it in constant time
//! with RustCrypto's `pbkdf2`/`sha1`/`sha2`/`argon2` and the `bcrypt` crate.
//! authd never writes these formats: a login that verifies one replaces it
//! with an argon2id hash at once (`PasswordHasher::needs_rehash`).
//!
//! Work factors are capped at parse time ([`MAX_PBKDF2_ITERATIONS`], ...)
//! so a hash planted in the database cannot make one login cost minutes.
//! Unusable passwords (`!...`) are not a legacy format: authd uses the same
//! prefix and the import keeps them as they are.

mod bcrypt;
mod pbkdf2;

use std::fmt;

use argon2::password_hash::PasswordHash as PhcHash;
use argon2::{Argon2, PasswordVerifier as _};

pub use self::bcrypt::BcryptHash;
pub use self::pbkdf2::{Pbkdf2Digest, Pbkdf2Hash};

/// Most PBKDF2 iterations accepted (Django 5.2 uses 1,000,000).
pub const MAX_PBKDF2_ITERATIONS: u32 = 50_000_000;
/// Highest bcrypt cost accepted (Django uses 12; each step doubles the work).
pub const MAX_BCRYPT_COST: u32 = 18;
/// Most argon2 memory accepted, in KiB (Django uses 102,400).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;
/// Most argon2 passes accepted (Django uses 2).
pub const MAX_ARGON2_ITERATIONS: u32 = 64;

/// A password hash in one of Django's formats. `Debug` hides the hash.
#[derive(Clone, PartialEq, Eq)]
pub enum LegacyHash {
    /// `pbkdf2_sha256$iterations$salt$hash` or `pbkdf2_sha1$...`.
    Pbkdf2(Pbkdf2Hash),
    /// `argon2$argon2id$v=19$m=...`: a PHC string behind Django's prefix.
    Argon2(String),
    /// `bcrypt_sha256$$2b$...` (the password pre-hashed with SHA-256) or
    /// `bcrypt$$2b$...` (the raw password, truncated at 72 bytes as bcrypt does).
    Bcrypt(BcryptHash),
}

/// Why a string is not a Django hash authd can verify. Never quotes the hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyHashError {
    #[error("unsupported password hash algorithm {0:?}")]
    Unsupported(String),
    #[error("malformed {0} password hash")]
    Malformed(&'static str),
    #[error("{0} password hash with a work factor beyond authd's limit")]
    TooCostly(&'static str),
}

impl LegacyHash {
    /// Parses a hash as Django stores it.
    pub fn parse(encoded: &str) -> Result<LegacyHash, LegacyHashError> {
        let (algorithm, rest) = encoded
            .split_once('$')
            .ok_or_else(|| LegacyHashError::Unsupported(algorithm_name(encoded)))?;
        match algorithm {
            "pbkdf2_sha256" => Pbkdf2Hash::parse(Pbkdf2Digest::Sha256, rest).map(Self::Pbkdf2),
            "pbkdf2_sha1" => Pbkdf2Hash::parse(Pbkdf2Digest::Sha1, rest).map(Self::Pbkdf2),
            "argon2" => parse_argon2(rest).map(Self::Argon2),
            "bcrypt_sha256" => BcryptHash::parse(true, rest).map(Self::Bcrypt),
            "bcrypt" => BcryptHash::parse(false, rest).map(Self::Bcrypt),
            other => Err(LegacyHashError::Unsupported(algorithm_name(other))),
        }
    }

    /// True when `password` matches. Blocking and as slow as the hash's
    /// work factor: run it on the hashing pool.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            LegacyHash::Pbkdf2(hash) => hash.verify(password),
            LegacyHash::Argon2(phc) => PhcHash::new(phc)
                .is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok()),
            LegacyHash::Bcrypt(hash) => hash.verify(password),
        }
    }

    /// The PBKDF2 iteration count, for the configured floor.
    pub fn pbkdf2_iterations(&self) -> Option<u32> {
        match self {
            LegacyHash::Pbkdf2(hash) => Some(hash.iterations),
            _ => None,
        }
    }

    /// Django's name of the format (`pbkdf2_sha256`, `argon2`, ...), safe to log.
    pub fn algorithm(&self) -> &'static str {
        match self {
            LegacyHash::Pbkdf2(hash) => hash.digest.algorithm(),
            LegacyHash::Argon2(_) => "argon2",
            LegacyHash::Bcrypt(hash) => hash.algorithm(),
        }
    }
}

impl fmt::Debug for LegacyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LegacyHash({}, [redacted])", self.algorithm())
    }
}

/// The algorithm part of an unknown hash, shortened so that an error can
/// never carry a hash (or a password pasted into the column).
fn algorithm_name(text: &str) -> String {
    let name: String = text.chars().take(24).collect();
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && name.len() < 24 {
        name
    } else {
        "(unrecognized)".to_string()
    }
}

/// Django's argon2 hash: the PHC string argon2-cffi made, minus its leading `$`.
fn parse_argon2(rest: &str) -> Result<String, LegacyHashError> {
    let phc = format!("${rest}");
    let parsed = PhcHash::new(&phc).map_err(|_| LegacyHashError::Malformed("argon2"))?;
    if !matches!(
        parsed.algorithm.as_str(),
        "argon2id" | "argon2i" | "argon2d"
    ) || parsed.hash.is_none()
    {
        return Err(LegacyHashError::Malformed("argon2"));
    }
    let params =
        argon2::Params::try_from(&parsed).map_err(|_| LegacyHashError::Malformed("argon2"))?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB || params.t_cost() > MAX_ARGON2_ITERATIONS {
        return Err(LegacyHashError::TooCostly("argon2"));
    }
    Ok(phc)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by Django 5.2's hashers for the password "correct horse battery"
    // (cheap work factors where Django allows choosing them).
    const PBKDF2_SHA256: &str =
        "pbkdf2_sha256$1000$YESvtmj05S9229waCNEUJx$HLF04ICcbNaKwi/AcQ3g95bYzK5NppGRYBl+VyemEZ4=";
    const PBKDF2_SHA1: &str =
        "pbkdf2_sha1$1000$wFK3PodOYZyTHsJCcoI7pI$h9aoyGtv/vNS/LyzZCcnoJw1UVs=";
    const ARGON2: &str =
        "argon2$argon2id$v=19$m=1024,t=1,p=2$QmUyZTluUkdHSGYzVUg0S1preWtSMw$/xafRg4gnKQ/h8cCbtunBpBbvhAjK3mJ2NBP49RY4tk";
    const BCRYPT_SHA256: &str =
        "bcrypt_sha256$$2b$04$bxi4Y.idP8BeQJ9z5beVK.82f9qdAKXJkIoob22MH5tGqT0rcupQG";
    const BCRYPT: &str = "bcrypt$$2b$04$Tf.eob.XtrNTFCTQ/1FYt.v4L7B1fLKGi7lbiBrT4JotihOWd4gNS";

    #[test]
    fn every_django_format_verifies_its_password_only() {
        for encoded in [PBKDF2_SHA256, PBKDF2_SHA1, ARGON2, BCRYPT_SHA256, BCRYPT] {
            let hash = LegacyHash::parse(encoded).unwrap();
            assert!(hash.verify(b"correct horse battery"), "{encoded}");
            assert!(!hash.verify(b"correct horse batterY"), "{encoded}");
            assert!(!hash.verify(b""), "{encoded}");
        }
    }

    #[test]
    fn algorithms_and_iterations_are_read() {
        let hash = LegacyHash::parse(PBKDF2_SHA1).unwrap();
        assert_eq!(
            (hash.algorithm(), hash.pbkdf2_iterations()),
            ("pbkdf2_sha1", Some(1000))
        );
        let hash = LegacyHash::parse(BCRYPT_SHA256).unwrap();
        assert_eq!(
            (hash.algorithm(), hash.pbkdf2_iterations()),
            ("bcrypt_sha256", None)
        );
        assert_eq!(LegacyHash::parse(ARGON2).unwrap().algorithm(), "argon2");
    }

    #[test]
    fn malformed_unknown_and_costly_hashes_are_refused_without_quoting_them() {
        let cases = [
            ("md5$salt$0123", LegacyHashError::Unsupported("md5".into())),
            (
                "correct horse battery",
                LegacyHashError::Unsupported("(unrecognized)".into()),
            ),
            (
                "pbkdf2_sha256$abc$salt$aGFzaA==",
                LegacyHashError::Malformed("pbkdf2_sha256"),
            ),
            (
                "pbkdf2_sha256$1000$salt$not base64!",
                LegacyHashError::Malformed("pbkdf2_sha256"),
            ),
            (
                "pbkdf2_sha256$1000$salt$aGFzaA==",
                LegacyHashError::Malformed("pbkdf2_sha256"),
            ),
            (
                "pbkdf2_sha256$0$salt$HLF04ICcbNaKwi/AcQ3g95bYzK5NppGRYBl+VyemEZ4=",
                LegacyHashError::Malformed("pbkdf2_sha256"),
            ),
            (
                "pbkdf2_sha256$999999999$salt$HLF04ICcbNaKwi/AcQ3g95bYzK5NppGRYBl+VyemEZ4=",
                LegacyHashError::TooCostly("pbkdf2_sha256"),
            ),
            (
                "argon2$argon2id$v=19$m=1024,t=1,p=2$c2FsdA",
                LegacyHashError::Malformed("argon2"),
            ),
            (
                "argon2$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
                LegacyHashError::Malformed("argon2"),
            ),
            (
                "argon2$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                LegacyHashError::TooCostly("argon2"),
            ),
            ("bcrypt$$2b$04$short", LegacyHashError::Malformed("bcrypt")),
            (
                "bcrypt$$2b$31$Tf.eob.XtrNTFCTQ/1FYt.v4L7B1fLKGi7lbiBrT4JotihOWd4gNS",
                LegacyHashError::TooCostly("bcrypt"),
            ),
            (
                "bcrypt_sha256$2b$04$bxi4Y.idP8BeQJ9z5beVK.82f9qdAKXJkIoob22MH5tGqT0rcupQG",
                LegacyHashError::Malformed("bcrypt_sha256"),
            ),
        ];
        for (encoded, expected) in cases {
            let error = LegacyHash::parse(encoded).unwrap_err();
            assert_eq!(error, expected, "{encoded}");
            assert!(!error.to_string().contains("horse"));
        }
    }

    #[test]
    fn debug_hides_the_hash() {
        let hash = LegacyHash::parse(PBKDF2_SHA256).unwrap();
        assert_eq!(format!("{hash:?}"), "LegacyHash(pbkdf2_sha256, [redacted])");
    }
}
