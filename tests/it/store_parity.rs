//! Backend parity: one script calls every operation of the `Store` trait
//! and its sub-traits with the same inputs on SQLite and on Postgres (when
//! `AUTHD_TEST_DATABASE_URL` is set), and the two transcripts of answers
//! must be the same, line by line. The behaviour of each operation is
//! asserted in `store` and `store_sessions`; this suite catches a backend
//! that answers differently from the other.
//!
//! Every time is an input, so answers compare exactly. What legitimately
//! differs is left out: migration checksums and times (each backend has
//! its own SQL files), pool sizes, and the wording of database errors
//! (only the error's kind is compared).

use crate::common;

use std::fmt::Debug;
use std::time::Duration;

use authd::domain::{
    AuditEvent, ClientInfo, Email, EventType, FullName, NewUser, Origin, PasswordHash, Timestamp,
    UserId, UserRef, UserUpdate,
};
use authd::store::{
    presence, revoked_reason, AuditQuery, AuditSubject, Expired, ImportedUser,
    LegacyBlacklistEntry, LegacyRedemption, NewRefreshToken, NewSession, OnConflict, RevokeScope,
    Rotation, SessionQuery, Store, StoreError, UserQuery,
};
use common::TestDb;

#[test]
fn every_store_operation_answers_alike_on_both_backends() {
    let sqlite = transcript(&TestDb::sqlite());
    // The script reaches every part it is meant to (a transcript of errors
    // would be alike on both backends too).
    assert!(sqlite
        .iter()
        .any(|line| line.starts_with("rotate: Ok(Rotated")));
    assert!(sqlite
        .iter()
        .any(|line| line == "consume reset: Ok(Some(UserId(1)))"));
    assert!(sqlite
        .iter()
        .any(|line| line == "import users: Ok([Imported, Imported])"));
    let test = "store_parity::every_store_operation_answers_alike_on_both_backends";
    let Some(db) = TestDb::postgres(test) else {
        return;
    };
    let postgres = transcript(&db);
    for (i, (lite, pg)) in sqlite.iter().zip(&postgres).enumerate() {
        assert_eq!(lite, pg, "step {i} differs (left: SQLite, right: Postgres)");
    }
    assert_eq!(sqlite.len(), postgres.len());
}

/// A fixed instant, `secs` after 2026-01-01T00:00:00.123456Z (micros, which
/// both backends keep).
fn at(secs: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(1_767_225_600_123_456).unwrap()
        + chrono::Duration::seconds(secs)
}

