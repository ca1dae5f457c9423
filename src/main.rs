//! The `authd` binary: parse the command line, load the configuration, start
//! logging, dispatch. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

use authd::cli::{self, Cli, Command};
use authd::config::LogConfig;
use authd::logging::{LogGuard, Output};

fn main() -> ExitCode {
    let args = Cli::parse();
    restrict_new_files();
    let context = match args.load_config() {
        Ok(context) => context,
        Err(error) => return fail(&error),
    };
    let log = init_logging(&args.command, &context.config.log);
    let result = cli::run(args.command, &context);
    // Queued lines first, so an error is the last thing printed.
    drop(log);
    match result {
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
    eprintln!("authd: {}", authd::error_chain::Chain(error));
    error.exit_code()
}

/// Logs go to stderr so stdout stays the command's result; `serve` queues
/// them for a writer thread (see `authd::logging`). `RUST_LOG` wins over
/// `log.level`, which is authd's own level. `json`: one object per line,
/// the event's fields at the top level (`method`, `route`, `status`,
/// `latency_ms`, `request_id`, ...).
fn init_logging(command: &Command, log: &LogConfig) -> LogGuard {
    let output = match command {
        Command::Serve(_) => Output::Queued,
        _ => Output::Direct,
    };
    authd::logging::init(&log.level, log.format, output)
}
