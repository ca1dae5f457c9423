//! Connections that send nothing, or stop halfway, cannot take the server
//! away from other clients: a request head is due within
//! `http.header_read_timeout` of accept (protocol detection and the HTTP/2
//! preface included), a connection idle between requests is closed after
//! `http.idle_timeout` (HTTP/1 keep-alive and HTTP/2 alike), and a client
//! arriving while all `http.max_connections` slots are taken gets the slot
//! of the longest-silent connection, never that of a request in flight.
//!
//! The server under test allows 20 connections; each test picks deadlines
//! long enough that only the mechanism it checks can make it pass.

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::raw::exchange;
use common::server::{runtime, TestServer};
use common::TestDb;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_CONNECTIONS: u32 = 20;
/// What a slow machine gets on top of a deadline before the test calls it missed.
const MARGIN: Duration = Duration::from_secs(2);
const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

async fn start(db: &TestDb, header_read_timeout: u64, idle_timeout: u64) -> TestServer {
    TestServer::start(db, |config| {
        config.http.max_connections = MAX_CONNECTIONS;
        config.http.header_read_timeout = authd::config::Duration::secs(header_read_timeout);
        config.http.idle_timeout = authd::config::Duration::secs(idle_timeout);
    })
    .await
}

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads one response (head and `Content-Length` body) off a kept-alive
/// connection; its status, or `None` if the connection closed first.
async fn read_response(stream: &mut TcpStream) -> Option<u16> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    head.split_whitespace().nth(1)?.parse().ok()
}

/// A kept-alive connection that has had one `/healthz` answered and is now idle.
async fn idle_keep_alive(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut stream).await, Some(200));
    stream
}

/// Whether the server closes `stream` (end of stream or reset) within
/// `bound`; bytes it sends meanwhile are skipped.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A `/healthz` on a fresh connection; its status, if it came within `bound`.
async fn healthz_within(address: &str, bound: Duration) -> Option<u16> {
    tokio::time::timeout(bound, exchange(address, HEALTHZ.to_vec()))
        .await
        .ok()
        .and_then(|reply| reply.status)
}

#[test]
fn healthz_answers_with_twice_max_connections_silent_sockets_open() {
    runtime().block_on(async {
        let db = TestDb::sqlite();
        let deadline = Duration::from_secs(2);
        let server = start(&db, deadline.as_secs(), 60).await;
        let address = address(&server);
        let opened = Instant::now();
        let mut silent = Vec::new();
        for _ in 0..2 * MAX_CONNECTIONS {
            silent.push(TcpStream::connect(&address).await.expect("connect"));
        }

        let asked = Instant::now();
        let status = healthz_within(&address, deadline + Duration::from_secs(1)).await;
        assert_eq!(
            status,
            Some(200),
            "/healthz unanswered {:?} after it was sent, with {} silent connections open",
            asked.elapsed(),
            silent.len()
        );

        let bound = (deadline + MARGIN).saturating_sub(opened.elapsed());
        for (i, stream) in silent.iter_mut().enumerate() {
            assert!(
                closed_within(stream, bound).await,
                "silent connection {i} still open {:?} after it was opened",
                opened.elapsed()
            );
        }
    });
}

#[test]
fn a_connection_that_stops_before_its_first_request_head_ends_is_closed_at_the_deadline() {
    runtime().block_on(async {
        let db = TestDb::sqlite();
        let deadline = Duration::from_secs(1);
        let server = start(&db, deadline.as_secs(), 60).await;
        let address = address(&server);
        let starts: [(&str, &[u8]); 3] = [
            ("a partial HTTP/2 preface", b"PRI * HT"),
            // hyper's HTTP/2 handshake then waits for the client's SETTINGS.
            (
                "a whole HTTP/2 preface",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            ),
            ("a partial HTTP/1 head", b"GET /healthz HTTP/1.1\r\nHo"),
        ];
        for (what, start) in starts {
            let mut stream = TcpStream::connect(&address).await.expect("connect");
            let opened = Instant::now();
            stream.write_all(start).await.unwrap();
            // A connection that is closed at its deadline may take the
            // same again to be dropped if it does not close gracefully.
            assert!(
                closed_within(&mut stream, deadline * 2 + MARGIN).await,
                "{what}: still open {:?} after accept",
                opened.elapsed()
            );
        }
    });
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    runtime().block_on(async {
        let db = TestDb::sqlite();
        let idle = Duration::from_secs(2);
        // A header timeout far longer than the idle timeout: hyper's own
        // timer (which used to close idle connections) cannot pass this.
        let server = start(&db, 30, idle.as_secs()).await;
        let mut stream = idle_keep_alive(&address(&server)).await;

        // Within the idle timeout the connection is reused, and the answer
        // starts the idle time again.
        tokio::time::sleep(idle / 2).await;
        stream.write_all(HEALTHZ).await.unwrap();
        assert_eq!(read_response(&mut stream).await, Some(200));

        let answered = Instant::now();
        assert!(
            closed_within(&mut stream, idle + MARGIN).await,
            "still open {:?} after its last answer",
            answered.elapsed()
        );
    });
}

