//! Checks that span more than one value's type: URL schemes, key ids,
//! secret strength, argon2 parameters, templates. Each failure names the key
//! it is about; `load` adds where that key was set.

use std::collections::HashSet;

use super::{Config, KeyState, SigningKeyConfig};
use crate::domain::Email;

/// Shortest signing secret accepted outside development (HS256 wants at
/// least the hash's 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

type Failure = (String, String);

fn fail<T>(key: &str, message: impl Into<String>) -> Result<T, Failure> {
    Err((key.to_string(), message.into()))
}

pub fn validate(config: &Config) -> Result<(), Failure> {
    database(config)?;
    redis(config)?;
    http(config)?;
    jwt(config)?;
    legacy_simplejwt(config)?;
    password(config)?;
    throttle(config)?;
    reset_and_mail(config)?;
    audit(config)?;
    log(config)
}

fn database(config: &Config) -> Result<(), Failure> {
    let url = &config.database.url;
    match url.scheme().as_deref() {
        Some("sqlite") => {
            let path = url.expose().split_once("://").map_or("", |(_, p)| p);
            if path.is_empty() || path.contains(":memory:") {
                return fail("database.url", "a SQLite URL needs a file path, e.g. sqlite://authd.db or sqlite:///var/lib/authd/authd.db");
            }
        }
        Some("postgres" | "postgresql") => {}
        _ => {
            return fail(
                "database.url",
                format!("unsupported database URL {url}: expected sqlite://PATH or postgres://..."),
            )
        }
    }
    if !(1..=1000).contains(&config.database.pool_size) {
        return fail("database.pool_size", "must be between 1 and 1000");
    }
    if config.database.min_idle > config.database.pool_size {
        return fail(
            "database.min_idle",
            "must not be more than database.pool_size",
        );
    }
    if config.database.pool_timeout.is_zero() {
        return fail("database.pool_timeout", "must be more than 0s");
    }
    if config.database.connect_timeout.is_zero() {
        return fail("database.connect_timeout", "must be more than 0s");
    }
    Ok(())
}

fn redis(config: &Config) -> Result<(), Failure> {
    if let Some(url) = &config.redis.url {
        if let Err(reason) = crate::kv::Address::parse(url.expose(), config.redis.tls_insecure) {
            return fail(
                "redis.url",
                format!("unsupported Redis URL {url}: {reason}"),
            );
        }
        if let Some(path) = &config.redis.ca_file {
            if !path.is_file() {
                return fail(
                    "redis.ca_file",
                    format!("{} is not a readable file", path.display()),
                );
            }
        }
    }
    if config.redis.timeout.is_zero() {
        return fail("redis.timeout", "must be more than 0s");
    }
    Ok(())
}

fn http(config: &Config) -> Result<(), Failure> {
    let http = &config.http;
    if http.max_body_bytes < 256 {
        return fail("http.max_body_bytes", "must be at least 256");
    }
    if http.max_connections == 0 {
        return fail("http.max_connections", "must be at least 1");
    }
    for (key, value) in [
        ("http.header_read_timeout", http.header_read_timeout),
        ("http.idle_timeout", http.idle_timeout),
        ("http.request_timeout", http.request_timeout),
    ] {
        if value.is_zero() {
            return fail(key, "must be more than 0s");
        }
    }
    if http
        .allowed_hosts
        .iter()
        .any(|h| h.is_empty() || h.chars().any(|c| c.is_whitespace() || c == '/'))
    {
        return fail(
            "http.allowed_hosts",
            "each entry is a host name, `.domain` or `*`",
        );
    }
    for origin in &http.cors_allowed_origins {
        if !is_origin(origin) {
            return fail(
                "http.cors_allowed_origins",
                format!("{origin:?} is not an origin such as https://app.example.com"),
            );
        }
    }
    if let Some(url) = &http.public_url {
        if !is_origin(url.trim_end_matches('/')) {
            return fail(
                "http.public_url",
                format!("{url:?} is not an origin such as https://auth.example.com"),
            );
        }
    }
    let cookie_ok = !http.refresh_cookie.is_empty()
        && http
            .refresh_cookie
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !cookie_ok {
        return fail(
            "http.refresh_cookie",
            "a cookie name of letters, digits, '_', '-' or '.'",
        );
    }
    Ok(())
}

