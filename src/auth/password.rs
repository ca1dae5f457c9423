//! argon2id password hashing, as PHC strings (`$argon2id$v=19$m=...`).
//!
//! One [`PasswordHasher`] holds the configured parameters (OWASP's
//! m=19456 KiB, t=2, p=1 by default). Verification reads the parameters from
//! the stored hash, so raising them never locks anyone out; `needs_rehash`
//! tells the login path to store a fresh hash. Hashing is deliberately slow
//! and blocking: callers on an async runtime run it on the bounded hashing
//! pool, never on a worker thread.

use std::fmt;

use argon2::password_hash::{rand_core::OsRng, PasswordHash as PhcHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use rand::distributions::{Alphanumeric, DistString};

use crate::domain::{NewPassword, Password};

/// Prefix that marks a hash no password can match (as in Django).
const UNUSABLE_PREFIX: char = '!';

/// A stored password hash. `Debug` hides it: a hash is a secret too.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash read from a store.
    pub fn from_stored(phc: String) -> PasswordHash {
        PasswordHash(phc)
    }

    /// A hash that never verifies: for accounts that must reset first.
    pub fn unusable() -> PasswordHash {
        PasswordHash(format!(
            "{UNUSABLE_PREFIX}{}",
            Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
        ))
    }

    pub fn is_usable(&self) -> bool {
        !self.0.starts_with(UNUSABLE_PREFIX)
    }

    /// The PHC string, for the store only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes and verifies passwords with one set of argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: HashParams,
}

impl PasswordHasher {
    pub fn new(params: HashParams) -> Result<PasswordHasher, HashingError> {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| HashingError::Params(e.to_string()))?;
        Ok(PasswordHasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params),
            params,
        })
    }

    /// A new PHC string with a fresh random salt.
    pub fn hash(&self, password: &NewPassword) -> Result<PasswordHash, HashingError> {
        self.hash_any(password.password())
    }

    /// Hashes without the policy: only for the dummy hash that unknown
    /// accounts are verified against, so a login costs the same either way.
    pub fn hash_any(&self, password: &Password) -> Result<PasswordHash, HashingError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|phc| PasswordHash(phc.to_string()))
            .map_err(|e| HashingError::Hash(e.to_string()))
    }

    /// True when `password` matches `hash`. Malformed or unusable hashes
    /// never match. The comparison is constant-time (argon2 crate).
    pub fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        if !hash.is_usable() {
            return false;
        }
        let Ok(parsed) = PhcHash::new(hash.as_str()) else {
            return false;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return false;
        }
        self.argon2
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    }

    /// True when `hash` was not made with exactly the configured algorithm,
    /// version and parameters.
    pub fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = PhcHash::new(hash.as_str()) else {
            return true;
        };
        let same_params = Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == self.params.memory_kib
                && p.t_cost() == self.params.iterations
                && p.p_cost() == self.params.parallelism
        });
        parsed.algorithm != Algorithm::Argon2id.ident()
            || parsed.version != Some(Version::V0x13.into())
            || !same_params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, FullName};

    const CHEAP: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    fn new_password(text: &str) -> NewPassword {
        let email = Email::parse("ada@example.com").unwrap();
        NewPassword::parse(Password::new(text), &email, &FullName::default()).unwrap()
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let hash = hasher.hash(&new_password("correct horse battery")).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(hasher.verify(&Password::new("correct horse battery"), &hash));
        assert!(!hasher.verify(&Password::new("correct horse batterY"), &hash));
    }

    #[test]
    fn salts_differ_between_hashes() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let a = hasher.hash(&new_password("correct horse battery")).unwrap();
        let b = hasher.hash(&new_password("correct horse battery")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn verifies_hashes_made_with_other_parameters_and_asks_for_a_rehash() {
        let old = PasswordHasher::new(CHEAP).unwrap();
        let hash = old.hash(&new_password("correct horse battery")).unwrap();
        let new = PasswordHasher::new(HashParams {
            memory_kib: 2048,
            ..CHEAP
        })
        .unwrap();
        assert!(new.verify(&Password::new("correct horse battery"), &hash));
        assert!(new.needs_rehash(&hash));
        assert!(!old.needs_rehash(&hash));
    }

    #[test]
    fn unusable_and_malformed_hashes_never_match() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let unusable = PasswordHash::unusable();
        assert!(!unusable.is_usable());
        assert!(!hasher.verify(&Password::new(unusable.as_str()), &unusable));
        let garbage = PasswordHash::from_stored("not a hash".into());
        assert!(!hasher.verify(&Password::new("not a hash"), &garbage));
        assert!(hasher.needs_rehash(&garbage));
    }

    #[test]
    fn rejects_impossible_parameters() {
        assert!(PasswordHasher::new(HashParams {
            memory_kib: 1,
            iterations: 1,
            parallelism: 1
        })
        .is_err());
        assert!(PasswordHasher::new(HashParams {
            memory_kib: 1024,
            iterations: 0,
            parallelism: 1
        })
        .is_err());
    }

    #[test]
    fn debug_hides_the_hash() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let hash = hasher.hash(&new_password("correct horse battery")).unwrap();
        assert_eq!(format!("{hash:?}"), "PasswordHash([redacted])");
    }
}
