//! What container platforms rely on: `authd serve` listens on `$PORT`
//! (every interface) when nothing else chose the address, and
//! `authd healthcheck` exits 0 only while `/readyz` answers 200.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;

use common::process::ServeProcess;
use common::server::TEST_SECRET;
use common::{free_port, stderr, stdout, TestDb};

/// The single `authd: ...` line a failing command prints.
fn one_error_line(output: &Output) -> String {
    let text = stderr(output);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("authd: ")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    lines[0].to_string()
}

#[test]
fn serve_listens_on_port_on_every_interface_and_healthcheck_finds_it() {
    let db = TestDb::sqlite();
    let (server, port) = ServeProcess::start_on_a_free_port(|port| {
        let mut serve = db.authd();
        serve
            .env("SECRET_KEY", TEST_SECRET)
            .env("AUTHD_LOG__LEVEL", "info")
            .env("AUTHD_DATABASE__AUTO_MIGRATE", "true")
            .env("PORT", port.to_string())
            .arg("serve");
        serve
    });
    let port = port.to_string();
    assert_eq!(server.address(), format!("0.0.0.0:{port}"));

    // The same environment, as a container's HEALTHCHECK has it.
    let output = db
        .authd()
        .env("SECRET_KEY", TEST_SECRET)
        .env("PORT", &port)
        .arg("healthcheck")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        format!("http://127.0.0.1:{port}/readyz: ready")
    );
}

#[test]
fn an_explicit_bind_wins_over_port() {
    let db = TestDb::sqlite();
    let mut serve = db.authd();
    serve
        .env("SECRET_KEY", TEST_SECRET)
        .env("AUTHD_LOG__LEVEL", "info")
        .env("AUTHD_DATABASE__AUTO_MIGRATE", "true")
        .env("PORT", free_port().to_string())
        .args(["serve", "--bind", "127.0.0.1:0"]);
    let server = ServeProcess::start(serve);
    assert!(
        server.address().starts_with("127.0.0.1:"),
        "{}",
        server.address()
    );
}

#[test]
fn a_bad_port_is_one_line_and_exit_2() {
    let db = TestDb::sqlite();
    for bad in ["eighty", "0", "65536"] {
        let output = db
            .authd()
            .env("SECRET_KEY", TEST_SECRET)
            .env("PORT", bad)
            .arg("serve")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert_eq!(
            one_error_line(&output),
            format!(
                "authd: environment variable PORT: expected a port number from 1 to 65535, got {bad:?}"
            )
        );
    }
}

#[test]
fn healthcheck_fails_with_the_reason_when_nothing_listens() {
    let db = TestDb::sqlite();
    let url = format!("http://127.0.0.1:{}/readyz", free_port());
    let output = db
        .authd()
        .args(["healthcheck", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let line = one_error_line(&output);
    assert!(line.starts_with(&format!("authd: {url}: ")), "{line}");
    assert!(line.to_lowercase().contains("connection refused"), "{line}");
}

/// A one-shot HTTP server answering `status` with `body`.
fn answer_once(status: &str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let status = status.to_string();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    format!("http://{address}/readyz")
}

#[test]
fn healthcheck_fails_on_a_503_and_says_why() {
    let db = TestDb::sqlite();
    let url = answer_once(
        "503 Service Unavailable",
        r#"{"status":503,"detail":"The database is unavailable.","database":"unavailable"}"#,
    );
    let output = db
        .authd()
        .args(["healthcheck", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        one_error_line(&output),
        format!("authd: {url}: not ready: 503 Service Unavailable: The database is unavailable.")
    );
}

#[test]
fn healthcheck_does_not_follow_a_redirect() {
    let db = TestDb::sqlite();
    let url = answer_once("302 Found\r\nlocation: http://127.0.0.1:1/", "");
    let output = db
        .authd()
        .args(["healthcheck", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(one_error_line(&output).ends_with("not ready: 302 Found"));
}

#[test]
fn healthcheck_bad_input_is_exit_2() {
    let db = TestDb::sqlite();
    for args in [
        vec!["healthcheck", "--url", "ftp://127.0.0.1/readyz"],
        vec!["healthcheck", "--url", "nonsense"],
        vec!["healthcheck", "--timeout", "0s"],
        vec!["healthcheck", "--timeout", "soon"],
    ] {
        let output = db.authd().args(&args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
