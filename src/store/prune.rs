//! Removing what has expired: refresh tokens past `expires_at` (revoked or
//! not), reset tokens past theirs, and sessions left without any token.
//! Work goes in batches of `batch` rows, each its own short transaction, so
//! a server using the same database is never blocked for long. A lease row
//! (`authd_locks`) lets one server at a time run the periodic prune.
//!
//! A session is removed in the batch that deletes its last refresh token,
//! looked up by the families of the deleted tokens: finding empty sessions
//! by searching for them would read every session of the database.

use super::StoreError;
use crate::domain::Timestamp;

/// What a prune removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    RefreshTokens,
    ResetTokens,
    /// Sessions with no refresh token left (after the tokens are pruned).
    /// They go with the refresh-token batches; a dry run counts them alone.
    EmptySessions,
}

impl Expired {
    pub const ALL: [Expired; 3] = [
        Expired::RefreshTokens,
        Expired::ResetTokens,
        Expired::EmptySessions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Expired::RefreshTokens => "refresh_tokens",
            Expired::ResetTokens => "reset_tokens",
            Expired::EmptySessions => "sessions",
        }
    }
}

/// Refresh tokens and reset tokens by state, for `authd blacklist stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TokenStats {
    pub refresh_active: u64,
    pub refresh_revoked: u64,
    pub refresh_expired: u64,
    pub reset_live: u64,
    pub reset_used: u64,
    pub reset_expired: u64,
    pub sessions: u64,
}

pub trait PruneStore {
    /// How many rows of `kind` a prune at `at` would remove (an admin's
    /// dry run: this counts by reading the tables).
    fn count_expired(&self, kind: Expired, at: Timestamp) -> Result<u64, StoreError>;

    /// Deletes at most `batch` rows of `kind` expired at `at`, and for
    /// refresh tokens the sessions they leave empty.
    fn prune_batch(
        &self,
        kind: Expired,
        at: Timestamp,
        batch: u32,
    ) -> Result<PrunedBatch, StoreError>;

    fn token_stats(&self, at: Timestamp) -> Result<TokenStats, StoreError>;

    /// Takes the lease `name` for `holder` until `until`, if it is free or
    /// expired at `at` (or already held by `holder`).
    fn try_lease(
        &self,
        name: &str,
        holder: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back if `holder` still has it.
    fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// What one batch removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunedBatch {
    /// Rows of the kind asked for.
    pub rows: u64,
    /// Sessions whose last refresh token went in this batch.
    pub emptied_sessions: u64,
}

/// Rows removed (or, for a dry run, that would be) per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    pub refresh_tokens: u64,
    pub reset_tokens: u64,
    pub sessions: u64,
}

impl PruneReport {
    fn add(&mut self, kind: Expired, rows: u64) {
        match kind {
            Expired::RefreshTokens => self.refresh_tokens += rows,
            Expired::ResetTokens => self.reset_tokens += rows,
            Expired::EmptySessions => self.sessions += rows,
        }
    }
}

/// Rows per batch unless told otherwise: on SQLite a batch holds the one
/// write lock, so a refresh arriving meanwhile waits for the rest of it;
/// 500 rows keep that wait to milliseconds (bench/scale.sh measures it).
pub const DEFAULT_BATCH: u32 = 500;

