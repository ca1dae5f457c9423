//! `authd throttle show|clear`: what the throttle counts for a person or an
//! address, and how to unlock someone locked out, acting directly on the
//! Redis that the servers share. The key layout and email hashing come from
//! `crate::throttle`, so these commands find exactly what servers write.

use std::net::IpAddr;

use clap::{Args, Subcommand};
use redis::Commands;
use serde::Serialize;

use super::output::{self, OutputFormat};
use super::{CliError, Context};
use crate::throttle::{email_hash, Scope};

/// Most windows `show` lists.
const MAX_LISTED: usize = 1000;

#[derive(Debug, Subcommand)]
pub enum ThrottleCommand {
    /// Show the windows of a scope: requests counted, remaining, seconds until a slot frees.
    Show(Selection),
    /// Delete windows, unlocking whoever they lock out.
    Clear {
        #[command(flatten)]
        selection: Selection,
        /// Clear every window of the scope (needed when neither --email nor --ip is given).
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Args)]
pub struct Selection {
    /// login, password_reset, registration or password_reset_completion.
    #[arg(long, value_parser = parse_scope)]
    scope: Scope,
    /// Only windows of this email (login and password_reset).
    #[arg(long)]
    email: Option<String>,
    /// Only windows of this client IP.
    #[arg(long)]
    ip: Option<IpAddr>,
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    text.parse()
}

#[derive(Serialize)]
struct WindowJson {
    key: String,
    ip: Option<String>,
    counted: u64,
    limit: u32,
    remaining: u64,
    free_in_seconds: u64,
    locked: bool,
}

pub fn run(command: ThrottleCommand, context: &Context) -> Result<(), CliError> {
    let selection = match &command {
        ThrottleCommand::Show(selection) | ThrottleCommand::Clear { selection, .. } => selection,
    };
    if selection.email.is_some() && !selection.scope.counts_email() {
        return Err(CliError::Usage(format!(
            "scope {} counts per IP only: --email does not apply",
            selection.scope
        )));
    }
    let redis = &context.config.redis;
    let url = redis.url.as_ref().ok_or_else(|| {
        CliError::Usage(
            "no Redis is configured (redis.url / REDIS_URL): each server keeps its windows in its own memory, which this command cannot reach".into(),
        )
    })?;
    let client = redis::Client::open(url.expose())
        .map_err(|e| CliError::Usage(format!("invalid redis.url: {e}")))?;
    let mut connection = client
        .get_connection_with_timeout(*context.config.database.connect_timeout)
        .map_err(|e| CliError::Failed(format!("Redis unavailable: {e}")))?;
    let pattern = pattern(&redis.key_prefix, selection);
    let keys = matching_keys(&mut connection, &pattern)?;
    match command {
        ThrottleCommand::Show(selection) => show(context, &mut connection, &selection, keys),
        ThrottleCommand::Clear { selection, all } => {
            if selection.email.is_none() && selection.ip.is_none() && !all {
                return Err(CliError::Usage(
                    "say whose windows to clear with --email and/or --ip, or --all for the whole scope".into(),
                ));
            }
            let cleared: u64 = if keys.is_empty() {
                0
            } else {
                connection.del(&keys).map_err(redis_failed)?
            };
            match context.output {
                OutputFormat::Json => output::print_json(&serde_json::json!({"cleared": cleared})),
                OutputFormat::Table => output::print(format!(
                    "Cleared {cleared} window(s) of scope {}.",
                    selection.scope
                )),
            }
        }
    }
}

fn redis_failed(error: redis::RedisError) -> CliError {
    CliError::Failed(format!("Redis: {error}"))
}

/// The SCAN pattern for the selection (prefix escaped for glob syntax).
fn pattern(prefix: &str, selection: &Selection) -> String {
    let escaped: String = prefix
        .chars()
        .flat_map(|c| {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect();
    let ip = selection
        .ip
        .map_or_else(|| "*".to_string(), |ip| ip.to_string());
    let scope = selection.scope;
    if scope.counts_email() {
        let email = selection
            .email
            .as_deref()
            .map_or_else(|| "*".to_string(), email_hash);
        format!("{escaped}throttle_{scope}_{ip}_{email}")
    } else {
        format!("{escaped}throttle_{scope}_{ip}")
    }
}

fn matching_keys(
    connection: &mut redis::Connection,
    pattern: &str,
) -> Result<Vec<String>, CliError> {
    let mut keys: Vec<String> = connection
        .scan_match::<_, String>(pattern)
        .map_err(redis_failed)?
        .collect::<Result<_, _>>()
        .map_err(redis_failed)?;
    keys.sort();
    Ok(keys)
}

fn show(
    context: &Context,
    connection: &mut redis::Connection,
    selection: &Selection,
    keys: Vec<String>,
) -> Result<(), CliError> {
    let rate = selection.scope.rate(&context.config.throttle.rates);
    let window_us = rate.window.as_micros() as f64;
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(connection).map_err(redis_failed)?;
    let now = (secs * 1_000_000 + micros) as f64;
    let prefix_len =
        context.config.redis.key_prefix.len() + format!("throttle_{}_", selection.scope).len();
    let mut windows = Vec::new();
    for key in keys.into_iter().take(MAX_LISTED) {
        let counted: u64 = connection
            .zcount(&key, now - window_us, "+inf")
            .map_err(redis_failed)?;
        let oldest: Vec<(String, f64)> = connection
            .zrangebyscore_limit_withscores(&key, now - window_us, "+inf", 0, 1)
            .map_err(redis_failed)?;
        let free_in = oldest
            .first()
            .map_or(0.0, |(_, at)| (at + window_us - now).max(0.0) / 1e6)
            .ceil() as u64;
        let ident = key.get(prefix_len..).unwrap_or("");
        let ip = if selection.scope.counts_email() {
            ident.rsplit_once('_').map(|(ip, _)| ip)
        } else {
            Some(ident)
        };
        windows.push(WindowJson {
            ip: ip.map(str::to_string),
            counted,
            limit: rate.count,
            remaining: u64::from(rate.count).saturating_sub(counted),
            free_in_seconds: free_in,
            locked: counted >= u64::from(rate.count),
            key,
        });
    }
    match context.output {
        OutputFormat::Json => output::print_json(&windows),
        OutputFormat::Table if windows.is_empty() => output::print(format!(
            "Nothing counted for scope {} with this selection.",
            selection.scope
        )),
        OutputFormat::Table => {
            let mut table = output::table(&[
                "client ip",
                "counted",
                "limit",
                "remaining",
                "free in",
                "locked out",
            ]);
            for w in &windows {
                table.add_row([
                    w.ip.clone().unwrap_or_default(),
                    w.counted.to_string(),
                    w.limit.to_string(),
                    w.remaining.to_string(),
                    format!("{} s", w.free_in_seconds),
                    if w.locked { "yes" } else { "no" }.to_string(),
                ]);
            }
            output::print(table)
        }
    }
}
