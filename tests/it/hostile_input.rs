//! Hostile input, written as raw HTTP/1.1 bytes so every trick really
//! reaches the server: bad bytes, giant or malformed headers, nested and
//! ambiguous JSON, control characters in fields that reach a log or an
//! email, `Transfer-Encoding` tricks and request smuggling, absurd lengths.
//! Each row names the answer it must get (the app's problem+json, or
//! hyper's refusal and a closed connection), and after each row the server
//! must still answer the next request.

use crate::common;

use common::raw::{exchange, post, verbatim, RawReply};
use common::server::{TestServer, PASSWORD};
use common::TestDb;
use serde_json::json;

/// What a row must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// authd answers: this status, problem+json with this code.
    Problem(u16, &'static str),
    /// authd answers this success status.
    Success(u16),
    /// The HTTP layer refuses before authd sees a request: this status (or
    /// none at all), and the connection is closed.
    Refused(Option<u16>),
}

const LOGIN: &str = "/api/auth/login/";
const REGISTER: &str = "/api/auth/register/";

/// A login whose headers after `Content-Type` (and body) are written as given.
fn raw_login(rest: &[u8]) -> Vec<u8> {
    let headers = [&b"Content-Type: application/json\r\n"[..], rest].concat();
    verbatim("POST /api/auth/login/ HTTP/1.1", &headers)
}

