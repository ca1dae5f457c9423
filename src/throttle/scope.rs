//! The four throttle scopes of API.md and whom each one counts: the client
//! IP and email for login and password reset (so one address cannot lock
//! out a user everywhere, and one user cannot be hammered from one address),
//! the client IP alone for registration and reset completion.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::config::ThrottleRates;
use crate::domain::Rate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Login,
    PasswordReset,
    Registration,
    PasswordResetCompletion,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Login,
        Scope::PasswordReset,
        Scope::Registration,
        Scope::PasswordResetCompletion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Login => "login",
            Scope::PasswordReset => "password_reset",
            Scope::Registration => "registration",
            Scope::PasswordResetCompletion => "password_reset_completion",
        }
    }

    /// Whether the identity includes the email.
    pub fn counts_email(self) -> bool {
        matches!(self, Scope::Login | Scope::PasswordReset)
    }

    /// This scope's configured rate.
    pub fn rate(self, rates: &ThrottleRates) -> Rate {
        match self {
            Scope::Login => rates.login,
            Scope::PasswordReset => rates.password_reset,
            Scope::Registration => rates.registration,
            Scope::PasswordResetCompletion => rates.password_reset_completion,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(text: &str) -> Result<Scope, String> {
        Scope::ALL.into_iter().find(|s| s.name() == text).ok_or_else(|| {
            format!("unknown scope {text:?}: expected login, password_reset, registration or password_reset_completion")
        })
    }
}

/// Who is being counted: the client IP, and for some scopes the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub ip: IpAddr,
    /// The email as the client sent it (normalized and hashed in the key).
    pub email: Option<String>,
}

impl Identity {
    /// The part of the key after `throttle_{scope}_`: the IP, then (for
    /// email scopes) a hash of the trimmed, lower-cased email, so keys never
    /// expose an address.
    pub fn key_suffix(&self, scope: Scope) -> String {
        if scope.counts_email() {
            let email = self.email.as_deref().unwrap_or("");
            format!("{}_{}", self.ip, email_hash(email))
        } else {
            self.ip.to_string()
        }
    }
}

/// 16 bytes of sha256 over the normalized email, hex.
pub fn email_hash(email: &str) -> String {
    let normalized = email.trim().to_lowercase();
    hex::encode(&Sha256::digest(format!("authd-throttle:{normalized}").as_bytes())[..16])
}

/// `throttle_{scope}_{ident}`: the key of one window, without the Redis prefix.
pub fn window_key(scope: Scope, identity: &Identity) -> String {
    format!("throttle_{}_{}", scope.name(), identity.key_suffix(scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(email: Option<&str>) -> Identity {
        Identity {
            ip: "203.0.113.9".parse().unwrap(),
            email: email.map(str::to_string),
        }
    }

    #[test]
    fn keys_hash_the_email_and_normalize_it_first() {
        let key = window_key(Scope::Login, &who(Some(" Ada@Example.com ")));
        assert_eq!(key, window_key(Scope::Login, &who(Some("ada@example.com"))));
        assert!(key.starts_with("throttle_login_203.0.113.9_") && !key.contains("ada"));
        assert_ne!(key, window_key(Scope::Login, &who(Some("bob@example.com"))));
        assert_eq!(
            window_key(Scope::Registration, &who(Some("x@y.z"))),
            "throttle_registration_203.0.113.9"
        );
    }

    #[test]
    fn scopes_parse_by_name() {
        for scope in Scope::ALL {
            assert_eq!(scope.name().parse::<Scope>(), Ok(scope));
        }
        assert!("everything".parse::<Scope>().is_err());
    }
}
