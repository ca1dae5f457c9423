//! What the audit log records: an [`AuditEvent`] (what happened, to whom,
//! how it ended) and its [`Origin`] (who asked: the API with the client's
//! address and request id, or an admin command with the OS user). The
//! names of types, outcomes and reasons are the stored and logged words,
//! so they never change once released.

use std::fmt;
use std::net::IpAddr;

use super::{ClientInfo, Timestamp, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// An account registered itself (`POST /api/auth/register/`).
    Register,
    /// A login, succeeded or failed (the reason says why).
    Login,
    /// A throttle scope started refusing an identity (one per window).
    ThrottleRefused,
    Refresh,
    /// A rotated refresh token came back after the grace: session revoked.
    RefreshReuse,
    /// `POST /api/auth/logout/`; the detail is the scope.
    Logout,
    /// The owner ended one of their sessions (`DELETE /api/auth/sessions/{id}/`).
    SessionEnded,
    /// The owner changed their password with the old one.
    PasswordChanged,
    /// A reset was asked for: one row per existing account asking; unknown
    /// emails as one row per writer flush whose `count` says how many.
    ResetRequested,
    ResetConfirmed,
    UserCreated,
    UserUpdated,
    UserDisabled,
    UserEnabled,
    UserDeleted,
    /// An admin set a password.
    PasswordSet,
    /// An admin revoked tokens (`authd token revoke`).
    TokenRevoked,
    KeyGenerated,
    /// `authd import django` ran; the detail counts what it did.
    DjangoImport,
}

impl EventType {
    pub const ALL: [EventType; 19] = [
        EventType::Register,
        EventType::Login,
        EventType::ThrottleRefused,
        EventType::Refresh,
        EventType::RefreshReuse,
        EventType::Logout,
        EventType::SessionEnded,
        EventType::PasswordChanged,
        EventType::ResetRequested,
        EventType::ResetConfirmed,
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDisabled,
        EventType::UserEnabled,
        EventType::UserDeleted,
        EventType::PasswordSet,
        EventType::TokenRevoked,
        EventType::KeyGenerated,
        EventType::DjangoImport,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::Register => "register",
            EventType::Login => "login",
            EventType::ThrottleRefused => "throttle_refused",
            EventType::Refresh => "refresh",
            EventType::RefreshReuse => "refresh_reuse",
            EventType::Logout => "logout",
            EventType::SessionEnded => "session_ended",
            EventType::PasswordChanged => "password_changed",
            EventType::ResetRequested => "reset_requested",
            EventType::ResetConfirmed => "reset_confirmed",
            EventType::UserCreated => "user_created",
            EventType::UserUpdated => "user_updated",
            EventType::UserDisabled => "user_disabled",
            EventType::UserEnabled => "user_enabled",
            EventType::UserDeleted => "user_deleted",
            EventType::PasswordSet => "password_set",
            EventType::TokenRevoked => "token_revoked",
            EventType::KeyGenerated => "key_generated",
            EventType::DjangoImport => "django_import",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    pub fn parse(name: &str) -> Option<Outcome> {
        [Outcome::Success, Outcome::Failure]
            .into_iter()
            .find(|o| o.name() == name)
    }
}

/// Why a login failed: kept apart in the log, never told to the client
/// (which gets the same `invalid_credentials` for all three).
pub mod login_failure {
    pub const UNKNOWN_EMAIL: &str = "unknown_email";
    pub const WRONG_PASSWORD: &str = "wrong_password";
    pub const DISABLED: &str = "disabled";
}

/// Who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A request to the HTTP API.
    Api,
    /// An admin command, run by this OS user.
    Cli { os_user: String },
}

impl Actor {
    /// `api` or `cli`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Api => "api",
            Actor::Cli { .. } => "cli",
        }
    }

    /// The OS user of a command.
    pub fn os_user(&self) -> Option<&str> {
        match self {
            Actor::Api => None,
            Actor::Cli { os_user } => Some(os_user),
        }
    }

    /// The user running this process: `$USER` (or `$LOGNAME`), else the
    /// numeric uid, so an event always names someone.
    pub fn current_cli() -> Actor {
        let os_user = ["USER", "LOGNAME"]
            .into_iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|name| !name.is_empty() && name.len() <= 64)
            .unwrap_or_else(current_uid);
        Actor::Cli { os_user }
    }
}

#[cfg(unix)]
fn current_uid() -> String {
    // SAFETY: getuid(2) cannot fail and touches no memory of ours.
    format!("uid {}", unsafe { libc::getuid() })
}

#[cfg(not(unix))]
fn current_uid() -> String {
    "unknown".to_string()
}

/// Where a change came from, as services receive it from the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub actor: Actor,
    /// The client of an API request.
    pub client: Option<ClientInfo>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

impl Origin {
    pub fn api(client: ClientInfo, request_id: Option<String>) -> Origin {
        Origin {
            actor: Actor::Api,
            client: Some(client),
            request_id,
        }
    }

    /// An admin command of the current OS user.
    pub fn cli() -> Origin {
        Origin {
            actor: Actor::current_cli(),
            client: None,
            request_id: None,
        }
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.client.as_ref().map(ClientInfo::ip)
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.client.as_ref().and_then(ClientInfo::user_agent)
    }

    pub fn is_cli(&self) -> bool {
        matches!(self.actor, Actor::Cli { .. })
    }
}

/// One entry of the audit log: complete when made, never updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub kind: EventType,
    pub outcome: Outcome,
    /// Why it failed (`login_failure`), or another short machine word.
    pub reason: Option<&'static str>,
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub session_id: Option<String>,
    /// A short free-form word or count (a logout's scope, an import's totals).
    pub detail: Option<String>,
    /// How many occurrences this row stands for (1 but for aggregates).
    pub count: u64,
    pub origin: Origin,
}

impl AuditEvent {
    pub fn new(kind: EventType, outcome: Outcome, origin: &Origin) -> AuditEvent {
        AuditEvent {
            at: super::now(),
            kind,
            outcome,
            reason: None,
            user_id: None,
            email: None,
            session_id: None,
            detail: None,
            count: 1,
            origin: origin.clone(),
        }
    }

    pub fn success(kind: EventType, origin: &Origin) -> AuditEvent {
        AuditEvent::new(kind, Outcome::Success, origin)
    }

    pub fn failure(kind: EventType, reason: &'static str, origin: &Origin) -> AuditEvent {
        AuditEvent {
            reason: Some(reason),
            ..AuditEvent::new(kind, Outcome::Failure, origin)
        }
    }

    /// The account it concerns.
    pub fn user(mut self, user: &super::User) -> AuditEvent {
        self.user_id = Some(user.id);
        self.email = Some(user.email.as_str().to_string());
        self
    }

    pub fn user_id(mut self, id: UserId) -> AuditEvent {
        self.user_id = Some(id);
        self
    }

    pub fn email(mut self, email: &str) -> AuditEvent {
        self.email = Some(email.to_string());
        self
    }

    pub fn session(mut self, session_id: &str) -> AuditEvent {
        self.session_id = Some(session_id.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> AuditEvent {
        self.detail = Some(detail.into());
        self
    }

    pub fn count(mut self, count: u64) -> AuditEvent {
        self.count = count;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_name_parses_back() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.name()), Some(kind));
        }
        assert_eq!(EventType::parse("Login"), None);
    }
}
