//! The two ceilings `bench/run.sh` compares authd against, measured on the
//! same machine in the same run so the ratios survive noisy hosts:
//!
//! - `bench_ceilings hyper ADDR`: the smallest useful HTTP server, hyper's
//!   HTTP/1.1 connection loop on tokio's multi-threaded runtime answering
//!   every request with a fixed `200 ok`. No routing, no logging, no
//!   metrics: what the machine allows before authd does anything.
//! - `bench_ceilings argon2 SECONDS`: argon2 verifications per second of the
//!   configured `[password]` parameters (read like `authd serve` reads them:
//!   config file from AUTHD_CONFIG, AUTHD_* variables) with one thread per
//!   hashing worker, each reusing its argon2 memory as authd's workers
//!   do. A login costs one verification, so this is the most
//!   logins per second the hashing pool can give.
//!
//! Built by `cargo build --release --example bench_ceilings`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use authd::auth::HashMemory;
use authd::config::{load, LoadOptions};
use authd::domain::Password;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["hyper", addr] => addr
            .parse::<SocketAddr>()
            .map_err(|e| format!("{addr}: {e}"))
            .and_then(serve_fixed_200),
        ["argon2", seconds] => seconds
            .parse::<u64>()
            .map_err(|e| format!("{seconds}: {e}"))
            .and_then(|s| argon2_rate(Duration::from_secs(s.clamp(1, 600)))),
        _ => Err("usage: bench_ceilings hyper ADDR | bench_ceilings argon2 SECONDS".into()),
    };
    if let Err(message) = outcome {
        eprintln!("bench_ceilings: {message}");
        std::process::exit(2);
    }
}

fn serve_fixed_200(addr: SocketAddr) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        println!(
            "listening on http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn argon2_rate(duration: Duration) -> Result<(), String> {
    let loaded = load(LoadOptions::from_process(None, Vec::new())).map_err(|e| e.to_string())?;
    let config = loaded.config;
    let hasher = authd::auth::PasswordHasher::from_config(&config).map_err(|e| e.to_string())?;
    let password = Password::new("correct horse battery staple");
    let hash = hasher.hash_any(&password).map_err(|e| e.to_string())?;
    let threads = config.hash_workers();
    let started = Instant::now();
    let verified: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    // As authd's hashing workers do: one memory per thread, reused.
                    let mut memory = HashMemory::default();
                    let mut done = 0u64;
                    while started.elapsed() < duration {
                        let verified = hasher.check_in(&password, &hash, &mut memory);
                        assert!(verified.matched, "the hash verifies");
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let params = config.hash_params();
    println!(
        "{:.1} verifications/s ({} threads, m={} KiB t={} p={}, {:.1} ms each)",
        verified as f64 / elapsed,
        threads,
        params.memory_kib,
        params.iterations,
        params.parallelism,
        elapsed * 1000.0 * threads as f64 / verified.max(1) as f64,
    );
    Ok(())
}
