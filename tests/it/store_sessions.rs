//! The session half of the store suite: logins, atomic refresh rotation,
//! reuse detection, revocation scopes; on SQLite and Postgres.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use authd::auth::PasswordHasher;
use authd::domain::{
    self, Email, FullName, NewPassword, NewUser, Password, Timestamp, UserId, UserRef,
};
use authd::domain::{HashParams, PasswordHash};
use authd::store::{NewRefreshToken, NewSession, RevokeScope, RotateOutcome, Rotation, Store};
use common::TestDb;

common::on_both_backends!(
    a_login_starts_a_live_session_and_sets_last_login,
    rotation_replaces_the_token_once,
    thirty_two_concurrent_rotations_have_one_winner,
    sixteen_chains_rotating_at_once_each_keep_one_live_token,
    reuse_within_grace_is_refused_and_after_it_revokes_the_session,
    logout_scopes_reach_the_right_sessions,
    dead_tokens_are_not_live,
    hash_upgrades_lose_to_password_changes,
    deleting_a_user_deletes_their_tokens_through_their_sessions,
);

fn user(store: &dyn Store, email: &str) -> UserId {
    let email = Email::parse(email).unwrap();
    let password = NewPassword::parse(
        Password::new("correct horse battery"),
        &email,
        &FullName::default(),
    )
    .unwrap();
    let hasher = PasswordHasher::new(HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap();
    let new = NewUser {
        email,
        full_name: FullName::default(),
        password_hash: hasher.hash(&password).unwrap(),
        is_staff: false,
        is_superuser: false,
        date_joined: domain::now(),
    };
    store.create_user(&new).unwrap().id
}

fn later(secs: i64) -> Timestamp {
    domain::now() + chrono::Duration::seconds(secs)
}

fn login(store: &dyn Store, user_id: UserId, sid: &str) -> String {
    let jti = format!("{sid}-0");
    store
        .start_session(&NewSession {
            sid: sid.into(),
            user_id,
            created_at: domain::now(),
            client: Some(client()),
            refresh: NewRefreshToken {
                jti: jti.clone(),
                expires_at: later(3600),
            },
        })
        .unwrap();
    jti
}

fn client() -> domain::ClientInfo {
    domain::ClientInfo::new([192, 0, 2, 1].into(), Some("store-test"))
}

fn rotation(jti: &str, next: &str, grace: Duration) -> Rotation {
    Rotation {
        jti: jti.into(),
        next: NewRefreshToken {
            jti: next.into(),
            expires_at: later(3600),
        },
        at: domain::now(),
        reuse_grace: grace,
        client: Some(client()),
    }
}

fn a_login_starts_a_live_session_and_sets_last_login(db: &TestDb) {
    let store = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let jti = login(store.as_ref(), ada, "s1");
    let state = store.access_state(ada, "s1").unwrap().unwrap();
    assert!(!state.session_revoked);
    assert!(state.user.last_login.is_some());
    assert!(store.refresh_is_live(&jti, domain::now()).unwrap());
    assert!(
        store
            .access_state(ada, "nope")
            .unwrap()
            .unwrap()
            .session_revoked,
        "unknown sessions count as revoked"
    );
    let bob = user(store.as_ref(), "bob@example.com");
    assert!(
        store
            .access_state(bob, "s1")
            .unwrap()
            .unwrap()
            .session_revoked,
        "another user's session is not yours"
    );
    assert!(store
        .access_state(UserId::new(999_999).unwrap(), "s1")
        .unwrap()
        .is_none());
}

fn rotation_replaces_the_token_once(db: &TestDb) {
    let store = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let first = login(store.as_ref(), ada, "s1");
    let outcome = store
        .rotate_refresh(&rotation(&first, "s1-1", Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        outcome,
        RotateOutcome::Rotated {
            user_id: ada,
            sid: "s1".into()
        }
    );
    assert!(!store.refresh_is_live(&first, domain::now()).unwrap());
    assert!(store.refresh_is_live("s1-1", domain::now()).unwrap());
    let again = store
        .rotate_refresh(&rotation(&first, "s1-2", Duration::from_secs(10)))
        .unwrap();
    assert_eq!(again, RotateOutcome::Refused);
    assert!(
        store.refresh_is_live("s1-1", domain::now()).unwrap(),
        "a refusal within grace leaves the session alone"
    );
    assert_eq!(
        store
            .rotate_refresh(&rotation("unknown", "x", Duration::ZERO))
            .unwrap(),
        RotateOutcome::Refused
    );
}

fn thirty_two_concurrent_rotations_have_one_winner(db: &TestDb) {
    let store: Arc<dyn Store> = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let first = login(store.as_ref(), ada, "s1");
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            let first = first.clone();
            std::thread::spawn(move || {
                store.rotate_refresh(&rotation(
                    &first,
                    &format!("next-{i}"),
                    Duration::from_secs(10),
                ))
            })
        })
        .collect();
    let outcomes: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    let winners = outcomes
        .iter()
        .filter(|o| matches!(o, RotateOutcome::Rotated { .. }))
        .count();
    assert_eq!(winners, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| !matches!(o, RotateOutcome::ReuseDetected { .. })));
    let live = db.query_i64("SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL");
    assert_eq!(live, 1, "exactly one successor exists");
}