fn hash(n: u8) -> PasswordHash {
    PasswordHash::from_stored(format!("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ${n}"))
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn client() -> Option<ClientInfo> {
    Some(ClientInfo::new([192, 0, 2, 7].into(), Some("parity")))
}

fn new_user(raw: &str, n: u8) -> NewUser {
    NewUser {
        email: email(raw),
        full_name: FullName::parse(&format!("Person {n}")).unwrap(),
        password_hash: hash(n),
        is_staff: n % 2 == 0,
        is_superuser: false,
        date_joined: at(i64::from(n)),
    }
}

fn session(sid: &str, user_id: UserId, secs: i64) -> NewSession {
    NewSession {
        sid: sid.into(),
        user_id,
        created_at: at(secs),
        client: client(),
        refresh: NewRefreshToken {
            jti: format!("{sid}-0"),
            expires_at: at(secs + 3600),
        },
    }
}

/// The answers of one run of the script, one line per call.
struct Transcript(Vec<String>);

impl Transcript {
    fn note<T: Debug>(&mut self, step: &str, answer: Result<T, StoreError>) -> Option<T> {
        let (line, value) = match answer {
            Ok(value) => (format!("{step}: Ok({value:?})"), Some(value)),
            Err(error) => (format!("{step}: Err({})", kind(&error)), None),
        };
        self.0.push(line);
        value
    }
}

/// An error's kind, without the backend's wording.
fn kind(error: &StoreError) -> String {
    match error {
        StoreError::EmailTaken => "EmailTaken".into(),
        StoreError::UserNotFound(which) => format!("UserNotFound({which})"),
        StoreError::Unavailable(_) => "Unavailable".into(),
        StoreError::Busy => "Busy".into(),
        StoreError::Migration(_) => "Migration".into(),
        StoreError::Database(_) => "Database".into(),
        StoreError::Internal(_) => "Internal".into(),
    }
}

fn transcript(db: &TestDb) -> Vec<String> {
    let store = db.store();
    let store = store.as_ref();
    let mut t = Transcript(Vec::new());
    let applied = store.applied_migrations().unwrap();
    let versions: Vec<_> = applied
        .iter()
        .map(|m| (m.version, m.name.clone()))
        .collect();
    t.0.push(format!("migrations: {versions:?}"));
    t.note("ping", store.ping());
    t.note("probe write", store.probe_write());
    store.note_call(false);
    t.0.push(format!("calls counted: {}", store.pool_state().calls >= 1));
    users(store, &mut t);
    sessions(store, &mut t);
    resets(store, &mut t);
    legacy_and_import(store, &mut t);
    prune_and_leases(store, &mut t);
    audit(store, &mut t);
    // Last, because a refused insert uses up an id on Postgres.
    t.note(
        "create taken",
        store.create_user(&new_user("ADA@example.com", 9)),
    );
    t.note("delete", store.delete_user(UserId::new(2).unwrap()));
    t.note("delete again", store.delete_user(UserId::new(2).unwrap()));
    t.note(
        "find deleted",
        store.find_user(&UserRef::Id(UserId::new(2).unwrap())),
    );
    t.0
}

fn users(store: &dyn Store, t: &mut Transcript) {
    let ada = t
        .note("create", store.create_user(&new_user("ada@example.com", 1)))
        .unwrap();
    t.note(
        "create",
        store.create_user(&new_user("bob_50%@example.com", 2)),
    );
    t.note(
        "create idn",
        store.create_user(&new_user("u@bücher.example", 3)),
    );
    t.note("find id", store.find_user(&UserRef::Id(ada.id)));
    t.note(
        "find email",
        store.find_user(&UserRef::Email(email("ADA@Example.com"))),
    );
    t.note(
        "find missing",
        store.find_user(&UserRef::Email(email("nobody@example.com"))),
    );
    let credentials = store.find_credentials(&email("ada@example.com"));
    t.note(
        "credentials",
        credentials.map(|c| c.map(|(u, h)| (u, h.as_str().to_string()))),
    );
    for (search, after, limit) in [
        (None, None, 10),
        (Some("50%"), None, 10),
        (None, Some(ada.id), 1),
    ] {
        let query = UserQuery {
            search: search.map(str::to_string),
            limit,
            after,
        };
        t.note(
            &format!("list {search:?} {after:?} {limit}"),
            store.list_users(&query),
        );
    }
    let update = UserUpdate {
        full_name: Some(FullName::parse("Ada L").unwrap()),
        is_staff: None,
        is_superuser: Some(true),
    };
    t.note("update", store.update_user(ada.id, &update));
    t.note(
        "update missing",
        store.update_user(UserId::new(99).unwrap(), &update),
    );
    t.note("disable", store.set_active(ada.id, false, at(100)));
    t.note("enable", store.set_active(ada.id, true, at(50)));
    t.note(
        "set active missing",
        store.set_active(UserId::new(99).unwrap(), true, at(50)),
    );
    let reason = revoked_reason::PASSWORD_CHANGE;
    t.note(
        "set password",
        store.set_password(ada.id, &hash(7), at(200), reason),
    );
    t.note(
        "set password missing",
        store.set_password(UserId::new(99).unwrap(), &hash(7), at(200), reason),
    );
    t.note("find after", store.find_user(&UserRef::Id(ada.id)));
    // A key as written before keys took the IDNA form.
    let idn = UserId::new(3).unwrap();
    t.note("set raw key", store.set_email_key(idn, "u@bücher.example"));
    let keys = t
        .note("non-ascii keys", store.non_ascii_email_keys(0, 10))
        .unwrap();
    t.note(
        "set key taken",
        store.set_email_key(keys[0].0, "ada@example.com"),
    );
    t.note(
        "set key",
        store.set_email_key(keys[0].0, "u@xn--bcher-kva.example"),
    );
    t.note("non-ascii keys after", store.non_ascii_email_keys(0, 10));
}

fn sessions(store: &dyn Store, t: &mut Transcript) {
    let ada = UserId::new(1).unwrap();
    let bob = UserId::new(2).unwrap();
    t.note("start", store.start_session(&session("s1", ada, 300)));
    t.note("start", store.start_session(&session("s2", ada, 301)));
    t.note("start", store.start_session(&session("s3", bob, 302)));
    let rotation = |jti: &str, next: &str, secs: i64| Rotation {
        jti: jti.into(),
        next: NewRefreshToken {
            jti: next.into(),
            expires_at: at(secs + 3600),
        },
        at: at(secs),
        reuse_grace: Duration::from_secs(10),
        client: client(),
    };
    t.note(
        "rotate",
        store.rotate_refresh(&rotation("s1-0", "s1-1", 310)),
    );
    t.note(
        "rotate used",
        store.rotate_refresh(&rotation("s1-0", "s1-2", 311)),
    );
    t.note(
        "reused in grace",
        store.revoke_if_reused("s1-0", at(312), Duration::from_secs(10)),
    );
    t.note(
        "reused after",
        store.revoke_if_reused("s1-0", at(400), Duration::from_secs(10)),
    );
    t.note("access", store.access_state(ada, "s1"));
    t.note("access live", store.access_state(ada, "s2"));
    t.note("access other's", store.access_state(bob, "s2"));
    t.note("live", store.refresh_is_live("s2-0", at(320)));
    t.note("live expired", store.refresh_is_live("s2-0", at(9000)));
    t.note(
        "revoke token",
        store.revoke_refresh_token("s2-0", revoked_reason::LOGOUT, at(330)),
    );
    t.note(
        "revoke token again",
        store.revoke_refresh_token("s2-0", revoked_reason::LOGOUT, at(331)),
    );
    t.note("known", store.refresh_token_known("s2-0"));
    t.note("unknown", store.refresh_token_known("nope"));
    t.note("session user", store.session_user("s3"));
    t.note("session user missing", store.session_user("nope"));
    t.note("start", store.start_session(&session("s4", bob, 340)));
    let scopes = [
        RevokeScope::OwnSession {
            user_id: bob,
            sid: "s3".into(),
        },
        RevokeScope::OtherSessions {
            user_id: bob,
            keep: "s3".into(),
        },
        RevokeScope::Session("s2".into()),
        RevokeScope::AllSessions(ada),
    ];
    for scope in &scopes {
        t.note(
            &format!("revoke {scope:?}"),
            store.revoke_sessions(scope, revoked_reason::LOGOUT, at(350)),
        );
    }
    for (live_only, limit, with_tokens) in [(false, None, true), (true, Some(1), false)] {
        let query = SessionQuery {
            user_id: bob,
            live_only,
            at: at(360),
            limit,
            with_tokens,
        };
        t.note(
            &format!("list sessions {live_only} {limit:?}"),
            store.list_sessions(&query),
        );
    }
    t.note(
        "upgrade stale",
        store.upgrade_password_hash(bob, &hash(1), &hash(8)),
    );
    t.note(
        "upgrade",
        store.upgrade_password_hash(bob, &hash(2), &hash(8)),
    );
    t.note(
        "credentials after upgrade",
        store
            .find_credentials(&email("bob_50%@example.com"))
            .map(|c| c.map(|(_, h)| h.as_str().to_string())),
    );
}

fn resets(store: &dyn Store, t: &mut Transcript) {
    let ada = UserId::new(1).unwrap();
    t.note(
        "insert reset",
        store.insert_reset_token("aa", ada, at(1000)),
    );
    t.note(
        "insert reset",
        store.insert_reset_token("bb", ada, at(1000)),
    );
    t.note("reset user", store.reset_token_user("aa", at(900)));
    t.note("reset user expired", store.reset_token_user("aa", at(1000)));
    t.note(
        "consume reset",
        store.consume_reset_token("aa", &hash(5), at(901)),
    );
    t.note(
        "consume reset again",
        store.consume_reset_token("aa", &hash(5), at(902)),
    );
    t.note("other link ended", store.reset_token_user("bb", at(903)));
    t.note(
        "enqueue",
        store.enqueue_reset(&email("ada@example.com"), at(1100)),
    );
    t.note(
        "enqueue again",
        store.enqueue_reset(&email("ada@example.com"), at(1101)),
    );
    t.note(
        "enqueue unknown",
        store.enqueue_reset(&email("nobody@example.com"), at(1102)),
    );
    t.note("claim early", store.claim_reset("c0", at(1000), at(1200)));
    let job = t
        .note("claim", store.claim_reset("c1", at(1105), at(1200)))
        .unwrap();
    let generation = match job {
        authd::store::Claimed::Job(job) => job.generation,
        authd::store::Claimed::Idle { .. } => 0,
    };
    t.note("claim taken", store.claim_reset("c2", at(1106), at(1200)));
    t.note("retry", store.retry_reset(ada, "c1", at(1150)));
    t.note("retry lost", store.retry_reset(ada, "c1", at(1150)));
    t.note("claim again", store.claim_reset("c3", at(1151), at(1300)));
    t.note(
        "finish lost",
        store.finish_reset(ada, "c1", generation, at(1152)),
    );
    t.note(
        "enqueue merged",
        store.enqueue_reset(&email("ada@example.com"), at(1153)),
    );
    t.note(
        "finish rearmed",
        store.finish_reset(ada, "c3", generation, at(1154)),
    );
    t.note("claim rearmed", store.claim_reset("c4", at(1155), at(1300)));
    t.note(
        "finish",
        store.finish_reset(ada, "c4", generation + 1, at(1156)),
    );
    t.note("claim empty", store.claim_reset("c5", at(1157), at(1300)));
}

fn legacy_and_import(store: &dyn Store, t: &mut Transcript) {
    let ada = UserId::new(1).unwrap();
    let entry = |jti: &str, reason| LegacyBlacklistEntry {
        jti: jti.into(),
        user_id: Some(ada),
        expires_at: at(5000),
        blacklisted_at: at(1200),
        reason,
    };
    use authd::store::legacy_tokens::reason;
    t.note(
        "blacklist",
        store.blacklist_legacy(&entry("j1", reason::LOGOUT)),
    );
    t.note(
        "blacklist again",
        store.blacklist_legacy(&entry("j1", reason::LOGOUT)),
    );
    t.note("legacy access", store.legacy_access_state(ada, "j1"));
    t.note("legacy access clean", store.legacy_access_state(ada, "j2"));
    for (jti, issued) in [("j2", 1200), ("j2", 1200), ("j3", 100)] {
        let redemption = LegacyRedemption {
            token: entry(jti, reason::REDEEMED),
            issued_at: at(issued),
            session: session(&format!("legacy-{jti}"), ada, 1201),
        };
        t.note(
            &format!("redeem {jti} {issued}"),
            store.redeem_legacy_refresh(&redemption),
        );
    }
    let entries = [entry("j4", reason::IMPORTED), entry("j1", reason::IMPORTED)];
    t.note(
        "import blacklist dry",
        store.import_legacy_blacklist(&entries, true),
    );
    t.note(
        "import blacklist",
        store.import_legacy_blacklist(&entries, false),
    );
    let imported = |id: i64, raw: &str| ImportedUser {
        id: UserId::new(id).unwrap(),
        email: email(raw),
        full_name: FullName::parse("Imported").unwrap(),
        password_hash: hash(3),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        date_joined: at(-100),
        last_login: Some(at(-50)),
    };
    let batch = [
        imported(100, "carol@example.com"),
        imported(101, "dan@example.com"),
    ];
    t.note(
        "import users dry",
        store.import_users(&batch, OnConflict::Fail, true),
    );
    t.note(
        "import users",
        store.import_users(&batch, OnConflict::Fail, false),
    );
    let again = [
        imported(100, "carol@example.com"),
        imported(102, "ADA@example.com"),
    ];
    for on_conflict in [OnConflict::Skip, OnConflict::Update, OnConflict::Fail] {
        t.note(
            &format!("import again {on_conflict:?}"),
            store.import_users(&again, on_conflict, false),
        );
    }
    t.note(
        "imported",
        store.find_user(&UserRef::Id(UserId::new(100).unwrap())),
    );
    t.note(
        "create after import",
        store.create_user(&new_user("erin@example.com", 4)),
    );
}

fn prune_and_leases(store: &dyn Store, t: &mut Transcript) {
    for kind in Expired::ALL {
        t.note(
            &format!("count {kind:?}"),
            store.count_expired(kind, at(4000)),
        );
    }
    t.note("stats", store.token_stats(at(4000)));
    for kind in Expired::ALL {
        t.note(
            &format!("prune {kind:?}"),
            store
                .prune_batch(kind, at(4000), 2)
                .map(|b| (b.rows, b.emptied_sessions)),
        );
    }
    t.note("stats after", store.token_stats(at(4000)));
    t.note("lease", store.try_lease("job", "a", at(4100), at(4000)));
    t.note(
        "lease held",
        store.try_lease("job", "b", at(4100), at(4050)),
    );
    t.note(
        "lease renewed",
        store.try_lease("job", "a", at(4200), at(4050)),
    );
    t.note(
        "lease expired",
        store.try_lease("job", "b", at(4300), at(4200)),
    );
    t.note("release other's", store.release_lease("job", "a"));
    t.note(
        "lease still b's",
        store.try_lease("job", "a", at(4300), at(4201)),
    );
    t.note("release", store.release_lease("job", "b"));
    t.note(
        "lease free",
        store.try_lease("job", "a", at(4300), at(4201)),
    );
    t.note("servers none", store.servers_connected(at(4000)));
    t.note("beat", presence::beat(store, "server-1", at(4000)));
    t.note("servers", store.servers_connected(at(4001)));
    t.note("forget", presence::forget(store, "server-1"));
    t.note("servers gone", store.servers_connected(at(4002)));
}

fn audit(store: &dyn Store, t: &mut Transcript) {
    let origin = Origin::api(client().unwrap(), Some("req-1".into()));
    let ada = UserId::new(1).unwrap();
    let mut events = Vec::new();
    for (i, kind) in [EventType::Login, EventType::Register, EventType::Login]
        .into_iter()
        .enumerate()
    {
        let mut event = AuditEvent::failure(kind, "bad_password", &origin)
            .email("Ada@Example.com")
            .count(2);
        event.at = at(6000 + i as i64);
        if i == 1 {
            event = AuditEvent::success(kind, &origin)
                .user_id(ada)
                .session("s1")
                .detail("x");
            event.at = at(6001);
        }
        events.push(event);
    }
    t.note("audit insert", store.insert_audit_events(&events));
    let queries = [
        AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        },
        AuditQuery {
            subject: Some(AuditSubject::Account(ada, "ada@example.com".into())),
            kinds: vec![EventType::Login],
            ip: Some([192, 0, 2, 7].into()),
            since: Some(at(6000)),
            until: Some(at(6002)),
            limit: 10,
            ..AuditQuery::default()
        },
        AuditQuery {
            after_id: Some(1),
            limit: 1,
            ..AuditQuery::default()
        },
    ];
    for query in &queries {
        t.note(
            &format!("audit list {query:?}"),
            store.list_audit_events(query),
        );
    }
    t.note("audit stats", store.audit_stats(Some(at(6001)), 5));
    t.note("audit stats all", store.audit_stats(None, 1));
    t.note("audit prune", store.prune_audit_events(at(6001), 10));
    t.note(
        "audit after prune",
        store
            .list_audit_events(&queries[0])
            .map(|events| events.len()),
    );
}
