//! One Django user row, as a source read it, and its mapping into an
//! [`ImportedUser`]: email and name parsed into domain types, the password
//! hash checked to be a format authd verifies, the id kept. A row that
//! cannot be imported becomes a [`Rejected`] with the reason.

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;

use crate::auth::legacy_hash::LegacyHash;
use crate::domain::PasswordHash;
use crate::domain::{Email, FullName, Timestamp, UserId};
use crate::store::ImportedUser;

/// A user row as read from Django, before any check.
#[derive(Clone)]
pub struct DjangoUser {
    pub id: i64,
    pub email: String,
    /// Django's encoded hash (`pbkdf2_sha256$...`, `!...` when unusable).
    pub password: String,
    /// `full_name`, or `first_name last_name`.
    pub full_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: Option<Timestamp>,
    pub last_login: Option<Timestamp>,
}

impl std::fmt::Debug for DjangoUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DjangoUser(id {}, [redacted])", self.id)
    }
}

/// A row left out of the import, and why. Never quotes a password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The row's id (`pk`) as the source had it, or its position.
    pub row: String,
    pub reason: String,
}

impl Rejected {
    pub fn new(id: impl std::fmt::Display, reason: impl Into<String>) -> Rejected {
        Rejected {
            row: format!("id {id}"),
            reason: reason.into(),
        }
    }
}

/// `full_name` when the table has one, else first and last name joined.
pub fn compose_name(full: Option<&str>, first: Option<&str>, last: Option<&str>) -> String {
    match full {
        Some(full) => full.to_string(),
        None => [first.unwrap_or(""), last.unwrap_or("")]
            .iter()
            .map(|part| part.trim())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A datetime as Django writes it: RFC 3339 (dumpdata, `...Z`), or naive
/// UTC (`2026-11-24 23:50:53.174262`, SQLite with `USE_TZ`).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let text = text.replacen('T', " ", 1);
    let text = text.trim_end_matches('Z');
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| {
        chrono::DateTime::parse_from_str(text, format)
            .map(|at| at.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(text, format)
                    .ok()
                    .map(|naive| naive.and_utc())
            })
    })
}

/// Maps a row, or says why it cannot be imported. `now` stands in for a
/// missing `date_joined`.
pub fn map_user(raw: DjangoUser, now: Timestamp) -> Result<ImportedUser, Rejected> {
    let reject = |reason: String| Rejected::new(raw.id, reason);
    let id =
        UserId::new(raw.id).ok_or_else(|| reject("the id is not a positive integer".into()))?;
    let email = Email::parse(&raw.email).map_err(|e| reject(format!("invalid email: {e}")))?;
    let password_hash = if raw.password.is_empty() || raw.password.starts_with('!') {
        // Django's unusable password: the account imports, and can log in
        // after a password reset. An empty one never verified in Django either.
        PasswordHash::unusable()
    } else {
        LegacyHash::parse(&raw.password).map_err(|e| reject(e.to_string()))?;
        PasswordHash::from_stored(raw.password.clone())
    };
    Ok(ImportedUser {
        id,
        email,
        full_name: full_name(&raw.full_name),
        password_hash,
        is_active: raw.is_active,
        is_staff: raw.is_staff,
        is_superuser: raw.is_superuser,
        date_joined: raw.date_joined.unwrap_or(now),
        last_login: raw.last_login,
    })
}

/// The name, cut to authd's 150 characters and without control characters
/// (Django's first + last name can hold 300): an account is not worth
/// rejecting for its display name.
fn full_name(raw: &str) -> FullName {
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cut: String = cleaned.trim().chars().take(150).collect();
    FullName::parse(&cut).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DjangoUser {
        DjangoUser {
            id: 7,
            email: "Ada@Example.COM".into(),
            password: "pbkdf2_sha256$1000$YESvtmj05S9229waCNEUJx$HLF04ICcbNaKwi/AcQ3g95bYzK5NppGRYBl+VyemEZ4=".into(),
            full_name: "Ada Lovelace".into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: parse_time("2020-01-02 03:04:05.678901"),
            last_login: None,
        }
    }

    #[test]
    fn a_django_row_maps_with_its_id_and_hash() {
        let user = map_user(row(), crate::domain::now()).unwrap();
        assert_eq!(user.id.get(), 7);
        assert_eq!(user.email.as_str(), "Ada@example.com");
        assert!(user
            .password_hash
            .as_str()
            .starts_with("pbkdf2_sha256$1000$"));
        assert_eq!(
            user.date_joined.to_rfc3339(),
            "2020-01-02T03:04:05.678901+00:00"
        );
    }

    #[test]
    fn unusable_passwords_import_and_bad_rows_are_rejected_with_a_reason() {
        for password in ["!abcdefghij", ""] {
            let user = map_user(
                DjangoUser {
                    password: password.into(),
                    ..row()
                },
                crate::domain::now(),
            )
            .unwrap();
            assert!(!user.password_hash.is_usable());
        }
        let cases = [
            (
                DjangoUser { id: 0, ..row() },
                "the id is not a positive integer",
            ),
            (
                DjangoUser {
                    email: "nobody".into(),
                    ..row()
                },
                "invalid email",
            ),
            (
                DjangoUser {
                    password: "md5$salt$abc".into(),
                    ..row()
                },
                "unsupported password hash algorithm \"md5\"",
            ),
            (
                DjangoUser {
                    password: "pbkdf2_sha256$1000$salt".into(),
                    ..row()
                },
                "malformed pbkdf2_sha256 password hash",
            ),
        ];
        for (raw, reason) in cases {
            let rejected = map_user(raw, crate::domain::now()).unwrap_err();
            assert!(rejected.reason.starts_with(reason), "{rejected:?}");
            assert!(!rejected.reason.contains("salt"));
        }
    }

    #[test]
    fn names_and_times_come_in_django_shapes() {
        assert_eq!(
            compose_name(None, Some(" Ada "), Some("Lovelace")),
            "Ada Lovelace"
        );
        assert_eq!(compose_name(None, Some(""), None), "");
        assert_eq!(compose_name(Some("A L"), Some("x"), None), "A L");
        let long = map_user(
            DjangoUser {
                full_name: "x".repeat(300),
                ..row()
            },
            crate::domain::now(),
        )
        .unwrap();
        assert_eq!(long.full_name.as_str().len(), 150);
        for text in [
            "2026-11-24T23:50:53.174Z",
            "2026-11-24 23:50:53.174",
            "2026-11-24T23:50:53.174+00:00",
            "2026-11-25 00:50:53.174+01:00",
        ] {
            assert_eq!(
                parse_time(text).unwrap().to_rfc3339(),
                "2026-11-24T23:50:53.174+00:00",
                "{text}"
            );
        }
        assert!(parse_time("yesterday").is_none());
    }
}
