//! The store suite: every behaviour of the `Store` interface, run against
//! SQLite always and against Postgres when `AUTHD_TEST_DATABASE_URL` is set.

use crate::common;

use std::sync::Arc;

use authd::auth::PasswordHasher;
use authd::domain::{self, Email, FullName, NewPassword, NewUser, Password, UserRef, UserUpdate};
use authd::domain::{HashParams, PasswordHash};
use authd::store::{migrate, Store, StoreError, UserQuery};
use common::TestDb;

common::on_both_backends!(
    migrations_apply_revert_and_reapply,
    modified_or_newer_schemas_are_refused,
    creates_and_finds_users_by_id_and_any_case_email,
    duplicate_emails_in_any_case_are_refused,
    an_idn_domain_and_its_punycode_are_one_account,
    concurrent_creates_of_one_email_leave_exactly_one,
    lists_and_searches_in_id_order,
    updates_only_given_fields,
    setting_a_password_cuts_off_every_token,
    disabling_revokes_and_enabling_does_not_revive,
    deletes_cascade_and_unknown_ids_are_reported,
);

fn hasher() -> PasswordHasher {
    PasswordHasher::new(HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap()
}

fn new_user(email: &str) -> NewUser {
    let email = Email::parse(email).unwrap();
    let full_name = FullName::parse("Test Person").unwrap();
    let password =
        NewPassword::parse(Password::new("correct horse battery"), &email, &full_name).unwrap();
    NewUser {
        email,
        full_name,
        password_hash: hasher().hash(&password).unwrap(),
        is_staff: false,
        is_superuser: false,
        date_joined: domain::now(),
    }
}

fn by_email(email: &str) -> UserRef {
    UserRef::Email(Email::parse(email).unwrap())
}

fn migrations_apply_revert_and_reapply(db: &TestDb) {
    let store = authd::store::open(&db.config()).unwrap();
    assert!(store.applied_migrations().unwrap().is_empty());
    assert!(
        migrate::ensure_current(store.as_ref()).is_err(),
        "an empty database is not current"
    );

    let applied = migrate::migrate_up(store.as_ref()).unwrap();
    assert_eq!(applied.len(), store.migrations().len());
    assert!(
        migrate::migrate_up(store.as_ref()).unwrap().is_empty(),
        "a second run does nothing"
    );
    migrate::ensure_current(store.as_ref()).unwrap();
    store.create_user(&new_user("ada@example.com")).unwrap();

    let reverted = migrate::migrate_down(store.as_ref(), 0).unwrap();
    assert_eq!(reverted.len(), applied.len());
    assert!(store.applied_migrations().unwrap().is_empty());
    assert!(
        store.find_user(&by_email("ada@example.com")).is_err(),
        "tables are gone"
    );

    migrate::migrate_up(store.as_ref()).unwrap();
    assert_eq!(store.find_user(&by_email("ada@example.com")).unwrap(), None);
}

fn modified_or_newer_schemas_are_refused(db: &TestDb) {
    let store = db.store();
    db.execute("UPDATE authd_schema_migrations SET checksum = 'tampered' WHERE version = 1");
    let error = migrate::migrate_up(store.as_ref()).unwrap_err().to_string();
    assert!(
        error.contains("0001_initial was changed after it was applied"),
        "{error}"
    );
    let error = migrate::ensure_current(store.as_ref())
        .unwrap_err()
        .to_string();
    assert!(error.contains("changed after it was applied"), "{error}");

    let checksum = store.migrations()[0].checksum();
    db.execute(&format!(
        "UPDATE authd_schema_migrations SET checksum = '{checksum}' WHERE version = 1;
         INSERT INTO authd_schema_migrations (version, name, checksum, applied_at) VALUES (999, 'future', 'x', {});",
        db.time_literal(0)
    ));
    let error = migrate::ensure_current(store.as_ref())
        .unwrap_err()
        .to_string();
    assert!(error.contains("newer than this binary"), "{error}");
    assert!(
        migrate::migrate_down(store.as_ref(), 0).is_err(),
        "no down script runs against an unknown schema"
    );
    assert_eq!(
        store.applied_migrations().unwrap().len(),
        store.migrations().len() + 1,
        "nothing was reverted"
    );
}

fn creates_and_finds_users_by_id_and_any_case_email(db: &TestDb) {
    let store = db.store();
    let created = store
        .create_user(&new_user("  Ada.Lovelace@Example.COM "))
        .unwrap();
    assert_eq!(created.email.as_str(), "Ada.Lovelace@example.com");
    assert_eq!(created.full_name.as_str(), "Test Person");
    assert!(created.is_active && !created.is_staff && !created.is_superuser);
    assert_eq!(created.last_login, None);
    assert_eq!(created.tokens_valid_after, created.date_joined);

    let by_id = store.find_user(&UserRef::Id(created.id)).unwrap().unwrap();
    assert_eq!(
        by_id, created,
        "what is read back equals what was written, to the microsecond"
    );
    let by_other_case = store
        .find_user(&by_email("ADA.LOVELACE@example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(by_other_case.id, created.id);

    let (user, hash) = store
        .find_credentials(&Email::parse("ada.lovelace@EXAMPLE.com").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(user.id, created.id);
    assert!(hasher().verify(&Password::new("correct horse battery"), &hash));
    assert_eq!(
        store.find_user(&by_email("nobody@example.com")).unwrap(),
        None
    );
    assert!(store
        .find_credentials(&Email::parse("nobody@example.com").unwrap())
        .unwrap()
        .is_none());
}

fn duplicate_emails_in_any_case_are_refused(db: &TestDb) {
    let store = db.store();
    store.create_user(&new_user("ada@example.com")).unwrap();
    assert!(matches!(
        store.create_user(&new_user("ADA@example.com")),
        Err(StoreError::EmailTaken)
    ));
    assert!(matches!(
        store.create_user(&new_user("Ada@EXAMPLE.com")),
        Err(StoreError::EmailTaken)
    ));
    assert_eq!(
        store
            .list_users(&UserQuery {
                search: None,
                limit: 10,
                after: None,
            })
            .unwrap()
            .len(),
        1
    );
}

/// Found by an outside review: `idn@bücher.de` and `idn@xn--bcher-kva.de`
/// registered as two accounts. Keys now hold the domain's IDNA form, and
/// keys written before are rewritten by the migration.
fn an_idn_domain_and_its_punycode_are_one_account(db: &TestDb) {
    let store = db.store();
    let unicode = store.create_user(&new_user("idn@Bücher.de")).unwrap();
    assert_eq!(
        unicode.email.as_str(),
        "idn@bücher.de",
        "stored as given, domain lower-cased"
    );
    assert!(matches!(
        store.create_user(&new_user("IDN@xn--bcher-kva.de")),
        Err(StoreError::EmailTaken)
    ));
    let found = store.find_user(&by_email("idn@XN--BCHER-KVA.DE")).unwrap();
    assert_eq!(found.map(|u| u.id), Some(unicode.id));

    // A key written by an earlier version, in Unicode form: the migration
    // rewrites it, and the account is found and guarded by either spelling.
    let at = db.time_literal(0);
    db.execute(&format!(
        "INSERT INTO users (email, email_lower, password_hash, date_joined, tokens_valid_after)
         VALUES ('old@müller.de', 'old@müller.de', '!', {at}, {at})"
    ));
    migrate::migrate_up(store.as_ref()).unwrap();
    assert_eq!(
        db.query_strings("SELECT email_lower FROM users WHERE email = 'old@müller.de'"),
        vec![vec![Some("old@xn--mller-kva.de".to_string())]]
    );
    assert!(store
        .find_user(&by_email("old@müller.de"))
        .unwrap()
        .is_some());
    assert!(matches!(
        store.create_user(&new_user("old@xn--mller-kva.de")),
        Err(StoreError::EmailTaken)
    ));
}

fn concurrent_creates_of_one_email_leave_exactly_one(db: &TestDb) {
    let store: Arc<dyn Store> = db.store();
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            let user = new_user(&format!(
                "{}@example.com",
                if i % 2 == 0 { "race" } else { "RACE" }
            ));
            std::thread::spawn(move || store.create_user(&user))
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for result in results.iter().filter(|r| r.is_err()) {
        assert!(matches!(result, Err(StoreError::EmailTaken)), "{result:?}");
    }
    assert_eq!(
        store
            .list_users(&UserQuery {
                search: None,
                limit: 100,
                after: None,
            })
            .unwrap()
            .len(),
        1
    );
}

fn lists_and_searches_in_id_order(db: &TestDb) {
    let store = db.store();
    for email in [
        "carol@example.com",
        "alice@example.org",
        "bob_100%@example.com",
    ] {
        store.create_user(&new_user(email)).unwrap();
    }
    let all = store
        .list_users(&UserQuery {
            search: None,
            limit: 10,
            after: None,
        })
        .unwrap();
    let emails: Vec<_> = all.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "carol@example.com",
            "alice@example.org",
            "bob_100%@example.com"
        ]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));

    let search = |text: &str| {
        store
            .list_users(&UserQuery {
                search: Some(text.into()),
                limit: 10,
                after: None,
            })
            .unwrap()
            .into_iter()
            .map(|u| u.email.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(search("EXAMPLE.ORG"), ["alice@example.org"]);
    assert_eq!(
        search("test person").len(),
        3,
        "full names are searched too"
    );
    assert_eq!(
        search("100%"),
        ["bob_100%@example.com"],
        "LIKE wildcards are literal"
    );
    assert_eq!(search("_"), ["bob_100%@example.com"]);
    assert!(search("nobody").is_empty());
    assert_eq!(
        store
            .list_users(&UserQuery {
                search: None,
                limit: 2,
                after: None,
            })
            .unwrap()
            .len(),
        2
    );
    let ids: Vec<_> = all.iter().map(|u| u.id).collect();
    let page = |after| {
        store
            .list_users(&UserQuery {
                search: None,
                limit: 2,
                after,
            })
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(page(None), ids[..2], "the first page");
    assert_eq!(
        page(Some(ids[1])),
        ids[2..],
        "the next page starts after the given id"
    );
    assert!(page(Some(ids[2])).is_empty(), "past the last id: nothing");
}

fn updates_only_given_fields(db: &TestDb) {
    let store = db.store();
    let user = store.create_user(&new_user("ada@example.com")).unwrap();
    let staff = store
        .update_user(
            user.id,
            &UserUpdate {
                is_staff: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(staff.is_staff);
    assert_eq!(staff.full_name.as_str(), "Test Person");
    let renamed = store
        .update_user(
            user.id,
            &UserUpdate {
                full_name: Some(FullName::parse("Ada King").unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(renamed.full_name.as_str(), "Ada King");
    assert!(renamed.is_staff, "untouched fields keep their value");
    let missing = authd::domain::UserId::new(987_654).unwrap();
    assert!(matches!(
        store.update_user(missing, &UserUpdate::default()),
        Err(StoreError::UserNotFound(_))
    ));
}

/// Inserts a live session with one refresh token for `user_id`.
fn insert_session(db: &TestDb, user_id: i64, sid: &str) {
    db.execute(&format!(
        "INSERT INTO sessions (id, user_id, created_at) VALUES ('{sid}', {user_id}, {now});
         INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at)
         VALUES ('{sid}-jti', {user_id}, '{sid}', {now}, {later});",
        now = db.time_literal(0),
        later = db.time_literal(3600),
    ));
}

fn live_tokens(db: &TestDb, user_id: i64) -> i64 {
    db.query_i64(&format!(
        "SELECT (SELECT COUNT(*) FROM sessions WHERE user_id = {user_id} AND revoked_at IS NULL)
              + (SELECT COUNT(*) FROM refresh_tokens WHERE user_id = {user_id} AND revoked_at IS NULL)"
    ))
}

fn setting_a_password_cuts_off_every_token(db: &TestDb) {
    let store = db.store();
    let user = store.create_user(&new_user("ada@example.com")).unwrap();
    let other = store.create_user(&new_user("bob@example.com")).unwrap();
    insert_session(db, user.id.get(), "s1");
    insert_session(db, other.id.get(), "s2");
    assert_eq!(live_tokens(db, user.id.get()), 2);

    let email = Email::parse("ada@example.com").unwrap();
    let password = NewPassword::parse(
        Password::new("a new passphrase here"),
        &email,
        &FullName::default(),
    )
    .unwrap();
    let at = domain::now();
    store
        .set_password(
            user.id,
            &hasher().hash(&password).unwrap(),
            at,
            "password_change",
        )
        .unwrap();

    let (after, hash) = store.find_credentials(&email).unwrap().unwrap();
    assert!(hasher().verify(&Password::new("a new passphrase here"), &hash));
    assert!(!hasher().verify(&Password::new("correct horse battery"), &hash));
    assert_eq!(after.tokens_valid_after, at);
    assert_eq!(
        live_tokens(db, user.id.get()),
        0,
        "sessions and refresh tokens revoked"
    );
    assert_eq!(live_tokens(db, other.id.get()), 2, "other users untouched");
    let reason = db
        .query_i64("SELECT COUNT(*) FROM refresh_tokens WHERE revoked_reason = 'password_change'");
    assert_eq!(reason, 1);
    let missing = authd::domain::UserId::new(987_654).unwrap();
    assert!(matches!(
        store.set_password(missing, &PasswordHash::unusable(), at, "password_change"),
        Err(StoreError::UserNotFound(_))
    ));
}

fn disabling_revokes_and_enabling_does_not_revive(db: &TestDb) {
    let store = db.store();
    let user = store.create_user(&new_user("ada@example.com")).unwrap();
    insert_session(db, user.id.get(), "s1");
    let at = domain::now();
    let disabled = store.set_active(user.id, false, at).unwrap();
    assert!(!disabled.is_active);
    assert_eq!(disabled.tokens_valid_after, at);
    assert_eq!(live_tokens(db, user.id.get()), 0);
    let enabled = store.set_active(user.id, true, domain::now()).unwrap();
    assert!(enabled.is_active);
    assert_eq!(
        enabled.tokens_valid_after, at,
        "enabling does not revive old tokens"
    );
    assert_eq!(live_tokens(db, user.id.get()), 0);
}

fn deletes_cascade_and_unknown_ids_are_reported(db: &TestDb) {
    let store = db.store();
    let user = store.create_user(&new_user("ada@example.com")).unwrap();
    insert_session(db, user.id.get(), "s1");
    db.execute(&format!(
        "INSERT INTO password_reset_tokens (token_sha256, user_id, expires_at) VALUES ('abc', {}, {})",
        user.id,
        db.time_literal(600)
    ));
    store.delete_user(user.id).unwrap();
    assert_eq!(store.find_user(&UserRef::Id(user.id)).unwrap(), None);
    for table in ["sessions", "refresh_tokens", "password_reset_tokens"] {
        assert_eq!(
            db.query_i64(&format!("SELECT COUNT(*) FROM {table}")),
            0,
            "{table} rows cascade"
        );
    }
    assert!(matches!(
        store.delete_user(user.id),
        Err(StoreError::UserNotFound(_))
    ));
    store.create_user(&new_user("ada@example.com")).unwrap();
}
