//! The accept loop and graceful shutdown.
//!
//! Connections are bounded by a semaphore of `http.max_connections` permits:
//! the loop takes a permit before it accepts, so past the bound new
//! connections wait in the kernel's backlog instead of costing memory. Each
//! connection speaks HTTP/1.1 or HTTP/2 (h2c, by preface), with a
//! header-read timeout so a slow-loris client cannot hold a connection open
//! without sending a request, and every request has `http.request_timeout`.
//! On shutdown the listener closes, in-flight requests get
//! `http.shutdown_grace` to finish, and idle keep-alive connections are
//! closed at once. Accept errors (such as running out of file descriptors)
//! are logged and retried after a short pause rather than ending the server.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::edge::{self, Listener};
use crate::app::App;

/// Largest request head (request line and headers) accepted over HTTP/1.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Streams one HTTP/2 connection may have in flight.
const MAX_H2_STREAMS: u32 = 64;
/// Pause after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Server {
    app: App,
    listener: TcpListener,
    kind: Listener,
}

impl Server {
    /// Binds the API's listening socket.
    pub async fn bind(app: App, addr: SocketAddr) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            app,
            listener,
            kind: Listener::Public,
        })
    }

    /// Binds `metrics.bind`: a listener that serves `/metrics` only.
    pub async fn bind_metrics(app: App, addr: SocketAddr) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            app,
            listener,
            kind: Listener::Metrics,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let http = &self.app.config.http;
        let grace = *http.shutdown_grace;
        let connections = Arc::new(Semaphore::new(http.max_connections as usize));
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(*http.header_read_timeout)
            .max_buf_size(MAX_HEADER_BYTES)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_H2_STREAMS)
            .max_header_list_size(MAX_HEADER_BYTES as u32)
            .keep_alive_interval(Some(*http.header_read_timeout))
            .keep_alive_timeout(*http.header_read_timeout);

        let pruner = match self.kind {
            Listener::Public => crate::maintenance::spawn_auto_prune(&self.app),
            Listener::Metrics => None,
        };
        let kind = self.kind;
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&connections).acquire_owned() => permit.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed; retrying");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let app = self.app.clone();
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(edge::handle(app, request, peer, kind).await) }
            });
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(self.listener);
        if let Some(pruner) = pruner {
            pruner.abort();
        }
        tracing::info!(grace = %humantime::format_duration(grace), "shutting down: finishing in-flight requests");
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing the remaining connections"),
        }
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received"),
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
    }
}
