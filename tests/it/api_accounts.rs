//! Register, login, /me and password change over real HTTP, on SQLite and
//! (in CI) Postgres.

use crate::common;

use common::server::{access, blocking, http_suite, refresh, TestServer, PASSWORD};
use common::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::json;

http_suite!(
    register_returns_the_user_object_and_refuses_duplicates,
    register_reports_every_invalid_field,
    login_returns_a_pair_the_user_and_the_cookie,
    login_failures_all_look_the_same,
    me_reads_and_patches_the_caller,
    password_change_cuts_off_every_other_token,
    password_change_refuses_a_wrong_old_or_weak_new_password,
    login_upgrades_a_hash_made_with_old_parameters,
    a_hash_below_the_configured_minimum_never_verifies,
);

async fn register_returns_the_user_object_and_refuses_duplicates(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    let reply = server
        .post("/api/auth/register/", json!({"email": " Ada@Example.COM ", "password": PASSWORD, "full_name": "Ada Lovelace"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let user = &reply.body;
    assert_eq!(user["id"], 1);
    assert_eq!(user["email"], "Ada@example.com");
    assert_eq!(user["full_name"], "Ada Lovelace");
    assert_eq!(
        (user["is_active"].as_bool(), user["is_staff"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(user["date_joined"].as_str().unwrap().ends_with('Z'));
    assert!(user["last_login"].is_null());
    assert_eq!(
        user.as_object().unwrap().len(),
        7,
        "exactly the API's user object: {user}"
    );

    let again = server
        .post(
            "/api/auth/register",
            json!({"email": "ada@EXAMPLE.com", "password": PASSWORD}),
        )
        .await;
    again.assert_problem(409, "email_taken");
}

async fn register_reports_every_invalid_field(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    let reply = server
        .post(
            "/api/auth/register/",
            json!({"email": "nope", "full_name": "x".repeat(151)}),
        )
        .await;
    reply.assert_problem(400, "validation_error");
    let errors = &reply.body["errors"];
    assert_eq!(errors["email"], json!(["Enter a valid email address."]));
    assert_eq!(errors["password"], json!(["This field is required."]));
    assert_eq!(
        errors["full_name"],
        json!(["Ensure this field has no more than 150 characters."])
    );

    let weak = server
        .post(
            "/api/auth/register/",
            json!({"email": "bob@example.com", "password": "12345678"}),
        )
        .await;
    weak.assert_problem(400, "validation_error");
    let messages = weak.body["errors"]["password"].as_array().unwrap();
    assert!(
        messages.contains(&json!("This password is entirely numeric.")),
        "{messages:?}"
    );
    assert!(
        messages.contains(&json!("This password is too common.")),
        "{messages:?}"
    );

    let similar = server
        .post(
            "/api/auth/register/",
            json!({"email": "margaret.hamilton@example.com", "password": "hamilton.margaret"}),
        )
        .await;
    assert_eq!(
        similar.body["errors"]["password"],
        json!(["The password is too similar to the email."])
    );

    let wrong_types = server
        .post(
            "/api/auth/register/",
            json!({"email": 5, "password": ["x"]}),
        )
        .await;
    assert_eq!(
        wrong_types.body["errors"]["email"],
        json!(["Not a valid string."])
    );
    assert_eq!(
        wrong_types.body["errors"]["password"],
        json!(["Not a valid string."])
    );

    let nobody = server
        .call(Method::GET, "/api/auth/me/", Some("x"), None)
        .await;
    nobody.assert_problem(401, "token_not_valid");
}

async fn login_returns_a_pair_the_user_and_the_cookie(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let reply = server
        .post(
            "/api/auth/token/",
            json!({"email": "ADA@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = &reply.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["refresh_expires_in"], 604_800);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert!(
        body["user"]["last_login"].is_string(),
        "login sets last_login"
    );
    let cookie = reply.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with(&format!("authd_refresh={};", refresh(body))),
        "{cookie}"
    );
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/auth/",
        "Max-Age=604800",
    ] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing from {cookie}"
        );
    }
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let me = server.get("/api/auth/me/", &access(body)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], 1);
}

async fn login_failures_all_look_the_same(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    server.register("off@example.com").await;
    blocking(|| {
        let store = db.store();
        let off = store
            .find_user(&authd::domain::UserRef::parse("off@example.com").unwrap())
            .unwrap()
            .unwrap();
        store
            .set_active(off.id, false, authd::domain::now())
            .unwrap();
    });

    let attempts = [
        json!({"email": "ada@example.com", "password": "wrong password here"}),
        json!({"email": "nobody@example.com", "password": PASSWORD}),
        json!({"email": "off@example.com", "password": PASSWORD}),
        json!({"email": "not an email", "password": PASSWORD}),
    ];
    let mut bodies = Vec::new();
    for attempt in attempts {
        let reply = server.post("/api/auth/login/", attempt).await;
        reply.assert_problem(401, "invalid_credentials");
        assert!(reply.header("set-cookie").is_none());
        bodies.push(reply.text);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one answer for all: {bodies:?}"
    );
    let missing = server
        .post("/api/auth/login/", json!({"email": "ada@example.com"}))
        .await;
    missing.assert_problem(400, "validation_error");
    assert_eq!(
        missing.body["errors"]["password"],
        json!(["This field is required."])
    );
}

async fn me_reads_and_patches_the_caller(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let token = access(&server.login("ada@example.com").await);
    let patched = server
        .call(
            Method::PATCH,
            "/api/auth/me",
            Some(&token),
            Some(json!({"full_name": " Ada King ", "is_staff": true})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["full_name"], "Ada King");
    assert_eq!(
        patched.body["is_staff"], false,
        "read-only fields are ignored"
    );
    assert_eq!(
        server.get("/api/auth/me/", &token).await.body["full_name"],
        "Ada King"
    );
    let bad = server
        .call(
            Method::PATCH,
            "/api/auth/me/",
            Some(&token),
            Some(json!({"full_name": "x\r\ny"})),
        )
        .await;
    bad.assert_problem(400, "validation_error");

    let anonymous = server.call(Method::GET, "/api/auth/me/", None, None).await;
    anonymous.assert_problem(401, "not_authenticated");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let basic = server
        .client
        .get(server.url("/api/auth/me/"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let refresh_as_bearer = refresh(&server.login("ada@example.com").await);
    server
        .get("/api/auth/me/", &refresh_as_bearer)
        .await
        .assert_problem(401, "token_not_valid");
}

async fn password_change_cuts_off_every_other_token(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let first = server.login("ada@example.com").await;
    let second = server.login("ada@example.com").await;
    let changed = server
        .call(
            Method::POST,
            "/api/auth/password/change/",
            Some(&access(&first)),
            Some(json!({"old_password": PASSWORD, "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert!(changed.header("set-cookie").is_some());
    for old in [&first, &second] {
        server
            .get("/api/auth/me/", &access(old))
            .await
            .assert_problem(401, "token_not_valid");
        server
            .post("/api/auth/token/refresh/", json!({"refresh": refresh(old)}))
            .await
            .assert_problem(401, "token_not_valid");
    }
    assert_eq!(
        server
            .get("/api/auth/me/", &access(&changed.body))
            .await
            .status,
        StatusCode::OK
    );
    let relogin = server
        .post(
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(relogin.status, StatusCode::OK);
    server
        .post(
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn password_change_refuses_a_wrong_old_or_weak_new_password(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    let token = access(&server.login("ada@example.com").await);
    let change = |old: &str, new: &str| {
        let body = json!({"old_password": old, "new_password": new});
        let token = token.clone();
        let server = &server;
        async move {
            server
                .call(
                    Method::POST,
                    "/api/auth/password/change/",
                    Some(&token),
                    Some(body),
                )
                .await
        }
    };
    let wrong = change("not my password", "a brand new passphrase").await;
    wrong.assert_problem(400, "validation_error");
    assert!(wrong.body["errors"]["old_password"].is_array());
    let weak = change(PASSWORD, "password1").await;
    weak.assert_problem(400, "validation_error");
    assert_eq!(
        weak.body["errors"]["new_password"],
        json!(["This password is too common."])
    );
    assert_eq!(
        server.get("/api/auth/me/", &token).await.status,
        StatusCode::OK,
        "nothing changed"
    );
}

async fn login_upgrades_a_hash_made_with_old_parameters(db: &TestDb) {
    let stored_hash = || {
        blocking(|| {
            let email = authd::domain::Email::parse("ada@example.com").unwrap();
            db.store()
                .find_credentials(&email)
                .unwrap()
                .unwrap()
                .1
                .as_str()
                .to_string()
        })
    };
    let old = TestServer::start(db, |_| {}).await;
    old.register("ada@example.com").await;
    drop(old);
    assert!(stored_hash().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));

    let upgraded = TestServer::start(db, |c| c.password.memory_kib = 2048).await;
    upgraded.login("ada@example.com").await;
    assert!(
        stored_hash().starts_with("$argon2id$v=19$m=2048,t=1,p=1$"),
        "rehashed with the new parameters"
    );
    upgraded.login("ada@example.com").await;
}

/// A valid argon2id hash of `PASSWORD` with the given memory cost.
fn argon2id_hash(memory_kib: u32) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher as _, SaltString};
    let params = argon2::Params::new(memory_kib, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

async fn a_hash_below_the_configured_minimum_never_verifies(db: &TestDb) {
    let server = TestServer::start(db, |_| {}).await;
    server.register("ada@example.com").await;
    // Someone with write access to the database downgrades the hash: the
    // right password must not open the account with it.
    let weak = argon2id_hash(512);
    blocking(|| db.execute(&format!("UPDATE users SET password_hash = '{weak}'")));
    server
        .post(
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await
        .assert_problem(401, "invalid_credentials");
    let at_floor = argon2id_hash(1024);
    blocking(|| db.execute(&format!("UPDATE users SET password_hash = '{at_floor}'")));
    server.login("ada@example.com").await;
}
