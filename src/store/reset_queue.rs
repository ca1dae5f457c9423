//! The durable queue of reset emails (`password_reset_queue`): what makes a
//! `202` for an existing account lead to its email through a full queue, an
//! SMTP outage or a restart of authd.
//!
//! A row per active account that asked and has not been mailed yet; a
//! request while one waits is merged into it (its `generation` bumped), so
//! the queue never holds more rows than there are accounts and a flood for
//! one account cannot push another out. Senders take a due row with a
//! lease (`claim`, `next_attempt_at` moved to the lease's end): Postgres
//! skips rows another transaction is taking (`FOR UPDATE SKIP LOCKED`),
//! SQLite's single writer makes the conditional UPDATE the claim. So of
//! several instances sharing the database one sends each email; a sender
//! that dies mid-send leaves its row to be taken again when the lease ends.

use super::StoreError;
use crate::domain::{Email, Timestamp, UserId};

/// A row a sender holds the lease on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedReset {
    pub user_id: UserId,
    /// The latest request merged into the row.
    pub requested_at: Timestamp,
    /// Which requests this send answers (see [`ResetQueueStore::finish_reset`]).
    pub generation: i64,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// What [`ResetQueueStore::claim_reset`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    Job(QueuedReset),
    /// Nothing due; the earliest row becomes due at `next_due` (none: the
    /// queue is empty).
    Idle {
        next_due: Option<Timestamp>,
    },
}

/// What became of a row whose email was sent (or given up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Deleted,
    /// A request came in after the send began: the row stays, due now.
    Rearmed,
    /// The lease ran out and another sender took the row: it sends again.
    LeaseLost,
}

pub trait ResetQueueStore {
    /// Queues a reset email for the active account with this email, if
    /// there is one; true when it did. One statement whatever the answer,
    /// so an unknown email costs what a known one does.
    fn enqueue_reset(&self, email: &Email, at: Timestamp) -> Result<bool, StoreError>;

    /// Takes the row that has been due longest, leasing it to `claim` until
    /// `lease_until`.
    fn claim_reset(
        &self,
        claim: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claimed, StoreError>;

    /// Ends a send that answered `generation`: deletes the row, unless a
    /// request came in since (then it is due again at `now`).
    fn finish_reset(
        &self,
        user_id: UserId,
        claim: &str,
        generation: i64,
        now: Timestamp,
    ) -> Result<Finished, StoreError>;

    /// Gives the row back after a failed attempt, due again at `next_attempt_at`.
    /// False when the lease was lost meanwhile.
    fn retry_reset(
        &self,
        user_id: UserId,
        claim: &str,
        next_attempt_at: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// The statements both backends share (see `dialect`). The claim is each
/// backend's: Postgres takes the row with `FOR UPDATE SKIP LOCKED` so
/// concurrent senders never wait on each other, SQLite (one writer at a
/// time) with a conditional UPDATE.
pub(crate) mod sql {
    use super::Finished;
    use crate::domain::{Email, Timestamp, UserId};
    use crate::store::dialect::{Conn, Sql};
    use crate::store::StoreError;

    /// Run on every reset request, for known and unknown emails alike.
    pub(crate) static ENQUEUE: Sql = Sql::new(
        "INSERT INTO password_reset_queue (user_id, requested_at, next_attempt_at)
         SELECT id, $2, $2 FROM users WHERE email_lower = $1 AND is_active = TRUE
         ON CONFLICT (user_id) DO UPDATE SET requested_at = excluded.requested_at,
             generation = password_reset_queue.generation + 1",
    );
    static DELETE: Sql = Sql::new(
        "DELETE FROM password_reset_queue WHERE user_id = $1 AND claim = $2 AND generation = $3",
    );
    static REARM: Sql = Sql::new(
        "UPDATE password_reset_queue SET claim = NULL, next_attempt_at = $3, attempts = 0
         WHERE user_id = $1 AND claim = $2",
    );
    static RETRY: Sql = Sql::new(
        "UPDATE password_reset_queue SET claim = NULL, next_attempt_at = $3
         WHERE user_id = $1 AND claim = $2",
    );

    pub(crate) fn enqueue(
        c: &mut dyn Conn,
        email: &Email,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(c.execute(&ENQUEUE, &[email.lowered().into(), at.into()])? > 0)
    }

    pub(crate) fn finish(
        c: &mut dyn Conn,
        user_id: UserId,
        claim: &str,
        generation: i64,
        now: Timestamp,
    ) -> Result<Finished, StoreError> {
        if c.execute(&DELETE, &[user_id.into(), claim.into(), generation.into()])? > 0 {
            return Ok(Finished::Deleted);
        }
        // A request was merged in after this send began (or the lease is
        // gone): the row is due again for it.
        let rearmed = c.execute(&REARM, &[user_id.into(), claim.into(), now.into()])?;
        Ok(if rearmed > 0 {
            Finished::Rearmed
        } else {
            Finished::LeaseLost
        })
    }

    pub(crate) fn retry(
        c: &mut dyn Conn,
        user_id: UserId,
        claim: &str,
        next_attempt_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let params = [user_id.into(), claim.into(), next_attempt_at.into()];
        Ok(c.execute(&RETRY, &params)? > 0)
    }
}
