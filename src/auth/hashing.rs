//! The bounded password-hashing pool.
//!
//! argon2 is slow on purpose (tens of milliseconds, ~19 MiB each), so it
//! never runs on an async worker and never without a bound. Two semaphores
//! make the bound visible: `running` (one permit per hashing worker, default
//! one per core) limits hashes computed at once, and `admitted` (workers +
//! `password.hash_queue`) limits hashes running or waiting. A request that
//! finds no admission permit is refused at once with [`PoolBusy`] (503 +
//! `Retry-After`), so a login flood costs queue time and then cheap
//! refusals, never unbounded threads or memory, and `/healthz` stays fast.
//!
//! Unknown accounts are verified against a dummy hash made at start-up with
//! the same parameters, so a login costs the same whether the email exists.
//! (An account still holding a hash imported from Django costs that hash's
//! work factor instead, until its first login replaces it.) The time each
//! admitted job waits for a worker is recorded in a histogram
//! (`authd_hashing_wait_seconds`).
//! [`HashingPool::work_done`] counts the argon2 work of every verification
//! (memory x passes x lanes of the hash checked), so tests can show that.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;

use tokio::sync::Semaphore;

use super::password::{PasswordHash, PasswordHasher, Verified};
use super::HashingError;
use crate::domain::{NewPassword, Password};

/// The pool is full (or a hashing job failed): answer 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is at capacity")]
pub struct PoolBusy;

#[derive(Clone)]
pub struct HashingPool {
    hasher: PasswordHasher,
    /// Hashes computing now; one permit per worker.
    running: Arc<Semaphore>,
    /// Hashes computing or waiting; workers + queue permits.
    admitted: Arc<Semaphore>,
    capacity: usize,
    workers: usize,
    dummy: PasswordHash,
    wait_seconds: Histogram,
    /// Argon2 work of the verifications so far, in KiB x passes x lanes.
    work: Arc<AtomicU64>,
}

/// Bounds of the wait histogram, in seconds: 1 ms to ~4 s.
const WAIT_BUCKETS: [f64; 13] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0,
];

impl HashingPool {
    /// Computes the dummy hash (one hash, at start-up).
    pub fn new(
        hasher: PasswordHasher,
        workers: usize,
        queue: usize,
    ) -> Result<HashingPool, HashingError> {
        let workers = workers.max(1);
        let dummy = hasher.hash_any(&Password::new(super::jwt::new_id()))?;
        Ok(HashingPool {
            hasher,
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
            capacity: workers + queue,
            workers,
            dummy,
            wait_seconds: Histogram::new(WAIT_BUCKETS),
            work: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Hashes running or waiting now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.admitted.available_permits()
    }

    /// Hashes computing now.
    pub fn running(&self) -> usize {
        self.workers - self.running.available_permits()
    }

    /// Hashes admitted and waiting for a worker.
    pub fn waiting(&self) -> usize {
        self.in_use().saturating_sub(self.running())
    }

    /// How long admitted jobs waited for a worker (shared with the registry).
    pub fn wait_seconds(&self) -> Histogram {
        self.wait_seconds.clone()
    }

    /// Argon2 work of every verification so far (KiB x passes x lanes of
    /// each hash checked, the dummy included).
    pub fn work_done(&self) -> u64 {
        self.work.load(Ordering::Relaxed)
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no (usable) stored hash, so both cost the same.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<PasswordHash>,
    ) -> Result<Verified, PoolBusy> {
        let dummy = self.dummy.clone();
        let work = Arc::clone(&self.work);
        self.run(move |hasher| match stored.filter(PasswordHash::is_usable) {
            Some(hash) => {
                work.fetch_add(hash.cost(), Ordering::Relaxed);
                hasher.check(&password, &hash)
            }
            None => {
                work.fetch_add(dummy.cost(), Ordering::Relaxed);
                hasher.verify(&password, &dummy);
                Verified::NO_MATCH
            }
        })
        .await
    }

    /// Hashes a password that passed the policy.
    pub async fn hash(&self, password: NewPassword) -> Result<PasswordHash, PoolBusy> {
        self.run(move |hasher| hasher.hash(&password))
            .await?
            .map_err(|e| {
                tracing::error!(error = %e, "password hashing failed");
                PoolBusy
            })
    }

    /// Re-hashes a password that just verified, with the current parameters.
    pub async fn rehash(&self, password: Password) -> Result<PasswordHash, PoolBusy> {
        self.run(move |hasher| hasher.hash_any(&password))
            .await?
            .map_err(|_| PoolBusy)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, PoolBusy> {
        let _admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| PoolBusy)?;
        let admitted_at = Instant::now();
        let _running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| PoolBusy)?;
        self.wait_seconds
            .observe(admitted_at.elapsed().as_secs_f64());
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || job(&hasher))
            .await
            .map_err(|_| PoolBusy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::HashParams;

    fn pool(workers: usize, queue: usize) -> HashingPool {
        let hasher = PasswordHasher::new(HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        HashingPool::new(hasher, workers, queue).unwrap()
    }

    #[tokio::test]
    async fn verifies_real_and_missing_hashes() {
        let pool = pool(1, 1);
        let hash = pool
            .rehash(Password::new("correct horse battery"))
            .await
            .unwrap();
        let ok = pool
            .verify(Password::new("correct horse battery"), Some(hash.clone()))
            .await
            .unwrap();
        assert_eq!(
            ok,
            Verified {
                matched: true,
                needs_rehash: false,
                must_upgrade: false
            }
        );
        assert!(
            !pool
                .verify(Password::new("wrong"), Some(hash))
                .await
                .unwrap()
                .matched
        );
        assert!(
            !pool
                .verify(Password::new("anything"), None)
                .await
                .unwrap()
                .matched
        );
        assert!(
            !pool
                .verify(Password::new("x"), Some(PasswordHash::unusable()))
                .await
                .unwrap()
                .matched
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_at_once_beyond_workers_plus_queue() {
        let pool = pool(1, 2);
        // Every job holds its worker until released, so whichever one gets
        // the worker first, none finishes before the pool is seen full.
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                let released = Arc::clone(&released);
                tokio::spawn(async move {
                    pool.run(move |_| {
                        while !released.load(Ordering::Acquire) {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                    })
                    .await
                })
            })
            .collect();
        let full = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while pool.in_use() < 3 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(full.is_ok(), "three jobs never filled the pool");
        assert_eq!(pool.verify(Password::new("p"), None).await, Err(PoolBusy));
        released.store(true, Ordering::Release);
        for job in held {
            assert!(job.await.unwrap().is_ok());
        }
        assert_eq!(pool.in_use(), 0, "every permit came back");
        assert!(pool.verify(Password::new("p"), None).await.is_ok());
    }
}
