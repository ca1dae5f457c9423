//! Tokens of the Django service on Postgres (see `store::legacy_tokens`).
//! The blacklist insert's `ON CONFLICT DO NOTHING` is the atomic step: of
//! concurrent redemptions of one token, exactly one inserts the row.

use postgres::GenericClient;

use super::sessions::access_state_from_row;
use super::sessions::insert_session;
use super::{db_error, PostgresStore};
use crate::domain::UserId;
use crate::store::legacy_tokens::{LegacyBlacklistEntry, LegacyRedemption, LegacyTokenStore};
use crate::store::sessions::AccessState;
use crate::store::StoreError;

const LEGACY_ACCESS_STATE: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", EXISTS (SELECT 1 FROM legacy_token_blacklist b WHERE b.jti = $2)",
    " FROM users u WHERE u.id = $1"
);

pub(super) fn insert_blacklisted(
    client: &mut impl GenericClient,
    entry: &LegacyBlacklistEntry,
) -> Result<bool, StoreError> {
    let added = client
        .execute(
            "INSERT INTO legacy_token_blacklist (jti, user_id, expires_at, blacklisted_at, reason)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (jti) DO NOTHING",
            &[
                &entry.jti,
                &entry.user_id.map(UserId::get),
                &entry.expires_at,
                &entry.blacklisted_at,
                &entry.reason,
            ],
        )
        .map_err(db_error)?;
    Ok(added == 1)
}

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
        insert_blacklisted(&mut **self.conn()?, entry)
    }

    fn redeem_legacy_refresh(&self, redemption: &LegacyRedemption) -> Result<bool, StoreError> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db_error)?;
        if !insert_blacklisted(&mut tx, &redemption.token)? {
            return Ok(false);
        }
        // `iat` has whole seconds, so a token issued in the second the
        // tokens were cut off still counts as before (as for authd's own).
        let issued_before = redemption.issued_at + chrono::Duration::seconds(1);
        let live: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND is_active AND tokens_valid_after < $2)",
                &[&redemption.session.user_id.get(), &issued_before],
            )
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        if !live {
            return Ok(false);
        }
        insert_session(&mut tx, &redemption.session)?;
        tx.commit().map_err(db_error)?;
        Ok(true)
    }
}
