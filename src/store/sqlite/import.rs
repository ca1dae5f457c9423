//! Imported accounts on SQLite (see `store::import`). The batch runs in one
//! `BEGIN IMMEDIATE` transaction, so no other writer can take an id or an
//! email between the look-up and the insert. AUTOINCREMENT keeps its counter
//! above the largest id ever inserted, explicit ones included.

use rusqlite::{params, TransactionBehavior};

use super::legacy_tokens::insert_blacklisted;
use super::{db_error, to_micros, SqliteStore};
use crate::store::import::{ImportOutcome, ImportStore, ImportedUser, OnConflict};
use crate::store::legacy_tokens::LegacyBlacklistEntry;
use crate::store::{stored_user_id, StoreError};

impl ImportStore for SqliteStore {
    fn import_users(
        &self,
        users: &[ImportedUser],
        on_conflict: OnConflict,
        dry_run: bool,
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let mut outcomes = Vec::with_capacity(users.len());
        for user in users {
            let outcome = import_one(&tx, user, on_conflict)?;
            outcomes.push(outcome);
            if outcome == ImportOutcome::Conflict {
                return Ok(outcomes);
            }
        }
        if !dry_run {
            tx.commit().map_err(db_error)?;
        }
        Ok(outcomes)
    }

    fn import_legacy_blacklist(
        &self,
        entries: &[LegacyBlacklistEntry],
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let mut added = 0;
        for entry in entries {
            added += u64::from(insert_blacklisted(&tx, entry).map_err(db_error)?);
        }
        if !dry_run {
            tx.commit().map_err(db_error)?;
        }
        Ok(added)
    }
}

fn import_one(
    tx: &rusqlite::Transaction<'_>,
    user: &ImportedUser,
    on_conflict: OnConflict,
) -> Result<ImportOutcome, StoreError> {
    let mut holders = tx
        .prepare_cached("SELECT id FROM users WHERE id = ?1 OR email_lower = ?2")
        .map_err(db_error)?;
    let ids = holders
        .query_map(params![user.id.get(), user.email.lowered()], |row| {
            row.get::<_, i64>(0)
        })
        .map_err(db_error)?
        .collect::<rusqlite::Result<Vec<i64>>>()
        .map_err(db_error)?;
    if let Some(&other) = ids.iter().find(|&&id| id != user.id.get()) {
        return Ok(ImportOutcome::EmailTaken(Some(stored_user_id(other)?)));
    }
    let exists = !ids.is_empty();
    let values = params![
        user.id.get(),
        user.email.as_str(),
        user.email.lowered(),
        user.full_name.as_str(),
        user.password_hash.as_str(),
        user.is_active,
        user.is_staff,
        user.is_superuser,
        to_micros(user.date_joined),
        user.last_login.map(to_micros),
    ];
    match (exists, on_conflict) {
        (false, _) => {
            tx.prepare_cached(
                "INSERT INTO users (id, email, email_lower, full_name, password_hash, is_active, is_staff,
                                    is_superuser, date_joined, last_login, tokens_valid_after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0)",
            )
            .and_then(|mut insert| insert.execute(values))
            .map_err(db_error)?;
            Ok(ImportOutcome::Imported)
        }
        (true, OnConflict::Skip) => Ok(ImportOutcome::Skipped),
        (true, OnConflict::Fail) => Ok(ImportOutcome::Conflict),
        (true, OnConflict::Update) => {
            tx.prepare_cached(
                "UPDATE users SET email = ?2, email_lower = ?3, full_name = ?4, password_hash = ?5,
                                  is_active = ?6, is_staff = ?7, is_superuser = ?8, date_joined = ?9,
                                  last_login = ?10
                 WHERE id = ?1",
            )
            .and_then(|mut update| update.execute(values))
            .map_err(db_error)?;
            Ok(ImportOutcome::Updated)
        }
    }
}
