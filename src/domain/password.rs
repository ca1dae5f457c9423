//! Passwords as secrets, and the password policy of API.md in one place.
//!
//! [`Password`] is any candidate (what a login presents): it only wraps the
//! text so it cannot be printed or logged by accident. [`NewPassword`] is a
//! password that passed the policy, and the only kind that can be hashed for
//! storage, so every path that sets a password (register, change, reset,
//! `authd user create`, `set-password`) applies the same rules:
//!
//! - at least 8 characters and at most 1024 bytes;
//! - not entirely numeric;
//! - not a common password (zxcvbn's list of the 30,000 most used, matched
//!   case-insensitively, also reversed or in l33t spelling);
//! - not too similar to the email or full name (Django's rule: a
//!   character-overlap ratio of 0.7 or more against the attribute or any of
//!   its words).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use zxcvbn::matching::patterns::MatchPattern;

use super::{Email, FullName};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longer passwords are not looked up in the common list: none of its entries
/// is this long, and zxcvbn's matching grows quadratically with length.
const COMMON_CHECK_MAX_CHARS: usize = 64;
/// Django's `UserAttributeSimilarityValidator.DEFAULT_MAX_SIMILARITY`.
const MAX_SIMILARITY: f64 = 0.7;

/// A password as presented; never displayed.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn new(raw: impl Into<String>) -> Password {
        Password(SecretString::from(raw.into()))
    }

    /// The text, for hashing and verification only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A password that passed the policy for one account.
#[derive(Clone, Debug)]
pub struct NewPassword(Password);

/// The policy rules a password broke, each as a message safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .messages.join(" "))]
pub struct PasswordRejected {
    pub messages: Vec<String>,
}

impl NewPassword {
    /// Checks `password` against every rule for the account with this email
    /// and full name; reports all the rules it breaks.
    pub fn parse(
        password: Password,
        email: &Email,
        full_name: &FullName,
    ) -> Result<NewPassword, PasswordRejected> {
        let text = password.expose();
        let mut messages = Vec::new();
        let chars = text.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            messages.push(format!(
                "This password is too short. It must contain at least {MIN_PASSWORD_CHARS} characters."
            ));
        }
        if text.len() > MAX_PASSWORD_BYTES {
            messages.push(format!(
                "This password is too long. It must be at most {MAX_PASSWORD_BYTES} bytes."
            ));
        }
        if !text.is_empty() && text.chars().all(char::is_numeric) {
            messages.push("This password is entirely numeric.".to_string());
        }
        if (1..=COMMON_CHECK_MAX_CHARS).contains(&chars) && is_common(text) {
            messages.push("This password is too common.".to_string());
        }
        if text.len() <= MAX_PASSWORD_BYTES {
            for (attribute, value) in [("email", email.as_str()), ("full name", full_name.as_str())]
            {
                if too_similar(text, value) {
                    messages.push(format!("The password is too similar to the {attribute}."));
                }
            }
        }
        if messages.is_empty() {
            Ok(NewPassword(password))
        } else {
            Err(PasswordRejected { messages })
        }
    }

    pub fn password(&self) -> &Password {
        &self.0
    }
}

/// True when the whole password is one entry of zxcvbn's common-password list.
fn is_common(text: &str) -> bool {
    let entropy = zxcvbn::zxcvbn(text, &[]);
    let last = text.chars().count() - 1;
    match entropy.sequence() {
        [only] => {
            only.i == 0
                && only.j == last
                // zxcvbn does not export its dictionary enum, only its Debug
                // name; the unit tests below catch a rename.
                && matches!(&only.pattern, MatchPattern::Dictionary(d)
                    if format!("{:?}", d.dictionary_name) == "Passwords")
        }
        _ => false,
    }
}

/// Django's similarity rule: the password against the attribute and each of
/// its words, skipping words far shorter than the password.
fn too_similar(password: &str, attribute: &str) -> bool {
    let password = password.to_lowercase();
    let attribute = attribute.to_lowercase();
    if attribute.is_empty() {
        return false;
    }
    let password_len = password.chars().count();
    attribute
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .chain(std::iter::once(attribute.as_str()))
        .filter(|part| !part.is_empty())
        .filter(|part| {
            let part_len = part.chars().count();
            let much_shorter = password_len >= 10 * part_len
                && (part_len as f64) < MAX_SIMILARITY / 2.0 * password_len as f64;
            !much_shorter
        })
        .any(|part| quick_ratio(&password, part) >= MAX_SIMILARITY)
}

/// `difflib.SequenceMatcher.quick_ratio`: twice the size of the multiset
/// intersection of the two strings' characters over their total length.
fn quick_ratio(a: &str, b: &str) -> f64 {
    let mut available: std::collections::HashMap<char, usize> = std::collections::HashMap::new();
    for c in b.chars() {
        *available.entry(c).or_default() += 1;
    }
    let mut matches = 0usize;
    for c in a.chars() {
        if let Some(count) = available.get_mut(&c) {
            if *count > 0 {
                *count -= 1;
                matches += 1;
            }
        }
    }
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        0.0
    } else {
        2.0 * matches as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<NewPassword, PasswordRejected> {
        let email = Email::parse("ada.lovelace@example.com").unwrap();
        let name = FullName::parse("Ada Lovelace").unwrap();
        NewPassword::parse(Password::new(password), &email, &name)
    }

    fn messages(password: &str) -> Vec<String> {
        check(password).unwrap_err().messages
    }

    #[test]
    fn accepts_a_strong_password() {
        assert!(check("correct horse battery staple").is_ok());
        assert!(check("pT7#kq9!Lm").is_ok());
    }

    #[test]
    fn names_each_broken_rule() {
        assert_eq!(
            messages("x7#kq"),
            ["This password is too short. It must contain at least 8 characters."]
        );
        assert!(messages("12345678901").contains(&"This password is entirely numeric.".to_string()));
        assert_eq!(messages("password"), ["This password is too common."]);
        assert_eq!(messages("PassWord1"), ["This password is too common."]);
        assert_eq!(messages("qwertyuiop"), ["This password is too common."]);
        assert_eq!(
            messages("lovelace.ada"),
            [
                "The password is too similar to the email.",
                "The password is too similar to the full name."
            ]
        );
        assert!(messages(&"a".repeat(1025))
            .contains(&"This password is too long. It must be at most 1024 bytes.".to_string()));
    }

    #[test]
    fn counts_characters_not_bytes_for_the_minimum() {
        assert!(check("ééééééé").is_err());
        assert!(check("éàüöçñßø").is_ok());
    }

    #[test]
    fn a_long_password_that_merely_contains_a_common_word_is_fine() {
        assert!(check("password-is-not-the-whole-thing-here").is_ok());
    }

    #[test]
    fn quick_ratio_matches_difflib() {
        // difflib.SequenceMatcher(a="abcd", b="bcde").quick_ratio() == 0.75
        assert!((quick_ratio("abcd", "bcde") - 0.75).abs() < 1e-9);
        assert_eq!(quick_ratio("", ""), 0.0);
    }

    #[test]
    fn debug_never_shows_the_text() {
        let shown = format!("{:?}", Password::new("hunter2hunter2"));
        assert!(!shown.contains("hunter2"));
    }
}
