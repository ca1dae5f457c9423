//! `authd token revoke|list`: end one refresh token, one login session or
//! every token of a user, and see a user's sessions (where each was started
//! and last refreshed from, as their owner sees them) with their tokens. The
//! store is the one running servers check, so a revocation takes effect on
//! all of them within `jwt.revocation_cache_ttl` (at most a second: each
//! server reuses an access check that long).

use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{self, OutputFormat};
use super::user::find_user;
use super::{database, CliError, Context};
use crate::audit::Audit;
use crate::domain::{self, rfc3339, AuditEvent, ClientInfo, EventType, Origin, Timestamp};
use crate::store::{revoked_reason, RefreshInfo, RevokeScope, SessionInfo, SessionQuery};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke one refresh token, one session (its refresh and access tokens), or all of a user's tokens.
    Revoke(RevokeTarget),
    /// List a user's sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked.
    List {
        /// The account: its numeric id or its email.
        #[arg(long, value_name = "ID|EMAIL")]
        user: String,
        /// Only sessions that can still be refreshed.
        #[arg(long)]
        active: bool,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RevokeTarget {
    /// One refresh token, by its jti.
    #[arg(long)]
    jti: Option<String>,
    /// One login session (the sid claim): its refresh and access tokens.
    #[arg(long, value_name = "SID")]
    session: Option<String>,
    /// Every session and token of an account, access tokens included.
    #[arg(long, value_name = "ID|EMAIL")]
    user: Option<String>,
}

#[derive(Serialize)]
struct TokenJson<'a> {
    jti: &'a str,
    issued_at: String,
    expires_at: String,
    state: &'static str,
    revoked_at: Option<String>,
    revoked_reason: Option<&'a str>,
    replaced_by: Option<&'a str>,
}

#[derive(Serialize)]
struct SessionJson<'a> {
    session: &'a str,
    created_at: String,
    created_ip: Option<String>,
    created_user_agent: Option<&'a str>,
    last_refreshed_at: Option<String>,
    last_ip: Option<String>,
    last_user_agent: Option<&'a str>,
    state: &'static str,
    revoked_at: Option<String>,
    revoked_reason: Option<&'a str>,
    tokens: Vec<TokenJson<'a>>,
}

/// `revoked`, `active` (it can still be refreshed) or `expired`.
fn session_state(session: &SessionInfo, now: &Timestamp) -> &'static str {
    match session.revoked_at {
        Some(_) => "revoked",
        None if session.tokens.iter().any(|t| state(t, now) == "active") => "active",
        None => "expired",
    }
}

fn state(token: &RefreshInfo, now: &Timestamp) -> &'static str {
    match (&token.revoked_at, token.expires_at <= *now) {
        (Some(_), _) => "revoked",
        (None, true) => "expired",
        (None, false) => "active",
    }
}

