//! `authd throttle show|clear`: what the throttle counts for a person, an
//! address or a user, and how to unlock someone locked out, acting directly
//! on the Redis that the servers share. The key layout, email hashing and
//! IPv6 networks come from `crate::throttle`, so these commands find exactly
//! what servers write. A scope's SCAN pattern can also match another
//! scope's keys (`throttle_login_*` matches `throttle_login_ip_...`), so
//! each key found is parsed back and kept only if it is of the scope asked.

use std::net::IpAddr;

use clap::{Args, Subcommand};
use redis::AsyncCommands;
use serde::Serialize;

use super::output::{self, OutputFormat};
use super::{CliError, Context};
use crate::domain::UserId;
use crate::kv::{Kv, KvError};
use crate::throttle::{email_hash, parse_ident, ClientNet, Counts, Scope};

/// Most windows `show` lists.
const MAX_LISTED: usize = 1000;
/// Most keys one command looks at (`clear --all` of a bigger flood runs again).
const MAX_SCANNED: usize = 1_000_000;

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
    /// The throttle scope whose windows to act on.
    #[arg(long, value_parser = super::scope_arg::parser())]
    scope: Scope,
    /// Only windows of this email (login and password_reset).
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// Only windows of this client IP (an IPv6 address stands for its network, see throttle.ipv6_prefix).
    #[arg(long, value_name = "IP")]
    ip: Option<IpAddr>,
    /// Only the window of this user id (password_change).
    #[arg(long, value_parser = parse_user)]
    user: Option<UserId>,
}

fn parse_user(text: &str) -> Result<UserId, String> {
    text.parse()
        .ok()
        .and_then(UserId::new)
        .ok_or_else(|| format!("{text:?} is not a user id (a positive integer)"))
}

#[derive(Serialize)]
struct WindowJson {
    key: String,
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
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
    let scope = selection.scope;
    match scope.counts() {
        Counts::Client if selection.email.is_some() => {
            return Err(CliError::Usage(format!(
                "scope {scope} counts per IP only: --email does not apply"
            )))
        }
        Counts::User if selection.email.is_some() || selection.ip.is_some() => {
            return Err(CliError::Usage(format!(
                "scope {scope} counts per user: select with --user ID"
            )))
        }
        Counts::Client | Counts::ClientAndEmail if selection.user.is_some() => {
            return Err(CliError::Usage(format!(
                "scope {scope} counts per client, not per user: --user does not apply"
            )))
        }
        _ => {}
    }
    let redis = &context.config.redis;
    let url = redis.url.as_ref().ok_or_else(|| {
        CliError::Usage(
            "no Redis is configured (redis.url / REDIS_URL): each server keeps its windows in its own memory, which this command cannot reach; a lockout lifts when its window frees (the 429's Retry-After), and restarting the server clears them all".into(),
        )
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // The servers' own connection: one server, TLS, Cluster or Sentinel alike.
        let kv = Kv::connect_lazy(redis)
            .map_err(|e| CliError::Usage(e.to_string()))?
            .ok_or_else(|| CliError::Usage("no Redis is configured".into()))?;
        let unavailable = |e: KvError| CliError::Failed(format!("Redis unavailable at {url}: {e}"));
        kv.ping().await.map_err(unavailable)?;
        let failed = |e: KvError| CliError::Failed(format!("Redis at {url}: {e}"));
        let ipv6_prefix = context.config.throttle.ipv6_prefix;
        let pattern = pattern(&redis.key_prefix, selection, ipv6_prefix);
        let keys = kv
            .scan_keys(&pattern, MAX_SCANNED)
            .await
            .map_err(failed)?
            .into_iter()
            .filter(|key| ident(context, scope, key).is_some())
            .collect::<Vec<_>>();
        match &command {
            ThrottleCommand::Show(selection) => {
                let windows = windows(context, &kv, selection, keys).await.map_err(failed)?;
                show(context, selection, windows)
            }
            ThrottleCommand::Clear { selection, all } => {
                let chosen =
                    selection.email.is_some() || selection.ip.is_some() || selection.user.is_some();
                if !chosen && !all {
                    return Err(CliError::Usage(
                        "say whose windows to clear with --email and/or --ip (--user for password_change), or --all for the whole scope".into(),
                    ));
                }
                let mut cleared = 0u64;
                // One key per DEL: a Cluster refuses a DEL across slots.
                for key in &keys {
                    cleared += kv
                        .run(|mut c| {
                            let key = key.clone();
                            async move { redis::cmd("DEL").arg(key).query_async::<u64>(&mut c).await }
                        })
                        .await
                        .map_err(failed)?;
                }
                match context.output {
                    OutputFormat::Json => output::print_json(&serde_json::json!({"cleared": cleared})),
                    OutputFormat::Table => output::print(format!(
                        "Cleared {cleared} window(s) of scope {}.",
                        selection.scope
                    )),
                }
            }
        }
    })
}

