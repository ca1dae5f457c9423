//! A password-reset token: 32 bytes from the OS CSPRNG, base64url without
//! padding (43 characters), as Python's `secrets.token_urlsafe(32)` makes
//! them. Only its sha256 is ever stored; `Debug` never shows it.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
/// Characters of an encoded token.
pub const TOKEN_CHARS: usize = 43;

#[derive(Clone, PartialEq, Eq)]
pub struct ResetToken(String);

impl ResetToken {
    pub fn generate() -> ResetToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        ResetToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as a client presents it; `None` unless it has the shape of one.
    pub fn parse(text: &str) -> Option<ResetToken> {
        let shaped = text.len() == TOKEN_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD
                .decode(text)
                .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES);
        shaped.then(|| ResetToken(text.to_string()))
    }

    /// The text, for the emailed link only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// sha256 of the token, lowercase hex: what the stores keep.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_unique() {
        let a = ResetToken::generate();
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert_eq!(ResetToken::parse(a.expose()), Some(a.clone()));
        assert_ne!(a, ResetToken::generate());
        assert_eq!(a.digest().len(), 64);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn only_token_shaped_text_parses() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"+".repeat(43),
        ] {
            assert_eq!(ResetToken::parse(bad), None, "{bad:?}");
        }
    }
}
