//! HTTP/1.1 written by hand over a TCP socket, for what a well-behaved
//! client library refuses to send: malformed framing, smuggling attempts,
//! control bytes in headers, slow-loris clients.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back on the connection.
#[derive(Debug)]
pub struct RawReply {
    /// The status of the first response, if one came.
    pub status: Option<u16>,
    /// Its status line and headers, lower-cased.
    pub head: String,
    pub body: Vec<u8>,
    /// The server closed the connection after it (or without answering).
    pub closed: bool,
    /// Bytes after the first response: a second response to one request
    /// would be a smuggled request served.
    pub extra: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// Writes `request` (while reading, so a server that answers early and
/// closes does not block the writer) and reads the first response, then
/// whether the connection stays open or carries anything more.
pub async fn exchange(address: &str, request: Vec<u8>) -> RawReply {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        // The server may refuse and close before all of it is written.
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut closed = false;
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break Some(end + 4);
        }
        match tokio::time::timeout(Duration::from_secs(10), reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break None;
            }
            Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "no answer within 10 s: {:?}",
                String::from_utf8_lossy(&buffer)
            ),
        }
    };
    let Some(head_end) = head_end else {
        return RawReply {
            status: None,
            head: String::from_utf8_lossy(&buffer).into_owned(),
            body: Vec::new(),
            closed,
            extra: Vec::new(),
        };
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok());
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length && !closed {
        match tokio::time::timeout(Duration::from_secs(10), reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed = true,
            Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("the body never came"),
        }
    }
    let body_end = (head_end + length).min(buffer.len());
    let body = buffer[head_end..body_end].to_vec();
    let mut extra = buffer[body_end..].to_vec();
    // Whatever follows within a moment: more bytes, the close, or nothing.
    while !closed {
        match tokio::time::timeout(Duration::from_millis(300), reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed = true,
            Ok(Ok(n)) => extra.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    let _ = writing.await;
    RawReply {
        status,
        head,
        body,
        closed,
        extra,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A POST of `body` to `path` with a JSON content type, a correct
/// `Content-Length` and the extra header lines in `headers`.
pub fn post(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A request written exactly as given, with `Host: 127.0.0.1` added after
/// the request line.
pub fn verbatim(request_line: &str, rest: &[u8]) -> Vec<u8> {
    let mut request = format!("{request_line}\r\nHost: 127.0.0.1\r\n").into_bytes();
    request.extend_from_slice(rest);
    request
}
