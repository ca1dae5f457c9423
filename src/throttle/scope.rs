//! The throttle scopes of API.md and whom each one counts: the client
//! network and email for login and password reset (so one address cannot
//! lock out a user everywhere, and one user cannot be hammered from one
//! address); the client network alone for registration, reset completion
//! and the per-client layers `login_ip` and `password_reset_ip` (so one
//! client spraying emails is stopped before any hashing); the user for
//! password change (the old password cannot be guessed without limit).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::ClientNet;
use crate::config::ThrottleRates;
use crate::domain::{Rate, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Login,
    PasswordReset,
    Registration,
    PasswordResetCompletion,
    LoginIp,
    PasswordResetIp,
    PasswordChange,
}

/// Who a scope counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// The client network.
    Client,
    /// The client network and the normalized email.
    ClientAndEmail,
    /// The authenticated user.
    User,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::Login,
        Scope::PasswordReset,
        Scope::Registration,
        Scope::PasswordResetCompletion,
        Scope::LoginIp,
        Scope::PasswordResetIp,
        Scope::PasswordChange,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Login => "login",
            Scope::PasswordReset => "password_reset",
            Scope::Registration => "registration",
            Scope::PasswordResetCompletion => "password_reset_completion",
            Scope::LoginIp => "login_ip",
            Scope::PasswordResetIp => "password_reset_ip",
            Scope::PasswordChange => "password_change",
        }
    }

    /// Its position in [`Scope::ALL`].
    pub fn index(self) -> usize {
        Scope::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn counts(self) -> Counts {
        match self {
            Scope::Login | Scope::PasswordReset => Counts::ClientAndEmail,
            Scope::PasswordChange => Counts::User,
            Scope::Registration
            | Scope::PasswordResetCompletion
            | Scope::LoginIp
            | Scope::PasswordResetIp => Counts::Client,
        }
    }

    /// Whether the identity includes the email.
    pub fn counts_email(self) -> bool {
        self.counts() == Counts::ClientAndEmail
    }

    /// This scope's configured rate.
    pub fn rate(self, rates: &ThrottleRates) -> Rate {
        match self {
            Scope::Login => rates.login,
            Scope::PasswordReset => rates.password_reset,
            Scope::Registration => rates.registration,
            Scope::PasswordResetCompletion => rates.password_reset_completion,
            Scope::LoginIp => rates.login_ip,
            Scope::PasswordResetIp => rates.password_reset_ip,
            Scope::PasswordChange => rates.password_change,
        }
    }

    /// The scope names, for messages: "login, password_reset, ... or password_change".
    pub fn names() -> String {
        let names: Vec<_> = Scope::ALL.iter().map(|s| s.name()).collect();
        let (last, rest) = names.split_last().expect("scopes exist");
        format!("{} or {last}", rest.join(", "))
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
        Scope::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| format!("unknown scope {text:?}: expected {}", Scope::names()))
    }
}

/// Who is being counted: the client network, and for some scopes the
/// email or the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub client: ClientNet,
    /// The email as the client sent it (normalized and hashed in the key).
    pub email: Option<String>,
    /// The authenticated user (password change).
    pub user: Option<UserId>,
}

impl Identity {
    /// A client known by its network only.
    pub fn client(client: ClientNet) -> Identity {
        Identity {
            client,
            email: None,
            user: None,
        }
    }

    /// The part of the key after `throttle_{scope}_`: the client network,
    /// then (for email scopes) a hash of the trimmed, lower-cased email, so
    /// keys never expose an address; or the user id.
    pub fn key_suffix(&self, scope: Scope) -> String {
        let mut suffix = String::with_capacity(80);
        self.write_key_suffix(scope, &mut suffix);
        suffix
    }

    /// [`key_suffix`](Self::key_suffix), appended to `key`: every refused
    /// request builds its keys, so no string is formatted on the way.
    fn write_key_suffix(&self, scope: Scope, key: &mut String) {
        use fmt::Write;
        match scope.counts() {
            Counts::Client => {
                let _ = write!(key, "{}", self.client);
            }
            Counts::ClientAndEmail => {
                let _ = write!(key, "{}", self.client);
                key.push('_');
                write_email_hash(self.email.as_deref().unwrap_or(""), key);
            }
            Counts::User => match self.user {
                Some(user) => {
                    let _ = write!(key, "{user}");
                }
                None => key.push_str("anonymous"),
            },
        }
    }
}

