//! `Email::parse`, the one way an address enters authd: it never panics, and
//! what it accepts is already normalized (parsing it again changes nothing)
//! and safe for a mail header (no whitespace or control character).
#![no_main]

use authd::domain::Email;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(email) = Email::parse(text) else {
        return;
    };
    assert_eq!(Email::parse(email.as_str()).as_ref(), Ok(&email));
    assert!(!email
        .as_str()
        .chars()
        .any(|c| c.is_control() || c.is_whitespace()));
    assert_eq!(email.lowered(), email.as_str().to_lowercase());
    assert!(email.as_str().contains('@'));
});
