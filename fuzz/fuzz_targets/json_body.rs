//! Request bodies as every handler reads them: `parse_json_object` (one
//! object, unique keys), then the fields of each endpoint through `Fields`,
//! then the domain types; any refusal must render as problem+json.
#![no_main]

use authd::domain::{Email, FullName};
use authd::http::{parse_json_object, Fields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let map = match parse_json_object(body) {
        Ok(map) => map,
        Err(error) => {
            let _ = error.into_response();
            return;
        }
    };
    let mut fields = Fields::new(map);
    if let Some(email) = fields.string("email") {
        if let Ok(email) = Email::parse(&email) {
            assert_eq!(Email::parse(email.as_str()).as_ref(), Ok(&email));
        }
    }
    let _ = fields.secret("password");
    if let Some(name) = fields.optional_string("full_name") {
        let _ = FullName::parse(&name);
    }
    let _ = fields.optional_string("refresh");
    if let Err(error) = fields.finish() {
        let _ = error.into_response();
    }
});
