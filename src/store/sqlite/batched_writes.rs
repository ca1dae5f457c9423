//! The writes this process's SQLite writer thread (`group_commit`) takes:
//! refresh rotations, which a busy server makes many of at once, and the
//! audit writer's batches of events, one row per refresh among them.
//!
//! Why both on one thread: the audit batches used to run on the blocking
//! pool and took this process's write turn for a transaction of their own,
//! and a probe found the rotation writer waiting for that turn 17% of a
//! refresh benchmark. Queued here they join the next batch's transaction
//! instead: one lock, one commit and one WAL append for both.
//!
//! A batch is one `BEGIN IMMEDIATE` transaction, its jobs run in queue
//! order, so each rotation sees every one before it exactly as if each had
//! committed alone (one winner per token, reuse detection unchanged). When
//! one job's statement fails the batch rolls back and each job runs again
//! in a transaction of its own, so a failure reaches its own caller only;
//! failing to begin or commit fails the whole batch (every job would fail
//! alone the same way, and retrying each would wait `busy_timeout` N times).

use rusqlite::{params_from_iter, TransactionBehavior};
use tokio::sync::oneshot;

use super::audit::{placeholder, values};
use super::conn::Lite;
use super::{db_error, Access};
use crate::domain::AuditEvent;
use crate::store::audit;
use crate::store::session_sql as sql;
use crate::store::sessions::{RotateOutcome, Rotation};
use crate::store::StoreError;

/// One write queued with the writer thread.
pub(super) enum Job {
    Rotate(Rotation),
    /// Audit events, stored in [`audit::INSERT_ROWS`]-row statements.
    StoreAudit(Vec<AuditEvent>),
}

/// What a job did, once its batch committed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Written {
    Rotation(RotateOutcome),
    Audit,
}

impl Written {
    /// A rotation's outcome; anything else answers a rotation by mistake.
    pub(super) fn into_rotation(self) -> Result<RotateOutcome, StoreError> {
        match self {
            Written::Rotation(outcome) => Ok(outcome),
            Written::Audit => Err(mismatched()),
        }
    }

    /// An audit batch's acknowledgement; anything else is a mistake.
    pub(super) fn into_audit(self) -> Result<(), StoreError> {
        match self {
            Written::Audit => Ok(()),
            Written::Rotation(_) => Err(mismatched()),
        }
    }
}

fn mismatched() -> StoreError {
    StoreError::Internal("the SQLite writer answered a job with another kind's result".into())
}

/// Where a queued job's result arrives.
pub(super) type Answer = oneshot::Receiver<Result<Written, StoreError>>;

/// A queued job's result; a channel closed unanswered means the writer
/// abandoned its batch (a bug, never the input).
pub(super) fn answered(
    answer: Result<Result<Written, StoreError>, oneshot::error::RecvError>,
) -> Result<Written, StoreError> {
    answer.unwrap_or_else(|_| {
        Err(StoreError::Internal(
            "a batch of writes was abandoned by the SQLite writer".into(),
        ))
    })
}

/// Why a batch did not commit.
enum BatchFailure {
    /// Beginning or committing the transaction: every job in the batch
    /// would fail the same way alone (the lock is taken, the disk is full).
    Transaction(StoreError),
    /// One job's statement: the others may well succeed without it.
    Job(StoreError),
}

impl BatchFailure {
    fn into_error(self) -> StoreError {
        match self {
            BatchFailure::Transaction(error) | BatchFailure::Job(error) => error,
        }
    }
}

