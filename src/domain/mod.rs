//! Domain types: the values authd works with, each parsed once at the edge
//! (HTTP body, CLI argument, config file) so that an invalid one cannot exist
//! further in. Nothing here knows about HTTP, the CLI or SQL.

mod audit;
mod client;
mod email;
mod full_name;
mod password;
mod password_hash;
mod rate;
mod time;
mod user;

pub use audit::{login_failure, Actor, AuditEvent, EventType, Origin, Outcome};
pub use client::{ClientInfo, MAX_USER_AGENT_CHARS};
pub use email::{Email, EmailError};
pub use full_name::{FullName, FullNameError};
pub use password::{
    NewPassword, Password, PasswordRejected, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS,
};
pub use password_hash::{HashFloors, HashParams, PasswordHash};
pub use rate::{Rate, RateError};
pub use time::{now, rfc3339, Timestamp};
pub use user::{NewUser, User, UserId, UserRef, UserUpdate};
