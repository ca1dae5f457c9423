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

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::password::{PasswordHash, PasswordHasher};
use super::HashingError;
use crate::domain::{NewPassword, Password};

/// The pool is full (or a hashing job failed): answer 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is at capacity")]
pub struct PoolBusy;

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matched: bool,
    /// The stored hash used other parameters: store a fresh one.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct HashingPool {
    hasher: PasswordHasher,
    /// Hashes computing now; one permit per worker.
    running: Arc<Semaphore>,
    /// Hashes computing or waiting; workers + queue permits.
    admitted: Arc<Semaphore>,
    capacity: usize,
    dummy: PasswordHash,
}

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
            dummy,
        })
    }

    /// Hashes running or waiting now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.admitted.available_permits()
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no (usable) stored hash, so both cost the same.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<PasswordHash>,
    ) -> Result<Verified, PoolBusy> {
        let dummy = self.dummy.clone();
        self.run(move |hasher| match stored.filter(PasswordHash::is_usable) {
            Some(hash) => Verified {
                matched: hasher.verify(&password, &hash),
                needs_rehash: hasher.needs_rehash(&hash),
            },
            None => {
                hasher.verify(&password, &dummy);
                Verified {
                    matched: false,
                    needs_rehash: false,
                }
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
        let _running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| PoolBusy)?;
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
                needs_rehash: false
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
        let gate = Arc::new(std::sync::Barrier::new(2));
        // One job computing (held at the gate) and two waiting fill the pool.
        let held: Vec<_> = (0..3)
            .map(|i| {
                let pool = pool.clone();
                let gate = Arc::clone(&gate);
                tokio::spawn(async move {
                    pool.run(move |_| {
                        if i == 0 {
                            gate.wait();
                        }
                    })
                    .await
                })
            })
            .collect();
        while pool.in_use() < 3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.verify(Password::new("p"), None).await, Err(PoolBusy));
        gate.wait();
        for job in held {
            assert!(job.await.unwrap().is_ok());
        }
        assert_eq!(pool.in_use(), 0, "every permit came back");
        assert!(pool.verify(Password::new("p"), None).await.is_ok());
    }
}