/// Writes `batch` (the writer thread's `write`) in one transaction, in
/// order, with one result per job (see the module doc for failures).
pub(super) fn write_batch(access: &Access, batch: &[Job]) -> Vec<Result<Written, StoreError>> {
    let all_fail = |error: StoreError| batch.iter().map(|_| Err(error.echo())).collect();
    let mut conn = match access.writer() {
        Ok(conn) => conn,
        Err(error) => return all_fail(error),
    };
    match commit_batch(&mut conn, batch) {
        Ok(written) => written.into_iter().map(Ok).collect(),
        Err(BatchFailure::Job(_)) if batch.len() > 1 => batch
            .iter()
            .map(|job| {
                commit_batch(&mut conn, std::slice::from_ref(job))
                    .map(|mut written| written.remove(0))
                    .map_err(BatchFailure::into_error)
            })
            .collect(),
        Err(failure) => all_fail(failure.into_error()),
    }
}

/// Runs each of `batch` in order in one `BEGIN IMMEDIATE` transaction,
/// committed only when every job's statements succeed.
fn commit_batch(
    conn: &mut rusqlite::Connection,
    batch: &[Job],
) -> Result<Vec<Written>, BatchFailure> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| BatchFailure::Transaction(db_error(e)))?;
    let written = batch
        .iter()
        .map(|job| run(&tx, job))
        .collect::<Result<Vec<_>, _>>()
        .map_err(BatchFailure::Job)?;
    tx.commit()
        .map_err(|e| BatchFailure::Transaction(db_error(e)))?;
    Ok(written)
}