#[test]
fn an_http2_connection_without_open_streams_is_closed_after_the_idle_timeout() {
    runtime().block_on(async {
        let db = TestDb::sqlite();
        let idle = Duration::from_secs(2);
        let server = start(&db, 30, idle.as_secs()).await;
        let address = address(&server);
        let stream = TcpStream::connect(&address).await.expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("an HTTP/2 handshake");
        let connection = tokio::spawn(connection);
        let request = hyper::Request::get(format!("http://{address}/healthz"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.expect("an answer");
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.expect("the body");

        let answered = Instant::now();
        let closed = tokio::time::timeout(idle + MARGIN, connection).await;
        assert!(
            closed.is_ok(),
            "still open {:?} after its last answer",
            answered.elapsed()
        );
    });
}

#[test]
fn at_the_limit_a_new_client_is_served_and_the_longest_idle_connection_closed() {
    runtime().block_on(async {
        let db = TestDb::sqlite();
        // Deadlines far away: only shedding can free a slot in time.
        let server = start(&db, 30, 60).await;
        let address = address(&server);
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(idle_keep_alive(&address).await);
            // Distinct idle times, so "the longest idle" is the first.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let status = healthz_within(&address, Duration::from_secs(5)).await;
        assert_eq!(status, Some(200), "a new client at the limit is not served");
        assert!(
            closed_within(&mut idle[0], MARGIN).await,
            "the longest-idle connection was not closed"
        );
        let newest = idle.last_mut().unwrap();
        newest.write_all(HEALTHZ).await.unwrap();
        assert_eq!(
            read_response(newest).await,
            Some(200),
            "the most recently used connection was closed instead"
        );
    });
}

#[test]
fn a_request_in_flight_is_never_shed() {
    runtime().block_on(async {
        let db = TestDb::sqlite();
        let server = start(&db, 30, 60).await;
        let address = address(&server);

        // The oldest connections: two logins on their way, one stopped in
        // its body, one in its head.
        let body = br#"{"email": "slow@example.com", "password": "not the password"}"#;
        let mut login = format!(
            "POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        login.extend_from_slice(body);
        let head_length = login.len() - body.len();
        let mut slow = Vec::new();
        for sent in [head_length + 10, 30] {
            let mut stream = TcpStream::connect(&address).await.expect("connect");
            stream.write_all(&login[..sent]).await.unwrap();
            slow.push((stream, sent));
        }
        // And an HTTP/2 connection (idle after one request, like the others
        // would be) with a login on its way in a new stream.
        let stream = TcpStream::connect(&address).await.expect("connect");
        let (mut h2, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("an HTTP/2 handshake");
        tokio::spawn(connection);
        let healthz = || {
            hyper::Request::get(format!("http://{address}/healthz"))
                .body(Trickle::done())
                .unwrap()
        };
        let answer = h2.send_request(healthz()).await.expect("an answer");
        assert_eq!(answer.status(), 200);
        let (h2_body, trickle) = Trickle::new();
        h2_body.send(Bytes::copy_from_slice(&body[..10])).await.unwrap();
        let h2_login = hyper::Request::post(format!("http://{address}/api/auth/login/"))
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(trickle)
            .unwrap();
        let h2_login = tokio::spawn(h2.send_request(h2_login));
        tokio::time::sleep(Duration::from_millis(50)).await;

        let mut idle = Vec::new();
        for _ in 3..MAX_CONNECTIONS {
            idle.push(idle_keep_alive(&address).await);
        }
        // More new clients than there are idle connections, each keeping its
        // connection: later ones can only be served by shedding earlier new
        // ones, never a request on its way.
        let mut newcomers = Vec::new();
        for i in 0..MAX_CONNECTIONS + 5 {
            let served =
                tokio::time::timeout(Duration::from_secs(5), idle_keep_alive(&address)).await;
            newcomers.push(served.unwrap_or_else(|_| panic!("new client {i} is not served")));
        }

        for (stream, sent) in &mut slow {
            let what = format!("the login stopped after {sent} bytes");
            stream.write_all(&login[*sent..]).await.unwrap();
            let status = tokio::time::timeout(Duration::from_secs(10), read_response(stream))
                .await
                .unwrap_or_else(|_| panic!("{what} is not answered"));
            assert_eq!(status, Some(401), "{what} lost its connection");
            // Never told to close: the connection stays in use.
            stream.write_all(HEALTHZ).await.unwrap();
            assert_eq!(read_response(stream).await, Some(200), "{what}: connection closed");
        }
        h2_body
            .send(Bytes::copy_from_slice(&body[10..]))
            .await
            .unwrap();
        drop(h2_body);
        let answer = tokio::time::timeout(Duration::from_secs(10), h2_login)
            .await
            .expect("the HTTP/2 login is answered")
            .unwrap()
            .expect("the HTTP/2 login keeps its stream");
        assert_eq!(answer.status(), 401);
        let answer = h2.send_request(healthz()).await;
        assert_eq!(
            answer.map(|answer| answer.status()).ok(),
            Some(hyper::StatusCode::OK),
            "the HTTP/2 connection was told to close"
        );
    });
}

/// A request body sent in pieces, as the test decides.
struct Trickle(tokio::sync::mpsc::Receiver<Bytes>);

impl Trickle {
    fn new() -> (tokio::sync::mpsc::Sender<Bytes>, Trickle) {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        (sender, Trickle(receiver))
    }

    /// An empty body.
    fn done() -> Trickle {
        Trickle::new().1
    }
}

impl hyper::body::Body for Trickle {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(hyper::body::Frame::data(chunk))))
    }
}
