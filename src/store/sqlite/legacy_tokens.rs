//! Tokens of the Django service on SQLite (see `store::legacy_tokens`; its
//! `sql` has the shared statements).

use rusqlite::{params, OptionalExtension};

use super::conn::Lite;
use super::sessions::{access_state_from_row, insert_session};
use super::{db_error, SqliteStore};
use crate::domain::UserId;
use crate::store::legacy_tokens::{sql, LegacyBlacklistEntry, LegacyRedemption, LegacyTokenStore};
use crate::store::sessions::AccessState;
use crate::store::StoreError;

/// Read by `sessions`' row reader, so it stays with this backend.
const LEGACY_ACCESS_STATE: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", EXISTS (SELECT 1 FROM legacy_token_blacklist b WHERE b.jti = ?2)",
    " FROM users u WHERE u.id = ?1"
);

impl LegacyTokenStore for SqliteStore {
    fn legacy_access_state(
        &self,
        user_id: UserId,
        jti: &str,
    ) -> Result<Option<AccessState>, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn.prepare_cached(LEGACY_ACCESS_STATE).map_err(db_error)?;
        statement
            .query_row(params![user_id.get(), jti], access_state_from_row)
            .optional()
            .map_err(db_error)
    }

    fn blacklist_legacy(&self, entry: &LegacyBlacklistEntry) -> Result<bool, StoreError> {
        sql::blacklist(&mut Lite(&*self.writer()?), entry)
    }

    fn redeem_legacy_refresh(&self, redemption: &LegacyRedemption) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_error)?;
        if !sql::blacklist(&mut Lite(&tx), &redemption.token)? {
            return Ok(false);
        }
        if !sql::live(&mut Lite(&tx), redemption)? {
            return Ok(false);
        }
        insert_session(&tx, &redemption.session).map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(true)
    }
}
