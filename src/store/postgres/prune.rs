//! Pruning and leases on Postgres. Batches delete by primary key through the
//! `expires_at` indexes; emptied sessions by primary key.

use super::conn::Pg;
use super::{db_error, PostgresStore};
use crate::domain::Timestamp;
use crate::store::prune::{sql, Expired, PruneStore, PrunedBatch, TokenStats};
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
        sql::count_expired(&mut Pg::new(&mut **self.conn()?), kind, at)
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
        sql::token_stats(&mut Pg::new(&mut **self.conn()?), at)
    }

    fn try_lease(
        &self,
        name: &str,
        holder: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        sql::try_lease(&mut Pg::new(&mut **self.conn()?), name, holder, until, at)
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sql::release_lease(&mut Pg::new(&mut **self.conn()?), name, holder)
    }
}
