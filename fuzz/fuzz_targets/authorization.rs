//! The `Authorization` header as an authenticated request reads it:
//! `bearer_token`, then JWT verification with pinned algorithm and key ids,
//! as an access token, as a refresh token and as either (`token/verify`).
//! Nothing the fuzzer writes may verify, since it does not know the key.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use authd::auth::jwt::{JwtKeys, TokenSettings, TokenType};
use authd::auth::key_material::JwtKey;
use authd::http::bearer_token;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use libfuzzer_sys::fuzz_target;

/// The key of the seed corpus's tokens (`fuzz/corpus/authorization`).
const SECRET: &[u8] = b"fuzz-signing-secret-of-at-least-32-bytes";

fn keys() -> &'static JwtKeys {
    static KEYS: OnceLock<JwtKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = JwtKey::hs256("fuzz", SECRET);
        let settings = TokenSettings {
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(7 * 86400),
            issuer: "authd".into(),
            audience: None,
            leeway: Duration::from_secs(0),
        };
        JwtKeys::new(vec![key], settings)
    })
}

fuzz_target!(|header: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(header) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    let Ok(token) = bearer_token(&headers) else {
        return;
    };
    for expected in [Some(TokenType::Access), Some(TokenType::Refresh), None] {
        if let Ok(claims) = keys().verify(token, expected) {
            // Only a seed token (signed with SECRET) can get here, unchanged.
            assert!(claims.iss == "authd", "{claims:?}");
        }
        let _ = keys().verify_any_age(token, expected);
    }
});