fn throttle(config: &Config) -> Result<(), Failure> {
    let throttle = &config.throttle;
    if !(100..=10_000_000).contains(&throttle.memory_windows) {
        return fail(
            "throttle.memory_windows",
            "must be between 100 and 10000000",
        );
    }
    if !(1..=128).contains(&throttle.ipv6_prefix) {
        return fail("throttle.ipv6_prefix", "a prefix length between 1 and 128");
    }
    Ok(())
}

fn jwt(config: &Config) -> Result<(), Failure> {
    let jwt = &config.jwt;
    if *jwt.revocation_cache_ttl > std::time::Duration::from_secs(1) {
        return fail(
            "jwt.revocation_cache_ttl",
            "must be at most 1s: revocations must reach every instance within a second",
        );
    }
    let mut ids = HashSet::new();
    for (index, key) in jwt.keys.iter().enumerate() {
        let at = format!("jwt.keys[{index}]");
        if key.id.is_empty()
            || !key
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return fail(
                &format!("{at}.id"),
                "a key id of letters, digits, '_', '-' or '.'",
            );
        }
        if !ids.insert(key.id.as_str()) {
            return fail(
                &format!("{at}.id"),
                format!("key id {:?} is used twice", key.id),
            );
        }
        key_material(&at, key, config.debug)?;
        if key.id == super::SECRET_KEY_ID
            && config.secret_key.is_set()
            && key.secret.expose() != config.secret_key.expose()
        {
            return fail(&format!("{at}.id"), "\"default\" is SECRET_KEY's key id: to carry SECRET_KEY's key over, give this entry SECRET_KEY's value as its secret (then unset SECRET_KEY when you like); otherwise choose another id");
        }
    }
    let signer = jwt.keys.iter().any(|k| {
        k.state == KeyState::Active && (k.secret.is_set() || k.private_key_file.is_some())
    });
    if !jwt.keys.is_empty() && !signer && !config.secret_key.is_set() {
        return fail("jwt.keys", "no key can sign: make one key state = \"active\" with a secret or private_key_file (`authd key rotate` activates the next key)");
    }
    if config.secret_key.is_set()
        && !config.debug
        && config.secret_key.expose().len() < MIN_SECRET_BYTES
    {
        return fail(
            "secret_key",
            format!("too short: at least {MIN_SECRET_BYTES} bytes outside development"),
        );
    }
    if jwt.access_ttl.is_zero() {
        return fail("jwt.access_ttl", "must be more than 0s");
    }
    if *jwt.refresh_ttl < *jwt.access_ttl {
        return fail("jwt.refresh_ttl", "must not be shorter than jwt.access_ttl");
    }
    if jwt.issuer.is_empty() {
        return fail("jwt.issuer", "must not be empty");
    }
    Ok(())
}

/// An entry has the material its algorithm needs, and nothing else.
fn key_material(at: &str, key: &SigningKeyConfig, debug: bool) -> Result<(), Failure> {
    let files = (
        key.private_key_file.is_some(),
        key.public_key_file.is_some(),
    );
    if key.algorithm.is_symmetric() {
        if files != (false, false) {
            return fail(&format!("{at}.algorithm"), "an HS256 key has a secret, not a key file: set algorithm = \"EdDSA\", \"ES256\" or \"RS256\" for a key file");
        }
        if !key.secret.is_set() {
            return fail(&format!("{at}.secret"), "must be set");
        }
        if !debug && key.secret.expose().len() < MIN_SECRET_BYTES {
            return fail(&format!("{at}.secret"), format!("too short: at least {MIN_SECRET_BYTES} bytes outside development (authd key generate makes one)"));
        }
        return Ok(());
    }
    if key.secret.is_set() {
        return fail(
            &format!("{at}.secret"),
            format!(
                "a {} key has a private_key_file or public_key_file, not a secret",
                key.algorithm.name()
            ),
        );
    }
    match files {
        (true, true) => fail(&format!("{at}.public_key_file"), "set private_key_file or public_key_file, not both (the public key comes from the private one)"),
        (false, false) => fail(&format!("{at}.private_key_file"), format!("a {} key needs private_key_file (to sign) or public_key_file (to verify only); `authd key generate --algorithm {}` makes one", key.algorithm.name(), key.algorithm.name().to_lowercase())),
        _ => Ok(()),
    }
}

