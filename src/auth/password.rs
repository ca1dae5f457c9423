//! argon2id password hashing, as PHC strings (`$argon2id$v=19$m=...`).
//!
//! One [`PasswordHasher`] holds the configured parameters (OWASP's
//! m=19456 KiB, t=2, p=1 by default). Verification reads the parameters from
//! the stored hash, so raising them never locks anyone out; `needs_rehash`
//! tells the login path to store a fresh hash. Hashing is deliberately slow
//! and blocking: callers on an async runtime run it on the bounded hashing
//! pool, never on a worker thread.
//!
//! A stored hash is one of three things: unusable (`!...`, as in Django),
//! authd's own argon2id PHC string (`$argon2id$...`), or a hash imported
//! from Django (`pbkdf2_sha256$...`, see `legacy_hash`). authd only ever
//! writes argon2id; a legacy hash always `needs_rehash`.
//!
//! [`HashFloors`] set the weakest hash accepted, differently for the two
//! kinds, on purpose. authd never writes an argon2id hash below
//! `password.min_*` (configuration refuses parameters below them), so a
//! native hash below the floor can only come from someone writing to the
//! database or a botched restore: it never verifies, so a downgraded hash
//! is not a way in. A legacy PBKDF2 hash below
//! `password.legacy_pbkdf2_min_iterations` is ordinary history (older
//! Django releases used fewer iterations) and refusing it would force its
//! owner through a reset, which the migration promises not to do: it is
//! accepted for exactly one login, which must replace it with argon2id
//! ([`Verified::must_upgrade`]) or fail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::password_hash::{
    rand_core::OsRng, Output, ParamsString, PasswordHash as PhcHash, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::legacy_hash::LegacyHash;
use crate::domain::{HashFloors, HashParams, NewPassword, Password, PasswordHash};

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matched: bool,
    /// The stored hash is not argon2id with the current parameters: store a fresh one.
    pub needs_rehash: bool,
    /// The stored hash is a legacy one below its floor: the login may only
    /// succeed if a fresh hash replaces it.
    pub must_upgrade: bool,
}

impl Verified {
    pub const NO_MATCH: Verified = Verified {
        matched: false,
        needs_rehash: false,
        must_upgrade: false,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// argon2's working memory (`memory_kib` blocks of 1 KiB), kept by one
/// thread between hashes so a busy hashing worker does not allocate and
/// fault in ~19 MiB for every login. Grows to the largest hash it served;
/// [`release`](Self::release) gives it back.
#[derive(Default)]
pub struct HashMemory {
    blocks: Vec<Block>,
    /// Where the bytes held are added up (the hashing pool's gauge).
    tally: Option<Arc<AtomicU64>>,
}

impl HashMemory {
    /// Memory whose size is kept added up in `tally`.
    pub fn counted(tally: Arc<AtomicU64>) -> HashMemory {
        HashMemory {
            blocks: Vec::new(),
            tally: Some(tally),
        }
    }

    /// At least the blocks `params` needs (argon2 uses the first ones).
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            // Free the smaller block first: never hold both.
            self.release();
            self.blocks = vec![Block::default(); needed];
            if let Some(tally) = &self.tally {
                tally.fetch_add(self.bytes(), Ordering::Relaxed);
            }
        }
        &mut self.blocks
    }

    /// Frees the memory; true when there was some.
    pub fn release(&mut self) -> bool {
        if let Some(tally) = &self.tally {
            tally.fetch_sub(self.bytes(), Ordering::Relaxed);
        }
        let held = !self.blocks.is_empty();
        self.blocks = Vec::new();
        held
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        (self.blocks.len() * std::mem::size_of::<Block>()) as u64
    }
}

impl Drop for HashMemory {
    fn drop(&mut self) {
        self.release();
    }
}

/// Hashes and verifies passwords with one set of argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: HashParams,
    floors: HashFloors,
}

