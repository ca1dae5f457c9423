//! Shell completions and man pages, generated from the clap definitions so
//! `--help`, the completions and the man pages cannot disagree. The
//! generated files are checked in under `completions/` and `man/`;
//! `cargo run --example generate_assets -- .` refreshes them, and a test
//! fails when the checked-in copies are stale.
//!
//! Each man page is clap_mangen's sections plus what a man page reader
//! expects and clap cannot say: EXIT STATUS on every page, ENVIRONMENT and
//! FILES on `authd(1)`, and EXAMPLES where `man_examples` has some.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{bold, italic, roman, Roff};

use super::man_examples::examples_for;
use super::Cli;

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
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    write_man_pages(&command, &man)
}

fn write_man_pages(command: &clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man_pages(sub, dir)?;
    }
    let page = clap_mangen::Man::new(command.clone());
    let mut file = std::fs::File::create(dir.join(page.get_filename()))?;
    render_page(&page, command, &mut file)?;
    file.flush()
}

fn render_page(
    page: &clap_mangen::Man,
    command: &clap::Command,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        page.render_options_section(out)?;
    }
    if command.has_subcommands() {
        page.render_subcommands_section(out)?;
    }
    let name = command.get_display_name().unwrap_or(command.get_name());
    let mut roff = Roff::new();
    exit_status(&mut roff);
    if name == "authd" {
        environment(&mut roff);
        files(&mut roff);
    }
    let examples = examples_for(name);
    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for (what, line) in examples {
            roff.control("TP", []).text([roman(*what)]);
            roff.text([bold(*line)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("authd"),
        roman("(1); the README and docs/API.md in the source."),
    ]);
    roff.to_writer(out)?;
    page.render_version_section(out)
}

fn definitions(roff: &mut Roff, heading: &str, items: &[(&str, &str)]) {
    roff.control("SH", [heading]);
    for (term, text) in items {
        roff.control("TP", [])
            .text([bold(*term)])
            .text([roman(*text)]);
    }
}

fn exit_status(roff: &mut Roff) {
    definitions(
        roff,
        "EXIT STATUS",
        &[
            ("0", "Success."),
            (
                "1",
                "The command was well formed but failed: an unknown user, a duplicate email, the database or Redis unavailable, a throttle limit that did not hold.",
            ),
            (
                "2",
                "Bad input or configuration: an unknown option, an invalid value, a missing or invalid setting, a confirmation refused. Nothing was changed.",
            ),
        ],
    );
}

fn environment(roff: &mut Roff) {
    definitions(
        roff,
        "ENVIRONMENT",
        &[
            ("DATABASE_URL", "sqlite:PATH or postgres://... (database.url); libpq's sslmode, sslrootcert, sslcert and sslkey in the URL."),
            ("REDIS_URL", "redis://, rediss://, redis+cluster:// or redis+sentinel:// (redis.url); unset: no Redis."),
            ("SECRET_KEY", "The HS256 signing secret (key id default) when jwt.keys is empty."),
            ("DEBUG", "true: development mode (a generated key, no Secure cookie)."),
            ("ALLOWED_HOSTS", "Comma-separated Host names the API answers (http.allowed_hosts)."),
            ("AUTHD_CONFIG", "The configuration file when --config is not given."),
            ("AUTHD_SECTION__KEY", "Any setting, e.g. AUTHD_HTTP__BIND=0.0.0.0:8000; a misspelled AUTHD_ variable stops every command."),
            ("PORT", "authd serve listens on 0.0.0.0:$PORT when no bind address is configured."),
            ("RUST_LOG", "A tracing filter that replaces log.level."),
        ],
    );
}

fn files(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    for (path, text) in [
        ("./authd.toml", "The configuration file read when neither --config nor AUTHD_CONFIG is given."),
        ("./authd.db", "The SQLite database of the default database.url, created by authd migrate (and authd serve in development mode); 0600."),
        ("./authd.key", "The signing key generated in development mode (jwt.key_file); 0600."),
        ("./outbox/", "Reset emails as .eml files with mail.backend = \"file\" (mail.outbox_dir)."),
    ] {
        roff.control("TP", []).text([italic(path)]).text([roman(text)]);
    }
}