/// 16 bytes of sha256 over the normalized email, hex.
pub fn email_hash(email: &str) -> String {
    let mut hash = String::with_capacity(32);
    write_email_hash(email, &mut hash);
    hash
}

fn write_email_hash(email: &str, out: &mut String) {
    let email = email.trim();
    let mut sha = Sha256::new();
    sha.update(b"authd-throttle:");
    if email
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        sha.update(email.to_lowercase().as_bytes());
    } else {
        sha.update(email.as_bytes());
    }
    let mut hex = [0u8; 32];
    hex::encode_to_slice(&sha.finalize()[..16], &mut hex).expect("32 hex digits for 16 bytes");
    out.push_str(std::str::from_utf8(&hex).expect("hex is ASCII"));
}

/// `throttle_{scope}_{ident}`: the key of one window, without the Redis prefix.
pub fn window_key(scope: Scope, identity: &Identity) -> String {
    let mut key = String::with_capacity(96);
    key.push_str("throttle_");
    key.push_str(scope.name());
    key.push('_');
    identity.write_key_suffix(scope, &mut key);
    key
}

/// The parts of a window's ident, read back from its key (after
/// `throttle_{scope}_`); `None` when the ident is not of `scope`'s shape,
/// such as a `login_ip` key that a `throttle_login_*` pattern also matches.
pub fn parse_ident(scope: Scope, ident: &str) -> Option<(Option<ClientNet>, Option<UserId>)> {
    match scope.counts() {
        Counts::Client => Some((Some(ident.parse().ok()?), None)),
        Counts::ClientAndEmail => {
            let (client, hash) = ident.rsplit_once('_')?;
            let is_hash = hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            is_hash.then_some(())?;
            Some((Some(client.parse().ok()?), None))
        }
        Counts::User => Some((None, Some(UserId::new(ident.parse().ok()?)?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(email: Option<&str>) -> Identity {
        Identity {
            email: email.map(str::to_string),
            ..Identity::client(ClientNet::new("203.0.113.9".parse().unwrap(), 64))
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
        assert_eq!(
            window_key(Scope::LoginIp, &who(Some("x@y.z"))),
            "throttle_login_ip_203.0.113.9"
        );
        let user = Identity {
            user: UserId::new(42),
            ..who(None)
        };
        assert_eq!(
            window_key(Scope::PasswordChange, &user),
            "throttle_password_change_42"
        );
    }

    /// Windows already in Redis stay valid across upgrades: the hash is
    /// sha256("authd-throttle:" + lower-cased email), first 16 bytes, hex.
    #[test]
    fn the_email_hash_is_the_one_keys_were_written_with() {
        assert_eq!(
            email_hash(" Ada@Example.com "),
            "d0c387ba802a586dfab911c1fb13b5f0"
        );
        assert_eq!(
            email_hash("Émile@Exämple.com"),
            "84e044342cd2e809365d1407b2375429"
        );
        assert_eq!(
            window_key(Scope::Login, &who(Some("ada@example.com"))),
            "throttle_login_203.0.113.9_d0c387ba802a586dfab911c1fb13b5f0"
        );
    }

    #[test]
    fn scopes_parse_by_name() {
        for scope in Scope::ALL {
            assert_eq!(scope.name().parse::<Scope>(), Ok(scope));
            assert_eq!(Scope::ALL[scope.index()], scope);
        }
        let error = "everything".parse::<Scope>().unwrap_err();
        assert!(error.contains("login_ip, password_reset_ip or password_change"));
    }

    #[test]
    fn idents_are_told_apart_from_other_scopes_sharing_a_prefix() {
        let ada = who(Some("ada@example.com"));
        let login = window_key(Scope::Login, &ada);
        let ident = login.strip_prefix("throttle_login_").unwrap();
        assert!(parse_ident(Scope::Login, ident).is_some());
        // `throttle_login_*` also matches login_ip's keys: not a login window.
        let login_ip = window_key(Scope::LoginIp, &ada);
        assert_eq!(
            parse_ident(
                Scope::Login,
                login_ip.strip_prefix("throttle_login_").unwrap()
            ),
            None
        );
        let completion = window_key(Scope::PasswordResetCompletion, &ada);
        let reset_ident = completion.strip_prefix("throttle_password_reset_").unwrap();
        assert_eq!(parse_ident(Scope::PasswordReset, reset_ident), None);
        assert_eq!(
            parse_ident(Scope::PasswordChange, "42").unwrap().1,
            UserId::new(42)
        );
    }
}
