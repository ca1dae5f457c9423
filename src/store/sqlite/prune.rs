//! Pruning and leases on SQLite. Batches delete by rowid through the
//! `expires_at` indexes; emptied sessions by primary key.

use std::collections::BTreeSet;

use rusqlite::{params, TransactionBehavior};

use super::{db_error, to_micros, SqliteStore};
use crate::domain::Timestamp;
use crate::store::prune::{Expired, PruneStore, PrunedBatch, TokenStats};
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
        let (table, condition) = condition(kind);
        let count: i64 = self
            .conn()?
            .query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE {condition}"),
                params![to_micros(at)],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        Ok(count as u64)
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
        let conn = self.conn()?;
        let at = to_micros(at);
        let count = |sql: &str| -> Result<u64, StoreError> {
            conn.query_row(sql, params![at], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(db_error)
        };
        Ok(TokenStats {
            refresh_active: count("SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL AND expires_at > ?1")?,
            refresh_revoked: count("SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL AND expires_at > ?1")?,
            refresh_expired: count("SELECT COUNT(*) FROM refresh_tokens WHERE expires_at <= ?1")?,
            reset_live: count("SELECT COUNT(*) FROM password_reset_tokens WHERE used_at IS NULL AND expires_at > ?1")?,
            reset_used: count("SELECT COUNT(*) FROM password_reset_tokens WHERE used_at IS NOT NULL AND expires_at > ?1")?,
            reset_expired: count("SELECT COUNT(*) FROM password_reset_tokens WHERE expires_at <= ?1")?,
            sessions: count("SELECT COUNT(*) FROM sessions WHERE ?1 IS NOT NULL")?,
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
            .writer()?
            .execute(
                "INSERT INTO authd_locks (name, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE authd_locks.expires_at <= ?4 OR authd_locks.holder = excluded.holder",
                params![name, holder, to_micros(until), to_micros(at)],
            )
            .map_err(db_error)?;
        Ok(taken == 1)
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.writer()?
            .execute(
                "DELETE FROM authd_locks WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map_err(db_error)?;
        Ok(())
    }
}
