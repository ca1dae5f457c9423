//! Getting a new password from an admin without it ever touching argv (where
//! `ps` and shell history would show it): from standard input with
//! `--password-stdin`, else from a hidden prompt on the terminal, typed twice.

use std::io::{IsTerminal, Read};

use super::CliError;
use crate::domain::{Password, MAX_PASSWORD_BYTES};

/// Reads the password as `--password-stdin` or the terminal provides it.
pub fn read_password(from_stdin: bool) -> Result<Password, CliError> {
    if from_stdin {
        return read_stdin();
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no terminal to ask for the password: pass it on standard input with --password-stdin"
                .into(),
        ));
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password (again): ")?;
    if first != second {
        return Err(CliError::Usage("the two passwords do not match".into()));
    }
    Ok(Password::new(first))
}

/// One line of stdin, without its line ending; bounded, so a runaway pipe
/// cannot fill memory.
fn read_stdin() -> Result<Password, CliError> {
    let limit = (MAX_PASSWORD_BYTES + 2) as u64;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(CliError::Usage(format!(
            "password rejected: This password is too long. It must be at most {MAX_PASSWORD_BYTES} bytes."
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::Usage("the password on standard input is not valid UTF-8".into()))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.contains('\n') {
        return Err(CliError::Usage(
            "expected one line on standard input, got several".into(),
        ));
    }
    if line.is_empty() {
        return Err(CliError::Usage("no password on standard input".into()));
    }
    Ok(Password::new(line))
}
