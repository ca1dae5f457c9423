//! Pruning and leases on Postgres. Batches delete by primary key through the
//! `expires_at` indexes; emptied sessions by primary key.

use super::{db_error, PostgresStore};
use crate::domain::Timestamp;
use crate::store::prune::{Expired, PruneStore, PrunedBatch, TokenStats};
use crate::store::StoreError;

fn target(kind: Expired) -> (&'static str, &'static str, &'static str) {
    match kind {
        Expired::RefreshTokens => ("refresh_tokens", "jti", "expires_at <= $1"),
        Expired::ResetTokens => ("password_reset_tokens", "token_sha256", "expires_at <= $1"),
        Expired::EmptySessions => (
            "sessions",
            "id",
            // What the batches above empty: sessions that have an expired
            // token and no live one (a session with no token at all is not
            // theirs to find, so not counted either).
            "EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family = sessions.id AND t.expires_at <= $1)
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family = sessions.id AND t.expires_at > $1)",
        ),
    }
}

impl PruneStore for PostgresStore {
    fn count_expired(&self, kind: Expired, at: Timestamp) -> Result<u64, StoreError> {
        let (table, _, condition) = target(kind);
        let count: i64 = self
            .conn()?
            .query_one(
                &format!("SELECT COUNT(*) FROM {table} WHERE {condition}"),
                &[&at],
            )
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        Ok(count as u64)
    }

    fn prune_batch(
        &self,
        kind: Expired,
        at: Timestamp,
        batch: u32,
    ) -> Result<PrunedBatch, StoreError> {
        let (table, key, condition) = target(kind);
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db_error)?;
        let deleted = tx
            .query(
                &format!(
                    "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT $2)
                     RETURNING {}",
                    if kind == Expired::RefreshTokens { "family" } else { "NULL::text" }
                ),
                &[&at, &i64::from(batch)],
            )
            .map_err(db_error)?;
        let mut families = deleted
            .iter()
            .map(|row| row.try_get::<_, Option<String>>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_error)?;
        let rows = families.len() as u64;
        families.sort_unstable();
        families.dedup();
        let families: Vec<String> = families.into_iter().flatten().collect();
        // A second statement: within one statement, a CTE's DELETE is not
        // yet visible to the NOT EXISTS that decides which sessions are empty.
        let emptied_sessions = if families.is_empty() {
            0
        } else {
            tx.execute(
                "DELETE FROM sessions s WHERE s.id = ANY($1)
                 AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family = s.id)",
                &[&families],
            )
            .map_err(db_error)?
        };
        tx.commit().map_err(db_error)?;
        Ok(PrunedBatch {
            rows,
            emptied_sessions,
        })
    }

    fn token_stats(&self, at: Timestamp) -> Result<TokenStats, StoreError> {
        let row = self
            .conn()?
            .query_one(
                "SELECT
                   (SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL AND expires_at > $1),
                   (SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL AND expires_at > $1),
                   (SELECT COUNT(*) FROM refresh_tokens WHERE expires_at <= $1),
                   (SELECT COUNT(*) FROM password_reset_tokens WHERE used_at IS NULL AND expires_at > $1),
                   (SELECT COUNT(*) FROM password_reset_tokens WHERE used_at IS NOT NULL AND expires_at > $1),
                   (SELECT COUNT(*) FROM password_reset_tokens WHERE expires_at <= $1),
                   (SELECT COUNT(*) FROM sessions)",
                &[&at],
            )
            .map_err(db_error)?;
        let n = |i: usize| row.try_get::<_, i64>(i).map(|v| v as u64).map_err(db_error);
        Ok(TokenStats {
            refresh_active: n(0)?,
            refresh_revoked: n(1)?,
            refresh_expired: n(2)?,
            reset_live: n(3)?,
            reset_used: n(4)?,
            reset_expired: n(5)?,
            sessions: n(6)?,
        })
    }

    fn try_lease(
        &self,
        name: &str,
        holder: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let taken = self
            .conn()?
            .execute(
                "INSERT INTO authd_locks (name, holder, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE authd_locks.expires_at <= $4 OR authd_locks.holder = excluded.holder",
                &[&name, &holder, &until, &at],
            )
            .map_err(db_error)?;
        Ok(taken == 1)
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "DELETE FROM authd_locks WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .map_err(db_error)?;
        Ok(())
    }
}
