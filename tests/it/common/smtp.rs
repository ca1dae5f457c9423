//! A minimal SMTP server for tests: it speaks enough of RFC 5321 for a real
//! client (EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT),
//! and hands each message it receives to the test, parsed as MIME.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

impl Received {
    /// The plain-text body, decoded.
    pub fn text(&self) -> String {
        let message = mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a parseable message");
        message.body_text(0).expect("a text body").into_owned()
    }

    pub fn subject(&self) -> String {
        let message = mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a parseable message");
        message.subject().unwrap_or_default().to_string()
    }

    /// The reset token in the link of the body.
    pub fn token(&self) -> String {
        let text = self.text();
        let start = text.find("token=").expect("a link with a token") + "token=".len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

pub struct SmtpServer {
    pub port: u16,
    messages: mpsc::UnboundedReceiver<Received>,
}

/// A port of 127.0.0.1 nothing listens on (for a mail server that is down
/// until [`SmtpServer::start_on`] starts it there). It is below the
/// kernel's ephemeral range: a client retrying a connection to a closed
/// ephemeral port can be given that very port as its own and connect to
/// itself, which would hold the port.
pub fn free_port() -> u16 {
    let ephemeral_start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let below = ephemeral_start.max(2048);
    loop {
        let port = 1024 + rand::random::<u16>() % (below - 1024);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        SmtpServer::listen(0, Duration::ZERO).await
    }

    /// A server on `port` (see [`free_port`]).
    pub async fn start_on(port: u16) -> SmtpServer {
        SmtpServer::listen(port, Duration::ZERO).await
    }

    /// A server that takes `delay` to accept each message, as a busy
    /// relay does.
    pub async fn start_slow(delay: Duration) -> SmtpServer {
        SmtpServer::listen(0, delay).await
    }

    async fn listen(port: u16, delay: Duration) -> SmtpServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sink, messages) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let _ = session(stream, sink, delay).await;
                });
            }
        });
        SmtpServer { port, messages }
    }

    /// The next message, waiting up to `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Received> {
        tokio::time::timeout(timeout, self.messages.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    sink: mpsc::UnboundedSender<Received>,
    delay: Duration,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test-smtp ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Some(line) = lines.next_line().await? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                write
                    .write_all(b"250-test-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    .await?
            }
            "MAIL" => {
                from = line[line.find(':').map_or(0, |i| i + 1)..]
                    .trim()
                    .to_string();
                write.write_all(b"250 OK\r\n").await?;
            }
            "RCPT" => {
                to.push(
                    line[line.find(':').map_or(0, |i| i + 1)..]
                        .trim()
                        .to_string(),
                );
                write.write_all(b"250 OK\r\n").await?;
            }
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut raw = Vec::new();
                while let Some(data) = lines.next_line().await? {
                    if data == "." {
                        break;
                    }
                    let data = data
                        .strip_prefix('.')
                        .filter(|_| data.starts_with(".."))
                        .unwrap_or(&data);
                    raw.extend_from_slice(data.as_bytes());
                    raw.extend_from_slice(b"\r\n");
                }
                tokio::time::sleep(delay).await;
                let _ = sink.send(Received {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    raw,
                });
                write.write_all(b"250 OK queued\r\n").await?;
            }
            "RSET" | "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                break;
            }
            _ => write.write_all(b"502 Command not implemented\r\n").await?,
        }
    }
    Ok(())
}
