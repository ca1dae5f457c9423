//! Tokens the Django service (SimpleJWT) issued, as the store knows them.
//!
//! Such tokens are stateless: authd only records the ids (`jti`) that may no
//! longer be used, in `legacy_token_blacklist`: the blacklist imported from
//! SimpleJWT's tables, and every legacy refresh token that was used up here
//! (a refresh, as SimpleJWT's `BLACKLIST_AFTER_ROTATION` does, or a logout).
//! Redeeming a legacy refresh token records its id and starts an authd
//! session in one transaction, so of concurrent refreshes with one token
//! exactly one succeeds.

use super::sessions::{AccessState, NewSession};
use super::StoreError;
use crate::domain::{Timestamp, UserId};

/// Why a legacy token id is on the blacklist (`reason` column).
pub mod reason {
    /// Blacklisted by the Django service before the switch.
    pub const IMPORTED: &str = "imported";
    /// Exchanged for an authd session by a refresh.
    pub const REDEEMED: &str = "redeemed";
    pub const LOGOUT: &str = "logout";
}

/// A legacy token id that may no longer be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyBlacklistEntry {
    pub jti: String,
    pub user_id: Option<UserId>,
    /// When the token expires anyway (then the row can be pruned).
    pub expires_at: Timestamp,
    pub blacklisted_at: Timestamp,
    pub reason: &'static str,
}

/// A legacy refresh token exchanged for a new authd session.
#[derive(Debug, Clone)]
pub struct LegacyRedemption {
    /// The used-up token; its `user_id` is the session's user.
    pub token: LegacyBlacklistEntry,
    /// The token's `iat`: refused when the user's tokens were cut off later.
    pub issued_at: Timestamp,
    pub session: NewSession,
}

pub trait LegacyTokenStore {
    /// The user a legacy access token names and whether its id is
    /// blacklisted (as `session_revoked`); `None` when the user is gone.
    fn legacy_access_state(
        &self,
        user_id: UserId,
        jti: &str,
    ) -> Result<Option<AccessState>, StoreError>;

    /// Records a used or revoked legacy token id; false when it already was.
    fn blacklist_legacy(&self, entry: &LegacyBlacklistEntry) -> Result<bool, StoreError>;

    /// In one transaction: blacklists the token, checks that its user is
    /// active and that its tokens were not cut off after `issued_at`, and
    /// starts the session (without touching `last_login`: a refresh is not
    /// a login). False, with nothing written, when any of it fails.
    fn redeem_legacy_refresh(&self, redemption: &LegacyRedemption) -> Result<bool, StoreError>;
}

/// The statements both backends share (see `dialect`); the session a
/// redemption starts is `session_sql`'s, as is how an access check runs.
pub(crate) mod sql {
    use super::{LegacyBlacklistEntry, LegacyRedemption};
    use crate::domain::UserId;
    use crate::store::dialect::{Conn, ConnExt, Sql, SqlRow};
    use crate::store::sessions::AccessState;
    use crate::store::{session_sql, StoreError};

    /// The access check, with the blacklist in the place of the session's
    /// revocation.
    static ACCESS_STATE: Sql = Sql::new(access_check!(
        "EXISTS (SELECT 1 FROM legacy_token_blacklist b WHERE b.jti = $2)"
    ));

    /// `ON CONFLICT DO NOTHING` is the atomic step: of concurrent
    /// redemptions of one token, exactly one inserts the row.
    static INSERT: Sql = Sql::new(
        "INSERT INTO legacy_token_blacklist (jti, user_id, expires_at, blacklisted_at, reason)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (jti) DO NOTHING",
    );
    static LIVE: Sql = Sql::new(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND is_active = TRUE AND tokens_valid_after < $2)",
    );

    pub(crate) fn access_state(
        c: &mut dyn Conn,
        user_id: UserId,
        jti: &str,
    ) -> Result<Option<AccessState>, StoreError> {
        session_sql::access_check(c, &ACCESS_STATE, user_id, jti)
    }

    /// Records a token id; false when it already was.
    pub(crate) fn blacklist(
        c: &mut dyn Conn,
        entry: &LegacyBlacklistEntry,
    ) -> Result<bool, StoreError> {
        let params = [
            entry.jti.as_str().into(),
            crate::store::dialect::SqlValue::Int(entry.user_id.map(UserId::get)),
            entry.expires_at.into(),
            entry.blacklisted_at.into(),
            entry.reason.into(),
        ];
        Ok(c.execute(&INSERT, &params)? == 1)
    }

    /// Whether the redeemed token's user is active and its tokens were not
    /// cut off after the token was issued.
    pub(crate) fn live(
        c: &mut dyn Conn,
        redemption: &LegacyRedemption,
    ) -> Result<bool, StoreError> {
        // `iat` has whole seconds, so a token issued in the second the
        // tokens were cut off still counts as before (as for authd's own).
        let issued_before = redemption.issued_at + chrono::Duration::seconds(1);
        let params = [redemption.session.user_id.into(), issued_before.into()];
        let live = c.row(&LIVE, &params, |row: &dyn SqlRow| row.flag(0))?;
        Ok(live.unwrap_or(false))
    }
}