/// The part of `key` after `{prefix}throttle_{scope}_` when the key is one
/// of `scope`'s windows: its client network and user.
fn ident(
    context: &Context,
    scope: Scope,
    key: &str,
) -> Option<(Option<ClientNet>, Option<UserId>)> {
    let ident = key
        .strip_prefix(context.config.redis.key_prefix.as_str())?
        .strip_prefix(&format!("throttle_{scope}_"))?;
    parse_ident(scope, ident)
}

/// The SCAN pattern for the selection (prefix escaped for glob syntax).
fn pattern(prefix: &str, selection: &Selection, ipv6_prefix: u8) -> String {
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
    let ip = selection.ip.map_or_else(
        || "*".to_string(),
        |ip| ClientNet::new(ip, ipv6_prefix).to_string(),
    );
    let scope = selection.scope;
    match scope.counts() {
        Counts::ClientAndEmail => {
            let email = selection
                .email
                .as_deref()
                .map_or_else(|| "*".to_string(), email_hash);
            format!("{escaped}throttle_{scope}_{ip}_{email}")
        }
        Counts::Client => format!("{escaped}throttle_{scope}_{ip}"),
        Counts::User => {
            let user = selection
                .user
                .map_or_else(|| "*".to_string(), |u| u.to_string());
            format!("{escaped}throttle_{scope}_{user}")
        }
    }
}

/// Each window's count and when it frees, read as the servers read it
/// (the window's sorted set against Redis' own clock).
async fn windows(
    context: &Context,
    kv: &Kv,
    selection: &Selection,
    keys: Vec<String>,
) -> Result<Vec<WindowJson>, KvError> {
    let rate = selection.scope.rate(&context.config.throttle.rates);
    let window_us = rate.window.as_micros() as f64;
    let (secs, micros): (u64, u64) = kv
        .run(|mut c| async move { redis::cmd("TIME").query_async(&mut c).await })
        .await?;
    let now = (secs * 1_000_000 + micros) as f64;
    let mut windows = Vec::new();
    for key in keys.into_iter().take(MAX_LISTED) {
        let (counted, oldest): (u64, Vec<(String, f64)>) = kv
            .run(|mut c| {
                let key = key.clone();
                async move {
                    let counted = c.zcount(&key, now - window_us, "+inf").await?;
                    let oldest = c
                        .zrangebyscore_limit_withscores(&key, now - window_us, "+inf", 0, 1)
                        .await?;
                    Ok((counted, oldest))
                }
            })
            .await?;
        let free_in = oldest
            .first()
            .map_or(0.0, |(_, at)| (at + window_us - now).max(0.0) / 1e6)
            .ceil() as u64;
        let (client, user) = ident(context, selection.scope, &key).unwrap_or_default();
        windows.push(WindowJson {
            ip: client.map(|c| c.to_string()),
            user_id: user.map(UserId::get),
            counted,
            limit: rate.count,
            remaining: u64::from(rate.count).saturating_sub(counted),
            free_in_seconds: free_in,
            locked: counted >= u64::from(rate.count),
            key,
        });
    }
    Ok(windows)
}

fn show(
    context: &Context,
    selection: &Selection,
    windows: Vec<WindowJson>,
) -> Result<(), CliError> {
    match context.output {
        OutputFormat::Json => output::print_json(&windows),
        OutputFormat::Table if windows.is_empty() => output::print(format!(
            "Nothing counted for scope {} with this selection.",
            selection.scope
        )),
        OutputFormat::Table => {
            let mut table = output::table(&[
                if selection.scope.counts() == Counts::User {
                    "user id"
                } else {
                    "client ip"
                },
                "counted",
                "limit",
                "remaining",
                "free in",
                "locked out",
            ]);
            for w in &windows {
                table.add_row([
                    w.ip.clone()
                        .or_else(|| w.user_id.map(|id| id.to_string()))
                        .unwrap_or_default(),
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
