//! Tokens of the Django service on Postgres (see `store::legacy_tokens`;
//! its `sql` has the shared statements).

use super::conn::Pg;
use super::sessions::{access_state_from_row, insert_session};
use super::{db_error, PostgresStore};
use crate::domain::UserId;
use crate::store::legacy_tokens::{sql, LegacyBlacklistEntry, LegacyRedemption, LegacyTokenStore};
use crate::store::sessions::AccessState;
use crate::store::StoreError;

/// Read by `sessions`' row reader, so it stays with this backend.
const LEGACY_ACCESS_STATE: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", EXISTS (SELECT 1 FROM legacy_token_blacklist b WHERE b.jti = $2)",
    " FROM users u WHERE u.id = $1"
);

impl LegacyTokenStore for PostgresStore {
    fn legacy_access_state(
        &self,
        user_id: UserId,
        jti: &str,
    ) -> Result<Option<AccessState>, StoreError> {
        let row = self
            .conn()?
            .query_opt(LEGACY_ACCESS_STATE, &[&user_id.get(), &jti])
            .map_err(db_error)?;
        row.as_ref().map(access_state_from_row).transpose()
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
        insert_session(&mut tx, &redemption.session)?;
        tx.commit().map_err(db_error)?;
        Ok(true)
    }
}
