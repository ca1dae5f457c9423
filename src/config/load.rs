//! Builds a [`Config`] from its layers, later ones winning:
//!
//! 1. the defaults of `Config::default()`;
//! 2. a TOML file: `--config PATH`, else `$AUTHD_CONFIG`, else `./authd.toml`
//!    when it exists;
//! 3. the environment: the names operators of the old service know
//!    (`DATABASE_URL`, `REDIS_URL`, `SECRET_KEY`, `DEBUG`, `ALLOWED_HOSTS`),
//!    then `AUTHD_<SECTION>__<KEY>` (`AUTHD_THROTTLE__RATES__LOGIN=10/minute`)
//!    for every other key;
//! 4. command-line flags such as `serve --bind`;
//! 5. `$PORT` (as Railway, Heroku and Cloud Run set it), only when no layer
//!    above set `http.bind`: then `http.bind` is `0.0.0.0:$PORT`.
//!
//! All layers are merged into one TOML table and deserialized once, while a
//! record of which layer set each key lets every error name the key and where
//! it came from: "http.max_body_bytes (environment variable
//! AUTHD_HTTP__MAX_BODY_BYTES): invalid type: ...". Environment values are
//! typed by the key's default: a string key takes the text as it is, a list
//! takes `a,b,c` (or a TOML array), anything else is read as a TOML value.

use std::{
    collections::BTreeMap,
    fmt, fs,
    path::{Path, PathBuf},
};

use super::environment::{env_settings, platform_port};
use super::{validate, Config};

/// Where a setting came from, for error messages and `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Env(String),
    Flag(&'static str),
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "config file {}", path.display()),
            ConfigSource::Env(name) => write!(f, "environment variable {name}"),
            ConfigSource::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A setting given by a command-line flag.
#[derive(Debug, Clone)]
pub struct FlagOverride {
    /// The dotted key, e.g. `http.bind`.
    pub key: &'static str,
    pub value: toml::Value,
    /// The flag as the user typed it, e.g. `--bind`.
    pub flag: &'static str,
}

/// The inputs of [`load`]; the environment is passed in so tests need not
/// touch the process's.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config PATH`.
    pub file: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub flags: Vec<FlagOverride>,
}

impl LoadOptions {
    /// Options reading this process's environment (variables that are not
    /// valid UTF-8 cannot be settings and are skipped).
    pub fn from_process(file: Option<PathBuf>, flags: Vec<FlagOverride>) -> LoadOptions {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        LoadOptions { file, env, flags }
    }
}

/// A configuration error: one line naming the key, file or variable at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The loaded configuration and the file it was read from, if any.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub file: Option<PathBuf>,
    /// False when nothing but defaults (and logging settings) is in force:
    /// a first run with no config at all, which `serve` treats as development.
    pub configured: bool,
    sources: Sources,
}

impl LoadedConfig {
    /// The layer that set `key` (a dotted key), or `None` for a default.
    pub fn source(&self, key: &str) -> Option<&ConfigSource> {
        self.sources.find(key)
    }
}

/// Loads, merges, deserializes and validates the configuration.
pub fn load(options: LoadOptions) -> Result<LoadedConfig, ConfigError> {
    let mut table = toml::Table::new();
    let mut sources = Sources::default();

    let file = config_file(&options);
    if let Some(path) = &file {
        let text = fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        table = file_table(&text, path, &mut sources)?;
    }

    let defaults = toml::Table::try_from(Config::default()).expect("defaults serialize to TOML");
    let from_env = env_settings(&options.env, &defaults)?;
    let configured = file.is_some() || from_env.iter().any(|(key, _, _)| !key.starts_with("log."));
    for (key, value, source) in from_env {
        insert(&mut table, &key, value, &source)?;
        sources.record(key, source);
    }
    for flag in &options.flags {
        let source = ConfigSource::Flag(flag.flag);
        insert(&mut table, flag.key, flag.value.clone(), &source)?;
        sources.record(flag.key.to_string(), source);
    }
    // A platform that sets PORT is a deployment, so it counts as configured:
    // serve then wants a real secret rather than generating one.
    let port = platform_port(&options.env, &sources)?;
    let configured = configured || port.is_some();
    if let Some(bind) = port {
        let source = ConfigSource::Env("PORT".into());
        insert(&mut table, "http.bind", bind, &source)?;
        sources.record("http.bind".into(), source);
    }

    let config = deserialize(table, &sources)?;
    validate::validate(&config).map_err(|(key, message)| sources.error(&key, &message))?;
    Ok(LoadedConfig {
        config,
        file,
        configured,
        sources,
    })
}

