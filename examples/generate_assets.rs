//! Regenerates `completions/` and `man/` from the clap definitions, for
//! authd's own developers: `cargo run --example generate_assets -- .`
//! (`tests/it/assets.rs` fails while the checked-in copies are stale). Not a
//! subcommand of authd, so completions never offer it.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: generate_assets DIR (the folder that receives completions/ and man/)");
        return ExitCode::from(2);
    };
    match authd::cli::assets::write_assets(&dir) {
        Ok(()) => {
            println!("Wrote completions/ and man/ under {}.", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write the assets under {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
