//! Where the signing keys come from: `jwt.keys` (HS256 secrets, or PEM key
//! files of EdDSA, ES256 and RS256 keys), then `secret_key` (`SECRET_KEY`,
//! as key id `default`): alone it signs; beside `jwt.keys` it is kept after
//! them, so it only signs while every `jwt.keys` entry is `next`, and the
//! tokens it signed keep verifying after a rotation away from it. With
//! neither, in development only, a key generated on first run into
//! `jwt.key_file` (mode 0600) and reused after. Outside development a
//! missing secret is a startup error.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};

use super::key_material::JwtKey;
use crate::config::{Config, KeyAlgorithm, KeyState, SigningKeyConfig};

/// Bytes of a generated secret (512 bits: HS256 wants at least 256).
pub const GENERATED_SECRET_BYTES: usize = 64;

/// The id of `SECRET_KEY`'s key: the configuration names it (and checks
/// that `jwt.keys` does not take it), the key set builds it.
pub use crate::config::SECRET_KEY_ID;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing secret: set SECRET_KEY or jwt.keys (`authd config check` shows the configuration); DEBUG=true allows a generated development key")]
    Missing,
    #[error("cannot use the development key file {path}: {message}")]
    KeyFile { path: String, message: String },
    #[error("{key}: {path}: {message}")]
    Configured {
        key: String,
        path: String,
        message: String,
    },
}

/// How the keys were obtained, so `serve` can warn about a generated one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Configured,
    SecretKey,
    Generated { path: String, created: bool },
}

/// Resolves the signing keys, reading key files; `development` allows the
/// generated key file. The configuration was validated: some key can sign.
pub fn signing_keys(
    config: &Config,
    development: bool,
) -> Result<(Vec<JwtKey>, KeySource), KeyError> {
    if !config.jwt.keys.is_empty() {
        let mut keys = config
            .jwt
            .keys
            .iter()
            .enumerate()
            .map(|(index, entry)| load(index, entry))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(key) = kept_secret_key(config) {
            keys.push(JwtKey::hs256(SECRET_KEY_ID, key.as_bytes()));
        }
        return Ok((keys, KeySource::Configured));
    }
    if config.secret_key.is_set() {
        let key = JwtKey::hs256(SECRET_KEY_ID, config.secret_key.expose().as_bytes());
        return Ok((vec![key], KeySource::SecretKey));
    }
    if !development {
        return Err(KeyError::Missing);
    }
    let path = &config.jwt.key_file;
    let (key, created) = load_or_create(path)?;
    Ok((
        vec![key],
        KeySource::Generated {
            path: path.display().to_string(),
            created,
        },
    ))
}

/// `SECRET_KEY`'s value when it is kept beside `jwt.keys` as key `default`
/// (not when a `jwt.keys` entry already carries it over under that id).
fn kept_secret_key(config: &Config) -> Option<&str> {
    let carried_over = config.jwt.keys.iter().any(|k| k.id == SECRET_KEY_ID);
    (config.secret_key.is_set() && !carried_over).then(|| config.secret_key.expose())
}

fn load(index: usize, entry: &SigningKeyConfig) -> Result<JwtKey, KeyError> {
    let key = match (&entry.private_key_file, &entry.public_key_file) {
        (Some(path), _) => {
            let at = format!("jwt.keys[{index}].private_key_file");
            let pem = read_private(path).map_err(|message| configured(&at, path, message))?;
            JwtKey::from_private_pem(&entry.id, entry.algorithm, &pem)
                .map_err(|e| configured(&at, path, e.to_string()))?
        }
        (None, Some(path)) => {
            let at = format!("jwt.keys[{index}].public_key_file");
            let pem = fs::read_to_string(path).map_err(|e| configured(&at, path, e.to_string()))?;
            JwtKey::from_public_pem(&entry.id, entry.algorithm, &pem)
                .map_err(|e| configured(&at, path, e.to_string()))?
        }
        (None, None) => JwtKey::hs256(&entry.id, entry.secret.expose().as_bytes()),
    };
    Ok(key.with_state(entry.state))
}

