//! `authd key generate|list`: make a new signing key entry for `jwt.keys`,
//! and see which keys are configured and which one signs (never a secret).
//! The README's "Rotating signing keys" section is the procedure.

use clap::Subcommand;
use serde::Serialize;

use super::output::{self, OutputFormat};
use super::{CliError, Context};
use crate::auth::keys::{configured_key_ids, generate_key};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print a new random signing key as a jwt.keys entry (the secret goes to stdout only).
    Generate {
        /// The key id (the tokens' kid); default: k<date>-<random>.
        #[arg(long)]
        id: Option<String>,
    },
    /// List the configured signing keys: id, algorithm, which one signs.
    List,
}

#[derive(Serialize)]
struct KeyJson {
    id: String,
    algorithm: &'static str,
    signs: bool,
    source: &'static str,
}

pub fn run(command: KeyCommand, context: &Context) -> Result<(), CliError> {
    match command {
        KeyCommand::Generate { id } => {
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
            let key = generate_key(&id);
            let secret = String::from_utf8(key.secret).expect("generated secrets are base64");
            match context.output {
                OutputFormat::Json => output::print_json(&serde_json::json!({"id": id, "algorithm": "HS256", "secret": secret})),
                OutputFormat::Table => output::print(format!(
                    "# A new HS256 signing key. Add it to jwt.keys: first in the list to sign with it,\n# anywhere else to only verify. Keep the secret out of version control.\n[[jwt.keys]]\nid = \"{id}\"\nsecret = \"{secret}\""
                )),
            }
        }
        KeyCommand::List => {
            let keys: Vec<KeyJson> = configured_key_ids(&context.config)
                .into_iter()
                .enumerate()
                .map(|(index, (id, source))| KeyJson {
                    id,
                    algorithm: "HS256",
                    signs: index == 0,
                    source,
                })
                .collect();
            match context.output {
                OutputFormat::Json => output::print_json(&keys),
                OutputFormat::Table if keys.is_empty() => output::print(
                    "No signing key is configured (SECRET_KEY or jwt.keys); `authd serve` only starts in development mode.",
                ),
                OutputFormat::Table => {
                    let mut table = output::table(&["id (kid)", "algorithm", "signs", "source"]);
                    for key in keys {
                        table.add_row([key.id, key.algorithm.to_string(), if key.signs { "yes" } else { "verifies only" }.to_string(), key.source.to_string()]);
                    }
                    output::print(table)
                }
            }
        }
    }
}
