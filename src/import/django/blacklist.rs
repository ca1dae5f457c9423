//! SimpleJWT's blacklist (`token_blacklist_outstandingtoken` joined with
//! `token_blacklist_blacklistedtoken`): the ids of refresh tokens revoked
//! before the switch. Only those not expired yet matter; they are recorded
//! in `legacy_token_blacklist` so authd refuses them too.

use crate::domain::{Timestamp, UserId};
use crate::store::legacy_tokens::reason;
use crate::store::LegacyBlacklistEntry;

/// One blacklisted token as a source read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlacklistedToken {
    pub jti: String,
    pub user_id: Option<i64>,
    pub expires_at: Timestamp,
    pub blacklisted_at: Option<Timestamp>,
}

impl BlacklistedToken {
    /// The entry to record, or `None` when the token has expired (it is
    /// refused anyway) or its id is empty.
    pub fn entry(self, now: Timestamp) -> Option<LegacyBlacklistEntry> {
        (self.expires_at > now && !self.jti.is_empty()).then(|| LegacyBlacklistEntry {
            jti: self.jti,
            user_id: self.user_id.and_then(UserId::new),
            expires_at: self.expires_at,
            blacklisted_at: self.blacklisted_at.unwrap_or(now),
            reason: reason::IMPORTED,
        })
    }
}