fn password(config: &Config) -> Result<(), Failure> {
    config.hash_params().argon2().map_err(|e| {
        (
            "password".to_string(),
            format!("invalid argon2 parameters: {e}"),
        )
    })?;
    if config.password.hash_queue == 0 {
        return fail("password.hash_queue", "must be at least 1");
    }
    if !config.hash_params().at_least(&config.hash_floors().native) {
        return fail(
            "password.min_memory_kib",
            "password.memory_kib, iterations and parallelism must not be below password.min_memory_kib, min_iterations and min_parallelism: authd would refuse the hashes it writes",
        );
    }
    Ok(())
}

fn legacy_simplejwt(config: &Config) -> Result<(), Failure> {
    let legacy = &config.jwt.legacy_simplejwt;
    if !legacy.enabled {
        return Ok(());
    }
    if !legacy.secret_key.is_set() {
        return fail(
            "jwt.legacy_simplejwt.secret_key",
            "must be set when jwt.legacy_simplejwt.enabled is on: the Django service's SIGNING_KEY (by default its SECRET_KEY)",
        );
    }
    if legacy.user_id_claim.is_empty() {
        return fail("jwt.legacy_simplejwt.user_id_claim", "must not be empty");
    }
    Ok(())
}

fn reset_and_mail(config: &Config) -> Result<(), Failure> {
    if !config.reset.url_template.contains("{token}") {
        return fail("reset.url_template", "must contain {token}");
    }
    if config.reset.token_ttl.is_zero() {
        return fail("reset.token_ttl", "must be more than 0s");
    }
    if config.reset.workers == 0 {
        return fail("reset.workers", "must be at least 1");
    }
    if config.reset.poll_interval.is_zero() {
        return fail("reset.poll_interval", "must be more than 0s");
    }
    if config.reset.delivery_timeout.is_zero() {
        return fail("reset.delivery_timeout", "must be more than 0s");
    }
    if config.reset_store() == super::ResetStore::Redis && config.redis.url.is_none() {
        return fail("reset.store", "\"redis\" needs redis.url (REDIS_URL)");
    }
    let from = config.mail.from.trim();
    let address = match (from.rfind('<'), from.ends_with('>')) {
        (Some(start), true) => &from[start + 1..from.len() - 1],
        _ => from,
    };
    if from.chars().any(char::is_control) || Email::parse(address).is_err() {
        return fail(
            "mail.from",
            format!("{from:?} is not an address such as \"authd <noreply@example.com>\""),
        );
    }
    if config.mail.product_name.chars().any(char::is_control) {
        return fail("mail.product_name", "must not contain control characters");
    }
    Ok(())
}

/// `scheme://host[:port]` with scheme http or https and nothing after.
fn audit(config: &Config) -> Result<(), Failure> {
    if !(1..=1_000_000).contains(&config.audit.queue) {
        return fail("audit.queue", "must be between 1 and 1000000");
    }
    Ok(())
}

fn is_origin(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, host)| {
        matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
    })
}

