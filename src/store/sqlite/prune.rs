//! Pruning and leases on SQLite. Batches delete by rowid through the
//! `expires_at` indexes; emptied sessions by primary key.

use std::collections::BTreeSet;

use rusqlite::{params, TransactionBehavior};

use super::conn::Lite;
use super::{db_error, to_micros, SqliteStore};
use crate::domain::Timestamp;
use crate::store::prune::{sql, Expired, PruneStore, PrunedBatch, TokenStats};
use crate::store::StoreError;

fn condition(kind: Expired) -> (&'static str, &'static str) {
    match kind {
        Expired::RefreshTokens => ("refresh_tokens", "expires_at <= ?1"),
        Expired::ResetTokens => ("password_reset_tokens", "expires_at <= ?1"),
        Expired::EmptySessions => (
            "sessions",
            // What the batches above empty: sessions that have an expired
            // token and no live one (a session with no token at all is not
            // theirs to find, so not counted either).
            "EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family = sessions.id AND t.expires_at <= ?1)
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family = sessions.id AND t.expires_at > ?1)",
        ),
    }
}

impl PruneStore for SqliteStore {
    fn count_expired(&self, kind: Expired, at: Timestamp) -> Result<u64, StoreError> {
        sql::count_expired(&mut Lite(&*self.conn()?), kind, at)
    }

    fn prune_batch(
        &self,
        kind: Expired,
        at: Timestamp,
        batch: u32,
    ) -> Result<PrunedBatch, StoreError> {
        let (table, condition) = condition(kind);
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let families = tx
            .prepare(&format!(
                "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {condition} LIMIT ?2)
                 RETURNING {}",
                if kind == Expired::RefreshTokens { "family" } else { "NULL" }
            ))
            .and_then(|mut delete| {
                delete
                    .query_map(params![to_micros(at), batch], |row| {
                        row.get::<_, Option<String>>(0)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db_error)?;
        let rows = families.len() as u64;
        let mut emptied_sessions = 0;
        let families: BTreeSet<String> = families.into_iter().flatten().collect();
        if !families.is_empty() {
            let mut delete = tx
                .prepare(
                    "DELETE FROM sessions WHERE id = ?1
                     AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family = ?1)",
                )
                .map_err(db_error)?;
            for family in &families {
                emptied_sessions += delete.execute(params![family]).map_err(db_error)? as u64;
            }
        }
        tx.commit().map_err(db_error)?;
        Ok(PrunedBatch {
            rows,
            emptied_sessions,
        })
    }

    fn token_stats(&self, at: Timestamp) -> Result<TokenStats, StoreError> {
        sql::token_stats(&mut Lite(&*self.conn()?), at)
    }

    fn try_lease(
        &self,
        name: &str,
        holder: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        sql::try_lease(&mut Lite(&*self.writer()?), name, holder, until, at)
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sql::release_lease(&mut Lite(&*self.writer()?), name, holder)
    }
}
