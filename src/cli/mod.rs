//! The command line: clap definitions (their doc comments are the help
//! text), and dispatch to one module per command group. Each command parses
//! its arguments into domain types, calls the store or a service, and
//! renders the result with `output`; errors go to `error`, the one place
//! that decides messages and exit codes.

pub mod assets;
mod audit;
mod audit_render;
mod blacklist;
mod config_cmd;
mod confirm;
mod database;
mod error;
mod healthcheck;
mod import;
mod key;
mod key_rotate;
mod loadtest;
mod man_examples;
mod migrate;
mod openapi;
mod output;
mod password_input;
mod scope_arg;
mod serve;
mod throttle;
mod token;
mod user;

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

use crate::config::{self, Config, FlagOverride, LoadOptions};
pub use error::CliError;
pub use output::OutputFormat;

/// authd: email + password accounts and JWT tokens, as one fast binary.
///
/// `authd serve` runs the HTTP service; every other command acts directly on
/// the same database (SQLite or Postgres) and Redis, and is safe to run while
/// servers are up.
#[derive(Debug, Parser)]
#[command(name = "authd", version, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// How admin commands print their results.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// Apply pending database migrations (or show them, or roll back).
    Migrate(migrate::MigrateArgs),
    /// Create, inspect, change and delete user accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Prune expired tokens, or count tokens by state.
    #[command(subcommand)]
    Blacklist(blacklist::BlacklistCommand),
    /// Revoke tokens and sessions, or list a user's sessions.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Import users from the service authd replaces.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Read the audit log: who did what, when, from where.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Generate, list and rotate JWT signing keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Load tests for CI: check that throttling holds.
    #[command(subcommand)]
    Loadtest(loadtest::LoadtestCommand),
    /// Show or clear throttle windows on the shared Redis.
    ///
    /// Without Redis each server counts in its own memory, out of reach of
    /// this command: a lockout then lifts when its window frees (the 429's
    /// Retry-After says when), and restarting the server clears them all.
    #[command(subcommand)]
    Throttle(throttle::ThrottleCommand),
    /// Ask a running server's /readyz: exit 0 when ready, 1 otherwise (for container health checks).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Print the OpenAPI document of the HTTP API (as served at /api/schema/).
    Openapi(openapi::OpenapiArgs),
}

/// What every command gets: the loaded configuration and the output format.
pub struct Context {
    pub config: Config,
    pub config_file: Option<PathBuf>,
    pub output: OutputFormat,
    /// `DEBUG` on, or nothing configured at all (a first run).
    pub development: bool,
    /// Where `database.url` came from (`None`: the default).
    pub database_url_source: Option<config::ConfigSource>,
}

impl Cli {
    /// Loads the configuration in its layers, with this command line's flags on top.
    pub fn load_config(&self) -> Result<Context, CliError> {
        let mut flags = Vec::new();
        if self.verbose > 0 {
            let level = if self.verbose == 1 { "debug" } else { "trace" };
            flags.push(FlagOverride {
                key: "log.level",
                value: level.into(),
                flag: "--verbose",
            });
        }
        if let Command::Serve(serve::ServeArgs { bind: Some(bind) }) = &self.command {
            flags.push(FlagOverride {
                key: "http.bind",
                value: bind.to_string().into(),
                flag: "--bind",
            });
        }
        let loaded = config::load(LoadOptions::from_process(self.config.clone(), flags))?;
        let development = loaded.config.debug || !loaded.configured;
        let database_url_source = loaded.source("database.url").cloned();
        let mut config = loaded.config;
        if self.command.is_admin() {
            // An admin command needs one connection, not a server's pool: it
            // must fit in the slots the servers leave (see the README's
            // connection budget), and it waits up to connect_timeout for one.
            config.database.pool_size = 1;
            config.database.min_idle = 0;
            config.database.pool_timeout = config.database.connect_timeout;
        }
        Ok(Context {
            config,
            config_file: loaded.file,
            output: self.output,
            development,
            database_url_source,
        })
    }
}

impl Command {
    /// Commands an operator runs beside the servers, on one database connection.
    fn is_admin(&self) -> bool {
        matches!(
            self,
            Command::Migrate(_)
                | Command::User(_)
                | Command::Blacklist(_)
                | Command::Token(_)
                | Command::Import(_)
                | Command::Audit(_)
        )
    }
}

/// Runs the parsed command.
pub fn run(command: Command, context: &Context) -> Result<(), CliError> {
    match command {
        Command::Serve(args) => serve::run(args, context),
        Command::Migrate(args) => migrate::run(args, context),
        Command::User(command) => user::run(command, context),
        Command::Config(command) => config_cmd::run(command, context),
        Command::Throttle(command) => throttle::run(command, context),
        Command::Token(command) => token::run(command, context),
        Command::Blacklist(command) => blacklist::run(command, context),
        Command::Key(command) => key::run(command, context),
        Command::Audit(command) => audit::run(command, context),
        Command::Import(command) => import::run(command, context),
        Command::Loadtest(command) => loadtest::run(command, context),
        Command::Openapi(args) => openapi::run(args, context),
        Command::Healthcheck(args) => healthcheck::run(args, context),
    }
}
