//! `authd key generate|list|rotate`: make a new signing key (an HS256
//! secret, or an EdDSA/ES256/RS256 private key file) and print its
//! `jwt.keys` entry; see which keys are in force, in which state, and which
//! one signs (never a secret); and make the `next` key the signing one in
//! the config file (see `key_rotate`). The README's "Rotating signing keys"
//! section is the procedure.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::output::{self, OutputFormat};
use super::{CliError, Context};
use crate::audit::Audit;
use crate::auth::key_material::generate_private_pem;
use crate::auth::keys::{configured_keys, generate_secret};
use crate::config::{KeyAlgorithm, KeyState};
use crate::domain::{AuditEvent, EventType, Origin};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only),
    /// or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600).
    Generate {
        /// The key id (the tokens' kid); default: k<date>-<random>.
        #[arg(long)]
        id: Option<String>,
        /// The key's algorithm.
        #[arg(long, value_enum, default_value_t = GenerateAlgorithm::Hs256)]
        algorithm: GenerateAlgorithm,
        /// Where to write the private key (asymmetric algorithms; never overwritten).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List the signing keys in force: id, algorithm, state, which one signs, where each comes from.
    List,
    /// Make a key the signing one by editing the config file: it moves first in jwt.keys and
    /// its state becomes active (default: the key whose state is "next"). Restart authd after.
    Rotate {
        /// The key to make sign (default: the one `next` key).
        #[arg(long)]
        id: Option<String>,
    },
}

/// `--algorithm`, as operators name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateAlgorithm {
    /// HS256: a shared secret (SimpleJWT's; the default).
    Hs256,
    /// EdDSA with Ed25519: small, fast keys and signatures.
    #[value(alias = "eddsa")]
    Ed25519,
    /// ES256: ECDSA on P-256.
    Es256,
    /// RS256: RSA, 2048 bits.
    Rs256,
}

impl GenerateAlgorithm {
    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            GenerateAlgorithm::Hs256 => KeyAlgorithm::HS256,
            GenerateAlgorithm::Ed25519 => KeyAlgorithm::EdDSA,
            GenerateAlgorithm::Es256 => KeyAlgorithm::ES256,
            GenerateAlgorithm::Rs256 => KeyAlgorithm::RS256,
        }
    }
}

#[derive(Serialize)]
struct GeneratedJson {
    id: String,
    algorithm: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_file: Option<String>,
    state: KeyState,
}

pub fn run(command: KeyCommand, context: &Context) -> Result<(), CliError> {
    match command {
        KeyCommand::Generate { id, algorithm, out } => generate(context, id, algorithm, out),
        KeyCommand::List => list(context),
        KeyCommand::Rotate { id } => super::key_rotate::run(context, id.as_deref()),
    }
}

fn generate(
    context: &Context,
    id: Option<String>,
    algorithm: GenerateAlgorithm,
    out: Option<PathBuf>,
) -> Result<(), CliError> {
    let algorithm = algorithm.key_algorithm();
    let id = id.unwrap_or_else(|| {
        format!(
            "k{}-{}",
            chrono::Utc::now().format("%Y%m%d"),
            &crate::auth::jwt::new_id()[..6]
        )
    });
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(CliError::Usage(
            "a key id is letters, digits, '_', '-' or '.'".into(),
        ));
    }
    // Beside keys in force the new one is staged: published and verifying,
    // signing only once `key rotate` makes it active.
    let config = &context.config;
    let state = if config.jwt.keys.is_empty() && !config.secret_key.is_set() {
        KeyState::Active
    } else {
        KeyState::Next
    };
    let (secret, file) = match (algorithm, out) {
        (KeyAlgorithm::HS256, Some(_)) => {
            return Err(CliError::Usage(
                "--out is for asymmetric keys; an HS256 secret is printed (put it in the config file or a secret store)".into(),
            ))
        }
        (KeyAlgorithm::HS256, None) => (Some(generate_secret()), None),
        (_, None) => {
            return Err(CliError::Usage(format!(
                "--out FILE is required: where to write the {} private key",
                algorithm.name()
            )))
        }
        (_, Some(path)) => (None, Some(write_private_key(algorithm, &path)?)),
    };
    let json = GeneratedJson {
        id,
        algorithm: algorithm.name(),
        secret,
        private_key_file: file,
        state,
    };
    key_audit(context).record(
        AuditEvent::success(EventType::KeyGenerated, &Origin::cli()).detail(format!(
            "id={} algorithm={} state={}",
            json.id,
            json.algorithm,
            match json.state {
                KeyState::Active => "active",
                KeyState::Next => "next",
            }
        )),
    );
    match context.output {
        OutputFormat::Json => output::print_json(&json),
        OutputFormat::Table => {
            eprintln!("{}", guidance(&json));
            output::print(entry_text(&json))
        }
    }
}