/// 16 sessions refreshed back to back at once (the refresh-chain load; on
/// SQLite, rotations queued together commit together): every rotation
/// wins, each session ends with one live token, its last, and every other
/// token of its chain was replaced by the next.
fn sixteen_chains_rotating_at_once_each_keep_one_live_token(db: &TestDb) {
    let store: Arc<dyn Store> = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let rounds = 20;
    let chains: Vec<_> = (0..16)
        .map(|chain| {
            let sid = format!("chain{chain}");
            let first = login(store.as_ref(), ada, &sid);
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut jti = first;
                for round in 1..=rounds {
                    let next = format!("{sid}-{round}");
                    let outcome = store
                        .rotate_refresh(&rotation(&jti, &next, Duration::from_secs(10)))
                        .unwrap();
                    assert_eq!(
                        outcome,
                        RotateOutcome::Rotated {
                            user_id: ada,
                            sid: sid.clone()
                        }
                    );
                    jti = next;
                }
                (sid, jti)
            })
        })
        .collect();
    for chain in chains {
        let (sid, last) = chain.join().unwrap();
        assert!(store.refresh_is_live(&last, domain::now()).unwrap());
        let live = db.query_i64(&format!(
            "SELECT COUNT(*) FROM refresh_tokens WHERE family = '{sid}' AND revoked_at IS NULL"
        ));
        assert_eq!(live, 1, "{sid}");
        let replaced = db.query_i64(&format!(
            "SELECT COUNT(*) FROM refresh_tokens WHERE family = '{sid}' AND replaced_by IS NOT NULL"
        ));
        assert_eq!(replaced, rounds, "{sid}");
    }
}

fn reuse_within_grace_is_refused_and_after_it_revokes_the_session(db: &TestDb) {
    let store = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let first = login(store.as_ref(), ada, "s1");
    let other = login(store.as_ref(), ada, "s2");
    store
        .rotate_refresh(&rotation(&first, "s1-1", Duration::ZERO))
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let outcome = store
        .rotate_refresh(&rotation(&first, "s1-2", Duration::ZERO))
        .unwrap();
    assert_eq!(outcome, RotateOutcome::ReuseDetected { sid: "s1".into() });
    assert!(
        !store.refresh_is_live("s1-1", domain::now()).unwrap(),
        "the thief's successor dies too"
    );
    assert!(
        store
            .access_state(ada, "s1")
            .unwrap()
            .unwrap()
            .session_revoked
    );
    assert!(
        store.refresh_is_live(&other, domain::now()).unwrap(),
        "other sessions are untouched"
    );
    let reason =
        db.query_i64("SELECT COUNT(*) FROM sessions WHERE revoked_reason = 'reuse_detected'");
    assert_eq!(reason, 1);
}

fn logout_scopes_reach_the_right_sessions(db: &TestDb) {
    let store = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let bob = user(store.as_ref(), "bob@example.com");
    for sid in ["a1", "a2", "a3"] {
        login(store.as_ref(), ada, sid);
    }
    login(store.as_ref(), bob, "b1");
    let revoked = |sid: &str, who: UserId| {
        store
            .access_state(who, sid)
            .unwrap()
            .unwrap()
            .session_revoked
    };

    assert_eq!(
        store
            .revoke_sessions(&RevokeScope::Session("a1".into()), "logout", domain::now())
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .revoke_sessions(&RevokeScope::Session("a1".into()), "logout", domain::now())
            .unwrap(),
        0,
        "idempotent"
    );
    assert!(revoked("a1", ada) && !revoked("a2", ada) && !revoked("a3", ada));

    let others = RevokeScope::OtherSessions {
        user_id: ada,
        keep: "a2".into(),
    };
    assert_eq!(
        store
            .revoke_sessions(&others, "logout", domain::now())
            .unwrap(),
        1
    );
    assert!(!revoked("a2", ada) && revoked("a3", ada));
    assert!(store.refresh_is_live("a2-0", domain::now()).unwrap());

    let before = store
        .find_user(&UserRef::Id(ada))
        .unwrap()
        .unwrap()
        .tokens_valid_after;
    let at = domain::now();
    store
        .revoke_sessions(&RevokeScope::AllSessions(ada), "logout", at)
        .unwrap();
    assert!(revoked("a2", ada));
    let after = store
        .find_user(&UserRef::Id(ada))
        .unwrap()
        .unwrap()
        .tokens_valid_after;
    assert!(after > before && after == at);
    assert!(!revoked("b1", bob), "other users untouched");
}

