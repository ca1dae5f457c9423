//! The accept loop and graceful shutdown.
//!
//! Connections are bounded by `http.max_connections` slots (see `conn`):
//! the loop accepts a client, then finds it a slot, shedding the
//! longest-silent connection when all are taken; while it waits, further
//! clients wait in the kernel's backlog instead of costing memory. Each
//! connection speaks HTTP/1.1 or HTTP/2 (h2c, by preface) under the
//! deadlines of `conn`: a whole request head within
//! `http.header_read_timeout` of accept (or of the request's first byte),
//! at most `http.idle_timeout` between requests; and every request has
//! `http.request_timeout`. On shutdown the listener closes, in-flight
//! requests get `http.shutdown_grace` to finish, and idle connections are
//! closed at once. Accept errors (such as running out of file descriptors)
//! are logged and retried after a short pause rather than ending the server.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper::Version;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::conn::{self, Connections, Limits, Watched};
use super::edge::{self, Listener};
use super::site::Site;
use crate::app::App;

/// Largest request head (request line and headers) accepted over HTTP/1.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Streams one HTTP/2 connection may have in flight.
const MAX_H2_STREAMS: u32 = 64;
/// Pause after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Server {
    site: Arc<Site>,
    listener: TcpListener,
    kind: Listener,
}

impl Server {
    /// Binds the API's listening socket.
    pub async fn bind(app: App, addr: SocketAddr) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            site: Arc::new(Site::new(app)),
            listener,
            kind: Listener::Public,
        })
    }

    /// Binds `metrics.bind`: a listener that serves `/metrics` only, for
    /// the same application as `api`.
    pub async fn bind_metrics(api: &Server, addr: SocketAddr) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            site: Arc::clone(&api.site),
            listener,
            kind: Listener::Metrics,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let http = &self.site.app.config.http;
        let grace = *http.shutdown_grace;
        let limits = Limits {
            head: *http.header_read_timeout,
            idle: *http.idle_timeout,
        };
        let connections = Connections::new(http.max_connections);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // `conn` times heads itself: hyper's timer would start as soon
            // as a connection goes idle, cutting keep-alive to this length.
            .header_read_timeout(None)
            .max_buf_size(MAX_HEADER_BYTES)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_H2_STREAMS)
            .max_header_list_size(MAX_HEADER_BYTES as u32)
            .keep_alive_interval(Some(*http.header_read_timeout))
            .keep_alive_timeout(*http.header_read_timeout);

        let kind = self.kind;
        tokio::pin!(shutdown);
        loop {
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
            let slot = tokio::select! {
                slot = connections.admit() => slot,
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(slot.registered.conn());
            let site = Arc::clone(&self.site);
            let requests = Arc::clone(&state);
            let service = service_fn(move |request: hyper::Request<_>| {
                let in_flight = requests.begin(request.version() == Version::HTTP_2);
                let site = Arc::clone(&site);
                async move {
                    let response = edge::handle(site, request, peer, kind).await;
                    drop(in_flight);
                    Ok::<_, Infallible>(response)
                }
            });
            let io = TokioIo::new(Watched::new(stream, Arc::clone(&state)));
            let connection = builder.serve_connection(io, service).into_owned();
            tokio::spawn(async move {
                if let Err(error) = conn::serve(connection, &state, limits, limits.head).await {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                drop(slot);
            });
        }
        drop(self.listener);
        tracing::info!(grace = %humantime::format_duration(grace), "shutting down: finishing in-flight requests");
        tokio::select! {
            () = connections.close_all() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing the remaining connections"),
        }
    }
}

/// Installs the SIGTERM and SIGINT handlers now, and returns what completes
/// on either. Installed before the server says it is listening: a signal
/// sent as soon as it does must stop it gracefully, not kill it.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}
