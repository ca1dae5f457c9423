//! What a token says and what signing one gives back: the claims of an
//! authd token as API.md lists them (`token_type`, `exp`, `iat`, `jti`,
//! `sub`, `user_id` as SimpleJWT 5 writes it, `sid`, `iss`, `aud`), and why
//! a token is refused. Plain data; `jwt` signs and verifies.

use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{Timestamp, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of an authd token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub sub: String,
    /// The user id as a string, as SimpleJWT 5 emits it; a number is accepted too.
    #[serde(deserialize_with = "string_or_number")]
    pub user_id: String,
    pub sid: String,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    /// The user the token is for (`sub` and `user_id` agree; checked in `verify`).
    pub fn user(&self) -> UserId {
        self.sub
            .parse()
            .ok()
            .and_then(UserId::new)
            .expect("verified claims carry a valid user id")
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(i64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    })
}

/// Why a token was refused. The HTTP answer is the same for all
/// (`token_not_valid`); the reason is for debug logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token not valid: {0}")]
pub struct TokenError(pub &'static str);

/// A freshly signed token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    pub expires_at: Timestamp,
}
