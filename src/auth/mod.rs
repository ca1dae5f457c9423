//! Authentication services: password hashing (and its bounded pool), JWT
//! keys, claims and their published JWKS, and the token lifecycle built on the store.

mod access_cache;
mod claims;
mod hashing;
pub mod jwks;
pub mod jwt;
pub mod key_material;
pub mod keys;
pub mod legacy_hash;
pub mod legacy_jwt;
mod legacy_tokens;
mod password;
mod sessions;
mod token_check;
pub mod tokens;
mod verified_tokens;

pub use access_cache::AccessCache;
pub use hashing::{HashingPool, PoolBusy};
pub use password::{HashMemory, HashingError, PasswordHasher, Verified};
pub use sessions::MAX_LISTED_SESSIONS;