impl PasswordHasher {
    pub fn new(params: HashParams) -> Result<PasswordHasher, HashingError> {
        let argon_params = params.argon2().map_err(HashingError::Params)?;
        Ok(PasswordHasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params),
            params,
            floors: HashFloors::NONE,
        })
    }

    /// The hasher `[password]` configures: its parameters and floors.
    pub fn from_config(config: &crate::config::Config) -> Result<PasswordHasher, HashingError> {
        Ok(PasswordHasher::new(config.hash_params())?.with_floors(config.hash_floors()))
    }

    /// The same hasher, refusing hashes below `floors`.
    pub fn with_floors(self, floors: HashFloors) -> PasswordHasher {
        PasswordHasher { floors, ..self }
    }

    /// A new PHC string with a fresh random salt.
    pub fn hash(&self, password: &NewPassword) -> Result<PasswordHash, HashingError> {
        self.hash_any(password.password())
    }

    /// Hashes without the policy: only for the dummy hash that unknown
    /// accounts are verified against, so a login costs the same either way.
    pub fn hash_any(&self, password: &Password) -> Result<PasswordHash, HashingError> {
        self.hash_any_in(password, &mut HashMemory::default())
    }

    /// [`hash_any`](Self::hash_any), computing argon2 in `memory`.
    pub fn hash_any_in(
        &self,
        password: &Password,
        memory: &mut HashMemory,
    ) -> Result<PasswordHash, HashingError> {
        let salt = SaltString::generate(&mut OsRng);
        let failed = |e: argon2::password_hash::Error| HashingError::Hash(e.to_string());
        let output =
            argon2_output(&self.argon2, password, salt.as_salt(), memory).map_err(failed)?;
        let phc = PhcHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(self.argon2.params()).map_err(failed)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(PasswordHash::from_stored(phc.to_string()))
    }

    /// True when `password` matches `hash` (see [`check`](Self::check)).
    pub fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        self.check(password, hash).matched
    }

    /// Checks `password` against a stored hash of any kind. Malformed or
    /// unusable hashes, and argon2id hashes below the floor, never match.
    /// Every comparison is constant-time (password-hash's `Output`, subtle,
    /// bcrypt crates).
    pub fn check(&self, password: &Password, hash: &PasswordHash) -> Verified {
        self.check_in(password, hash, &mut HashMemory::default())
    }

    /// [`check`](Self::check), computing argon2 in `memory`.
    pub fn check_in(
        &self,
        password: &Password,
        hash: &PasswordHash,
        memory: &mut HashMemory,
    ) -> Verified {
        if !hash.is_usable() {
            return Verified::NO_MATCH;
        }
        if !hash.as_str().starts_with('$') {
            return self.check_legacy(password, hash);
        }
        let Ok(parsed) = PhcHash::new(hash.as_str()) else {
            return Verified::NO_MATCH;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return Verified::NO_MATCH;
        }
        let Ok(params) = Params::try_from(&parsed) else {
            return Verified::NO_MATCH;
        };
        let stored = HashParams {
            memory_kib: params.m_cost(),
            iterations: params.t_cost(),
            parallelism: params.p_cost(),
        };
        if !stored.at_least(&self.floors.native) {
            tracing::warn!(
                "refused an argon2id hash whose parameters are below password.min_*: authd never writes one, so it was put in the database by other means"
            );
            return Verified::NO_MATCH;
        }
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Verified::NO_MATCH;
        };
        let Ok(version) = parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from)
        else {
            return Verified::NO_MATCH;
        };
        let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
        Verified {
            // Output's equality is constant-time.
            matched: argon2_output(&argon2, password, salt, memory)
                .is_ok_and(|out| out == expected),
            needs_rehash: self.needs_rehash(hash),
            must_upgrade: false,
        }
    }

    fn check_legacy(&self, password: &Password, hash: &PasswordHash) -> Verified {
        let Ok(legacy) = LegacyHash::parse(hash.as_str()) else {
            return Verified::NO_MATCH;
        };
        let weak = legacy
            .pbkdf2_iterations()
            .is_some_and(|n| n < self.floors.legacy_pbkdf2_iterations);
        Verified {
            matched: legacy.verify(password.expose().as_bytes()),
            needs_rehash: true,
            must_upgrade: weak,
        }
    }

    /// True when `hash` was not made with exactly the configured algorithm,
    /// version and parameters.
    pub fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        if !hash.as_str().starts_with('$') {
            return true;
        }
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

