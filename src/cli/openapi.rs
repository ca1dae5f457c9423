//! `authd openapi`: print the OpenAPI document that `/api/schema/` serves,
//! for CI checks and client generators, without starting a server.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, Context};

#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// Write the document to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: OpenapiArgs, context: &Context) -> Result<(), CliError> {
    let document = crate::http::openapi::json(&context.config);
    match args.out {
        Some(path) => std::fs::write(&path, &document)
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display()))),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&document)?;
            stdout.flush()?;
            Ok(())
        }
    }
}