pub fn run(command: TokenCommand, context: &Context) -> Result<(), CliError> {
    let store = database::open_current(context)?;
    let audit = Audit::for_command(&context.config.audit, Arc::clone(&store));
    let revoked_event = || AuditEvent::success(EventType::TokenRevoked, &Origin::cli());
    let store = store.as_ref();
    let now = domain::now();
    match command {
        TokenCommand::Revoke(RevokeTarget { jti: Some(jti), .. }) => {
            // Idempotent like --session: a second run finds it revoked and
            // succeeds; only a jti never issued is an error.
            let revoked = store.revoke_refresh_token(&jti, revoked_reason::ADMIN_REVOKED, now)?;
            if !revoked && !store.refresh_token_known(&jti)? {
                return Err(CliError::Failed(format!("no refresh token with jti {jti}")));
            }
            audit.record(revoked_event().detail(format!("refresh token {jti}")));
            let text = if revoked {
                format!("Revoked refresh token {jti}.")
            } else {
                format!("Refresh token {jti} was already revoked.")
            };
            report(
                context,
                serde_json::json!({"revoked": {"jti": jti, "tokens": u64::from(revoked)}}),
                text,
            )
        }
        TokenCommand::Revoke(RevokeTarget {
            session: Some(sid), ..
        }) => {
            let Some(owner) = store.session_user(&sid)? else {
                return Err(CliError::Failed(format!("no such session: {sid}")));
            };
            let revoked = store.revoke_sessions(
                &RevokeScope::Session(sid.clone()),
                revoked_reason::ADMIN_REVOKED,
                now,
            )?;
            audit.record(
                revoked_event()
                    .user_id(owner)
                    .session(&sid)
                    .detail("session"),
            );
            let text = if revoked == 0 {
                "was already revoked"
            } else {
                "is revoked, its access tokens too"
            };
            report(
                context,
                serde_json::json!({"revoked": {"session": sid, "sessions": revoked}}),
                format!("Session {sid} {text}."),
            )
        }
        TokenCommand::Revoke(RevokeTarget {
            user: Some(user), ..
        }) => {
            let user = find_user(store, &user)?;
            let revoked = store.revoke_sessions(
                &RevokeScope::AllSessions(user.id),
                revoked_reason::ADMIN_REVOKED,
                now,
            )?;
            audit.record(revoked_event().user(&user).detail("all sessions"));
            report(
                context,
                serde_json::json!({"revoked": {"user": user.id.get(), "sessions": revoked}}),
                format!("Revoked {revoked} session(s) of user {} <{}>; every token issued before now is refused.", user.id, user.email),
            )
        }
        TokenCommand::Revoke(_) => Err(CliError::Usage(
            "give one of --jti, --session or --user".into(),
        )),
        TokenCommand::List { user, active } => {
            let user = find_user(store, &user)?;
            let sessions = store.list_sessions(&SessionQuery {
                user_id: user.id,
                live_only: active,
                at: now,
                limit: None,
                with_tokens: true,
            })?;
            let at = |t: &Option<Timestamp>| t.as_ref().map(rfc3339);
            let ip = |c: &Option<ClientInfo>| c.as_ref().map(|c| c.ip().to_string());
            let json: Vec<SessionJson> = sessions
                .iter()
                .map(|s| SessionJson {
                    session: &s.sid,
                    created_at: rfc3339(&s.created_at),
                    created_ip: ip(&s.created_by),
                    created_user_agent: s.created_by.as_ref().and_then(ClientInfo::user_agent),
                    last_refreshed_at: at(&s.last_refreshed_at),
                    last_ip: ip(&s.last_refreshed_by),
                    last_user_agent: s
                        .last_refreshed_by
                        .as_ref()
                        .and_then(ClientInfo::user_agent),
                    state: session_state(s, &now),
                    revoked_at: at(&s.revoked_at),
                    revoked_reason: s.revoked_reason.as_deref(),
                    tokens: s
                        .tokens
                        .iter()
                        .map(|t| TokenJson {
                            jti: &t.jti,
                            issued_at: rfc3339(&t.issued_at),
                            expires_at: rfc3339(&t.expires_at),
                            state: state(t, &now),
                            revoked_at: at(&t.revoked_at),
                            revoked_reason: t.revoked_reason.as_deref(),
                            replaced_by: t.replaced_by.as_deref(),
                        })
                        .collect(),
                })
                .collect();
            match context.output {
                OutputFormat::Json => output::print_json(&json),
                OutputFormat::Table if json.is_empty() => output::print(format!(
                    "No sessions for user {} <{}>.",
                    user.id, user.email
                )),
                OutputFormat::Table => {
                    output::print(sessions_table(&json))?;
                    output::print("")?;
                    output::print(tokens_table(&json))
                }
            }
        }
    }
}

/// One row per session: when and from where it started and was last refreshed.
fn sessions_table(sessions: &[SessionJson]) -> comfy_table::Table {
    let mut table = output::table(&[
        "session",
        "created",
        "created ip",
        "created user agent",
        "last refreshed",
        "last ip",
        "last user agent",
        "state",
        "why",
    ]);
    let text = |value: Option<&str>| value.unwrap_or("-").to_string();
    for session in sessions {
        table.add_row([
            session.session.to_string(),
            session.created_at.clone(),
            text(session.created_ip.as_deref()),
            text(session.created_user_agent),
            text(session.last_refreshed_at.as_deref()),
            text(session.last_ip.as_deref()),
            text(session.last_user_agent),
            session.state.to_string(),
            session.revoked_reason.unwrap_or("").to_string(),
        ]);
    }
    table
}

/// One row per refresh token, sessions in the order of the sessions table.
fn tokens_table(sessions: &[SessionJson]) -> comfy_table::Table {
    let mut table = output::table(&[
        "session",
        "refresh token (jti)",
        "issued",
        "expires",
        "state",
        "why",
    ]);
    for session in sessions {
        for token in &session.tokens {
            table.add_row([
                session.session.to_string(),
                token.jti.to_string(),
                token.issued_at.clone(),
                token.expires_at.clone(),
                token.state.to_string(),
                token
                    .revoked_reason
                    .or(session.revoked_reason)
                    .unwrap_or("")
                    .to_string(),
            ]);
        }
    }
    table
}

fn report(context: &Context, json: serde_json::Value, text: String) -> Result<(), CliError> {
    match context.output {
        OutputFormat::Json => output::print_json(&json),
        OutputFormat::Table => output::print(text),
    }
}