/// What [`load`] makes of a config file's text alone (no environment, no
/// flags): the configuration, or the one-line error naming the key. The
/// entry point of the config fuzz target.
pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
    let mut sources = Sources::default();
    let table = file_table(text, Path::new("authd.toml"), &mut sources)?;
    let config = deserialize(table, &sources)?;
    validate::validate(&config).map_err(|(key, message)| sources.error(&key, &message))?;
    Ok(config)
}

/// Parses a config file's text, recording the file as the source of its keys.
fn file_table(text: &str, path: &Path, sources: &mut Sources) -> Result<toml::Table, ConfigError> {
    let table = text.parse::<toml::Table>().map_err(|e| {
        ConfigError(format!(
            "config file {}: {}",
            path.display(),
            one_line(&e.to_string())
        ))
    })?;
    sources.record_tree(&table, "", &ConfigSource::File(path.to_path_buf()));
    Ok(table)
}

/// `--config`, else `$AUTHD_CONFIG`, else `./authd.toml` if present.
fn config_file(options: &LoadOptions) -> Option<PathBuf> {
    if let Some(path) = &options.file {
        return Some(path.clone());
    }
    if let Some((_, path)) = options
        .env
        .iter()
        .find(|(k, v)| k == "AUTHD_CONFIG" && !v.is_empty())
    {
        return Some(PathBuf::from(path));
    }
    let local = Path::new("authd.toml");
    local.exists().then(|| local.to_path_buf())
}

pub(super) fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

/// Sets a dotted key in the merged table, creating sections on the way.
fn insert(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
    source: &ConfigSource,
) -> Result<(), ConfigError> {
    let (sections, leaf) = key
        .rsplit_once('.')
        .map_or((None, key), |(s, l)| (Some(s), l));
    let mut current = table;
    for section in sections.into_iter().flat_map(|s| s.split('.')) {
        let entry = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError(format!("{key} ({source}): {section} is not a section")))?;
    }
    current.insert(leaf.to_string(), value);
    Ok(())
}

