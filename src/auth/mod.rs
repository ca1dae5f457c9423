//! Authentication services: password hashing (and its bounded pool), JWT
//! keys and claims, and the token lifecycle built on the store.

mod hashing;
pub mod jwt;
pub mod keys;
mod password;
pub mod tokens;

pub use hashing::{HashingPool, PoolBusy};
pub use password::{HashParams, HashingError, PasswordHash, PasswordHasher};
