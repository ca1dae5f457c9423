//! Shell completions and man pages, generated from the clap definitions so
//! `--help`, the completions and the man pages cannot disagree. The
//! generated files are checked in under `completions/` and `man/`;
//! `authd generate-assets --out-dir .` refreshes them, and a test fails
//! when the checked-in copies are stale.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, CliError, Context};

/// The shells completions are generated for.
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

/// Writes `completions/` and `man/` (authd.1 and one page per subcommand) under `dir`.
pub fn write_assets(dir: &Path) -> std::io::Result<()> {
    let completions = dir.join("completions");
    let man = dir.join("man");
    std::fs::create_dir_all(&completions)?;
    std::fs::create_dir_all(&man)?;
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut Cli::command(), "authd", &completions)?;
    }
    clap_mangen::generate_to(Cli::command(), &man)
}

pub fn run(out_dir: &Path, _context: &Context) -> Result<(), CliError> {
    write_assets(out_dir).map_err(|e| {
        CliError::Failed(format!(
            "cannot write the assets under {}: {e}",
            out_dir.display()
        ))
    })?;
    super::output::print(format!(
        "Wrote completions/ and man/ under {}.",
        out_dir.display()
    ))
}
