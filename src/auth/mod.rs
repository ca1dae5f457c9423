//! Authentication services: password hashing now; JWT keys and the token
//! lifecycle join it with `authd serve`.

mod password;

pub use password::{HashParams, HashingError, PasswordHash, PasswordHasher};