/// argon2's output for `password` and `salt`, computed in `memory`: what
/// `argon2::PasswordHasher::hash_password` does, minus its allocation.
fn argon2_output(
    argon2: &Argon2<'_>,
    password: &Password,
    salt: Salt<'_>,
    memory: &mut HashMemory,
) -> Result<Output, argon2::password_hash::Error> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let length = argon2
        .params()
        .output_len()
        .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(length, |out| {
        argon2
            .hash_password_into_with_memory(
                password.expose().as_bytes(),
                salt,
                out,
                memory.blocks(argon2.params()),
            )
            .map_err(Into::into)
    })
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
    fn hashes_in_reused_memory_agree_with_the_argon2_crate() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let small = PasswordHasher::new(CHEAP).unwrap();
        let large = PasswordHasher::new(HashParams {
            memory_kib: 2048,
            ..CHEAP
        })
        .unwrap();
        let password = Password::new("correct horse battery");
        let mut memory = HashMemory::default();
        // The larger hash first: the smaller one then runs in a block that
        // is bigger than it needs and full of the other's state.
        let ours = large.hash_any_in(&password, &mut memory).unwrap();
        assert_eq!(memory.bytes(), 2048 * 1024);
        let ours_small = small.hash_any_in(&password, &mut memory).unwrap();
        assert_eq!(memory.bytes(), 2048 * 1024, "the block was reused");
        for (hasher, hash) in [(&large, &ours), (&small, &ours_small)] {
            let parsed = PhcHash::new(hash.as_str()).unwrap();
            assert!(hasher
                .argon2
                .verify_password(b"correct horse battery", &parsed)
                .is_ok());
            assert!(hasher.check_in(&password, hash, &mut memory).matched);
            assert!(
                !hasher
                    .check_in(&Password::new("correct horse batterY"), hash, &mut memory)
                    .matched
            );
        }
        let salt = SaltString::generate(&mut OsRng);
        let theirs = large
            .argon2
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        let theirs = PasswordHash::from_stored(theirs);
        assert!(small.check_in(&password, &theirs, &mut memory).matched);
        assert!(memory.release());
        assert!(memory.is_empty() && !memory.release());
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
    fn native_hashes_below_the_floor_never_verify() {
        let weak = PasswordHasher::new(CHEAP).unwrap();
        let hash = weak.hash(&new_password("correct horse battery")).unwrap();
        let floors = HashFloors {
            native: HashParams {
                memory_kib: 2048,
                ..CHEAP
            },
            legacy_pbkdf2_iterations: 0,
        };
        let strict = PasswordHasher::new(HashParams {
            memory_kib: 4096,
            ..CHEAP
        })
        .unwrap()
        .with_floors(floors);
        assert_eq!(
            strict.check(&Password::new("correct horse battery"), &hash),
            Verified::NO_MATCH,
            "a downgraded hash is not a way in"
        );
        let at_floor = PasswordHasher::new(floors.native).unwrap();
        let hash = at_floor
            .hash(&new_password("correct horse battery"))
            .unwrap();
        let verified = strict.check(&Password::new("correct horse battery"), &hash);
        assert!(verified.matched && verified.needs_rehash && !verified.must_upgrade);
    }

    #[test]
    fn legacy_hashes_verify_always_need_a_rehash_and_weak_ones_must_upgrade() {
        // Django's PBKDF2 hasher with 1,000 iterations, for "correct horse battery".
        let legacy = PasswordHash::from_stored(
            "pbkdf2_sha256$1000$YESvtmj05S9229waCNEUJx$HLF04ICcbNaKwi/AcQ3g95bYzK5NppGRYBl+VyemEZ4="
                .into(),
        );
        let lenient = PasswordHasher::new(CHEAP).unwrap();
        assert_eq!(
            lenient.check(&Password::new("correct horse battery"), &legacy),
            Verified {
                matched: true,
                needs_rehash: true,
                must_upgrade: false
            }
        );
        assert!(!lenient.verify(&Password::new("wrong horse battery"), &legacy));
        let floored = PasswordHasher::new(CHEAP).unwrap().with_floors(HashFloors {
            legacy_pbkdf2_iterations: 1001,
            ..HashFloors::NONE
        });
        assert_eq!(
            floored.check(&Password::new("correct horse battery"), &legacy),
            Verified {
                matched: true,
                needs_rehash: true,
                must_upgrade: true
            }
        );
        let garbage = PasswordHash::from_stored("pbkdf2_sha256$1000$salt".into());
        assert!(!lenient.verify(&Password::new("x"), &garbage));
    }

    #[test]
    fn debug_hides_the_hash() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let hash = hasher.hash(&new_password("correct horse battery")).unwrap();
        assert_eq!(format!("{hash:?}"), "PasswordHash([redacted])");
    }
}
