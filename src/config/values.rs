//! Value types of the config file: durations written like `"10s"`, secrets
//! that never print, and connection URLs whose password never prints.

use std::{fmt, ops::Deref, time::Duration as StdDuration};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret shows instead of itself.
pub const REDACTED: &str = "[redacted]";

/// A duration written as humantime text: `"250ms"`, `"10s"`, `"15m"`, `"7d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub StdDuration);

impl Duration {
    pub const fn secs(secs: u64) -> Duration {
        Duration(StdDuration::from_secs(secs))
    }

    pub const fn millis(millis: u64) -> Duration {
        Duration(StdDuration::from_millis(millis))
    }
}

impl Deref for Duration {
    type Target = StdDuration;
    fn deref(&self) -> &StdDuration {
        &self.0
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_zero() {
            return serializer.serialize_str("0s");
        }
        serializer.collect_str(&humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let raw = String::deserialize(deserializer)?;
        humantime::parse_duration(raw.trim())
            .map(Duration)
            .map_err(|_| serde::de::Error::custom(format!("invalid duration {raw:?}: expected a duration such as \"250ms\", \"10s\", \"15m\", \"7d\"")))
    }
}

/// A secret string (signing keys, SMTP password). Empty means unset.
/// Serializes as `[redacted]`, so printing the config cannot leak it.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        if value.is_empty() {
            Secret(None)
        } else {
            Secret(Some(SecretString::from(value)))
        }
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The secret text ("" when unset), for the code that uses it only.
    pub fn expose(&self) -> &str {
        self.0.as_ref().map_or("", |s| s.expose_secret())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { REDACTED } else { "\"\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.is_set() { REDACTED } else { "" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// A connection URL (`postgres://user:pass@host/db`, `redis://...`) whose
/// password is replaced by `[redacted]` whenever it is shown.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionUrl(String);

impl ConnectionUrl {
    pub fn new(url: impl Into<String>) -> ConnectionUrl {
        ConnectionUrl(url.into())
    }

    /// The real URL, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme, lower-cased (`postgres`, `sqlite`, `redis`).
    pub fn scheme(&self) -> Option<String> {
        self.0
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
    }

    /// The URL with any password in its authority replaced.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:{REDACTED}@{host}{tail}"),
                None => self.0.clone(),
            },
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for ConnectionUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for ConnectionUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ConnectionUrl, D::Error> {
        String::deserialize(deserializer).map(ConnectionUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_hide_only_the_password() {
        let url =
            ConnectionUrl::new("postgres://app:s3cr3t@db.internal:5432/authd?sslmode=require");
        assert_eq!(
            url.redacted(),
            "postgres://app:[redacted]@db.internal:5432/authd?sslmode=require"
        );
        assert_eq!(
            format!("{url:?}"),
            "\"postgres://app:[redacted]@db.internal:5432/authd?sslmode=require\""
        );
        assert_eq!(
            ConnectionUrl::new("redis://127.0.0.1:6379/0").redacted(),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(
            ConnectionUrl::new("postgres://app@h/db").redacted(),
            "postgres://app@h/db"
        );
        assert_eq!(
            ConnectionUrl::new("sqlite://authd.db").scheme().as_deref(),
            Some("sqlite")
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2hunter2");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
        assert_eq!(secret.expose(), "hunter2hunter2");
        assert!(!Secret::new("").is_set());
    }

    #[test]
    fn durations_read_and_write_humantime() {
        let d: Duration = serde_json::from_str("\"15m\"").unwrap();
        assert_eq!(*d, StdDuration::from_secs(900));
        assert_eq!(serde_json::to_string(&Duration::secs(0)).unwrap(), "\"0s\"");
        assert!(serde_json::from_str::<Duration>("\"soon\"").is_err());
    }
}
