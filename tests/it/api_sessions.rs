//! The caller's own sessions over real HTTP, on SQLite and (in CI)
//! Postgres: `GET /api/auth/sessions/` lists the live ones with where each
//! was started and last refreshed from, `DELETE /api/auth/sessions/{id}/`
//! ends one (refresh and access tokens), and another user's session id is
//! answered as an unknown one.

use crate::common;

use authd::domain::{self, ClientInfo, UserId};
use authd::store::{NewRefreshToken, NewSession};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::server::{
    access, all_at_once, blocking, http_suite, refresh, within_revocation_bound, Reply, TestServer,
    PASSWORD,
};
use common::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

http_suite!(
    the_list_shows_each_login_with_its_client_and_marks_the_current_one,
    a_refresh_records_when_and_from_where,
    deleting_a_session_ends_its_tokens_and_no_other,
    the_caller_may_end_its_own_current_session,
    another_users_session_is_not_found_and_not_ended,
    both_paths_need_an_access_token,
    the_list_is_bounded_to_the_newest_hundred,
    ending_a_session_while_it_refreshes_never_fails,
);

/// A server that takes the client IP from `X-Forwarded-For`, as behind a
/// proxy on loopback.
async fn start(db: &TestDb) -> TestServer {
    TestServer::start(db, |config| {
        config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
}

/// Logs in as `email` from `ip` with `agent`; panics unless 200.
async fn login_from(server: &TestServer, email: &str, ip: &str, agent: &str) -> Value {
    let reply = Reply::from(
        server
            .client
            .post(server.url("/api/auth/login/"))
            .header("x-forwarded-for", ip)
            .header("user-agent", agent)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

async fn refresh_from(server: &TestServer, token: &str, ip: &str, agent: &str) -> Reply {
    Reply::from(
        server
            .client
            .post(server.url("/api/auth/token/refresh/"))
            .header("x-forwarded-for", ip)
            .header("user-agent", agent)
            .json(&json!({ "refresh": token }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The caller's session list; panics unless 200.
async fn sessions(server: &TestServer, bearer: &str) -> Vec<Value> {
    let reply = server.get("/api/auth/sessions/", bearer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["sessions"].as_array().unwrap().clone()
}

async fn end(server: &TestServer, bearer: &str, sid: &str) -> Reply {
    server
        .call(
            Method::DELETE,
            &format!("/api/auth/sessions/{sid}/"),
            Some(bearer),
            None,
        )
        .await
}

/// The `sid` claim of a login or refresh body's access token.
fn sid(body: &Value) -> String {
    let payload = access(body).split('.').nth(1).unwrap().to_string();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

async fn me_status(server: &TestServer, bearer: &str) -> StatusCode {
    server.get("/api/auth/me/", bearer).await.status
}

async fn the_list_shows_each_login_with_its_client_and_marks_the_current_one(db: &TestDb) {
    let server = start(db).await;
    server.register("ada@example.com").await;
    let long_agent = format!("Long/1.0 {}", "x".repeat(400));
    let first = login_from(&server, "ada@example.com", "203.0.113.5", &long_agent).await;
    let second = login_from(&server, "ada@example.com", "2001:db8::7", "Firefox/133.0").await;

    let listed = sessions(&server, &access(&second)).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    // Newest first; the caller's own session is marked.
    assert_eq!(listed[0]["id"], sid(&second));
    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[0]["created_ip"], "2001:db8::7");
    assert_eq!(listed[0]["created_user_agent"], "Firefox/133.0");
    assert_eq!(listed[1]["id"], sid(&first));
    assert_eq!(listed[1]["current"], false);
    assert_eq!(listed[1]["created_ip"], "203.0.113.5");
    let agent = listed[1]["created_user_agent"].as_str().unwrap();
    assert_eq!(agent.chars().count(), 256, "cut to 256 characters");
    assert!(long_agent.starts_with(agent));
    for session in &listed {
        assert!(session["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(session["last_refreshed_at"], Value::Null, "never refreshed");
        assert_eq!(session["last_ip"], Value::Null);
        assert_eq!(session["last_user_agent"], Value::Null);
    }
    // The other session's token sees the same list, its own marked.
    let seen_by_first = sessions(&server, &access(&first)).await;
    assert_eq!(seen_by_first[0]["current"], false);
    assert_eq!(seen_by_first[1]["current"], true);
    // Without the trailing slash too; another user sees none of them.
    let bare = server.get("/api/auth/sessions", &access(&first)).await;
    assert_eq!(bare.status, StatusCode::OK);
    assert_eq!(bare.body["sessions"].as_array().unwrap().len(), 2);
    server.register("bob@example.com").await;
    let bob = server.login("bob@example.com").await;
    let bobs = sessions(&server, &access(&bob)).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["id"], sid(&bob));
}

async fn a_refresh_records_when_and_from_where(db: &TestDb) {
    let server = start(db).await;
    server.register("ada@example.com").await;
    let login = login_from(&server, "ada@example.com", "203.0.113.5", "Phone/1.0").await;
    let rotated = refresh_from(&server, &refresh(&login), "198.51.100.9", "Phone/1.1").await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);

    let listed = sessions(&server, &access(&rotated.body)).await;
    assert_eq!(listed.len(), 1);
    let session = &listed[0];
    assert_eq!(session["id"], sid(&login), "a refresh stays in its session");
    assert_eq!(session["created_ip"], "203.0.113.5");
    assert_eq!(session["created_user_agent"], "Phone/1.0");
    assert_eq!(session["last_ip"], "198.51.100.9");
    assert_eq!(session["last_user_agent"], "Phone/1.1");
    let created = session["created_at"].as_str().unwrap();
    let refreshed = session["last_refreshed_at"].as_str().unwrap();
    assert!(refreshed >= created, "{refreshed} after {created}");

    // A refused refresh (the rotated token again, within the grace) records nothing.
    let refused = refresh_from(&server, &refresh(&login), "192.0.2.66", "Thief/1.0").await;
    refused.assert_problem(401, "token_not_valid");
    let after = sessions(&server, &access(&rotated.body)).await;
    assert_eq!(after[0]["last_ip"], "198.51.100.9");
    assert_eq!(after[0]["last_user_agent"], "Phone/1.1");
}

async fn deleting_a_session_ends_its_tokens_and_no_other(db: &TestDb) {
    let server = start(db).await;
    server.register("ada@example.com").await;
    let laptop = login_from(&server, "ada@example.com", "203.0.113.5", "Laptop").await;
    let phone = login_from(&server, "ada@example.com", "203.0.113.6", "Phone").await;
    assert_eq!(me_status(&server, &access(&laptop)).await, StatusCode::OK);

    // From the phone, end the laptop's session (the path without its slash).
    let ended = server
        .call(
            Method::DELETE,
            &format!("/api/auth/sessions/{}", sid(&laptop)),
            Some(&access(&phone)),
            None,
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
    assert!(ended.text.is_empty());

    let laptop_access = access(&laptop);
    let status = within_revocation_bound(
        || me_status(&server, &laptop_access),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its access token stops");
    refresh_from(&server, &refresh(&laptop), "203.0.113.5", "Laptop")
        .await
        .assert_problem(401, "token_not_valid");

    // The phone's session lives on, and is all the list shows.
    assert_eq!(me_status(&server, &access(&phone)).await, StatusCode::OK);
    let listed = sessions(&server, &access(&phone)).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], sid(&phone));
    let rotated = refresh_from(&server, &refresh(&phone), "203.0.113.6", "Phone").await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);

    // Ending it again: it is no longer one of the caller's live sessions.
    end(&server, &access(&rotated.body), &sid(&laptop))
        .await
        .assert_problem(404, "not_found");
}

async fn the_caller_may_end_its_own_current_session(db: &TestDb) {
    let server = start(db).await;
    server.register("ada@example.com").await;
    let login = server.login("ada@example.com").await;
    let ended = end(&server, &access(&login), &sid(&login)).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
    // On the instance that ended it: at once.
    server
        .get("/api/auth/me/", &access(&login))
        .await
        .assert_problem(401, "token_not_valid");
    server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&login)}),
        )
        .await
        .assert_problem(401, "token_not_valid");
}

async fn another_users_session_is_not_found_and_not_ended(db: &TestDb) {
    let server = start(db).await;
    server.register("ada@example.com").await;
    server.register("bob@example.com").await;
    let ada = server.login("ada@example.com").await;
    let bob = server.login("bob@example.com").await;

    let foreign = end(&server, &access(&bob), &sid(&ada)).await;
    foreign.assert_problem(404, "not_found");
    let unknown = end(&server, &access(&bob), &"0".repeat(32)).await;
    unknown.assert_problem(404, "not_found");
    assert_eq!(
        foreign.body, unknown.body,
        "the same answer as an unknown id"
    );
    let too_long = end(&server, &access(&bob), &"a".repeat(65)).await;
    too_long.assert_problem(404, "not_found");

    // Nothing of Ada's ended, nor of Bob's.
    assert_eq!(me_status(&server, &access(&ada)).await, StatusCode::OK);
    assert_eq!(sessions(&server, &access(&ada)).await.len(), 1);
    let rotated = server
        .post(
            "/api/auth/token/refresh/",
            json!({"refresh": refresh(&ada)}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_eq!(me_status(&server, &access(&bob)).await, StatusCode::OK);
}

async fn both_paths_need_an_access_token(db: &TestDb) {
    let server = start(db).await;
    server.register("ada@example.com").await;
    let login = server.login("ada@example.com").await;
    let path = format!("/api/auth/sessions/{}/", sid(&login));

    for (method, path) in [
        (Method::GET, "/api/auth/sessions/"),
        (Method::DELETE, path.as_str()),
    ] {
        let anonymous = server.call(method.clone(), path, None, None).await;
        anonymous.assert_problem(401, "not_authenticated");
        assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
        // A refresh token is not an access token.
        server
            .call(method, path, Some(&refresh(&login)), None)
            .await
            .assert_problem(401, "token_not_valid");
    }
    // Nothing was ended by those.
    assert_eq!(sessions(&server, &access(&login)).await.len(), 1);
    let wrong_method = server
        .call(
            Method::POST,
            "/api/auth/sessions/",
            Some(&access(&login)),
            None,
        )
        .await;
    wrong_method.assert_problem(405, "method_not_allowed");
}

async fn the_list_is_bounded_to_the_newest_hundred(db: &TestDb) {
    let server = start(db).await;
    let user = server.register("ada@example.com").await;
    let user_id = UserId::new(user["id"].as_i64().unwrap()).unwrap();
    let start = domain::now() - chrono::Duration::hours(1);
    blocking(|| {
        let store = db.store();
        for n in 0..105 {
            let at = start + chrono::Duration::seconds(n);
            store
                .start_session(&NewSession {
                    sid: format!("bulk{n:03}"),
                    user_id,
                    created_at: at,
                    client: Some(ClientInfo::new([192, 0, 2, 1].into(), None)),
                    refresh: NewRefreshToken {
                        jti: format!("bulk-jti-{n:03}"),
                        expires_at: at + chrono::Duration::days(1),
                    },
                })
                .unwrap();
        }
    });
    let login = server.login("ada@example.com").await;
    let listed = sessions(&server, &access(&login)).await;
    assert_eq!(listed.len(), 100);
    assert_eq!(listed[0]["id"], sid(&login), "the newest first");
    assert_eq!(listed[1]["id"], "bulk104");
    assert_eq!(listed[99]["id"], "bulk006");
    assert_eq!(listed[1]["created_user_agent"], Value::Null);
}

/// A refresh and the end of its session at the same moment (a user ending
/// a session from another device while it refreshes): either order is
/// fine, but neither request may fail (on Postgres the two take row locks
/// on the same session and token), and the session ends either way.
async fn ending_a_session_while_it_refreshes_never_fails(db: &TestDb) {
    let server = start(db).await;
    server.register("ada@example.com").await;
    let keeper = server.login("ada@example.com").await;
    for round in 0..10 {
        let login = server.login("ada@example.com").await;
        let replies = all_at_once([
            server
                .client
                .post(server.url("/api/auth/token/refresh/"))
                .json(&json!({"refresh": refresh(&login)})),
            server
                .client
                .delete(server.url(&format!("/api/auth/sessions/{}/", sid(&login))))
                .bearer_auth(access(&keeper)),
        ])
        .await;
        let (refreshed, ended) = (&replies[0], &replies[1]);
        assert_eq!(
            ended.status,
            StatusCode::NO_CONTENT,
            "round {round}: {}",
            ended.text
        );
        assert!(
            [StatusCode::OK, StatusCode::UNAUTHORIZED].contains(&refreshed.status),
            "round {round}: {} {}",
            refreshed.status,
            refreshed.text
        );
        if refreshed.status == StatusCode::OK {
            // It won the race, but its session is ended all the same.
            server
                .post(
                    "/api/auth/token/refresh/",
                    json!({"refresh": refresh(&refreshed.body)}),
                )
                .await
                .assert_problem(401, "token_not_valid");
        }
    }
    assert_eq!(sessions(&server, &access(&keeper)).await.len(), 1);
}
