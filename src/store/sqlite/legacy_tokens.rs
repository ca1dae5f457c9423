//! Tokens of the Django service on SQLite (see `store::legacy_tokens`).

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::sessions::{access_state_from_row, insert_session};
use super::{db_error, to_micros, SqliteStore};
use crate::domain::UserId;
use crate::store::legacy_tokens::{LegacyBlacklistEntry, LegacyRedemption, LegacyTokenStore};
use crate::store::sessions::AccessState;
use crate::store::StoreError;

const LEGACY_ACCESS_STATE: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", EXISTS (SELECT 1 FROM legacy_token_blacklist b WHERE b.jti = ?2)",
    " FROM users u WHERE u.id = ?1"
);

const INSERT_BLACKLISTED: &str =
    "INSERT INTO legacy_token_blacklist (jti, user_id, expires_at, blacklisted_at, reason)
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (jti) DO NOTHING";

pub(super) fn insert_blacklisted(
    conn: &rusqlite::Connection,
    entry: &LegacyBlacklistEntry,
) -> rusqlite::Result<bool> {
    let added = conn.prepare_cached(INSERT_BLACKLISTED)?.execute(params![
        entry.jti,
        entry.user_id.map(UserId::get),
        to_micros(entry.expires_at),
        to_micros(entry.blacklisted_at),
        entry.reason
    ])?;
    Ok(added == 1)
}

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
        insert_blacklisted(&*self.writer()?, entry).map_err(db_error)
    }

    fn redeem_legacy_refresh(&self, redemption: &LegacyRedemption) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        if !insert_blacklisted(&tx, &redemption.token).map_err(db_error)? {
            return Ok(false);
        }
        // `iat` has whole seconds, so a token issued in the second the
        // tokens were cut off still counts as before (as for authd's own).
        let issued_before = to_micros(redemption.issued_at) + 1_000_000;
        let live: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND is_active = 1 AND tokens_valid_after < ?2)",
                params![redemption.session.user_id.get(), issued_before],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        if !live {
            return Ok(false);
        }
        insert_session(&tx, &redemption.session).map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(true)
    }
}
