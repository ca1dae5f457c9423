//! The plan guard: every statement the hot paths run must find its rows
//! through an index, however many rows the tables hold.
//!
//! The test fills a database with enough rows that a planner would rather
//! scan than use a missing index, records every statement the store runs
//! while it walks each hot path (login lookup, register, session start,
//! rotation, access checks, logout scopes, reset tokens, the reset email
//! queue, legacy tokens, admin paging, prune batches, leases), and asks the database for each
//! statement's plan. The statements are recorded, not listed, so a new one
//! is checked the day it is written:
//!
//! - SQLite: a trace hook on the store's connections records each
//!   statement with its bound values; `EXPLAIN QUERY PLAN` must not `SCAN`
//!   a table that grows with the user base (a `SCAN ... USING INDEX` reads
//!   the whole index, so it counts too). SQLite is left without `ANALYZE`
//!   statistics, as authd's databases are.
//! - Postgres: `auto_explain` logs the plan of every statement the store's
//!   connections run, with `enable_seqscan = off`, as notices the store's
//!   connections hand to this module; no plan may hold a `Seq Scan` of
//!   those tables.

use std::cell::RefCell;
use std::sync::Mutex;

/// Tables whose row count grows with users, sessions and time.
const GROWING_TABLES: [&str; 6] = [
    "users",
    "sessions",
    "refresh_tokens",
    "password_reset_tokens",
    "password_reset_queue",
    "legacy_token_blacklist",
];

