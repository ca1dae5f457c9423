//! The configuration loader on a config file's text (`from_toml_str`): any
//! text gives a configuration or a one-line error, never a panic; and a
//! configuration it accepts can be written out (as `authd config check`
//! does) without any of its signing secrets.
#![no_main]

use authd::config::{from_toml_str, Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match from_toml_str(text) {
        Ok(config) => {
            let written = toml::to_string(&config).expect("a loaded config serializes");
            // Other secrets, written out, must give the very same text.
            let other = |secret: &Secret| match secret.is_set() {
                true => Secret::new(format!("not {}", secret.expose())),
                false => Secret::new(""),
            };
            let mut changed = config.clone();
            changed.secret_key = other(&config.secret_key);
            for key in &mut changed.jwt.keys {
                key.secret = other(&key.secret);
            }
            let rewritten = toml::to_string(&changed).expect("a config serializes");
            assert_eq!(written, rewritten, "a signing secret is written out");
        }
        Err(error) => assert!(!error.0.contains('\n'), "{error}"),
    }
});
