//! Authentication services: password hashing (and its bounded pool), JWT
//! keys and claims, and the token lifecycle built on the store.

mod access_cache;
mod hashing;
pub mod jwt;
pub mod keys;
pub mod legacy_hash;
pub mod legacy_jwt;
mod legacy_tokens;
mod password;
mod sessions;
pub mod tokens;

pub use access_cache::AccessCache;
pub use hashing::{HashingPool, PoolBusy};
pub use password::{
    HashFloors, HashMemory, HashParams, HashingError, PasswordHash, PasswordHasher, Verified,
};
pub use sessions::MAX_LISTED_SESSIONS;
