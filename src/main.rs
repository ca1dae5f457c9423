//! The `authd` binary: parse the command line, load the configuration, start
//! logging, dispatch. Everything else lives in the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use authd::cli::{self, Cli};
use authd::config::LogFormat;

fn main() -> ExitCode {
    let args = Cli::parse();
    restrict_new_files();
    let context = match args.load_config() {
        Ok(context) => context,
        Err(error) => return fail(&error),
    };
    init_logging(&context.config.log.level, context.config.log.format);
    match cli::run(args.command, &context) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Files authd creates hold secrets (the SQLite database and its -wal/-shm:
/// password hashes and token ids; outbox messages: reset links), so they
/// are owner-only (0600, directories 0700) whatever umask authd inherits.
fn restrict_new_files() {
    #[cfg(unix)]
    // SAFETY: umask(2) only sets the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

fn fail(error: &cli::CliError) -> ExitCode {
    eprintln!("authd: {error}");
    error.exit_code()
}

/// Logs go to stderr so stdout stays the command's result. `RUST_LOG` wins
/// over `log.level`, which is authd's own level (see `authd::logging`).
/// `json`: one object per line, the event's fields at the top level
/// (`method`, `route`, `status`, `latency_ms`, `request_id`, ...).
fn init_logging(level: &str, format: LogFormat) {
    let filter = authd::logging::env_filter(level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}
