//! Sessions and refresh tokens on SQLite: the shared statements
//! (`store::session_sql`). What is SQLite's is how they run: every write
//! takes this process's write turn before its connection
//! (`SqliteStore::writer`), and every write of more than one statement runs
//! in `BEGIN IMMEDIATE` (`SqliteStore::write`). SQLite has one writer at a
//! time, so a rotation's conditional UPDATE sees every earlier rotation, and
//! a refused one checks for reuse in the same transaction. A session start
//! and a rotation are a statement at a time here: SQLite has no
//! data-modifying CTEs, which Postgres runs each of them as.
//!
//! Rotations, the one write a busy server makes many of at once, are
//! group-committed (`group_commit`): the rotations queued while one batch
//! is written go into the next transaction together, in queue order. Each
//! still sees every rotation before it, exactly as if each had committed
//! alone, so the rules of one winner and of reuse detection are unchanged;
//! a statement that fails sends the batch's rotations back to a
//! transaction each, so a failure reaches its own caller only.

use std::time::Duration;

use rusqlite::TransactionBehavior;

use super::conn::Lite;
use super::group_commit::Refused;
use super::{db_error, Access, SqliteStore};
use crate::domain::PasswordHash;
use crate::domain::{Timestamp, UserId};
use crate::store::session_sql as sql;
use crate::store::sessions::{
    abandoned_rotation, AccessState, NewSession, RevokeScope, RotateOutcome, Rotation,
    RotationTicket, SessionQuery, SessionStore,
};
use crate::store::{SessionInfo, StoreError};

impl SessionStore for SqliteStore {
    fn start_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.write(|tx| sql::start(tx, session))
    }

    fn rotate_refresh(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        // Written by the rotation writer's thread; this one only waits.
        self.ticket(rotation.clone())
            .blocking_recv()
            .unwrap_or_else(|_| Err(abandoned_rotation()))
    }

    fn queue_rotation(&self, rotation: &Rotation) -> Option<RotationTicket> {
        Some(self.ticket(rotation.clone()))
    }

    fn revoke_if_reused(
        &self,
        jti: &str,
        at: Timestamp,
        grace: Duration,
    ) -> Result<Option<String>, StoreError> {
        self.write(|tx| sql::revoke_if_reused(tx, jti, at, grace))
    }

    fn revoke_sessions(
        &self,
        scope: &RevokeScope,
        why: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        self.write(|tx| sql::revoke_sessions(tx, scope, why, at))
    }

    fn access_state(&self, user_id: UserId, sid: &str) -> Result<Option<AccessState>, StoreError> {
        sql::access_state(&mut Lite(&*self.conn()?), user_id, sid)
    }

    fn refresh_is_live(&self, jti: &str, at: Timestamp) -> Result<bool, StoreError> {
        sql::refresh_is_live(&mut Lite(&*self.conn()?), jti, at)
    }

    fn revoke_refresh_token(
        &self,
        jti: &str,
        why: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        sql::revoke_refresh_token(&mut Lite(&*self.writer()?), jti, why, at)
    }

    fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<SessionInfo>, StoreError> {
        sql::list(&mut Lite(&*self.conn()?), query)
    }

    fn session_user(&self, sid: &str) -> Result<Option<UserId>, StoreError> {
        sql::session_user(&mut Lite(&*self.conn()?), sid)
    }

    fn refresh_token_known(&self, jti: &str) -> Result<bool, StoreError> {
        sql::refresh_token_known(&mut Lite(&*self.conn()?), jti)
    }

    fn upgrade_password_hash(
        &self,
        user_id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<(), StoreError> {
        sql::upgrade_password_hash(&mut Lite(&*self.writer()?), user_id, old, new)
    }
}

/// Why a batch of rotations did not commit.
enum BatchFailure {
    /// Beginning or committing the transaction: every rotation in the batch
    /// would fail the same way alone (the lock is taken, the disk is full).
    Transaction(StoreError),
    /// One rotation's statement: the others may well succeed without it.
    Rotation(StoreError),
}

impl BatchFailure {
    fn into_error(self) -> StoreError {
        match self {
            BatchFailure::Transaction(error) | BatchFailure::Rotation(error) => error,
        }
    }
}