fn rows() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use Expect::*;
    let ten_mb = "a".repeat(10 * 1024 * 1024);
    let many_headers: String = (0..20_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    vec![
        (
            "invalid UTF-8 in a JSON string",
            post(LOGIN, "", b"{\"email\": \"\xff\xfe@example.com\", \"password\": \"x\"}"),
            Problem(400, "malformed_json"),
        ),
        (
            "invalid UTF-8 in a header value (not echoed)",
            verbatim("GET /healthz HTTP/1.1", b"X-Request-Id: \xff\xfe\r\nUser-Agent: \xc3\x28\r\n\r\n"),
            Success(200),
        ),
        (
            "an escaped NUL in the email",
            post(REGISTER, "", br#"{"email": "ada\u0000@example.com", "password": "correct horse battery"}"#),
            Problem(400, "validation_error"),
        ),
        (
            "a raw NUL byte in a JSON string",
            post(LOGIN, "", b"{\"email\": \"ada\x00@example.com\", \"password\": \"x\"}"),
            Problem(400, "malformed_json"),
        ),
        (
            "a NUL byte in a header value",
            verbatim("GET /healthz HTTP/1.1", b"X-Request-Id: a\x00b\r\n\r\n"),
            Refused(Some(400)),
        ),
        (
            "a NUL byte in the request target",
            b"GET /healthz\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
            Refused(Some(400)),
        ),
        (
            "a 10 MB header",
            verbatim("GET /healthz HTTP/1.1", format!("X-Big: {ten_mb}\r\n\r\n").as_bytes()),
            Refused(Some(431)),
        ),
        (
            "20,000 headers",
            verbatim("GET /healthz HTTP/1.1", format!("{many_headers}\r\n").as_bytes()),
            Refused(Some(431)),
        ),
        (
            "8,000 nested arrays",
            post(LOGIN, "", "[".repeat(8000).as_bytes()),
            Problem(400, "malformed_json"),
        ),
        (
            "2,000 nested objects",
            post(LOGIN, "", format!("{}1{}", "{\"a\":".repeat(2000), "}".repeat(2000)).as_bytes()),
            Problem(400, "malformed_json"),
        ),
        (
            "a repeated key",
            post(LOGIN, "", br#"{"email": "ada@example.com", "password": "x", "password": "y"}"#),
            Problem(400, "malformed_json"),
        ),
        (
            "numbers for strings",
            post(REGISTER, "", br#"{"email": 5, "password": 12345678, "full_name": 1.5}"#),
            Problem(400, "validation_error"),
        ),
        (
            "arrays and objects for strings",
            post(LOGIN, "", br#"{"email": ["ada@example.com"], "password": {"x": 1}}"#),
            Problem(400, "validation_error"),
        ),
        (
            "a JSON array body",
            post(LOGIN, "", br#"[{"email": "ada@example.com"}]"#),
            Problem(400, "malformed_json"),
        ),
        (
            "CRLF in full_name (reaches logs and the account)",
            post(REGISTER, "", br#"{"email": "crlf@example.com", "password": "correct horse battery", "full_name": "Ada\r\nBcc: evil@example.net"}"#),
            Problem(400, "validation_error"),
        ),
        (
            "CRLF in email (reaches a mail header)",
            post("/api/auth/password/reset/", "", br#"{"email": "ada@example.com\r\nBcc: evil@example.net"}"#),
            Problem(400, "validation_error"),
        ),
        (
            "a bare CR in X-Request-Id (reaches the log)",
            verbatim("GET /healthz HTTP/1.1", b"X-Request-Id: abc\rInjected: 1\r\n\r\n"),
            Refused(Some(400)),
        ),
        (
            "an obs-folded User-Agent",
            verbatim("GET /healthz HTTP/1.1", b"User-Agent: a\r\n Injected: 1\r\n\r\n"),
            Refused(Some(400)),
        ),
        (
            "a Host with CR",
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\revil.example\r\n\r\n".to_vec(),
            Refused(Some(400)),
        ),
        (
            "a Host that is not allowed",
            b"GET /api/auth/me/ HTTP/1.1\r\nHost: evil.example\r\n\r\n".to_vec(),
            Problem(400, "disallowed_host"),
        ),
        (
            "a bracketed IPv6 literal followed by a name",
            b"GET /api/auth/me/ HTTP/1.1\r\nHost: [::1]evil.example\r\n\r\n".to_vec(),
            Problem(400, "disallowed_host"),
        ),
        (
            "two Host headers, the first allowed",
            b"GET /api/auth/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n"
                .to_vec(),
            Problem(400, "disallowed_host"),
        ),
        (
            "Content-Length and Transfer-Encoding: chunked (CL.TE smuggling)",
            raw_login(
                b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            ),
            Refused(Some(400)),
        ),
        (
            "Transfer-Encoding: chunked and a short Content-Length (TE.CL smuggling)",
            raw_login(
                b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
            ),
            Refused(Some(400)),
        ),
        (
            "an obfuscated Transfer-Encoding (xchunked)",
            raw_login(
                b"Transfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            ),
            Refused(Some(400)),
        ),
        (
            "chunked not last (chunked, identity)",
            raw_login(
                b"Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            ),
            Refused(Some(400)),
        ),
        (
            // hyper decodes the body once, by its chunked framing, so
            // authd and hyper agree where it ends; the body `{}` then fails
            // validation like any other.
            "Transfer-Encoding: chunked twice",
            raw_login(
                b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            ),
            Problem(400, "validation_error"),
        ),
        (
            "an invalid chunk size",
            raw_login(
                b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            ),
            Problem(400, "malformed_json"),
        ),
        (
            "a chunk size past u64",
            raw_login(
                b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
            ),
            Problem(400, "malformed_json"),
        ),
        (
            "chunks past the body limit",
            raw_login(
                format!(
                    "Transfer-Encoding: chunked\r\n\r\n8000\r\n{}\r\n0\r\n\r\n",
                    " ".repeat(0x8000)
                )
                .as_bytes(),
            ),
            Problem(413, "payload_too_large"),
        ),
        (
            "a Content-Length past u64",
            raw_login(
                b"Content-Length: 99999999999999999999999\r\n\r\n{}",
            ),
            Refused(Some(400)),
        ),
        (
            "a negative Content-Length",
            raw_login(
                b"Content-Length: -1\r\n\r\n{}",
            ),
            Refused(Some(400)),
        ),
        (
            "two different Content-Lengths",
            raw_login(
                b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            ),
            Refused(Some(400)),
        ),
        (
            "an absurd but valid Content-Length (not read)",
            raw_login(
                b"Content-Length: 1000000000000\r\n\r\n{}",
            ),
            Problem(413, "payload_too_large"),
        ),
    ]
}

/// Whether `reply` is what `expect` says, and nothing more came.
fn check(reply: &RawReply, expect: Expect) -> Result<(), String> {
    let fits = match expect {
        Expect::Problem(status, code) => {
            reply.status == Some(status)
                && reply.header("content-type") == Some("application/problem+json")
                && reply.json()["code"] == code
        }
        Expect::Success(status) => reply.status == Some(status),
        Expect::Refused(status) => reply.status == status && reply.closed,
    };
    if !fits {
        return Err(format!(
            "expected {expect:?}, got {:?} closed={} {}",
            reply.status,
            reply.closed,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    if !reply.extra.is_empty() {
        return Err(format!(
            "one request, one answer; more came: {:?}",
            String::from_utf8_lossy(&reply.extra)
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_gets_its_answer_and_the_server_carries_on() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut summary = Vec::new();
    let mut wrong = Vec::new();
    for (name, request, expect) in rows() {
        let reply = exchange(&address, request).await;
        if let Err(why) = check(&reply, expect) {
            wrong.push(format!("{name}: {why}"));
        }
        summary.push(format!(
            "{name}: {:?} closed={}",
            reply.status, reply.closed
        ));
        let next = exchange(
            &address,
            verbatim("GET /healthz HTTP/1.1", b"Connection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(
            next.status,
            Some(200),
            "after {name}, the server still answers"
        );
    }
    eprintln!("FIGURES hostile input rows:\n  {}", summary.join("\n  "));
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Look-alike addresses are other addresses: a Cyrillic `а` in the domain
/// is another account (IDN), never the Latin one's; in the local part
/// (ASCII only, as Django) it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_look_alike_emails_never_reach_the_latin_account() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let latin = server.register("ada@example.com").await;
    let other_password = "another horse battery staple";

    let cyrillic_domain = "ada@ex\u{0430}mple.com";
    let reply = server
        .post(
            REGISTER,
            json!({"email": cyrillic_domain, "password": other_password}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_ne!(reply.body["id"], latin["id"]);
    assert_eq!(reply.body["email"], cyrillic_domain);
    // The look-alike's password does not open the Latin account, nor the reverse.
    for (email, password) in [
        ("ada@example.com", other_password),
        (cyrillic_domain, PASSWORD),
    ] {
        server
            .post(LOGIN, json!({"email": email, "password": password}))
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let login = server
        .post(
            LOGIN,
            json!({"email": cyrillic_domain, "password": other_password}),
        )
        .await;
    assert_eq!(login.body["user"]["id"], reply.body["id"]);

    for refused in [
        "\u{0430}da@example.com",
        "ａｄａ@example.com",
        "ada\u{200b}@example.com",
    ] {
        server
            .post(REGISTER, json!({"email": refused, "password": PASSWORD}))
            .await
            .assert_problem(400, "validation_error");
    }
    // Upper case is the same account, case-insensitively: no duplicate.
    server
        .post(
            REGISTER,
            json!({"email": "ADA@EXAMPLE.COM", "password": PASSWORD}),
        )
        .await
        .assert_problem(409, "email_taken");
    assert_eq!(db.query_i64("SELECT count(*) FROM users"), 2);
}

/// SQL metacharacters are data: stored and returned verbatim, matched
/// literally, and the tables are intact afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_are_plain_data() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let email = "o'brien+x@example.com";
    let full_name = "Robert'); DROP TABLE users;-- %_\\";
    let reply = server
        .post(
            REGISTER,
            json!({"email": email, "password": PASSWORD, "full_name": full_name}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["full_name"], full_name);
    server.login(email).await;
    for (email, password) in [
        ("' OR '1'='1'--@example.com", PASSWORD),
        (email, "' OR '1'='1"),
        ("%@example.com", PASSWORD),
    ] {
        let reply = server
            .post(LOGIN, json!({"email": email, "password": password}))
            .await;
        assert!(
            reply.status == 401 || reply.status == 400,
            "{email} / {password}: {}",
            reply.text
        );
    }
    assert_eq!(db.query_i64("SELECT count(*) FROM users"), 1);
}