fn configured(key: &str, path: &Path, message: String) -> KeyError {
    KeyError::Configured {
        key: key.to_string(),
        path: path.display().to_string(),
        message,
    }
}

/// A private key file's text, refused when group or others may read or
/// write it (ssh refuses such keys too).
fn read_private(path: &Path) -> Result<zeroize::Zeroizing<String>, String> {
    let mode = fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {:04o} lets others read the private key: make it owner-only (chmod 600)",
            mode & 0o7777
        ));
    }
    fs::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| e.to_string())
}

/// What `key list` and `config check` show of one key (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySummary {
    pub id: String,
    pub algorithm: &'static str,
    pub state: KeyState,
    pub signs: bool,
    pub source: String,
}

/// The keys `serve` would use, in order, with which one signs and where
/// each comes from; reads no key file and never creates the development one.
pub fn configured_keys(config: &Config) -> Vec<KeySummary> {
    let mut keys: Vec<KeySummary> = config
        .jwt
        .keys
        .iter()
        .enumerate()
        .map(|(index, k)| KeySummary {
            id: k.id.clone(),
            algorithm: k.algorithm.name(),
            state: k.state,
            signs: false,
            source: match (&k.private_key_file, &k.public_key_file) {
                (Some(path), _) => format!("jwt.keys[{index}]: {}", path.display()),
                (None, Some(path)) => format!("jwt.keys[{index}]: {} (public)", path.display()),
                (None, None) => format!("jwt.keys[{index}]"),
            },
        })
        .collect();
    let secret_key = |keys: &mut Vec<KeySummary>| {
        keys.push(KeySummary {
            id: SECRET_KEY_ID.into(),
            algorithm: KeyAlgorithm::HS256.name(),
            state: KeyState::Active,
            signs: false,
            source: "secret_key (SECRET_KEY)".into(),
        })
    };
    if kept_secret_key(config).is_some() {
        secret_key(&mut keys);
    } else if keys.is_empty() {
        let existing = fs::read_to_string(&config.jwt.key_file)
            .ok()
            .and_then(|text| toml::from_str::<KeyFile>(&text).ok());
        if let Some(file) = existing {
            keys.push(KeySummary {
                id: file.id,
                algorithm: KeyAlgorithm::HS256.name(),
                state: KeyState::Active,
                signs: false,
                source: format!("development key file {}", config.jwt.key_file.display()),
            });
        }
    }
    let can_sign = |index: usize, key: &KeySummary| {
        key.state == KeyState::Active
            && config
                .jwt
                .keys
                .get(index)
                .is_none_or(|k| k.public_key_file.is_none() || k.private_key_file.is_some())
    };
    if let Some(index) = (0..keys.len()).find(|&i| can_sign(i, &keys[i])) {
        keys[index].signs = true;
    }
    keys
}

/// A new random HS256 secret for `jwt.keys` (base64url, 512 bits).
pub fn generate_secret() -> String {
    let secret: [u8; GENERATED_SECRET_BYTES] = std::array::from_fn(|_| rand::random());
    URL_SAFE_NO_PAD.encode(secret)
}

#[derive(Deserialize)]
struct KeyFile {
    id: String,
    secret: String,
}

