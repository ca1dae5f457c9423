//! The `authd` binary: parse the command line, load the configuration, start
//! logging, dispatch. Everything else lives in the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use authd::cli::{self, Cli};

fn main() -> ExitCode {
    let args = Cli::parse();
    let context = match args.load_config() {
        Ok(context) => context,
        Err(error) => return fail(&error),
    };
    init_logging(&context.config.log.level);
    match cli::run(args.command, &context) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &cli::CliError) -> ExitCode {
    eprintln!("authd: {error}");
    error.exit_code()
}

/// Logs go to stderr so stdout stays the command's result. `RUST_LOG` wins
/// over `log.level`.
fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
