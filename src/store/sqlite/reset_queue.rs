//! The reset email queue on SQLite. SQLite has one writer at a time, so the
//! claim is a conditional UPDATE of the row that has been due longest:
//! whichever sender's statement runs first takes it. The other statements
//! are shared (`store::reset_queue::sql`).

use rusqlite::{params, OptionalExtension};

use super::conn::Lite;
use super::{db_error, from_micros, to_micros, SqliteStore};
use crate::domain::{Email, Timestamp, UserId};
use crate::store::reset_queue::{sql, Claimed, Finished, QueuedReset, ResetQueueStore};
use crate::store::{stored_user_id, StoreError};

impl ResetQueueStore for SqliteStore {
    fn enqueue_reset(&self, email: &Email, at: Timestamp) -> Result<bool, StoreError> {
        sql::enqueue(&mut Lite(&*self.writer()?), email, at)
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
        self.write(|tx| sql::finish(tx, user_id, claim, generation, now))
    }

    fn retry_reset(
        &self,
        user_id: UserId,
        claim: &str,
        next_attempt_at: Timestamp,
    ) -> Result<bool, StoreError> {
        sql::retry(&mut Lite(&*self.writer()?), user_id, claim, next_attempt_at)
    }
}
