//! `FullName`: the optional display name of an account, at most 150
//! characters (the old service's limit), trimmed, without control characters
//! (so it can never break a mail header or a log line).

use std::fmt;

const MAX_CHARS: usize = 150;

/// A display name; may be empty.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FullName(String);

/// Why a string is not a [`FullName`]; safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullNameError {
    #[error("Ensure this field has no more than 150 characters.")]
    TooLong,
    #[error("This field may not contain control characters.")]
    ControlCharacter,
}

impl FullName {
    pub fn parse(raw: &str) -> Result<FullName, FullNameError> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > MAX_CHARS {
            return Err(FullNameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(FullNameError::ControlCharacter);
        }
        Ok(FullName(trimmed.to_string()))
    }

    /// A name read back from the store, which only ever holds parsed ones
    /// (or, for an import, names cut to the limit); not checked again.
    pub fn from_stored(stored: String) -> FullName {
        FullName(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FullName({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(FullName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert_eq!(FullName::parse("").unwrap().as_str(), "");
        assert!(FullName::parse(&"é".repeat(150)).is_ok());
        assert_eq!(
            FullName::parse(&"é".repeat(151)),
            Err(FullNameError::TooLong)
        );
    }

    #[test]
    fn refuses_control_characters() {
        for bad in ["Ada\r\nBcc: x@y.z", "Ada\u{0}", "A\tda", "A\u{1b}[31m"] {
            assert_eq!(
                FullName::parse(bad),
                Err(FullNameError::ControlCharacter),
                "{bad:?}"
            );
        }
    }
}