/// Prunes everything expired at `at` in batches; `progress` hears the rows
/// removed after each batch. With `dry_run`, only counts. After each batch
/// it rests as long as the batch took, so a prune of millions of rows takes
/// at most half of the database's write time from the requests beside it.
pub fn prune(
    store: &dyn super::Store,
    at: Timestamp,
    batch: u32,
    dry_run: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<PruneReport, StoreError> {
    let mut report = PruneReport::default();
    for kind in Expired::ALL {
        if dry_run {
            report.add(kind, store.count_expired(kind, at)?);
            continue;
        }
        if kind == Expired::EmptySessions {
            // Removed with their last refresh token, above.
            continue;
        }
        loop {
            let started = std::time::Instant::now();
            let removed = store.prune_batch(kind, at, batch)?;
            report.add(kind, removed.rows);
            report.add(Expired::EmptySessions, removed.emptied_sessions);
            // The bar's total counts tokens only (sessions cannot be
            // counted cheaply beforehand), so only tokens advance it.
            progress(removed.rows);
            if removed.rows < u64::from(batch) {
                break;
            }
            std::thread::sleep(started.elapsed());
        }
    }
    Ok(report)
}

/// The statements both backends share (see `dialect`). The batch delete is
/// each backend's: SQLite deletes by `rowid`, Postgres by key and then the
/// emptied sessions with one array-bound statement.
pub(crate) mod sql {
    use super::{Expired, TokenStats};
    use crate::domain::Timestamp;
    use crate::store::dialect::{Conn, ConnExt, Sql, SqlRowExt};
    use crate::store::StoreError;

    static COUNT_REFRESH: Sql =
        Sql::new("SELECT COUNT(*) FROM refresh_tokens WHERE expires_at <= $1");
    static COUNT_RESET: Sql =
        Sql::new("SELECT COUNT(*) FROM password_reset_tokens WHERE expires_at <= $1");
    /// What the batches empty: sessions that have an expired token and no
    /// live one (a session with no token at all is not theirs to find, so
    /// not counted either).
    static COUNT_SESSIONS: Sql = Sql::new(
        "SELECT COUNT(*) FROM sessions WHERE
         EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family = sessions.id AND t.expires_at <= $1)
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family = sessions.id AND t.expires_at > $1)",
    );
    static STATS: Sql = Sql::new(
        "SELECT
           (SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL AND expires_at > $1),
           (SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL AND expires_at > $1),
           (SELECT COUNT(*) FROM refresh_tokens WHERE expires_at <= $1),
           (SELECT COUNT(*) FROM password_reset_tokens WHERE used_at IS NULL AND expires_at > $1),
           (SELECT COUNT(*) FROM password_reset_tokens WHERE used_at IS NOT NULL AND expires_at > $1),
           (SELECT COUNT(*) FROM password_reset_tokens WHERE expires_at <= $1),
           (SELECT COUNT(*) FROM sessions)",
    );
    static LEASE: Sql = Sql::new(
        "INSERT INTO authd_locks (name, holder, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE authd_locks.expires_at <= $4 OR authd_locks.holder = excluded.holder",
    );
    static RELEASE: Sql = Sql::new("DELETE FROM authd_locks WHERE name = $1 AND holder = $2");

    pub(crate) fn count_expired(
        c: &mut dyn Conn,
        kind: Expired,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let sql = match kind {
            Expired::RefreshTokens => &COUNT_REFRESH,
            Expired::ResetTokens => &COUNT_RESET,
            Expired::EmptySessions => &COUNT_SESSIONS,
        };
        let count = c.row(sql, &[at.into()], |row| row.int_nn(0))?;
        Ok(count.unwrap_or(0) as u64)
    }

    pub(crate) fn token_stats(c: &mut dyn Conn, at: Timestamp) -> Result<TokenStats, StoreError> {
        let stats = c.row(&STATS, &[at.into()], |row| {
            let n = |i: usize| row.int_nn(i).map(|v| v as u64);
            Ok(TokenStats {
                refresh_active: n(0)?,
                refresh_revoked: n(1)?,
                refresh_expired: n(2)?,
                reset_live: n(3)?,
                reset_used: n(4)?,
                reset_expired: n(5)?,
                sessions: n(6)?,
            })
        })?;
        stats.ok_or_else(|| StoreError::Internal("the counts returned no row".into()))
    }

    pub(crate) fn try_lease(
        c: &mut dyn Conn,
        name: &str,
        holder: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let params = [name.into(), holder.into(), until.into(), at.into()];
        Ok(c.execute(&LEASE, &params)? == 1)
    }

    pub(crate) fn release_lease(
        c: &mut dyn Conn,
        name: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        c.execute(&RELEASE, &[name.into(), holder.into()])?;
        Ok(())
    }
}
