//! The HTTP edge, which does not depend on the database: routing, media
//! types, body limits, error bodies, request ids, security headers, CORS,
//! allowed hosts, health and readiness.

use crate::common;

use std::time::Duration;

use common::server::{TestServer, PASSWORD};
use common::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(tweak: impl FnOnce(&mut authd::config::Config)) -> (TestServer, TestDb) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, tweak).await;
    (server, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let (server, _db) = start(|_| {}).await;
    server
        .call(Method::GET, "/api/auth/nothing", None, None)
        .await
        .assert_problem(404, "not_found");
    server
        .call(Method::GET, "/api/auth/login//", None, None)
        .await
        .assert_problem(404, "not_found");
    let wrong = server
        .call(Method::GET, "/api/auth/login/", None, None)
        .await;
    wrong.assert_problem(405, "method_not_allowed");
    assert_eq!(wrong.header("allow"), Some("POST, OPTIONS"));
    let me = server
        .call(Method::DELETE, "/api/auth/me", None, None)
        .await;
    assert_eq!(me.header("allow"), Some("GET, HEAD, PATCH, OPTIONS"));
    for path in ["/healthz", "/healthz/"] {
        let health = server.call(Method::GET, path, None, None).await;
        assert_eq!(
            (health.status, health.body.clone()),
            (StatusCode::OK, json!({"status": "ok"}))
        );
        assert_eq!(
            health.header("cache-control"),
            None,
            "no-store is for /api/auth/ responses"
        );
    }
    let ready = server.call(Method::GET, "/readyz", None, None).await;
    let version = ready.body["schema_expected"].clone();
    assert!(version.as_u64().is_some_and(|v| v > 0), "{}", ready.text);
    assert_eq!(
        ready.body,
        json!({"status": "ok", "database": "ok", "schema_version": version,
               "schema_expected": version, "redis": "disabled",
               "throttle": "memory", "reset_tokens": "database"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_must_be_json_objects_within_the_limit() {
    let (server, _db) = start(|_| {}).await;
    let post = |content_type: &'static str, body: &str| {
        let request = server
            .client
            .post(server.url("/api/auth/login/"))
            .header("content-type", content_type)
            .body(body.to_string());
        async move { common::server::Reply::from(request.send().await.unwrap()).await }
    };
    post("text/plain", "{}")
        .await
        .assert_problem(415, "unsupported_media_type");
    post("application/x-www-form-urlencoded", "email=a")
        .await
        .assert_problem(415, "unsupported_media_type");
    post("application/json", "{not json")
        .await
        .assert_problem(400, "malformed_json");
    post("application/json", "[1, 2]")
        .await
        .assert_problem(400, "malformed_json");
    post("application/json", "")
        .await
        .assert_problem(400, "malformed_json");
    post(
        "application/json; charset=utf-8",
        &format!("{}1{}", "[".repeat(200), "]".repeat(200)),
    )
    .await
    .assert_problem(400, "malformed_json");
    let no_type = server
        .client
        .post(server.url("/api/auth/login/"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let big = json!({"email": "a@example.com", "password": "x".repeat(100 * 1024)});
    server
        .post("/api/auth/login/", big)
        .await
        .assert_problem(413, "payload_too_large");
}

/// Sends `request` on a fresh connection and returns the first bytes of the answer.
async fn raw(server: &TestServer, request: &[u8]) -> String {
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await;
    let n = read.expect("an answer within 5 s").unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_is_cut_off_at_the_limit() {
    let (server, _db) = start(|_| {}).await;
    let mut request = b"POST /api/auth/register/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..8 {
        request.extend_from_slice(format!("1000\r\n{}\r\n", " ".repeat(4096)).as_bytes());
    }
    let answer = raw(&server, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_content_length_is_refused_without_reading_the_body() {
    let (server, _db) = start(|_| {}).await;
    let head = b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 102400\r\n\r\n{";
    let answer = raw(&server, head).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "answered before the body was sent: {answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_has_a_request_id_and_the_security_headers() {
    let (server, _db) = start(|c| c.http.hsts = true).await;
    let echoed = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-42.a")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42.a");
    let replaced = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "no spaces allowed")
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.headers()["x-request-id"].len(), 32);
    let error = server.post("/api/auth/login/", json!({})).await;
    assert_eq!(error.header("x-request-id").map(str::len), Some(32));
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
    ] {
        assert_eq!(error.header(name), Some(value), "{name}");
    }
    let no_hsts = start(|_| {})
        .await
        .0
        .call(Method::GET, "/healthz", None, None)
        .await;
    assert_eq!(no_hsts.header("strict-transport-security"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_allowed_origins_only() {
    let (server, _db) =
        start(|c| c.http.cors_allowed_origins = vec!["https://app.example.com".into()]).await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(Method::OPTIONS, server.url("/api/auth/login/"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-methods"],
        "POST, OPTIONS"
    );
    assert!(allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Authorization"));
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert!(other
        .headers()
        .get("access-control-allow-methods")
        .is_none());

    let simple = server
        .client
        .get(server.url("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("Retry-After"));
    let foreign = server
        .client
        .get(server.url("/healthz"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_outside_allowed_hosts_are_refused() {
    let (server, _db) =
        start(|c| c.http.allowed_hosts = vec!["auth.example.com".into(), ".example.org".into()])
            .await;
    // Without a token /me is a 401 once the host passes.
    let with_host = |host: &'static str| {
        server
            .client
            .get(server.url("/api/auth/me/"))
            .header("host", host)
            .send()
    };
    for allowed in [
        "auth.example.com",
        "AUTH.example.com:8443",
        "example.org",
        "id.example.org",
    ] {
        assert_eq!(
            with_host(allowed).await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{allowed}"
        );
    }
    let refused = common::server::Reply::from(with_host("evil.com").await.unwrap()).await;
    refused.assert_problem(400, "disallowed_host");
    // Found by an outside review: a bracketed literal followed by a name
    // passed as the name; now the whole header must be one authority.
    for refused in [
        "example.org.evil.com",
        "[::1]auth.example.com",
        "[::1]:80.example.org",
        "evil.com@auth.example.com",
        "auth.example.com:80:80",
    ] {
        assert_eq!(
            with_host(refused).await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "{refused}"
        );
    }
    // Two Host headers: refused, not judged by the first.
    let twice = raw(
        &server,
        b"GET /api/auth/me/ HTTP/1.1\r\nHost: auth.example.com\r\nHost: evil.com\r\n\r\n",
    )
    .await;
    assert!(
        twice.starts_with("HTTP/1.1 400") && twice.contains("disallowed_host"),
        "{twice}"
    );
    // Probes answer whatever the Host: load balancers ask by address.
    for probe in ["/healthz", "/readyz"] {
        let answer = server
            .client
            .get(server.url(probe))
            .header("host", "10.0.0.7:8000")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{probe}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_pool_answers_503_with_retry_after() {
    let (server, _db) = start(|c| {
        c.password.hash_workers = 1;
        c.password.hash_queue = 1;
        c.password.memory_kib = 19_456;
        c.password.iterations = 4;
    })
    .await;
    let login = json!({"email": "nobody@example.com", "password": PASSWORD});
    let replies = common::server::all_at_once((0..12).map(|_| {
        server
            .client
            .post(server.url("/api/auth/login/"))
            .json(&login)
    }))
    .await;
    let mut busy = 0;
    for reply in replies {
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            reply.assert_problem(503, "service_unavailable");
            assert_eq!(reply.header("retry-after"), Some("1"));
            busy += 1;
        } else {
            reply.assert_problem(401, "invalid_credentials");
        }
    }
    assert!(
        busy > 0,
        "12 concurrent logins cannot all fit in one worker and one queue slot"
    );
    assert_eq!(
        server
            .call(Method::GET, "/healthz", None, None)
            .await
            .status,
        StatusCode::OK
    );
}
