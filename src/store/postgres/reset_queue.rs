//! The reset email queue on Postgres. The claim locks the row that has been
//! due longest with `FOR UPDATE SKIP LOCKED`, so concurrent senders (of one
//! instance or several) each take a different row without waiting. The
//! other statements are shared (`store::reset_queue::sql`).

use super::conn::Pg;
use super::{db_error, PostgresStore};
use crate::domain::{Email, Timestamp, UserId};
use crate::store::reset_queue::{sql, Claimed, Finished, QueuedReset, ResetQueueStore};
use crate::store::{stored_user_id, StoreError};

impl ResetQueueStore for PostgresStore {
    fn enqueue_reset(&self, email: &Email, at: Timestamp) -> Result<bool, StoreError> {
        let mut client = self.conn()?;
        let statement = client.prepared(sql::ENQUEUE.postgres()).map_err(db_error)?;
        let mut tx = client.transaction().map_err(db_error)?;
        // Without this, a commit that wrote a row (a known email) would wait
        // for the WAL flush and one that wrote none (an unknown email) would
        // not: a timing difference that tells them apart. The row still
        // survives any restart of authd; only a crash of Postgres itself
        // within its WAL writer delay could lose it.
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(db_error)?;
        let written = tx
            .execute(&statement, &[&email.lowered(), &at])
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(written > 0)
    }

    fn claim_reset(
        &self,
        claim: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claimed, StoreError> {
        let mut client = self.conn()?;
        let taken = client
            .query_opt(
                "UPDATE password_reset_queue q
                 SET claim = $2, next_attempt_at = $3, attempts = q.attempts + 1
                 FROM (SELECT user_id FROM password_reset_queue WHERE next_attempt_at <= $1
                       ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED) due
                 WHERE q.user_id = due.user_id
                 RETURNING q.user_id, q.requested_at, q.generation, q.attempts",
                &[&now, &claim, &lease_until],
            )
            .map_err(db_error)?;
        if let Some(row) = taken {
            let attempts: i32 = row.try_get(3).map_err(db_error)?;
            return Ok(Claimed::Job(QueuedReset {
                user_id: stored_user_id(row.try_get(0).map_err(db_error)?)?,
                requested_at: row.try_get(1).map_err(db_error)?,
                generation: row.try_get(2).map_err(db_error)?,
                attempts: u32::try_from(attempts).unwrap_or(0),
            }));
        }
        let next_due: Option<Timestamp> = client
            .query_one("SELECT min(next_attempt_at) FROM password_reset_queue", &[])
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        Ok(Claimed::Idle { next_due })
    }

    fn finish_reset(
        &self,
        user_id: UserId,
        claim: &str,
        generation: i64,
        now: Timestamp,
    ) -> Result<Finished, StoreError> {
        // Without a transaction, as ever: each statement is guarded by the
        // claim, so neither needs the other's locks.
        sql::finish(
            &mut Pg::new(&mut **self.conn()?),
            user_id,
            claim,
            generation,
            now,
        )
    }

    fn retry_reset(
        &self,
        user_id: UserId,
        claim: &str,
        next_attempt_at: Timestamp,
    ) -> Result<bool, StoreError> {
        sql::retry(
            &mut Pg::new(&mut **self.conn()?),
            user_id,
            claim,
            next_attempt_at,
        )
    }
}
