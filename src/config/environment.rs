//! The environment layer of the configuration: the names operators of the
//! old service know (`DATABASE_URL`, `REDIS_URL`, `SECRET_KEY`, `DEBUG`,
//! `ALLOWED_HOSTS`), `AUTHD_<SECTION>__<KEY>` for every other key (typed by
//! the key's default), a misspelled `AUTHD_` variable refused with the
//! nearest real name, and `$PORT` when nothing else chose `http.bind`.

use super::load::{lookup, Sources};
use super::{ConfigError, ConfigSource};

/// The settings the environment makes: `(dotted key, value, source)`.
pub(super) fn env_settings(
    env: &[(String, String)],
    defaults: &toml::Table,
) -> Result<Vec<(String, toml::Value, ConfigSource)>, ConfigError> {
    const WELL_KNOWN: [(&str, &str); 5] = [
        ("DATABASE_URL", "database.url"),
        ("REDIS_URL", "redis.url"),
        ("SECRET_KEY", "secret_key"),
        ("DEBUG", "debug"),
        ("ALLOWED_HOSTS", "http.allowed_hosts"),
    ];
    let mut sorted: Vec<&(String, String)> = env.iter().collect();
    sorted.sort();
    let mut settings = Vec::new();
    for (name, key) in WELL_KNOWN {
        if let Some((_, raw)) = sorted.iter().find(|(k, _)| k == name) {
            if raw.is_empty() {
                continue;
            }
            let value = if name == "DEBUG" {
                toml::Value::Boolean(parse_bool(raw).ok_or_else(|| {
                    ConfigError(format!(
                        "environment variable DEBUG: expected true or false, got {raw:?}"
                    ))
                })?)
            } else {
                typed_env_value(raw, lookup(defaults, key))
            };
            settings.push((key.to_string(), value, ConfigSource::Env(name.to_string())));
        }
    }
    for (name, raw) in sorted {
        let Some(path) = name.strip_prefix("AUTHD_") else {
            continue;
        };
        if !path.contains("__") {
            if NOT_SETTINGS.iter().any(|other| other.matches(name)) {
                continue;
            }
            return Err(ConfigError(misspelled(name, path, defaults)));
        }
        let parts: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        if parts.iter().any(String::is_empty) {
            return Err(ConfigError(format!(
                "environment variable {name}: malformed name, expected AUTHD_<SECTION>__<KEY>"
            )));
        }
        let key = parts.join(".");
        let value = typed_env_value(raw, lookup(defaults, &key));
        settings.push((key, value, ConfigSource::Env(name.clone())));
    }
    Ok(settings)
}

/// `0.0.0.0:$PORT` when `$PORT` is set and nothing else chose `http.bind`.
/// The platforms that set it route to every interface of the container.
pub(super) fn platform_port(
    env: &[(String, String)],
    sources: &Sources,
) -> Result<Option<toml::Value>, ConfigError> {
    let Some((_, raw)) = env.iter().find(|(k, v)| k == "PORT" && !v.is_empty()) else {
        return Ok(None);
    };
    if sources.find("http.bind").is_some() {
        return Ok(None);
    }
    match raw.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(Some(toml::Value::String(format!("0.0.0.0:{port}")))),
        _ => Err(ConfigError(format!(
            "environment variable PORT: expected a port number from 1 to 65535, got {raw:?}"
        ))),
    }
}

/// `AUTHD_` variables that are not settings: the config file's path, and
/// the test suite's, benchmarks' and CI fuzzing's own
/// (`AUTHD_TEST_DATABASE_URL`, `AUTHD_FUZZ_SECONDS`, ...).
enum NotSetting {
    Exactly(&'static str),
    Prefix(&'static str),
}

impl NotSetting {
    fn matches(&self, name: &str) -> bool {
        match self {
            NotSetting::Exactly(exact) => name == *exact,
            NotSetting::Prefix(prefix) => name.starts_with(prefix),
        }
    }
}

const NOT_SETTINGS: [NotSetting; 4] = [
    NotSetting::Exactly("AUTHD_CONFIG"),
    NotSetting::Prefix("AUTHD_TEST_"),
    NotSetting::Prefix("AUTHD_BENCH_"),
    NotSetting::Prefix("AUTHD_FUZZ_"),
];

/// The error for an `AUTHD_` variable without the `__` between section and
/// key (`AUTHD_HTTP_BIND`): silently ignoring it would run with the default.
fn misspelled(name: &str, path: &str, defaults: &toml::Table) -> String {
    let mut keys = Vec::new();
    leaf_keys(defaults, "", &mut keys);
    let wanted = path.to_ascii_lowercase();
    match keys.iter().find(|key| key.replace('.', "_") == wanted) {
        // Top-level keys (`debug`, `secret_key`) are read from the names
        // the old service used (`DEBUG`, `SECRET_KEY`).
        Some(key) if !key.contains('.') => format!(
            "environment variable {name} is not a setting: did you mean {}?",
            key.to_ascii_uppercase()
        ),
        Some(key) => format!(
            "environment variable {name} is not a setting: did you mean AUTHD_{}? (two underscores between section and key)",
            key.replace('.', "__").to_ascii_uppercase()
        ),
        None => format!(
            "environment variable {name} is not a setting: settings are AUTHD_<SECTION>__<KEY> (two underscores), e.g. AUTHD_HTTP__BIND"
        ),
    }
}

/// Every dotted key of `table` that holds a value.
fn leaf_keys(table: &toml::Table, prefix: &str, keys: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => leaf_keys(inner, &path, keys),
            _ => keys.push(path),
        }
    }
}

/// Reads an environment value as the type its key's default has.
fn typed_env_value(raw: &str, default: Option<&toml::Value>) -> toml::Value {
    match default {
        Some(toml::Value::String(_)) => toml::Value::String(raw.to_string()),
        Some(toml::Value::Array(_)) if !raw.trim_start().starts_with('[') => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_string()))
                .collect(),
        ),
        _ => parse_toml_value(raw).unwrap_or_else(|| toml::Value::String(raw.to_string())),
    }
}

fn parse_toml_value(raw: &str) -> Option<toml::Value> {
    let mut table = format!("value = {raw}").parse::<toml::Table>().ok()?;
    table.remove("value")
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}
