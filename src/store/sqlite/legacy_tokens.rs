//! Tokens of the Django service on SQLite (see `store::legacy_tokens`; its
//! `sql` has the shared statements): the redemption in a `BEGIN IMMEDIATE`
//! transaction, rolled back when it is refused.

use super::conn::Lite;
use super::{db_error, SqliteStore};
use crate::domain::UserId;
use crate::store::legacy_tokens::{sql, LegacyBlacklistEntry, LegacyRedemption, LegacyTokenStore};
use crate::store::session_sql::insert_session;
use crate::store::sessions::AccessState;
use crate::store::StoreError;

impl LegacyTokenStore for SqliteStore {
    fn legacy_access_state(
        &self,
        user_id: UserId,
        jti: &str,
    ) -> Result<Option<AccessState>, StoreError> {
        sql::access_state(&mut Lite(&*self.conn()?), user_id, jti)
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
        insert_session(&mut Lite(&tx), &redemption.session)?;
        tx.commit().map_err(db_error)?;
        Ok(true)
    }
}
