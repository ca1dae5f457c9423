//! A stored password hash (`PasswordHash`, a PHC string or a Django
//! hash, never shown) and the argon2id cost parameters that configuration,
//! the hasher and the store share (`HashParams`, `HashFloors`). Plain
//! values: the hashing itself is `auth`'s.

use std::fmt;

use argon2::password_hash::PasswordHash as PhcHash;
use argon2::Params;
use rand::distributions::{Alphanumeric, DistString};

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

    /// What verifying against it costs: memory (KiB) x passes x lanes, from
    /// its PHC parameters; 0 when it has none (never verified).
    pub fn cost(&self) -> u64 {
        PhcHash::new(&self.0)
            .ok()
            .and_then(|phc| Params::try_from(&phc).ok())
            .map_or(0, |p| {
                u64::from(p.m_cost()) * u64::from(p.t_cost()) * u64::from(p.p_cost())
            })
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

impl HashParams {
    /// The parameters as argon2 takes them; an error says which is out of
    /// argon2's range (memory below 8 KiB per lane, zero passes, ...).
    pub fn argon2(&self) -> Result<Params, String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| e.to_string())
    }

    /// True when no parameter is below `floor`'s.
    pub fn at_least(&self, floor: &HashParams) -> bool {
        self.memory_kib >= floor.memory_kib
            && self.iterations >= floor.iterations
            && self.parallelism >= floor.parallelism
    }
}

/// The weakest stored hashes accepted (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashFloors {
    /// An argon2id hash with any parameter below these never verifies.
    pub native: HashParams,
    /// A Django PBKDF2 hash with fewer iterations verifies only for the
    /// login that replaces it.
    pub legacy_pbkdf2_iterations: u32,
}

impl HashFloors {
    /// No floor at all: every well-formed hash is checked.
    pub const NONE: HashFloors = HashFloors {
        native: HashParams {
            memory_kib: 0,
            iterations: 0,
            parallelism: 0,
        },
        legacy_pbkdf2_iterations: 0,
    };
}
