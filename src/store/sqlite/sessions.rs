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
//! queued with the writer thread and group-committed (`batched_writes`):
//! the rotations queued while one batch is written go into the next
//! transaction together, in queue order, each still seeing every rotation
//! before it.

use std::time::Duration;

use super::batched_writes::{self, Job};
use super::conn::Lite;
use super::SqliteStore;
use crate::domain::PasswordHash;
use crate::domain::{Timestamp, UserId};
use crate::store::session_sql as sql;
use crate::store::sessions::{
    AccessState, NewSession, RevokeScope, RotateOutcome, Rotation, RotationTicket, SessionQuery,
    SessionStore,
};
use crate::store::{SessionInfo, StoreError};

impl SessionStore for SqliteStore {
    fn start_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.write(|tx| sql::start(tx, session))
    }

    fn rotate_refresh(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        // Written by the writer thread; this one only waits.
        let answer = self.queue(Job::Rotate(rotation.clone()))?;
        batched_writes::answered(answer.blocking_recv())?.into_rotation()
    }

    fn queue_rotation(&self, rotation: &Rotation) -> Option<RotationTicket> {
        let answer = self.queue(Job::Rotate(rotation.clone()));
        Some(Box::pin(async move {
            batched_writes::answered(answer?.await)?.into_rotation()
        }))
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