fn load_or_create(path: &Path) -> Result<(JwtKey, bool), KeyError> {
    let fail = |message: String| KeyError::KeyFile {
        path: path.display().to_string(),
        message,
    };
    let created = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let id = format!("dev-{}", &super::jwt::new_id()[..8]);
            let secret = generate_secret();
            let text = format!(
                "# Development signing key generated by authd. Keep it secret; never use it in production.\nid = \"{id}\"\nsecret = \"{secret}\"\n",
            );
            file.write_all(text.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(fail(e.to_string())),
    };
    let text = fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let file: KeyFile =
        toml::from_str(&text).map_err(|_| fail("not an authd key file (id, secret)".into()))?;
    if file.secret.len() < 32 {
        return Err(fail("the secret is shorter than 32 bytes".into()));
    }
    Ok((JwtKey::hs256(&file.id, file.secret.as_bytes()), created))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::key_material::generate_private_pem;
    use crate::config::Secret;

    fn hs256(id: &str, secret: &str) -> SigningKeyConfig {
        SigningKeyConfig {
            id: id.into(),
            algorithm: KeyAlgorithm::HS256,
            secret: Secret::new(secret),
            private_key_file: None,
            public_key_file: None,
            state: KeyState::Active,
        }
    }

    fn ids(keys: &[JwtKey]) -> Vec<(&str, bool)> {
        keys.iter().map(|k| (k.id.as_str(), k.can_sign())).collect()
    }

    #[test]
    fn secret_key_alone_signs_as_default_and_beside_jwt_keys_verifies_only() {
        let mut config = Config {
            secret_key: Secret::new("s".repeat(40)),
            ..Default::default()
        };
        let (keys, source) = signing_keys(&config, false).unwrap();
        assert_eq!(
            (ids(&keys), source),
            (vec![("default", true)], KeySource::SecretKey)
        );
        config.jwt.keys = vec![hs256("k9", &"x".repeat(40))];
        let (keys, source) = signing_keys(&config, false).unwrap();
        assert_eq!(source, KeySource::Configured);
        assert_eq!(ids(&keys), [("k9", true), ("default", true)]);
        let summary = configured_keys(&config);
        assert_eq!(
            summary
                .iter()
                .map(|k| (k.id.as_str(), k.signs))
                .collect::<Vec<_>>(),
            [("k9", true), ("default", false)]
        );
        assert_eq!(summary[1].source, "secret_key (SECRET_KEY)");

        // Staged: a `next` key first leaves SECRET_KEY's key signing.
        config.jwt.keys[0].state = KeyState::Next;
        let summary = configured_keys(&config);
        assert_eq!(
            summary
                .iter()
                .map(|k| (k.id.as_str(), k.signs))
                .collect::<Vec<_>>(),
            [("k9", false), ("default", true)]
        );

        // Carried over under its own id: not added twice.
        config.jwt.keys = vec![hs256("default", &"s".repeat(40))];
        let (keys, _) = signing_keys(&config, false).unwrap();
        assert_eq!(ids(&keys), [("default", true)]);
    }

    #[test]
    fn private_key_files_must_be_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ed.pem");
        fs::write(
            &path,
            generate_private_pem(KeyAlgorithm::EdDSA)
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        let mut config = Config::default();
        config.jwt.keys = vec![SigningKeyConfig {
            algorithm: KeyAlgorithm::EdDSA,
            secret: Secret::default(),
            private_key_file: Some(path.clone()),
            ..hs256("ed", "")
        }];
        for mode in [0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let error = signing_keys(&config, false).unwrap_err().to_string();
            assert!(
                error.starts_with("jwt.keys[0].private_key_file: ") && error.contains("chmod 600"),
                "{error}"
            );
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let (keys, _) = signing_keys(&config, false).unwrap();
        assert_eq!(ids(&keys), [("ed", true)]);
        assert!(keys[0].public_jwk().is_some());
    }

    #[test]
    fn without_a_secret_only_development_generates_one_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.jwt.key_file = dir.path().join("authd.key");
        assert!(matches!(
            signing_keys(&config, false),
            Err(KeyError::Missing)
        ));
        assert!(configured_keys(&config).is_empty());
        let (first, source) = signing_keys(&config, true).unwrap();
        assert!(matches!(source, KeySource::Generated { created: true, .. }));
        let mode = fs::metadata(&config.jwt.key_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let (second, source) = signing_keys(&config, true).unwrap();
        assert!(matches!(
            source,
            KeySource::Generated { created: false, .. }
        ));
        assert_eq!(first[0].id, second[0].id);
        assert_eq!(configured_keys(&config)[0].id, first[0].id);
        // 512 random bits, base64url.
        let text = fs::read_to_string(&config.jwt.key_file).unwrap();
        assert!(text
            .lines()
            .any(|l| l.starts_with("secret = ") && l.len() >= 64 + 11));
    }
}
