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

/// The statements of a batch, shared by both backends (see `dialect`);
/// each backend opens the batch's transaction (SQLite's `BEGIN IMMEDIATE`,
/// so no other writer takes an id or an email between the look-up and the
/// insert), commits it, and on Postgres moves the identity sequence.
pub(crate) mod sql {
    use super::{ImportOutcome, ImportedUser, OnConflict};
    use crate::store::dialect::{Conn, ConnExt, Sql, SqlRowExt, SqlValue};
    use crate::store::legacy_tokens::{self, LegacyBlacklistEntry};
    use crate::store::StoreError;

    static HOLDERS: Sql = Sql::new("SELECT id FROM users WHERE id = $1 OR email_lower = $2");
    /// `ON CONFLICT DO NOTHING` covers a registration racing the batch for
    /// the same email (on Postgres; SQLite's lock keeps it out).
    static INSERT: Sql = Sql::new(
        "INSERT INTO users (id, email, email_lower, full_name, password_hash, is_active, is_staff,
                            is_superuser, date_joined, last_login, tokens_valid_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT DO NOTHING",
    );
    static UPDATE: Sql = Sql::new(
        "UPDATE users SET email = $2, email_lower = $3, full_name = $4, password_hash = $5,
                          is_active = $6, is_staff = $7, is_superuser = $8, date_joined = $9,
                          last_login = $10
         WHERE id = $1",
    );

    /// Imports `users` in order, stopping after the first
    /// [`ImportOutcome::Conflict`] (the caller then rolls back).
    pub(crate) fn users(
        tx: &mut dyn Conn,
        users: &[ImportedUser],
        on_conflict: OnConflict,
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(users.len());
        for user in users {
            let outcome = one(tx, user, on_conflict)?;
            outcomes.push(outcome);
            if outcome == ImportOutcome::Conflict {
                break;
            }
        }
        Ok(outcomes)
    }

    fn one(
        tx: &mut dyn Conn,
        user: &ImportedUser,
        on_conflict: OnConflict,
    ) -> Result<ImportOutcome, StoreError> {
        let ids = tx.rows(
            &HOLDERS,
            &[user.id.into(), user.email.lowered().into()],
            |row| row.int_nn(0),
        )?;
        if let Some(&other) = ids.iter().find(|&&id| id != user.id.get()) {
            return Ok(ImportOutcome::EmailTaken(Some(
                crate::store::stored_user_id(other)?,
            )));
        }
        let mut values: Vec<SqlValue> = vec![
            user.id.into(),
            user.email.as_str().into(),
            user.email.lowered().into(),
            user.full_name.as_str().into(),
            user.password_hash.as_str().into(),
            user.is_active.into(),
            user.is_staff.into(),
            user.is_superuser.into(),
            user.date_joined.into(),
            user.last_login.into(),
        ];
        match (ids.is_empty(), on_conflict) {
            (true, _) => {
                // Imported tokens were never cut off.
                values.push(chrono::DateTime::UNIX_EPOCH.into());
                Ok(if tx.execute(&INSERT, &values)? == 1 {
                    ImportOutcome::Imported
                } else {
                    ImportOutcome::EmailTaken(None)
                })
            }
            (false, OnConflict::Skip) => Ok(ImportOutcome::Skipped),
            (false, OnConflict::Fail) => Ok(ImportOutcome::Conflict),
            (false, OnConflict::Update) => {
                tx.execute(&UPDATE, &values)?;
                Ok(ImportOutcome::Updated)
            }
        }
    }

    /// Blacklists `entries`; how many were new.
    pub(crate) fn blacklist(
        tx: &mut dyn Conn,
        entries: &[LegacyBlacklistEntry],
    ) -> Result<u64, StoreError> {
        let mut added = 0;
        for entry in entries {
            added += u64::from(legacy_tokens::sql::blacklist(tx, entry)?);
        }
        Ok(added)
    }
}
