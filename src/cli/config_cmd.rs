//! `authd config check`: validate the configuration (key files included)
//! and print it as it is in force (every layer applied, secrets and URL
//! passwords redacted), with the signing keys it gives (ids, never secrets).

use clap::Subcommand;

use super::output::{self, OutputFormat};
use super::{CliError, Context};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings, secrets redacted.
    Check,
}

pub fn run(command: ConfigCommand, context: &Context) -> Result<(), CliError> {
    match command {
        ConfigCommand::Check => check(context),
    }
}

fn check(context: &Context) -> Result<(), CliError> {
    let config = &context.config;
    // Loading already validated everything; what is left are warnings.
    // `serve` runs in development mode with DEBUG on or nothing configured
    // (see `serve`), and then starts without a secret: say that instead.
    let no_secret = !config.secret_key.is_set() && config.jwt.keys.is_empty();
    if context.development {
        let why = if config.debug {
            "DEBUG is on"
        } else {
            "nothing is configured"
        };
        let key = if no_secret {
            format!(
                "generates a signing key into {} and ",
                config.jwt.key_file.display()
            )
        } else {
            String::new()
        };
        eprintln!(
            "authd: note: development mode ({why}): `authd serve` {key}sends the refresh cookie without Secure; never expose it"
        );
    } else if no_secret {
        eprintln!(
            "authd: warning: no signing secret (SECRET_KEY or jwt.keys): `authd serve` will refuse to start unless DEBUG is on"
        );
    }
    // Key files are read by `serve` only; reading them here finds a bad
    // mode, a wrong algorithm or a short RSA key before a restart does.
    if !no_secret {
        crate::auth::keys::signing_keys(config, false)
            .map_err(|e| CliError::Usage(e.to_string()))?;
    }
    let keys = crate::auth::keys::configured_keys(config);
    if config.password.memory_kib < 19_456 || config.password.iterations < 2 {
        eprintln!("authd: warning: argon2 parameters are below OWASP's minimum (m=19456 KiB, t=2)");
    }
    match context.output {
        OutputFormat::Json => output::print_json(config),
        OutputFormat::Table => {
            let source = context.config_file.as_ref().map_or_else(
                || "no config file".to_string(),
                |p| format!("config file {}", p.display()),
            );
            let body = toml::to_string_pretty(config)
                .map_err(|e| CliError::Failed(format!("cannot render the configuration: {e}")))?;
            let keys = if keys.is_empty() {
                "# No signing key is configured.".to_string()
            } else {
                let table = super::key::keys_table(&keys).to_string();
                let lines: Vec<_> = table.lines().map(|l| format!("#   {l}")).collect();
                format!("# Signing keys (`authd key list`):\n{}", lines.join("\n"))
            };
            output::print(format!("# The configuration is valid. Effective settings ({source}, environment, flags):\n\n{body}\n{keys}"))
        }
    }
}
