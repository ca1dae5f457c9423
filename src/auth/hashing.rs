//! The bounded password-hashing pool.
//!
//! argon2 is slow on purpose (tens of milliseconds, ~19 MiB each), so it
//! never runs on an async worker and never without a bound. It runs on
//! `password.hash_workers` threads of its own (default one per core), each
//! keeping one argon2 working memory between hashes: a busy worker reuses
//! it, and one idle for [`KEEP_MEMORY_IDLE`] frees it and hands the pages
//! back to the OS, so memory is workers x `memory_kib` at most and next to
//! nothing when quiet. (On tokio's blocking pool each hash allocated anew,
//! on whichever of up to 512 threads ran it, and every such thread kept
//! its freed block: 131 MiB under a login flood, 39 MiB idle.)
//!
//! Two semaphores make the bound visible: `running` (one permit per
//! worker) limits hashes computed at once, and `admitted` (workers +
//! `password.hash_queue`) limits hashes running or waiting. A request that
//! finds no admission permit is refused at once with [`PoolBusy`] (503 +
//! `Retry-After`), so a login flood costs queue time and then cheap
//! refusals, never unbounded threads or memory, and `/healthz` stays fast.
//! A job keeps its permits until its worker is done with it, even when the
//! request that asked for it has gone (timed out, disconnected).
//!
//! Unknown accounts are verified against a dummy hash made at start-up with
//! the same parameters, so a login costs the same whether the email exists.
//! (An account still holding a hash imported from Django costs that hash's
//! work factor instead, until its first login replaces it.) The time each
//! admitted job waits for a worker is recorded in a histogram
//! (`authd_hashing_wait_seconds`).
//! [`HashingPool::work_done`] counts the argon2 work of every verification
//! (memory x passes x lanes of the hash checked), so tests can show that.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{oneshot, Semaphore};

use super::password::{HashMemory, PasswordHasher, Verified};
use super::HashingError;
use crate::domain::PasswordHash;
use crate::domain::{NewPassword, Password};

/// How long a worker with nothing to do keeps its argon2 memory: long
/// enough that logins arriving a few a second reuse it, short enough that a
/// quiet server is small.
pub const KEEP_MEMORY_IDLE: Duration = Duration::from_secs(1);

/// Work for a hashing worker: runs with the worker's hasher and memory.
type Job = Box<dyn FnOnce(&PasswordHasher, &mut HashMemory) + Send>;

/// The pool is full (or a hashing job failed): answer 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is at capacity")]
pub struct PoolBusy;

#[derive(Clone)]
pub struct HashingPool {
    /// To the workers; they stop when the last clone of the pool is dropped.
    jobs: Sender<Job>,
    /// Hashes computing now; one permit per worker.
    running: Arc<Semaphore>,
    /// Hashes computing or waiting; workers + queue permits.
    admitted: Arc<Semaphore>,
    capacity: usize,
    workers: usize,
    dummy: PasswordHash,
    /// `dummy.cost()`, read once rather than parsed per unknown login.
    dummy_cost: u64,
    wait_seconds: Histogram,
    /// Argon2 work of the verifications so far, in KiB x passes x lanes.
    work: Arc<AtomicU64>,
    /// argon2 memory the workers hold now, in bytes.
    memory: Arc<AtomicU64>,
    /// Hashes refused at once because workers and queue were all taken.
    refused: Arc<AtomicU64>,
}

/// Bounds of the wait histogram, in seconds: 1 ms to ~4 s.
const WAIT_BUCKETS: [f64; 13] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0,
];

