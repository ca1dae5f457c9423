//! `Email`: an address that passed the same checks Django's `EmailValidator`
//! applies (ASCII dot-atom local part, a domain of letter/digit labels, IDN
//! allowed), trimmed, with its domain lower-cased. The local part keeps the
//! case it was given; uniqueness uses [`Email::lowered`], the whole address
//! lower-cased with the domain in its IDNA (punycode) form, so `Ada@x.org`
//! and `ada@X.org` are one account, and so are `idn@bücher.de` and
//! `idn@xn--bcher-kva.de`.

use std::fmt;

/// Longest address accepted, in characters (Django's `EmailField`).
const MAX_CHARS: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL_CHARS: usize = 64;
/// Longest domain label (RFC 1035).
const MAX_LABEL_CHARS: usize = 63;

/// A valid, normalized email address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an [`Email`]; the message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("This field may not be blank.")]
    Empty,
    #[error("Ensure this field has no more than 254 characters.")]
    TooLong,
    #[error("Enter a valid email address.")]
    Invalid,
}

impl Email {
    /// Trims, validates and normalizes `raw`.
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Invalid)?;
        // Checked once lower-cased, as stored: some capitals lower-case to
        // more than a letter (`İ` to `i` + U+0307), and an address that is
        // stored must parse again.
        let domain = domain.to_lowercase();
        if !valid_local_part(local) || !valid_domain(&domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Email(format!("{local}@{domain}")))
    }

    /// An address read back from the store, which only ever holds parsed
    /// ones. Not checked again: a rule added later must never lock an
    /// existing account out (the store's unique key stays as written).
    pub fn from_stored(stored: String) -> Email {
        Email(stored)
    }

    /// The address as it is stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The whole address lower-cased, the domain in its IDNA (ASCII) form:
    /// the key that makes emails unique.
    pub fn lowered(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let local = local.to_lowercase();
        if domain.is_ascii() {
            return format!("{local}@{domain}");
        }
        // A domain UTS 46 refuses (rare: it passed Django's checks) keeps
        // its Unicode form; it is still one key per spelling.
        match idna::domain_to_ascii(domain) {
            Ok(ascii) => format!("{local}@{ascii}"),
            Err(_) => format!("{local}@{domain}"),
        }
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(local, _)| local)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.0)
    }
}

/// Dot-atom of RFC 5322 `atext`, ASCII only (as Django): no leading,
/// trailing or doubled dot.
fn valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local.chars().count() <= MAX_LOCAL_CHARS
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
        })
}

/// Two or more labels of letters (any script), digits and inner hyphens; a
/// top-level label that is not all digits. `localhost` is allowed alone, as
/// Django allows it.
fn valid_domain(domain: &str) -> bool {
    if domain.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        let count = label.chars().count();
        (1..=MAX_LABEL_CHARS).contains(&count)
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|tld| tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
    labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idn_domains_are_keyed_in_their_ascii_form() {
        let unicode = Email::parse("Idn@Bücher.DE").unwrap();
        let ascii = Email::parse("idn@XN--BCHER-KVA.de").unwrap();
        assert_eq!(unicode.as_str(), "Idn@bücher.de");
        assert_eq!(unicode.lowered(), "idn@xn--bcher-kva.de");
        assert_eq!(ascii.lowered(), unicode.lowered());
    }

    #[test]
    fn trims_and_lowercases_only_the_domain() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "Ada.Lovelace@example.com");
        assert_eq!(email.lowered(), "ada.lovelace@example.com");
        assert_eq!(email.local_part(), "Ada.Lovelace");
    }

    #[test]
    fn accepts_common_and_international_forms() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'brien@example.ie",
            "user@bücher.de",
            "root@localhost",
            "x@xn--bcher-kva.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a@example-.com",
            "a@example",
            "a@example.123",
            "a@example..com",
            "a\r\nBcc: x@evil.com@example.com",
            "a@example.com\r\nBcc: x@evil.com",
            "a\u{0}@example.com",
            "\u{430}da@example.com", // Cyrillic a: the local part is ASCII only
            "\"quoted\"@example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn what_it_stores_parses_again() {
        // Found by the email fuzz target: `İ` lower-cases to `i` + U+0307.
        assert_eq!(
            Email::parse("a@\u{430}.\u{130}\u{430}"),
            Err(EmailError::Invalid)
        );
        for raw in [
            "Ada@Example.COM",
            "ada@EXÄMPLE.com",
            "ada@\u{420}\u{424}.\u{420}\u{424}",
        ] {
            let email = Email::parse(raw).unwrap();
            assert_eq!(Email::parse(email.as_str()), Ok(email));
        }
    }

    #[test]
    fn rejects_blank_and_overlong() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long_local), Err(EmailError::Invalid));
    }
}