impl SqliteStore {
    /// Queues `rotation` with the rotation writer. A full queue answers at
    /// once with `Busy`: the request is shed as if every connection were in
    /// use, rather than queued behind more than a few batches.
    fn ticket(&self, rotation: Rotation) -> RotationTicket {
        self.rotations
            .submit(rotation)
            .unwrap_or_else(|Refused::Full| {
                let (reply, ticket) = tokio::sync::oneshot::channel();
                let _ = reply.send(Err(StoreError::Busy));
                ticket
            })
    }
}

/// Writes a batch of rotations (the rotation writer's `write`) in one
/// transaction, in order, with one result per rotation. When one
/// rotation's statement fails, the batch rolls back and each rotation runs
/// again in a transaction of its own.
pub(super) fn write_rotations(
    access: &Access,
    batch: &[Rotation],
) -> Vec<Result<RotateOutcome, StoreError>> {
    let all_fail = |error: StoreError| batch.iter().map(|_| Err(error.echo())).collect();
    let mut conn = match access.writer() {
        Ok(conn) => conn,
        Err(error) => return all_fail(error),
    };
    match commit_rotations(&mut conn, batch) {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(BatchFailure::Rotation(_)) if batch.len() > 1 => batch
            .iter()
            .map(|rotation| {
                commit_rotations(&mut conn, std::slice::from_ref(rotation))
                    .map(|mut outcomes| outcomes.remove(0))
                    .map_err(BatchFailure::into_error)
            })
            .collect(),
        Err(failure) => all_fail(failure.into_error()),
    }
}

/// Rotates each of `batch` in order in one `BEGIN IMMEDIATE` transaction,
/// committed only when every rotation's statements succeed.
fn commit_rotations(
    conn: &mut rusqlite::Connection,
    batch: &[Rotation],
) -> Result<Vec<RotateOutcome>, BatchFailure> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| BatchFailure::Transaction(db_error(e)))?;
    let outcomes = batch
        .iter()
        .map(|rotation| sql::rotate(&mut Lite(&tx), rotation))
        .collect::<Result<Vec<_>, _>>()
        .map_err(BatchFailure::Rotation)?;
    tx.commit()
        .map_err(|e| BatchFailure::Transaction(db_error(e)))?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConnectionUrl};
    use crate::domain::{ClientInfo, Email, FullName, NewUser};
    use crate::store::sessions::{NewRefreshToken, NewSession};
    use crate::store::{migrate, Store};

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

    fn rotation(jti: &str, next: &str, at: Timestamp) -> Rotation {
        Rotation {
            jti: jti.into(),
            next: NewRefreshToken {
                jti: next.into(),
                expires_at: at + chrono::Duration::days(1),
            },
            at,
            reuse_grace: Duration::from_secs(10),
            client: Some(ClientInfo::new([192, 0, 2, 9].into(), Some("batch/1.0"))),
        }
    }

    /// One batch in which the middle rotation cannot record its successor
    /// (the jti is taken): it fails and leaves its token live, and the
    /// rotations on either side of it still commit.
    #[test]
    fn a_failed_rotation_fails_alone_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let at = crate::domain::now();
        let user = sessions(&store, &["a", "b", "c"], at);
        let batch = [
            rotation("a-0", "a-1", at),
            rotation("b-0", "c-0", at),
            rotation("c-0", "c-1", at),
        ];
        let results = write_rotations(&store.access, &batch);
        let rotated = |sid: &str| RotateOutcome::Rotated {
            user_id: user,
            sid: sid.into(),
        };
        assert_eq!(results[0].as_ref().unwrap(), &rotated("a"));
        assert!(
            matches!(results[1], Err(StoreError::Database(_))),
            "{:?}",
            results[1]
        );
        assert_eq!(results[2].as_ref().unwrap(), &rotated("c"));
        for (jti, live) in [
            ("a-0", false),
            ("a-1", true),
            ("b-0", true),
            ("c-0", false),
            ("c-1", true),
        ] {
            assert_eq!(store.refresh_is_live(jti, at).unwrap(), live, "{jti}");
        }
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
            rotation("a-0", "a-1", at),
            rotation("a-0", "a-x", at),
            rotation("a-1", "a-2", at),
        ];
        let results: Vec<_> = write_rotations(&store.access, &batch)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let rotated = RotateOutcome::Rotated {
            user_id: user,
            sid: "a".into(),
        };
        assert_eq!(results, [rotated.clone(), RotateOutcome::Refused, rotated]);
        assert!(store.refresh_is_live("a-2", at).unwrap());
        assert!(!store.refresh_token_known("a-x").unwrap());
    }
}
