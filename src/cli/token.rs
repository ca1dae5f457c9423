//! `authd token revoke|list`: end one refresh token, one login session or
//! every token of a user, and see a user's sessions with their tokens. The
//! store is the one running servers check, so a revocation takes effect on
//! all of them within `jwt.revocation_cache_ttl` (at most a second: each
//! server reuses an access check that long).

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{self, OutputFormat};
use super::user::find_user;
use super::{database, CliError, Context};
use crate::domain::{self, rfc3339, Timestamp};
use crate::store::{revoked_reason, RefreshInfo, RevokeScope};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke one refresh token, one session (its refresh and access tokens), or all of a user's tokens.
    Revoke(RevokeTarget),
    /// List a user's sessions with their refresh tokens: issued, expires, state, why revoked.
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
    revoked_at: Option<String>,
    revoked_reason: Option<&'a str>,
    tokens: Vec<TokenJson<'a>>,
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
            if store.session_user(&sid)?.is_none() {
                return Err(CliError::Failed(format!("no such session: {sid}")));
            }
            let revoked = store.revoke_sessions(
                &RevokeScope::Session(sid.clone()),
                revoked_reason::ADMIN_REVOKED,
                now,
            )?;
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
            let sessions = store.list_sessions(user.id, active, now)?;
            let at = |t: &Option<Timestamp>| t.as_ref().map(rfc3339);
            let json: Vec<SessionJson> = sessions
                .iter()
                .map(|s| SessionJson {
                    session: &s.sid,
                    created_at: rfc3339(&s.created_at),
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
                    let mut table = output::table(&[
                        "session",
                        "refresh token (jti)",
                        "issued",
                        "expires",
                        "state",
                        "why",
                    ]);
                    for session in &json {
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
                    output::print(table)
                }
            }
        }
    }
}

fn report(context: &Context, json: serde_json::Value, text: String) -> Result<(), CliError> {
    match context.output {
        OutputFormat::Json => output::print_json(&json),
        OutputFormat::Table => output::print(text),
    }
}