fn run(tx: &rusqlite::Transaction<'_>, job: &Job) -> Result<Written, StoreError> {
    match job {
        Job::Rotate(rotation) => sql::rotate(&mut Lite(tx), rotation).map(Written::Rotation),
        Job::StoreAudit(events) => {
            for chunk in events.chunks(audit::INSERT_ROWS) {
                let statement = audit::insert(chunk, placeholder);
                tx.prepare_cached(&statement.sql)
                    .and_then(|mut insert| insert.execute(params_from_iter(values(&statement))))
                    .map_err(db_error)?;
            }
            Ok(Written::Audit)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Config, ConnectionUrl};
    use crate::domain::{
        ClientInfo, Email, EventType, FullName, NewUser, Origin, Outcome, PasswordHash, Timestamp,
        UserId,
    };
    use crate::store::sessions::{NewRefreshToken, NewSession, SessionStore};
    use crate::store::{migrate, AuditQuery, AuditStore, Store};

    use super::super::SqliteStore;

    fn store(dir: &std::path::Path) -> SqliteStore {
        let mut config = Config::default();
        config.database.url =
            ConnectionUrl::new(format!("sqlite://{}", dir.join("authd.db").display()));
        let store = SqliteStore::open(&config.database).unwrap();
        migrate::migrate_up(&store).unwrap();
        store
    }

    /// A user with the sessions `sids`, each holding its token `{sid}-0`.
    fn sessions(store: &SqliteStore, sids: &[&str], at: Timestamp) -> UserId {
        let user = store
            .create_user(&NewUser {
                email: Email::parse("batch@example.com").unwrap(),
                full_name: FullName::parse("Batch").unwrap(),
                password_hash: PasswordHash::unusable(),
                is_staff: false,
                is_superuser: false,
                date_joined: at,
            })
            .unwrap();
        for sid in sids {
            store
                .start_session(&NewSession {
                    sid: sid.to_string(),
                    user_id: user.id,
                    created_at: at,
                    client: None,
                    refresh: NewRefreshToken {
                        jti: format!("{sid}-0"),
                        expires_at: at + chrono::Duration::days(1),
                    },
                })
                .unwrap();
        }
        user.id
    }

    fn rotate(jti: &str, next: &str, at: Timestamp) -> Job {
        Job::Rotate(Rotation {
            jti: jti.into(),
            next: NewRefreshToken {
                jti: next.into(),
                expires_at: at + chrono::Duration::days(1),
            },
            at,
            reuse_grace: Duration::from_secs(10),
            client: Some(ClientInfo::new([192, 0, 2, 9].into(), Some("batch/1.0"))),
        })
    }

    fn refreshed(user: UserId, sid: &str, at: Timestamp) -> AuditEvent {
        AuditEvent {
            at,
            user_id: Some(user),
            session_id: Some(sid.into()),
            ..AuditEvent::new(EventType::Refresh, Outcome::Success, &Origin::cli())
        }
    }

    fn rotated(user: UserId, sid: &str) -> Written {
        Written::Rotation(RotateOutcome::Rotated {
            user_id: user,
            sid: sid.into(),
        })
    }

    fn stored_sessions(store: &SqliteStore) -> Vec<Option<String>> {
        let mut events = store
            .list_audit_events(&AuditQuery {
                limit: 1000,
                ..AuditQuery::default()
            })
            .unwrap();
        events.sort_by_key(|stored| stored.id);
        events.into_iter().map(|stored| stored.session_id).collect()
    }

    /// One batch in which the middle rotation cannot record its successor
    /// (the jti is taken): it fails and leaves its token live, and the
    /// jobs on either side of it, audit events among them, still commit.
    #[test]
    fn a_failed_job_fails_alone_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let at = crate::domain::now();
        let user = sessions(&store, &["a", "b", "c"], at);
        let batch = [
            rotate("a-0", "a-1", at),
            rotate("b-0", "c-0", at),
            Job::StoreAudit(vec![refreshed(user, "a", at)]),
            rotate("c-0", "c-1", at),
        ];
        let results = write_batch(&store.access, &batch);
        assert_eq!(results[0].as_ref().unwrap(), &rotated(user, "a"));
        assert!(
            matches!(results[1], Err(StoreError::Database(_))),
            "{:?}",
            results[1]
        );
        assert_eq!(results[2].as_ref().unwrap(), &Written::Audit);
        assert_eq!(results[3].as_ref().unwrap(), &rotated(user, "c"));
        for (jti, live) in [
            ("a-0", false),
            ("a-1", true),
            ("b-0", true),
            ("c-0", false),
            ("c-1", true),
        ] {
            assert_eq!(store.refresh_is_live(jti, at).unwrap(), live, "{jti}");
        }
        assert_eq!(stored_sessions(&store), [Some("a".into())]);
    }

    /// Rotations in one batch see the ones before them: the same token
    /// twice has one winner, and a token rotated earlier in the batch is
    /// rotated again from its successor.
    #[test]
    fn rotations_in_a_batch_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let at = crate::domain::now();
        let user = sessions(&store, &["a"], at);
        let batch = [
            rotate("a-0", "a-1", at),
            rotate("a-0", "a-x", at),
            rotate("a-1", "a-2", at),
        ];
        let results: Vec<_> = write_batch(&store.access, &batch)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            results,
            [
                rotated(user, "a"),
                Written::Rotation(RotateOutcome::Refused),
                rotated(user, "a")
            ]
        );
        assert!(store.refresh_is_live("a-2", at).unwrap());
        assert!(!store.refresh_token_known("a-x").unwrap());
    }

    /// Audit batches queued by several callers are stored whole, in queue
    /// order, the events of each in its own order, even when a batch is
    /// longer than one insert statement.
    #[test]
    fn audit_batches_are_stored_whole_in_queue_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let at = crate::domain::now();
        let user = sessions(&store, &[], at);
        let long: Vec<_> = (0..audit::INSERT_ROWS + 3)
            .map(|i| refreshed(user, &format!("long-{i}"), at))
            .collect();
        let batch = [
            Job::StoreAudit(vec![refreshed(user, "first", at)]),
            Job::StoreAudit(long.clone()),
            Job::StoreAudit(vec![refreshed(user, "last", at)]),
        ];
        for result in write_batch(&store.access, &batch) {
            assert_eq!(result.unwrap(), Written::Audit);
        }
        let expected: Vec<_> = std::iter::once(Some("first".to_string()))
            .chain(long.into_iter().map(|event| event.session_id))
            .chain([Some("last".to_string())])
            .collect();
        assert_eq!(stored_sessions(&store), expected);
    }
}
