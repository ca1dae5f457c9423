//! Rendering of admin command results: comfy-table tables for people,
//! JSON (one document on stdout) for scripts. The JSON shapes are documented
//! in the README and are stable.

use std::io::Write;

use clap::ValueEnum;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ColumnConstraint, ContentArrangement, Table};
use serde::Serialize;

use super::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// Columns of free text, which may wrap to fit the terminal. Every other
/// column (ids, emails, timestamps, states) is kept whole: an email or a
/// time cut in two is worse than a table wider than the terminal.
const WRAPPING_COLUMNS: [&str; 8] = [
    "full name",
    "detail",
    "name",
    "reason",
    "value",
    "why",
    "created user agent",
    "last user agent",
];

/// Narrower than this, a terminal's reported width is not believed (some
/// report 0 columns): the table is printed unwrapped.
const MIN_TERMINAL_WIDTH: u16 = 40;

/// A table with a header row, fitted to the terminal by wrapping its
/// free-text columns only.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.iter().copied());
    fit(&mut table, header);
    table
}

fn fit(table: &mut Table, header: &[&str]) {
    if table.width().is_none_or(|width| width < MIN_TERMINAL_WIDTH) {
        table.set_content_arrangement(ContentArrangement::Disabled);
        return;
    }
    table.set_content_arrangement(ContentArrangement::Dynamic);
    for (index, name) in header.iter().enumerate() {
        if !WRAPPING_COLUMNS.contains(name) {
            if let Some(column) = table.column_mut(index) {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered_at(width: u16) -> String {
        let header = ["id", "email", "full name", "joined"];
        let mut table = table(&header);
        table.set_width(width);
        fit(&mut table, &header);
        table.add_row([
            "123456",
            "ada.lovelace.countess@analytical-engine.example",
            "Augusta Ada King, Countess of Lovelace",
            "2026-12-04T18:39:07.123456Z",
        ]);
        table.to_string()
    }

    #[test]
    fn narrow_terminals_wrap_free_text_but_never_an_email_or_a_time() {
        let text = rendered_at(80);
        assert!(text.contains("ada.lovelace.countess@analytical-engine.example"));
        assert!(text.contains("2026-12-04T18:39:07.123456Z"));
        assert!(
            !text.contains("Augusta Ada King, Countess of Lovelace"),
            "{text}"
        );
    }

    #[test]
    fn a_terminal_reporting_no_width_gets_the_table_unwrapped() {
        let text = rendered_at(0);
        assert!(
            text.contains("Augusta Ada King, Countess of Lovelace"),
            "{text}"
        );
        assert!(text.lines().count() <= 5, "{text}");
    }
}