/// Deserializes the merged table, reporting unknown keys and bad values with
/// the key's path and source.
fn deserialize(table: toml::Table, sources: &Sources) -> Result<Config, ConfigError> {
    let mut unknown = Vec::new();
    let mut on_unknown =
        |path: serde_ignored::Path<'_>| unknown.push(path.to_string().replace(".?", ""));
    let ignored = serde_ignored::Deserializer::new(toml::Value::Table(table), &mut on_unknown);
    let result: Result<Config, _> = serde_path_to_error::deserialize(ignored);
    match result {
        Err(error) => {
            let key = error.path().to_string();
            Err(sources.error(&key, &one_line(error.inner().message())))
        }
        Ok(_) if !unknown.is_empty() => {
            unknown.sort();
            Err(sources.error(&unknown[0], "unknown key"))
        }
        Ok(config) => Ok(config),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Which layer set each key (the last one that did).
#[derive(Debug, Clone, Default)]
pub(super) struct Sources(BTreeMap<String, ConfigSource>);

impl Sources {
    fn record(&mut self, key: String, source: ConfigSource) {
        self.0.insert(key, source);
    }

    fn record_tree(&mut self, table: &toml::Table, prefix: &str, source: &ConfigSource) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if let toml::Value::Table(inner) = value {
                self.record_tree(inner, &path, source);
            }
            self.record(path, source.clone());
        }
    }

    /// The source of the most specific recorded key that `key` is inside.
    pub(super) fn find(&self, key: &str) -> Option<&ConfigSource> {
        self.0
            .iter()
            .filter(|(recorded, _)| {
                key == recorded.as_str()
                    || key
                        .strip_prefix(recorded.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .max_by_key(|(recorded, _)| recorded.len())
            .map(|(_, source)| source)
    }

    /// A recorded key below `key` (an unknown section is reported whole;
    /// naming one key set inside it is clearer).
    fn first_inside(&self, key: &str) -> Option<(&String, &ConfigSource)> {
        self.0.iter().find(|(recorded, _)| {
            recorded
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    fn error(&self, key: &str, message: &str) -> ConfigError {
        if let Some(source) = self.find(key) {
            return ConfigError(format!("{key} ({source}): {message}"));
        }
        match self.first_inside(key) {
            Some((inner, source)) => ConfigError(format!("{inner} ({source}): {message}")),
            None => ConfigError(format!("{key}: {message}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with_file(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.toml");
        fs::write(&path, text).unwrap();
        load(LoadOptions {
            file: Some(path),
            env: env(pairs),
            flags: vec![],
        })
        .map(|l| l.config)
    }

    #[test]
    fn later_layers_win() {
        let config = with_file(
            "[http]\nmax_body_bytes = 1000\nbind = \"127.0.0.1:9000\"\n",
            &[
                ("AUTHD_HTTP__MAX_BODY_BYTES", "2000"),
                ("DATABASE_URL", "postgres://u@h/db"),
            ],
        )
        .unwrap();
        assert_eq!(config.http.max_body_bytes, 2000);
        assert_eq!(config.http.bind.port(), 9000);
        assert_eq!(config.database.url.expose(), "postgres://u@h/db");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        fs::write(&path, "[http]\nbind = \"127.0.0.1:9000\"\n").unwrap();
        let flag = FlagOverride {
            key: "http.bind",
            value: "127.0.0.1:9100".into(),
            flag: "--bind",
        };
        let loaded = load(LoadOptions {
            file: Some(path),
            env: vec![],
            flags: vec![flag],
        })
        .unwrap();
        assert_eq!(loaded.config.http.bind.port(), 9100);
    }

    #[test]
    fn port_binds_every_interface_only_when_nothing_chose_the_bind() {
        let load_env = |pairs: &[(&str, &str)]| {
            load(LoadOptions {
                file: None,
                env: env(pairs),
                flags: vec![],
            })
        };
        let loaded = load_env(&[("PORT", "8080")]).unwrap();
        assert_eq!(loaded.config.http.bind.to_string(), "0.0.0.0:8080");
        assert_eq!(
            loaded.source("http.bind"),
            Some(&ConfigSource::Env("PORT".into()))
        );
        assert!(loaded.configured, "a platform's PORT is a deployment");

        let explicit = load_env(&[("PORT", "8080"), ("AUTHD_HTTP__BIND", "127.0.0.1:9000")]);
        assert_eq!(
            explicit.unwrap().config.http.bind.to_string(),
            "127.0.0.1:9000"
        );
        let from_file = with_file("[http]\nbind = \"127.0.0.1:9000\"\n", &[("PORT", "8080")]);
        assert_eq!(from_file.unwrap().http.bind.to_string(), "127.0.0.1:9000");

        for bad in ["http", "0", "70000", "-1"] {
            let error = load_env(&[("PORT", bad)]).unwrap_err();
            assert_eq!(
                error.0,
                format!("environment variable PORT: expected a port number from 1 to 65535, got {bad:?}")
            );
        }
    }

    #[test]
    fn environment_values_take_their_keys_type() {
        let config = with_file(
            "",
            &[
                ("ALLOWED_HOSTS", "auth.example.com, .example.org"),
                ("DEBUG", "True"),
                ("SECRET_KEY", "12345"),
                ("AUTHD_THROTTLE__RATES__LOGIN", "10/minute"),
                ("AUTHD_HTTP__HSTS", "true"),
                ("AUTHD_HTTP__TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.1/32"),
                ("AUTHD_TEST_DATABASE_URL", "ignored: not a config key"),
            ],
        )
        .unwrap();
        assert_eq!(
            config.http.allowed_hosts,
            ["auth.example.com", ".example.org"]
        );
        assert!(config.debug);
        assert_eq!(config.secret_key.expose(), "12345");
        assert_eq!(config.throttle.rates.login.count, 10);
        assert!(config.http.hsts);
        assert_eq!(config.http.trusted_proxies.len(), 2);
    }

    #[test]
    fn errors_name_the_key_and_its_source() {
        let err = with_file("[http]\nbindd = \"x\"\n", &[]).unwrap_err().0;
        assert!(
            err.starts_with("http.bindd (config file ") && err.ends_with("): unknown key"),
            "{err}"
        );

        let err = with_file("", &[("AUTHD_HTTP__MAX_BODY_BYTES", "lots")])
            .unwrap_err()
            .0;
        assert!(
            err.starts_with(
                "http.max_body_bytes (environment variable AUTHD_HTTP__MAX_BODY_BYTES): "
            ),
            "{err}"
        );

        let err = with_file("[throttle.rates]\nlogin = \"5/fortnight\"\n", &[])
            .unwrap_err()
            .0;
        assert!(
            err.contains("throttle.rates.login") && err.contains("5/fortnight"),
            "{err}"
        );

        let err = with_file(
            "[jwt]\nkeys = [{ id = \"a\", secret = \"s\", extra = 1 }]\n",
            &[],
        )
        .unwrap_err()
        .0;
        assert!(err.starts_with("jwt.keys[0]"), "{err}");

        let err = with_file("", &[("DEBUG", "maybe")]).unwrap_err().0;
        assert_eq!(
            err,
            "environment variable DEBUG: expected true or false, got \"maybe\""
        );

        let err = with_file("[http\n", &[]).unwrap_err().0;
        assert!(
            err.starts_with("config file ") && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn a_variable_with_one_underscore_is_refused_with_its_spelling() {
        let err = with_file("", &[("AUTHD_HTTP_BIND", "0.0.0.0:9000")])
            .unwrap_err()
            .0;
        assert_eq!(
            err,
            "environment variable AUTHD_HTTP_BIND is not a setting: did you mean AUTHD_HTTP__BIND? (two underscores between section and key)"
        );
        let err = with_file("", &[("AUTHD_THROTTLE_RATES_LOGIN", "5/minute")])
            .unwrap_err()
            .0;
        assert!(
            err.contains("did you mean AUTHD_THROTTLE__RATES__LOGIN?"),
            "{err}"
        );
        let err = with_file("", &[("AUTHD_DEBUG", "1")]).unwrap_err().0;
        assert!(err.ends_with("did you mean DEBUG?"), "{err}");
        let err = with_file("", &[("AUTHD_NOTHING", "1")]).unwrap_err().0;
        assert!(err.contains("AUTHD_<SECTION>__<KEY>"), "{err}");
        with_file("", &[("AUTHD_CONFIG_UNUSED_BY_TESTS", "x")]).unwrap_err();
        with_file(
            "",
            &[
                ("AUTHD_TEST_REQUIRE_SERVICES", "1"),
                ("AUTHD_BENCH_BINARY", "x"),
            ],
        )
        .expect("the test suite's own variables are not settings");
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let options = LoadOptions {
            file: Some("/nonexistent/authd.toml".into()),
            ..Default::default()
        };
        let err = load(options).unwrap_err().0;
        assert!(
            err.starts_with("cannot read config file /nonexistent/authd.toml: "),
            "{err}"
        );
    }

    #[test]
    fn authd_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("from-env.toml");
        fs::write(&path, "[jwt]\nissuer = \"from-env\"\n").unwrap();
        let options = LoadOptions {
            env: env(&[("AUTHD_CONFIG", path.to_str().unwrap())]),
            ..Default::default()
        };
        let loaded = load(options).unwrap();
        assert_eq!(loaded.config.jwt.issuer, "from-env");
        assert_eq!(loaded.file.as_deref(), Some(path.as_path()));
    }
}
