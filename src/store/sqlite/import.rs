//! Imported accounts on SQLite (see `store::import`, whose `sql` has the
//! statements). The batch runs in one `BEGIN IMMEDIATE` transaction, so no
//! other writer can take an id or an email between the look-up and the
//! insert. AUTOINCREMENT keeps its counter above the largest id ever
//! inserted, explicit ones included.

use rusqlite::TransactionBehavior;

use super::conn::Lite;
use super::{db_error, SqliteStore};
use crate::store::import::{sql, ImportOutcome, ImportStore, ImportedUser, OnConflict};
use crate::store::legacy_tokens::LegacyBlacklistEntry;
use crate::store::StoreError;

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
        let outcomes = sql::users(&mut Lite(&tx), users, on_conflict)?;
        if !dry_run && outcomes.last() != Some(&ImportOutcome::Conflict) {
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
        let added = sql::blacklist(&mut Lite(&tx), entries)?;
        if !dry_run {
            tx.commit().map_err(db_error)?;
        }
        Ok(added)
    }
}