impl HashingPool {
    /// Computes the dummy hash (one hash, at start-up) and starts the workers.
    pub fn new(
        hasher: PasswordHasher,
        workers: usize,
        queue: usize,
    ) -> Result<HashingPool, HashingError> {
        let workers = workers.max(1);
        let dummy = hasher.hash_any(&Password::new(super::jwt::new_id()))?;
        crate::allocator::return_free_memory();
        // Never full: a job is only sent while holding one of `workers`
        // running permits.
        let (jobs, queued) = crossbeam_channel::bounded(workers);
        let memory = Arc::new(AtomicU64::new(0));
        for n in 0..workers {
            let (hasher, queued, held) = (hasher.clone(), queued.clone(), Arc::clone(&memory));
            std::thread::Builder::new()
                .name(format!("authd-hash-{n}"))
                .spawn(move || work(&hasher, &queued, held))
                .map_err(|e| HashingError::Hash(format!("cannot start a hashing worker: {e}")))?;
        }
        Ok(HashingPool {
            jobs,
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
            capacity: workers + queue,
            workers,
            dummy_cost: dummy.cost(),
            dummy,
            wait_seconds: Histogram::new(WAIT_BUCKETS),
            work: Arc::new(AtomicU64::new(0)),
            memory,
            refused: Arc::new(AtomicU64::new(0)),
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

    /// Hashing workers (`password.hash_workers`, at least 1).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Hashes that may wait for a worker (`password.hash_queue`).
    pub fn queue_capacity(&self) -> usize {
        self.capacity - self.workers
    }

    /// Hashes refused (503) because every worker and queue place was taken.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
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

    /// argon2 memory the workers hold now (bytes): up to workers x
    /// `memory_kib` while busy, 0 once idle for [`KEEP_MEMORY_IDLE`].
    pub fn memory_bytes(&self) -> u64 {
        self.memory.load(Ordering::Relaxed)
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no (usable) stored hash, so both cost the same.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<PasswordHash>,
    ) -> Result<Verified, PoolBusy> {
        let (dummy, dummy_cost) = (self.dummy.clone(), self.dummy_cost);
        let work = Arc::clone(&self.work);
        self.run(
            move |hasher, memory| match stored.filter(PasswordHash::is_usable) {
                Some(hash) => {
                    work.fetch_add(hash.cost(), Ordering::Relaxed);
                    hasher.check_in(&password, &hash, memory)
                }
                None => {
                    work.fetch_add(dummy_cost, Ordering::Relaxed);
                    hasher.check_in(&password, &dummy, memory);
                    Verified::NO_MATCH
                }
            },
        )
        .await
    }

    /// Hashes a password that passed the policy.
    pub async fn hash(&self, password: NewPassword) -> Result<PasswordHash, PoolBusy> {
        self.run(move |hasher, memory| hasher.hash_any_in(password.password(), memory))
            .await?
            .map_err(|e| {
                tracing::error!(error = %e, "password hashing failed");
                PoolBusy
            })
    }

    /// Re-hashes a password that just verified, with the current parameters.
    pub async fn rehash(&self, password: Password) -> Result<PasswordHash, PoolBusy> {
        self.run(move |hasher, memory| hasher.hash_any_in(&password, memory))
            .await?
            .map_err(|_| PoolBusy)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher, &mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, PoolBusy> {
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| {
                self.refused.fetch_add(1, Ordering::Relaxed);
                PoolBusy
            })?;
        let admitted_at = Instant::now();
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| PoolBusy)?;
        self.wait_seconds
            .observe(admitted_at.elapsed().as_secs_f64());
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |hasher, memory| {
            let output = job(hasher, memory);
            // Permits first, so a caller that has its answer sees them back.
            drop((running, admitted));
            let _ = done.send(output);
        });
        self.jobs.try_send(job).map_err(|_| PoolBusy)?;
        result.await.map_err(|_| PoolBusy)
    }
}

/// A worker: runs jobs until the pool is dropped, keeping its memory while
/// busy and freeing it after [`KEEP_MEMORY_IDLE`] without work. `held`
/// adds up what all workers hold.
fn work(hasher: &PasswordHasher, jobs: &Receiver<Job>, held: Arc<AtomicU64>) {
    let mut memory = HashMemory::counted(held);
    loop {
        let job = if memory.is_empty() {
            jobs.recv().ok()
        } else {
            match jobs.recv_timeout(KEEP_MEMORY_IDLE) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => {
                    memory.release();
                    crate::allocator::return_free_memory();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
            }
        };
        let Some(job) = job else { return };
        // A panicking job (none is expected) costs its caller a 503, not
        // the pool a worker: its reply channel is dropped unanswered.
        if catch_unwind(AssertUnwindSafe(|| job(hasher, &mut memory))).is_err() {
            memory.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HashParams;

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
                    pool.run(move |_, _| {
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

    /// Polls `done` for up to 10 s; true once it holds.
    async fn eventually(done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    #[tokio::test]
    async fn workers_reuse_their_memory_while_busy_and_free_it_when_idle() {
        let pool = pool(1, 1);
        let one_hash = 1024 * 1024;
        assert_eq!(
            pool.memory_bytes(),
            0,
            "the dummy hash's memory is not kept"
        );
        pool.verify(Password::new("p"), None).await.unwrap();
        assert_eq!(pool.memory_bytes(), one_hash);
        let hash = pool.rehash(Password::new("p")).await.unwrap();
        pool.verify(Password::new("p"), Some(hash)).await.unwrap();
        assert_eq!(pool.memory_bytes(), one_hash, "one block, reused");
        assert!(
            eventually(|| pool.memory_bytes() == 0).await,
            "an idle worker frees its memory"
        );
        assert!(pool.verify(Password::new("p"), None).await.is_ok());
        assert_eq!(
            pool.memory_bytes(),
            one_hash,
            "and takes it again when asked"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_request_keeps_its_worker_until_the_hash_ends() {
        let pool = pool(1, 1);
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let request = {
            let (pool, released) = (pool.clone(), Arc::clone(&released));
            tokio::spawn(async move {
                pool.run(move |_, _| {
                    while !released.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .await
            })
        };
        assert!(eventually(|| pool.running() == 1).await);
        request.abort();
        assert!(request.await.unwrap_err().is_cancelled());
        assert_eq!(pool.running(), 1, "the worker is still hashing");
        assert_eq!(pool.in_use(), 1);
        released.store(true, Ordering::Release);
        assert!(eventually(|| pool.in_use() == 0).await);
        assert!(pool.verify(Password::new("p"), None).await.is_ok());
    }
}
