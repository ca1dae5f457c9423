//! Rendering of admin command results: comfy-table tables for people,
//! JSON (one document on stdout) for scripts. The JSON shapes are documented
//! in the README and are stable.

use std::io::Write;

use clap::ValueEnum;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde::Serialize;

use super::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// A table with a header row, sized to the terminal.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    table
}

/// A two-column "field | value" table for one record.
pub fn record(rows: &[(&str, String)]) -> Table {
    let mut table = table(&["field", "value"]);
    for (field, value) in rows {
        table.add_row([*field, value.as_str()]);
    }
    table
}

/// Writes to stdout; a closed pipe (`authd user list | head`) is not an error
/// worth a panic.
pub fn print(text: impl std::fmt::Display) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(CliError::from),
    }
}

pub fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(format!("cannot render JSON: {e}")))?;
    print(text)
}
