//! Accounts: [`User`] as stored, [`NewUser`] and [`UserUpdate`] as the
//! inputs that create and change one, [`UserRef`] for "ID or email" arguments.

use std::fmt;

use super::{Email, EmailError, FullName, Timestamp};

/// A user's id: a positive integer, as in the old service (token `user_id`s
/// carry it, so imports keep it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(i64);

impl UserId {
    /// `None` unless `id` is positive.
    pub fn new(id: i64) -> Option<UserId> {
        (id > 0).then_some(UserId(id))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::str::FromStr for UserId {
    type Err = String;

    fn from_str(text: &str) -> Result<UserId, String> {
        text.parse::<i64>()
            .ok()
            .and_then(UserId::new)
            .ok_or_else(|| format!("{text:?} is not a user id (a positive integer)"))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An account as stored (the password hash is fetched separately, only by
/// the paths that verify it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub full_name: FullName,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: Timestamp,
    pub last_login: Option<Timestamp>,
    /// Tokens issued before this instant are no longer accepted.
    pub tokens_valid_after: Timestamp,
}

/// Everything needed to create an account; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub full_name: FullName,
    pub password_hash: crate::domain::PasswordHash,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: Timestamp,
}

/// A partial change of an account's profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub full_name: Option<FullName>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
}

/// How an admin names an account: its id or its email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(UserId),
    Email(Email),
}

impl UserRef {
    /// A string of digits is an id; anything else must be an email.
    pub fn parse(raw: &str) -> Result<UserRef, EmailError> {
        let trimmed = raw.trim();
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return trimmed
                .parse::<i64>()
                .ok()
                .and_then(UserId::new)
                .map(UserRef::Id)
                .ok_or(EmailError::Invalid);
        }
        Email::parse(trimmed).map(UserRef::Email)
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserRef::Id(id) => write!(f, "id {id}"),
            UserRef::Email(email) => write!(f, "{email}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_an_id_and_the_rest_an_email() {
        assert_eq!(
            UserRef::parse("42"),
            Ok(UserRef::Id(UserId::new(42).unwrap()))
        );
        assert!(matches!(
            UserRef::parse("ada@example.com"),
            Ok(UserRef::Email(_))
        ));
        assert!(UserRef::parse("0").is_err());
        assert!(UserRef::parse("99999999999999999999").is_err());
        assert!(UserRef::parse("nobody").is_err());
    }
}