/// Where `key generate` records its event: the configured database when
/// it is there (a named one, or the default SQLite file where it exists),
/// else the log line only. Generating a key needs no database, so on a
/// workstation with none this must neither fail nor create one.
fn key_audit(context: &Context) -> Audit {
    let configured = context.database_url_source.is_some()
        || crate::store::sqlite_file(&context.config).is_some_and(|path| path.exists());
    match configured.then(|| super::database::open_current(context)) {
        Some(Ok(store)) => Audit::for_command(&context.config.audit, store),
        Some(Err(error)) => {
            tracing::warn!(target: "authd::audit", error = %crate::error_chain::Chain(&error), "the key_generated event is logged only: the database could not be opened");
            Audit::log_only()
        }
        None => Audit::log_only(),
    }
}

/// Writes a new private key to `path` (owner-only, never over a file);
/// returns the absolute path for the config entry.
fn write_private_key(algorithm: KeyAlgorithm, path: &PathBuf) -> Result<String, CliError> {
    let pem = generate_private_pem(algorithm).map_err(|e| CliError::Failed(e.to_string()))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::Usage(format!(
                "{} exists: authd never overwrites a key file; choose another --out",
                path.display()
            )),
            _ => CliError::Failed(format!("cannot create {}: {e}", path.display())),
        })?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
    let absolute = std::fs::canonicalize(path)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    Ok(absolute.display().to_string())
}

/// The `[[jwt.keys]]` entry to paste (stdout holds nothing else, so it can
/// be appended to a config file as it is).
fn entry_text(key: &GeneratedJson) -> String {
    let quote = |text: &str| toml::Value::String(text.to_string()).to_string();
    let mut lines = vec!["[[jwt.keys]]".to_string()];
    lines.push(format!("id = {}", quote(&key.id)));
    lines.push(format!("algorithm = {}", quote(key.algorithm)));
    if let Some(secret) = &key.secret {
        lines.push(format!("secret = {}", quote(secret)));
    }
    if let Some(file) = &key.private_key_file {
        lines.push(format!("private_key_file = {}", quote(file)));
    }
    if key.state == KeyState::Next {
        lines.push("state = \"next\"".into());
    }
    lines.join("\n")
}

/// What to do with the entry, for stderr.
fn guidance(key: &GeneratedJson) -> String {
    let what = match &key.private_key_file {
        Some(file) => format!(
            "a new {} key, its private key in {file} (owner-only)",
            key.algorithm
        ),
        None => "a new HS256 key; keep its secret out of version control".to_string(),
    };
    let next = match key.state {
        KeyState::Next => "; as state = \"next\" it verifies and is published in /.well-known/jwks.json but signs only once `authd key rotate` makes it active (README: Rotating signing keys)",
        KeyState::Active => "",
    };
    format!("authd: note: {what}. Add the entry to jwt.keys{next}.")
}

fn list(context: &Context) -> Result<(), CliError> {
    let keys = configured_keys(&context.config);
    match context.output {
        OutputFormat::Json => output::print_json(&keys),
        OutputFormat::Table if keys.is_empty() => output::print(
            "No signing key is configured (SECRET_KEY or jwt.keys); `authd serve` only starts in development mode.",
        ),
        OutputFormat::Table => output::print(keys_table(&keys)),
    }
}

/// The keys as a table (`key list`, `config check`).
pub fn keys_table(keys: &[crate::auth::keys::KeySummary]) -> comfy_table::Table {
    let mut table = output::table(&["id (kid)", "algorithm", "state", "signs", "source"]);
    for key in keys {
        let state = match key.state {
            KeyState::Active => "active",
            KeyState::Next => "next",
        };
        let signs = if key.signs { "yes" } else { "verifies only" };
        table.add_row([
            key.id.clone(),
            key.algorithm.to_string(),
            state.to_string(),
            signs.to_string(),
            key.source.clone(),
        ]);
    }
    table
}