thread_local! {
    /// SQLite statements run on this thread while a guard records.
    static SQLITE_STATEMENTS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Plans that Postgres's `auto_explain` sent as notices.
static POSTGRES_PLANS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installed on every SQLite connection of a test build.
pub(crate) fn trace_sqlite(conn: &rusqlite::Connection) {
    conn.trace_v2(
        rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
        Some(record_sqlite),
    );
}

fn record_sqlite(event: rusqlite::trace::TraceEvent<'_>) {
    let rusqlite::trace::TraceEvent::Stmt(statement, text) = event else {
        return;
    };
    // Statements inside triggers come as comments; there are none to check.
    if text.starts_with("--") {
        return;
    }
    SQLITE_STATEMENTS.with(|recorded| {
        if let Some(recorded) = recorded.borrow_mut().as_mut() {
            recorded.push(statement.expanded_sql().unwrap_or_else(|| text.to_owned()));
        }
    });
}

/// Installed as the notice callback of every Postgres connection of a test
/// build; only connections started with `auto_explain` send plans.
pub(crate) fn record_postgres_notice(notice: postgres::error::DbError) {
    if notice.message().contains("Query Text:") {
        POSTGRES_PLANS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(notice.message().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rand::distributions::{Alphanumeric, DistString};

    use super::*;
    use crate::config::{Config, ConnectionUrl};
    use crate::domain::PasswordHash;
    use crate::domain::{ClientInfo, Email, FullName, NewUser, Timestamp, UserId, UserRef};
    use crate::store::legacy_tokens::{
        reason as legacy_reason, LegacyBlacklistEntry, LegacyRedemption,
    };
    use crate::store::prune;
    use crate::store::sessions::{NewRefreshToken, NewSession, RevokeScope, Rotation};
    use crate::store::{
        self, migrate, revoked_reason, Claimed, Finished, SessionQuery, Store, UserQuery,
    };

    /// Enough rows that a planner prefers any index to a scan, few enough to
    /// seed in well under a second.
    const SEED_USERS: i64 = 4_000;

    fn store_for(url: String) -> Arc<dyn Store> {
        let mut config = Config::default();
        config.database.url = ConnectionUrl::new(url);
        let store = store::open(&config).expect("open the store");
        migrate::migrate_up(store.as_ref()).expect("migrate");
        store
    }

    fn random_name() -> String {
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), 12)
            .to_lowercase()
    }

    fn client() -> ClientInfo {
        ClientInfo::new([192, 0, 2, 7].into(), Some("guard/1.0"))
    }

    fn new_session(user_id: UserId, sid: &str, at: Timestamp) -> NewSession {
        NewSession {
            sid: sid.into(),
            user_id,
            created_at: at,
            client: Some(client()),
            refresh: NewRefreshToken {
                jti: format!("{sid}-0"),
                expires_at: at + chrono::Duration::days(1),
            },
        }
    }

    /// Walks every hot path once, as the server and the admin commands do.
    fn walk_hot_paths(store: &dyn Store) {
        let now = crate::domain::now();
        let email = Email::parse("guard@example.com").unwrap();
        let user = store
            .create_user(&NewUser {
                email: email.clone(),
                full_name: FullName::parse("Guard").unwrap(),
                password_hash: PasswordHash::unusable(),
                is_staff: false,
                is_superuser: false,
                date_joined: now,
            })
            .unwrap();
        let (found, hash) = store.find_credentials(&email).unwrap().unwrap();
        store.find_user(&UserRef::Id(found.id)).unwrap().unwrap();
        store
            .find_user(&UserRef::Email(email.clone()))
            .unwrap()
            .unwrap();
        store
            .upgrade_password_hash(user.id, &hash, &PasswordHash::unusable())
            .unwrap();

        store
            .start_session(&new_session(user.id, "g1", now))
            .unwrap();
        store.access_state(user.id, "g1").unwrap().unwrap();
        assert!(store.refresh_is_live("g1-0", now).unwrap());
        let rotate = |jti: &str, next: &str, at: Timestamp| {
            store
                .rotate_refresh(&Rotation {
                    jti: jti.into(),
                    next: NewRefreshToken {
                        jti: next.into(),
                        expires_at: at + chrono::Duration::days(1),
                    },
                    at,
                    reuse_grace: Duration::from_secs(1),
                    client: Some(client()),
                })
                .unwrap()
        };
        assert!(matches!(
            rotate("g1-0", "g1-1", now),
            store::sessions::RotateOutcome::Rotated { .. }
        ));
        // A replay past the grace: reuse detection revokes the session.
        let later = now + chrono::Duration::seconds(5);
        assert!(matches!(
            rotate("g1-0", "g1-2", later),
            store::sessions::RotateOutcome::ReuseDetected { .. }
        ));
        store.session_user("g1").unwrap();
        // The owner's list (live, bounded) and the admin's (all, with tokens).
        for (live_only, limit, with_tokens) in [(true, Some(100), false), (false, None, true)] {
            store
                .list_sessions(&SessionQuery {
                    user_id: user.id,
                    live_only,
                    at: now,
                    limit,
                    with_tokens,
                })
                .unwrap();
        }

        for sid in ["g2", "g3", "g4"] {
            store
                .start_session(&new_session(user.id, sid, now))
                .unwrap();
        }
        store
            .revoke_refresh_token("g2-0", revoked_reason::LOGOUT, now)
            .unwrap();
        for scope in [
            RevokeScope::OwnSession {
                user_id: user.id,
                sid: "g4".into(),
            },
            RevokeScope::OwnSession {
                user_id: user.id,
                sid: "seed-1".into(),
            },
            RevokeScope::Session("g2".into()),
            RevokeScope::OtherSessions {
                user_id: user.id,
                keep: "g3".into(),
            },
            RevokeScope::AllSessions(user.id),
        ] {
            store
                .revoke_sessions(&scope, revoked_reason::LOGOUT, now)
                .unwrap();
        }

        store
            .insert_reset_token("guard-token", user.id, now + chrono::Duration::hours(1))
            .unwrap();
        store.reset_token_user("guard-token", now).unwrap().unwrap();
        store
            .consume_reset_token("guard-token", &PasswordHash::unusable(), now)
            .unwrap()
            .unwrap();
        store
            .set_password(
                user.id,
                &PasswordHash::unusable(),
                now,
                revoked_reason::PASSWORD_CHANGE,
            )
            .unwrap();
        store.set_active(user.id, false, now).unwrap();
        store.set_active(user.id, true, now).unwrap();

        // The reset email queue: a known and an unknown email asked for; the
        // row taken, asked for again during the send (so it stays), taken
        // again and retried, taken a third time and done; then nothing due.
        let nobody = Email::parse("nobody@example.com").unwrap();
        assert!(store.enqueue_reset(&email, now).unwrap());
        assert!(!store.enqueue_reset(&nobody, now).unwrap());
        let lease = now + chrono::Duration::minutes(1);
        let take = |claim: &str| match store.claim_reset(claim, now, lease).unwrap() {
            Claimed::Job(job) => job,
            idle => panic!("the guard's row is due: {idle:?}"),
        };
        let job = take("claim-1");
        assert!(store.enqueue_reset(&email, now).unwrap());
        assert_eq!(
            store
                .finish_reset(user.id, "claim-1", job.generation, now)
                .unwrap(),
            Finished::Rearmed
        );
        take("claim-2");
        assert!(store.retry_reset(user.id, "claim-2", now).unwrap());
        let job = take("claim-3");
        assert_eq!(
            store
                .finish_reset(user.id, "claim-3", job.generation, now)
                .unwrap(),
            Finished::Deleted
        );
        assert!(matches!(
            store.claim_reset("claim-4", now, lease).unwrap(),
            Claimed::Idle { next_due: Some(_) }
        ));

        let legacy = |jti: &str| LegacyBlacklistEntry {
            jti: jti.into(),
            user_id: Some(user.id),
            expires_at: now + chrono::Duration::days(1),
            blacklisted_at: now,
            reason: legacy_reason::LOGOUT,
        };
        store.legacy_access_state(user.id, "legacy-1").unwrap();
        store.blacklist_legacy(&legacy("legacy-1")).unwrap();
        store
            .redeem_legacy_refresh(&LegacyRedemption {
                token: legacy("legacy-2"),
                issued_at: now - chrono::Duration::hours(1),
                session: new_session(user.id, "g5", now),
            })
            .unwrap();

        // Admin paging: the first page and one deep in the table.
        for after in [None, UserId::new(SEED_USERS / 2)] {
            store
                .list_users(&UserQuery {
                    search: None,
                    limit: 100,
                    after,
                })
                .unwrap();
        }

        assert!(store
            .try_lease("guard", "me", now + chrono::Duration::minutes(1), now)
            .unwrap());
        prune::prune(store, now, 500, false, &mut |_| {}).unwrap();
        store.release_lease("guard", "me").unwrap();
        store.delete_user(user.id).unwrap();
    }

    fn scans_of_growing_tables(plan: &str) -> Vec<String> {
        plan.lines()
            .filter(|line| {
                GROWING_TABLES.iter().any(|table| {
                    let line = line.trim_start_matches(|c: char| !c.is_alphabetic());
                    line.starts_with(&format!("SCAN {table}"))
                        || line.starts_with(&format!("Seq Scan on {table}"))
                })
            })
            .map(|line| line.trim().to_owned())
            .collect()
    }

    const SQLITE_SEED: &str = "
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :users)
        INSERT INTO users (email, email_lower, password_hash, date_joined, tokens_valid_after)
        SELECT 'seed' || i || '@example.com', 'seed' || i || '@example.com', '!', 0, 0 FROM n;
        INSERT INTO sessions (id, user_id, created_at) SELECT 'seed-' || id, id, 0 FROM users;
        WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 2)
        INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at, revoked_at, revoked_reason)
        SELECT 'seed-' || id || '-' || j, id, 'seed-' || id, 0,
               CASE WHEN j = 2 THEN 9000000000000000 ELSE id END,
               CASE WHEN j = 2 THEN NULL ELSE 1 END, CASE WHEN j = 2 THEN NULL ELSE 'rotated' END
        FROM users, k;
        INSERT INTO password_reset_tokens (token_sha256, user_id, expires_at)
        SELECT 'seed-' || id, id, 9000000000000000 FROM users;
        INSERT INTO password_reset_queue (user_id, requested_at, next_attempt_at)
        SELECT id, 0, 9000000000000000 FROM users;
        INSERT INTO legacy_token_blacklist (jti, user_id, expires_at, blacklisted_at, reason)
        SELECT 'seed-' || id, id, 9000000000000000, 0, 'imported' FROM users;";

    #[test]
    fn sqlite_hot_paths_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.db");
        let store = store_for(format!("sqlite://{}", path.display()));
        let seed = rusqlite::Connection::open(&path).unwrap();
        seed.execute_batch(&SQLITE_SEED.replace(":users", &SEED_USERS.to_string()))
            .unwrap();

        SQLITE_STATEMENTS.with(|recorded| *recorded.borrow_mut() = Some(Vec::new()));
        walk_hot_paths(store.as_ref());
        let statements = SQLITE_STATEMENTS.with(|recorded| recorded.borrow_mut().take().unwrap());
        assert!(
            statements.len() > 30,
            "the trace hook recorded the walk: {statements:?}"
        );

        let mut scanning = Vec::new();
        for statement in &statements {
            let mut explain = seed
                .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
                .unwrap_or_else(|e| panic!("explain {statement}: {e}"));
            let plan: Vec<String> = explain
                .query_map([], |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let scans = scans_of_growing_tables(&plan.join("\n"));
            if !scans.is_empty() {
                scanning.push(format!("{statement}\n  -> {}", scans.join("; ")));
            }
        }
        assert!(
            scanning.is_empty(),
            "hot-path statements that read a whole table:\n{}",
            scanning.join("\n")
        );
    }

    /// `AUTHD_TEST_DATABASE_URL`, or `None` to skip (a failure when
    /// `AUTHD_TEST_REQUIRE_SERVICES=1`).
    fn postgres_base_url() -> Option<String> {
        match std::env::var("AUTHD_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                assert!(
                    std::env::var("AUTHD_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                    "AUTHD_TEST_DATABASE_URL is required"
                );
                eprintln!("skipped: AUTHD_TEST_DATABASE_URL is not set");
                None
            }
        }
    }

    const POSTGRES_SEED: &str = "
        INSERT INTO users (email, email_lower, password_hash, date_joined, tokens_valid_after)
        SELECT 'seed' || i || '@example.com', 'seed' || i || '@example.com', '!', now(), now()
        FROM generate_series(1, :users) i;
        INSERT INTO sessions (id, user_id, created_at) SELECT 'seed-' || id, id, now() FROM users;
        INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at, revoked_at, revoked_reason)
        SELECT 'seed-' || id || '-' || j, id, 'seed-' || id, now(),
               CASE WHEN j = 2 THEN now() + interval '1 day' ELSE now() - interval '1 day' END,
               CASE WHEN j = 2 THEN NULL ELSE now() END, CASE WHEN j = 2 THEN NULL ELSE 'rotated' END
        FROM users, generate_series(0, 2) j;
        INSERT INTO password_reset_tokens (token_sha256, user_id, expires_at)
        SELECT 'seed-' || id, id, now() + interval '1 hour' FROM users;
        INSERT INTO password_reset_queue (user_id, requested_at, next_attempt_at)
        SELECT id, now(), now() + interval '1 day' FROM users;
        INSERT INTO legacy_token_blacklist (jti, user_id, expires_at, blacklisted_at, reason)
        SELECT 'seed-' || id, id, now() + interval '1 day', now(), 'imported' FROM users;
        ANALYZE;";

    #[test]
    fn postgres_hot_paths_use_indexes() {
        let Some(base_url) = postgres_base_url() else {
            return;
        };
        let schema = format!("authd_plan_{}", random_name());
        let mut admin = postgres::Client::connect(&base_url, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let plain_url = format!("{base_url}{separator}options=-csearch_path%3D{schema}");
        migrate::migrate_up(store_for(plain_url.clone()).as_ref()).unwrap();
        let mut seed = postgres::Client::connect(&plain_url, postgres::NoTls).unwrap();
        seed.batch_execute(&POSTGRES_SEED.replace(":users", &SEED_USERS.to_string()))
            .unwrap();

        // Every statement of these connections is planned with sequential
        // scans priced out and its plan sent back as a notice.
        let explained_url = format!(
            "{plain_url}%20-csession_preload_libraries%3Dauto_explain\
             %20-cauto_explain.log_min_duration%3D0%20-cauto_explain.log_level%3Dnotice\
             %20-cauto_explain.log_nested_statements%3Don%20-cenable_seqscan%3Doff"
        );
        let store = store_for(explained_url);
        POSTGRES_PLANS.lock().unwrap().clear();
        walk_hot_paths(store.as_ref());
        drop(store);
        let plans = std::mem::take(&mut *POSTGRES_PLANS.lock().unwrap());
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
        assert!(
            plans.len() > 30,
            "auto_explain sent the walk's plans: {}",
            plans.len()
        );
        let scanning: Vec<String> = plans
            .iter()
            .filter(|plan| !scans_of_growing_tables(plan).is_empty())
            .cloned()
            .collect();
        assert!(
            scanning.is_empty(),
            "hot-path statements that read a whole table:\n{}",
            scanning.join("\n\n")
        );
    }
}