fn dead_tokens_are_not_live(db: &TestDb) {
    let store = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let jti = login(store.as_ref(), ada, "s1");
    assert!(
        !store.refresh_is_live(&jti, later(7200)).unwrap(),
        "expired"
    );
    let expired = store
        .rotate_refresh(&Rotation {
            at: later(7200),
            ..rotation(&jti, "n", Duration::ZERO)
        })
        .unwrap();
    assert_eq!(
        expired,
        RotateOutcome::Refused,
        "an expired token does not rotate"
    );
    store.set_active(ada, false, domain::now()).unwrap();
    store.set_active(ada, true, domain::now()).unwrap();
    assert!(
        !store.refresh_is_live(&jti, domain::now()).unwrap(),
        "disabling revoked it for good"
    );
    let fresh = login(store.as_ref(), ada, "s2");
    db.execute("UPDATE users SET is_active = FALSE");
    assert!(
        !store.refresh_is_live(&fresh, domain::now()).unwrap(),
        "inactive users' tokens are dead"
    );
    assert_eq!(
        store
            .rotate_refresh(&rotation(&fresh, "n2", Duration::ZERO))
            .unwrap(),
        RotateOutcome::Refused
    );
}

fn hash_upgrades_lose_to_password_changes(db: &TestDb) {
    let store = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let email = Email::parse("ada@example.com").unwrap();
    let (_, original) = store.find_credentials(&email).unwrap().unwrap();
    let changed = PasswordHash::unusable();
    store
        .set_password(ada, &changed, domain::now(), "password_change")
        .unwrap();
    store
        .upgrade_password_hash(ada, &original, &PasswordHash::unusable())
        .unwrap();
    let (_, current) = store.find_credentials(&email).unwrap().unwrap();
    assert_eq!(
        current, changed,
        "the stale upgrade did not overwrite the change"
    );
    let upgraded = PasswordHash::unusable();
    store
        .upgrade_password_hash(ada, &changed, &upgraded)
        .unwrap();
    assert_eq!(store.find_credentials(&email).unwrap().unwrap().1, upgraded);
}

/// Writers of one process take turns before SQLite's lock, so none of them
/// waits in (or fails out of) `busy_timeout`: with no busy timeout at all,
/// Deleting a user deletes every refresh token of theirs, rotated ones
/// included, and nobody else's. On Postgres a token no longer references
/// its user directly (migration 0008): the cascade runs through its session.
fn deleting_a_user_deletes_their_tokens_through_their_sessions(db: &TestDb) {
    let store = db.store();
    let store = store.as_ref();
    let ada = user(store, "ada@example.com");
    let first = login(store, ada, "s1");
    store
        .rotate_refresh(&rotation(&first, "s1-1", Duration::from_secs(10)))
        .unwrap();
    login(store, ada, "s2");
    let bob = user(store, "bob@example.com");
    login(store, bob, "s3");
    store.delete_user(ada).unwrap();
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM refresh_tokens"),
        1,
        "bob's token only"
    );
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM sessions"), 1);
    assert!(store.refresh_is_live("s3-0", later(0)).unwrap());
}

/// A refresh on Postgres takes no lock on its user's row: with that row
/// locked `FOR UPDATE` by another transaction, a rotation still completes.
/// Before migration 0008 the token's foreign key to `users` made every
/// refresh lock its user's row (`FOR KEY SHARE`), a WAL write per refresh
/// and a MultiXact whenever one user's devices refreshed at once; this
/// rotation would have waited for the other transaction to end.
#[test]
fn a_postgres_rotation_takes_no_lock_on_its_user() {
    let Some(db) =
        TestDb::postgres("store_sessions::a_postgres_rotation_takes_no_lock_on_its_user")
    else {
        return;
    };
    let store = db.store();
    let ada = user(store.as_ref(), "ada@example.com");
    let first = login(store.as_ref(), ada, "s1");
    let mut holder = ::postgres::Client::connect(&db.url(), ::postgres::NoTls).unwrap();
    let mut held = holder.transaction().unwrap();
    held.execute(
        "SELECT id FROM users WHERE id = $1 FOR UPDATE",
        &[&ada.get()],
    )
    .unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(store.rotate_refresh(&rotation(&first, "s1-1", Duration::ZERO)));
    });
    let outcome = finished.recv_timeout(Duration::from_secs(10));
    held.rollback().unwrap();
    let outcome = outcome.expect("the rotation waited for the lock on its user's row");
    assert!(
        matches!(outcome, Ok(RotateOutcome::Rotated { user_id, .. }) if user_id == ada),
        "{outcome:?}"
    );
}

/// 16 threads logging in at once all succeed.
#[test]
fn concurrent_sqlite_writers_of_one_process_never_meet_the_lock() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.database.busy_timeout = authd::config::Duration::millis(0);
    config.database.pool_size = 16;
    let store = authd::store::open(&config).unwrap();
    authd::store::migrate::migrate_up(store.as_ref()).unwrap();
    let ada = user(store.as_ref(), "ada@example.com");
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..8 {
                    let sid = format!("t{t}-s{i}");
                    let refresh = NewRefreshToken {
                        jti: format!("{sid}-0"),
                        expires_at: later(3600),
                    };
                    let session = NewSession {
                        sid,
                        user_id: ada,
                        created_at: domain::now(),
                        client: Some(client()),
                        refresh,
                    };
                    store.start_session(&session)?;
                }
                Ok::<_, authd::store::StoreError>(())
            })
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .unwrap()
            .expect("no writer saw the lock taken");
    }
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM sessions"), 16 * 8);
}
