//! A worker's connection for plain-http targets: one hyper HTTP/1
//! connection per target URL, kept alive and reused for every request the
//! worker sends there, reopened if the server closes it. Without a pool or
//! middleware in between, the client spends as little CPU per request as
//! possible, so on a shared machine the server under test gets the rest.
//! (https targets go through reqwest, see `mod.rs`.)

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// One target: where to connect and what to send.
#[derive(Debug, Clone)]
pub struct Target {
    pub authority: String,
    pub path_and_query: String,
    /// The local address to connect from.
    pub source: Option<IpAddr>,
}

impl Target {
    async fn connect(&self) -> std::io::Result<tokio::net::TcpStream> {
        let Some(source) = self.source else {
            return tokio::net::TcpStream::connect(&self.authority).await;
        };
        let mut last = None;
        for address in tokio::net::lookup_host(&self.authority).await? {
            if address.is_ipv4() != source.is_ipv4() {
                continue;
            }
            let socket = match address {
                SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
            };
            socket.bind(SocketAddr::new(source, 0))?;
            match socket.connect(address).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("{} has no address of the source's family", self.authority),
            )
        }))
    }
}

/// An answer: status and the headers the checks read.
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
}

#[derive(Default)]
pub struct Connections {
    open: Vec<Option<SendRequest<Full<Bytes>>>>,
}

impl Connections {
    /// Sends one POST to `targets[index]`, connecting (again) if needed.
    pub async fn post(
        &mut self,
        targets: &[Target],
        index: usize,
        body: &Bytes,
        forwarded_for: Option<&str>,
    ) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
        if self.open.len() < targets.len() {
            self.open.resize_with(targets.len(), || None);
        }
        let target = &targets[index];
        let sender = match &mut self.open[index] {
            Some(sender) if !sender.is_closed() => sender,
            slot => {
                let stream = target.connect().await?;
                stream.set_nodelay(true)?;
                let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                slot.insert(sender)
            }
        };
        sender.ready().await?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&target.path_and_query)
            .header("host", &target.authority)
            .header("content-type", "application/json");
        if let Some(ip) = forwarded_for {
            request = request.header("x-forwarded-for", ip);
        }
        let response = sender
            .send_request(request.body(Full::new(body.clone()))?)
            .await?;
        let (parts, body) = response.into_parts();
        body.collect().await?;
        Ok(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
        })
    }
}
