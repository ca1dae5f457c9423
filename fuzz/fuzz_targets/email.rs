//! `Email::parse`, the one way an address enters authd: it never panics,
//! what it accepts is already normalized (parsing it again changes nothing)
//! and safe for a mail header (no whitespace or control character), and its
//! uniqueness key is stable.
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
    // The uniqueness key: the local part lower-cased, the domain in its
    // IDNA form, and it is its own key (an address and its punycode
    // spelling are one account).
    let key = email.lowered();
    let local = email.local_part().to_lowercase();
    assert!(key.starts_with(&format!("{local}@")), "{key}");
    if let Ok(again) = Email::parse(&key) {
        assert_eq!(again.lowered(), key);
    }
    assert!(email.as_str().contains('@'));
});
