//! Tokens of the Django service on Postgres (see `store::legacy_tokens`;
//! its `sql` has the shared statements): the redemption in one
//! transaction, rolled back when it is refused.

use super::conn::Pg;
use super::{db_error, PostgresStore};
use crate::domain::UserId;
use crate::store::legacy_tokens::{sql, LegacyBlacklistEntry, LegacyRedemption, LegacyTokenStore};
use crate::store::session_sql::insert_session;
use crate::store::sessions::AccessState;
use crate::store::StoreError;

impl LegacyTokenStore for PostgresStore {
    fn legacy_access_state(
        &self,
        user_id: UserId,
        jti: &str,
    ) -> Result<Option<AccessState>, StoreError> {
        sql::access_state(&mut Pg::new(&mut **self.conn()?), user_id, jti)
    }

    fn blacklist_legacy(&self, entry: &LegacyBlacklistEntry) -> Result<bool, StoreError> {
        sql::blacklist(&mut Pg::new(&mut **self.conn()?), entry)
    }

    fn redeem_legacy_refresh(&self, redemption: &LegacyRedemption) -> Result<bool, StoreError> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db_error)?;
        if !sql::blacklist(&mut Pg::new(&mut tx), &redemption.token)? {
            return Ok(false);
        }
        if !sql::live(&mut Pg::new(&mut tx), redemption)? {
            return Ok(false);
        }
        insert_session(&mut Pg::new(&mut tx), &redemption.session)?;
        tx.commit().map_err(db_error)?;
        Ok(true)
    }
}
