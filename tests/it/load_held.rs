//! Load held: 1,000 concurrent keep-alive connections, each asking again
//! every second, plus 200 slow-loris connections sending their headers a
//! byte at a time, against `authd serve` as a process. Checked: every
//! keep-alive request is answered 200 on its own connection, fresh clients
//! logging in meanwhile are answered too, every slow-loris connection is
//! closed by the server (`http.header_read_timeout`) before it could finish
//! its headers, and the server's memory (VmHWM) stays bounded.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{serve_command, ServeProcess};
use common::server::PASSWORD;
use common::TestDb;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEEP_ALIVE: usize = 1000;
const SLOW_LORIS: usize = 200;
/// How long the keep-alive clients keep asking.
const RUN: Duration = Duration::from_secs(5);
/// The server's header timeout in this test: short, so the slow-loris
/// connections are cut within the run.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Above the 1,200 connections of the test and its fresh clients, so no
/// connection waits for a permit (the default, 1,024, would queue the last
/// slow-loris connections in the kernel's backlog, which proves less).
const MAX_CONNECTIONS: usize = 1_400;
/// Growth of the server's peak RSS allowed per connection held.
const MAX_KIB_PER_CONNECTION: u64 = 100;

/// Raises this process's soft limit on open files to what the test needs
/// (its own sockets, and the server's, which inherits the limit).
fn raise_file_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < needed as libc::rlim_t {
            assert!(
                limit.rlim_max >= needed as libc::rlim_t,
                "the hard limit on open files ({}) is below the {needed} this test needs",
                limit.rlim_max
            );
            limit.rlim_cur = needed as libc::rlim_t;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// One keep-alive connection asking `/healthz` every second until `until`,
/// counting answers; an error says what went wrong with the first failure.
async fn keep_alive_client(
    address: String,
    until: Instant,
    answered: Arc<AtomicU64>,
) -> Result<(), String> {
    let mut stream = TcpStream::connect(&address)
        .await
        .map_err(|e| e.to_string())?;
    let mut buffer = vec![0u8; 4096];
    while Instant::now() < until {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut got = Vec::new();
        let complete = loop {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
                .await
                .map_err(|_| "no answer within 10 s".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err(format!("closed: {:?}", String::from_utf8_lossy(&got)));
            }
            got.extend_from_slice(&buffer[..n]);
            // /healthz answers {"status":"ok"}: the response ends with it.
            if got.ends_with(b"{\"status\":\"ok\"}") {
                break got.starts_with(b"HTTP/1.1 200");
            }
        };
        if !complete {
            return Err(format!("not a 200: {:?}", String::from_utf8_lossy(&got)));
        }
        answered.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

/// A slow-loris connection: the start of a request, one byte every 200 ms,
/// never finished. Returns whether the server closed it.
async fn slow_loris(address: String, until: Instant) -> bool {
    let Ok(mut stream) = TcpStream::connect(&address).await else {
        return false;
    };
    let request = b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut buffer = [0u8; 1024];
    for byte in request.iter().cycle() {
        if Instant::now() >= until {
            return false;
        }
        if stream.write_all(&[*byte]).await.is_err() {
            return true;
        }
        // A closed connection reads as EOF (or a 408 and then EOF).
        if let Ok(result) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await
        {
            return matches!(result, Ok(_) | Err(_));
        }
    }
    unreachable!("the request cycles forever")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_keep_alive_and_two_hundred_slow_loris_connections_are_held() {
    raise_file_limit(4 * (KEEP_ALIVE + SLOW_LORIS) as u64);
    let db = TestDb::sqlite();
    let mut command = serve_command(&db);
    command
        .env("AUTHD_HTTP__MAX_CONNECTIONS", MAX_CONNECTIONS.to_string())
        .env(
            "AUTHD_HTTP__HEADER_READ_TIMEOUT",
            format!("{}s", HEADER_TIMEOUT.as_secs()),
        )
        // Request lines would be 1,000 a second: only their warnings.
        .env("AUTHD_LOG__LEVEL", "info,authd::request=warn");
    let server = ServeProcess::start(command);
    let address = server.address().to_string();
    let client = reqwest::Client::new();
    let reply = client
        .post(server.url("/api/auth/register/"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);
    let (rss_before, _) = server.memory_kib();

    let started = Instant::now();
    let until = started + RUN;
    let answered = Arc::new(AtomicU64::new(0));
    let mut keep_alive = Vec::new();
    for _ in 0..KEEP_ALIVE {
        keep_alive.push(tokio::spawn(keep_alive_client(
            address.clone(),
            until,
            Arc::clone(&answered),
        )));
    }
    let loris: Vec<_> = (0..SLOW_LORIS)
        .map(|_| tokio::spawn(slow_loris(address.clone(), until + HEADER_TIMEOUT * 2)))
        .collect();

    // Fresh clients, one at a time, all along: each must be answered.
    let mut fresh = 0;
    while Instant::now() < until {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        let reply = client
            .post(server.url("/api/auth/login/"))
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await
            .expect("a fresh client is answered");
        assert_eq!(reply.status(), 200);
        fresh += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut failures = Vec::new();
    for client in keep_alive {
        if let Err(why) = client.await.unwrap() {
            failures.push(why);
        }
    }
    let (rss_held, hwm) = server.memory_kib();
    let mut cut = 0;
    for connection in loris {
        if connection.await.unwrap() {
            cut += 1;
        }
    }
    let growth = hwm.saturating_sub(rss_before);
    eprintln!(
        "FIGURES load held: {KEEP_ALIVE} keep-alive connections answered {} requests in {} ms, {} failed; {fresh} fresh logins answered; {cut}/{SLOW_LORIS} slow-loris connections cut by the server; RSS {} KiB before, {rss_held} KiB at the end, peak {hwm} KiB ({} KiB per connection)",
        answered.load(Ordering::Relaxed),
        started.elapsed().as_millis(),
        failures.len(),
        rss_before,
        growth / (KEEP_ALIVE + SLOW_LORIS) as u64,
    );
    assert!(
        failures.is_empty(),
        "{} keep-alive clients failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(fresh > 0);
    assert_eq!(
        cut, SLOW_LORIS,
        "every slow-loris connection is cut by the header timeout"
    );
    assert!(
        growth <= MAX_KIB_PER_CONNECTION * (KEEP_ALIVE + SLOW_LORIS) as u64,
        "peak RSS grew by {growth} KiB"
    );
}
