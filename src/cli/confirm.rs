//! Confirmation before a command destroys data: asked on a terminal,
//! refused without one unless the operator passed `--yes` (a script must
//! say so explicitly; a pipe must never answer for it).

use std::io::{BufRead, IsTerminal, Write};

use super::CliError;

/// Asks `question` on the terminal; without one, refuses with a usage error
/// naming `action` (scripts pass `--yes` and skip this call). A "no" fails
/// with `declined`.
pub fn confirm(question: &str, action: &str, declined: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "refusing to {action} without --yes (no terminal to confirm on)"
        )));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Failed(declined.into()))
    }
}
