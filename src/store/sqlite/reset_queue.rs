//! The reset email queue on SQLite. SQLite has one writer at a time, so the
//! claim is a conditional UPDATE of the row that has been due longest:
//! whichever sender's statement runs first takes it.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{db_error, from_micros, to_micros, SqliteStore};
use crate::domain::{Email, Timestamp, UserId};
use crate::store::reset_queue::{Claimed, Finished, QueuedReset, ResetQueueStore};
use crate::store::{stored_user_id, StoreError};

impl ResetQueueStore for SqliteStore {
    fn enqueue_reset(&self, email: &Email, at: Timestamp) -> Result<bool, StoreError> {
        let written = self
            .writer()?
            .execute(
                "INSERT INTO password_reset_queue (user_id, requested_at, next_attempt_at)
                 SELECT id, ?2, ?2 FROM users WHERE email_lower = ?1 AND is_active = 1
                 ON CONFLICT (user_id) DO UPDATE SET requested_at = excluded.requested_at,
                     generation = password_reset_queue.generation + 1",
                params![email.lowered(), to_micros(at)],
            )
            .map_err(db_error)?;
        Ok(written > 0)
    }

    fn claim_reset(
        &self,
        claim: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claimed, StoreError> {
        let conn = self.writer()?;
        let taken = conn
            .query_row(
                "UPDATE password_reset_queue
                 SET claim = ?2, next_attempt_at = ?3, attempts = attempts + 1
                 WHERE user_id = (SELECT user_id FROM password_reset_queue
                                  WHERE next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT 1)
                   AND next_attempt_at <= ?1
                 RETURNING user_id, requested_at, generation, attempts",
                params![to_micros(now), claim, to_micros(lease_until)],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        from_micros(row.get(1)?)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, u32>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(db_error)?;
        if let Some((user_id, requested_at, generation, attempts)) = taken {
            return Ok(Claimed::Job(QueuedReset {
                user_id: stored_user_id(user_id)?,
                requested_at,
                generation,
                attempts,
            }));
        }
        let next_due: Option<i64> = conn
            .query_row(
                "SELECT min(next_attempt_at) FROM password_reset_queue",
                [],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        Ok(Claimed::Idle {
            next_due: next_due.map(from_micros).transpose().map_err(db_error)?,
        })
    }

    fn finish_reset(
        &self,
        user_id: UserId,
        claim: &str,
        generation: i64,
        now: Timestamp,
    ) -> Result<Finished, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let deleted = tx
            .execute(
                "DELETE FROM password_reset_queue WHERE user_id = ?1 AND claim = ?2 AND generation = ?3",
                params![user_id.get(), claim, generation],
            )
            .map_err(db_error)?;
        let finished = if deleted > 0 {
            Finished::Deleted
        } else if tx
            .execute(
                "UPDATE password_reset_queue SET claim = NULL, next_attempt_at = ?3, attempts = 0
                 WHERE user_id = ?1 AND claim = ?2",
                params![user_id.get(), claim, to_micros(now)],
            )
            .map_err(db_error)?
            > 0
        {
            Finished::Rearmed
        } else {
            Finished::LeaseLost
        };
        tx.commit().map_err(db_error)?;
        Ok(finished)
    }

    fn retry_reset(
        &self,
        user_id: UserId,
        claim: &str,
        next_attempt_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let updated = self
            .writer()?
            .execute(
                "UPDATE password_reset_queue SET claim = NULL, next_attempt_at = ?3
                 WHERE user_id = ?1 AND claim = ?2",
                params![user_id.get(), claim, to_micros(next_attempt_at)],
            )
            .map_err(db_error)?;
        Ok(updated > 0)
    }
}
