//! Writing accounts imported from another service (`authd import django`).
//!
//! Imported accounts keep their ids, so the `user_id` of tokens the old
//! service issued still names the right account: both backends insert with
//! an explicit id (and Postgres moves its identity sequence past the largest
//! one, so later registrations do not collide). A batch is one transaction;
//! a dry run executes it and rolls it back, so its counts are exact. What
//! happens to an account whose id already exists is the caller's choice
//! ([`OnConflict`]); an email that belongs to an account with another id is
//! never overwritten.

use super::legacy_tokens::LegacyBlacklistEntry;
use super::StoreError;
use crate::domain::PasswordHash;
use crate::domain::{Email, FullName, Timestamp, UserId};

/// An account to import, already parsed. Its password hash is copied as
/// the old service stored it (verified and replaced at the first login).
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub id: UserId,
    pub email: Email,
    pub full_name: FullName,
    pub password_hash: PasswordHash,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: Timestamp,
    pub last_login: Option<Timestamp>,
}

/// What to do with an account whose id exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Leave the existing account as it is.
    Skip,
    /// Overwrite it with the imported values (password hash included);
    /// its tokens and sessions stay as they are.
    Update,
    /// Stop: the batch is rolled back and the import ends.
    Fail,
}

/// What happened to one account of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    Updated,
    Skipped,
    /// The email belongs to another account (`None`: one registered while
    /// the batch ran).
    EmailTaken(Option<UserId>),
    /// The id exists and `OnConflict::Fail` was asked: nothing of the batch
    /// was written, and the accounts after this one were not looked at.
    Conflict,
}

pub trait ImportStore {
    /// Writes `users` in one transaction (rolled back when `dry_run`, or on
    /// a `Conflict`); one outcome per user, in order (fewer after a `Conflict`).
    fn import_users(
        &self,
        users: &[ImportedUser],
        on_conflict: OnConflict,
        dry_run: bool,
    ) -> Result<Vec<ImportOutcome>, StoreError>;

    /// Records legacy token ids that must stay refused; returns how many
    /// were new. Rolled back when `dry_run`.
    fn import_legacy_blacklist(
        &self,
        entries: &[LegacyBlacklistEntry],
        dry_run: bool,
    ) -> Result<u64, StoreError>;
}