fn log(config: &Config) -> Result<(), Failure> {
    let share = config.log.sample_successes;
    if !(0.0..=1.0).contains(&share) {
        return fail(
            "log.sample_successes",
            format!("{share} is not a share between 0.0 (no successes logged) and 1.0 (all)"),
        );
    }
    tracing_subscriber::EnvFilter::try_new(crate::logging::filter_directives(&config.log.level))
        .map(|_| ())
        .map_err(|e| {
            (
                "log.level".to_string(),
                format!("invalid filter {:?}: {e}", config.log.level),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyAlgorithm, Secret, SigningKeyConfig};

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

    #[test]
    fn defaults_are_valid() {
        assert_eq!(validate(&Config::default()), Ok(()));
    }

    #[test]
    fn short_secrets_are_refused_outside_development() {
        let mut config = Config::default();
        config.jwt.keys = vec![hs256("k1", "short")];
        assert_eq!(validate(&config).unwrap_err().0, "jwt.keys[0].secret");
        config.debug = true;
        assert_eq!(validate(&config), Ok(()));
    }

    #[test]
    fn each_key_has_the_material_of_its_algorithm() {
        let ed = |private: Option<&str>, public: Option<&str>, secret: &str| SigningKeyConfig {
            algorithm: KeyAlgorithm::EdDSA,
            private_key_file: private.map(Into::into),
            public_key_file: public.map(Into::into),
            ..hs256("ed", secret)
        };
        let secret = "s".repeat(40);
        for (key, failing) in [
            ("jwt.keys[0].private_key_file", ed(None, None, "")),
            ("jwt.keys[0].public_key_file", ed(Some("a"), Some("b"), "")),
            ("jwt.keys[0].secret", ed(Some("a"), None, &secret)),
            (
                "jwt.keys[0].algorithm",
                SigningKeyConfig {
                    private_key_file: Some("a".into()),
                    ..hs256("h", &secret)
                },
            ),
        ] {
            let mut config = Config::default();
            config.jwt.keys = vec![failing];
            assert_eq!(validate(&config).unwrap_err().0, key);
        }
        let mut config = Config::default();
        config.jwt.keys = vec![ed(Some("a"), None, ""), ed(None, Some("b"), "")];
        config.jwt.keys[1].id = "ed2".into();
        assert_eq!(validate(&config), Ok(()));
    }

    #[test]
    fn some_key_must_sign() {
        let mut config = Config::default();
        config.jwt.keys = vec![SigningKeyConfig {
            state: KeyState::Next,
            ..hs256("n", &"s".repeat(40))
        }];
        assert_eq!(validate(&config).unwrap_err().0, "jwt.keys");
        // SECRET_KEY's key signs until the next key is made active.
        config.secret_key = Secret::new("t".repeat(40));
        assert_eq!(validate(&config), Ok(()));
    }

    #[test]
    fn a_jwt_keys_default_other_than_secret_key_is_refused() {
        let mut config = Config {
            secret_key: Secret::new("t".repeat(40)),
            ..Default::default()
        };
        config.jwt.keys = vec![hs256("default", &"s".repeat(40))];
        let (key, message) = validate(&config).unwrap_err();
        assert_eq!(key, "jwt.keys[0].id");
        assert!(message.contains("SECRET_KEY's value"), "{message}");
        config.jwt.keys = vec![hs256("default", &"t".repeat(40))];
        assert_eq!(validate(&config), Ok(()), "carried over");
    }

    #[test]
    fn each_rule_names_its_key() {
        type Change = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "database.url",
                Box::new(|c| c.database.url = crate::config::ConnectionUrl::new("mysql://x")),
            ),
            (
                "database.url",
                Box::new(|c| {
                    c.database.url = crate::config::ConnectionUrl::new("sqlite://:memory:")
                }),
            ),
            (
                "reset.url_template",
                Box::new(|c| c.reset.url_template = "https://x/reset".into()),
            ),
            ("mail.from", Box::new(|c| c.mail.from = "nobody".into())),
            ("password", Box::new(|c| c.password.iterations = 0)),
            (
                "password.min_memory_kib",
                Box::new(|c| c.password.memory_kib = 8192),
            ),
            (
                "jwt.legacy_simplejwt.secret_key",
                Box::new(|c| c.jwt.legacy_simplejwt.enabled = true),
            ),
            ("log.level", Box::new(|c| c.log.level = "authd=loud".into())),
            (
                "log.sample_successes",
                Box::new(|c| c.log.sample_successes = 1.5),
            ),
            (
                "log.sample_successes",
                Box::new(|c| c.log.sample_successes = f64::NAN),
            ),
            (
                "throttle.memory_windows",
                Box::new(|c| c.throttle.memory_windows = 10),
            ),
            (
                "throttle.ipv6_prefix",
                Box::new(|c| c.throttle.ipv6_prefix = 129),
            ),
            (
                "jwt.revocation_cache_ttl",
                Box::new(|c| c.jwt.revocation_cache_ttl = crate::config::Duration::millis(1001)),
            ),
            (
                "http.cors_allowed_origins",
                Box::new(|c| c.http.cors_allowed_origins = vec!["app.example.com".into()]),
            ),
            (
                "http.public_url",
                Box::new(|c| c.http.public_url = Some("https://auth.example.com/login".into())),
            ),
            (
                "reset.store",
                Box::new(|c| c.reset.store = Some(crate::config::ResetStore::Redis)),
            ),
        ];
        for (key, change) in cases {
            let mut config = Config::default();
            change(&mut config);
            assert_eq!(validate(&config).unwrap_err().0, key);
        }
    }
}
