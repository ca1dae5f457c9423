//! A TCP proxy the test can cut: it forwards 127.0.0.1:PORT to an upstream
//! (the shared Postgres) until [`TcpProxy::cut`], which drops every proxied
//! connection at once and refuses new ones (accepted and reset at once) for
//! the given time, as a network failure or a database restart would look
//! to authd. The shared service itself is never touched.
//!
//! The proxy runs on a thread with a runtime of its own, so it keeps
//! forwarding whatever the test's runtime is busy with; it stops when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    pub port: u16,
    state: Arc<State>,
    /// Dropping it stops the accept loop.
    _stop: tokio::sync::oneshot::Sender<()>,
}

struct State {
    /// New connections are refused until then.
    refusing_until: Mutex<Option<Instant>>,
    /// Bumped by every cut; each pipe ends when it changes.
    cuts: watch::Sender<u64>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> TcpProxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            refusing_until: Mutex::new(None),
            cuts: watch::channel(0).0,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                tokio::select! {
                    () = accept_loop(listener, upstream, shared) => {}
                    _ = stopped => {}
                }
            });
        });
        TcpProxy {
            port,
            state,
            _stop: stop,
        }
    }

    /// Drops every proxied connection and refuses new ones for `outage`.
    pub fn cut(&self, outage: Duration) {
        *self.state.refusing_until.lock().unwrap() = Some(Instant::now() + outage);
        self.state.cuts.send_modify(|cuts| *cuts += 1);
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, state: Arc<State>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let refusing = state
            .refusing_until
            .lock()
            .unwrap()
            .is_some_and(|until| Instant::now() < until);
        if refusing {
            // A reset rather than an orderly close, as a refused connection would be.
            let _ = client.set_zero_linger();
            drop(client);
            continue;
        }
        let cuts = state.cuts.subscribe();
        tokio::spawn(pipe(client, upstream, cuts));
    }
}

/// Copies both ways until either side closes or the proxy is cut.
async fn pipe(mut client: TcpStream, upstream: SocketAddr, mut cuts: watch::Receiver<u64>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cuts.changed() => {
            let _ = client.set_zero_linger();
        }
    }
}
