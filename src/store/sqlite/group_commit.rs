//! Group commit: a writer thread of its own takes the jobs queued while it
//! wrote the last batch and writes them all as the next batch.
//!
//! Why: SQLite lets one writer in at a time. Under 16 concurrent refresh
//! chains each rotation took a blocking-pool thread, waited there for this
//! process's write turn, and ran its own `BEGIN IMMEDIATE`, three
//! statements and a commit that wrote the same few pages to the WAL again:
//! ~165 µs a rotation, one at a time. Batched, a rotation's share of the
//! write is ~70 µs (`bench/cpu_split.sh`), and then the threads themselves
//! were the cost: the hop to the blocking pool, the park while the batch
//! was written and the wake-ups back made four context switches a request,
//! a third of the server's CPU in the scheduler (perf). Here a caller hands
//! its job over and awaits the answer on a oneshot channel: no thread waits
//! for it, and under load the writer thread never sleeps between batches.
//!
//! Order and isolation: jobs are written in the order they were queued,
//! up to [`MAX_BATCH`] at a time; what a batch means (one transaction, how
//! one failure is kept from the others) is the `write` function's.
//!
//! Bounds: at most [`MAX_QUEUED`] jobs wait; past that a job is refused at
//! once (handed back in [`Full`]) rather than queued behind more than a few
//! batches' worth of work. A `write` that panics abandons its batch (those
//! callers are told) and the thread goes on. Dropping the queue lets the
//! thread write what is queued, then joins it.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

/// The most jobs one batch takes: every caller of a busy server at once,
/// while one batch's latency stays a few milliseconds.
pub(super) const MAX_BATCH: usize = 64;

/// The most jobs that wait: sixteen batches.
pub(super) const MAX_QUEUED: usize = 16 * MAX_BATCH;

/// Jobs of type `J`, written by a thread of their own into results `R`.
pub(super) struct GroupCommit<J, R> {
    shared: Arc<Shared<J, R>>,
    writer: Option<JoinHandle<()>>,
}

struct Shared<J, R> {
    queue: Mutex<Queue<J, R>>,
    /// Signalled when a job arrives, or at close.
    work: Condvar,
}

struct Queue<J, R> {
    waiting: VecDeque<(J, oneshot::Sender<R>)>,
    closed: bool,
}

/// A job not queued because [`MAX_QUEUED`] jobs already wait; the job
/// comes back, for the caller to shed or write itself.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Full<J>(pub J);

impl<J: Send + 'static, R: Send + 'static> GroupCommit<J, R> {
    /// Starts the writer thread, `name`d, which calls `write` with each
    /// batch's jobs in queue order; it returns one result per job, in the
    /// same order (a job left without one is told it was abandoned).
    pub(super) fn start(
        name: &str,
        mut write: impl FnMut(&[J]) -> Vec<R> + Send + 'static,
    ) -> std::io::Result<GroupCommit<J, R>> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                closed: false,
            }),
            work: Condvar::new(),
        });
        let writer = std::thread::Builder::new().name(name.into()).spawn({
            let shared = Arc::clone(&shared);
            move || shared.run(&mut write)
        })?;
        Ok(GroupCommit {
            shared,
            writer: Some(writer),
        })
    }

    /// Queues `job`; the receiver gets its result once its batch is
    /// written, or is closed if the batch was abandoned.
    pub(super) fn submit(&self, job: J) -> Result<oneshot::Receiver<R>, Full<J>> {
        let (reply, answer) = oneshot::channel();
        let mut queue = self.shared.queue.lock();
        if queue.waiting.len() >= MAX_QUEUED {
            return Err(Full(job));
        }
        queue.waiting.push_back((job, reply));
        // A no-op (one atomic load) unless the writer sleeps on `work`.
        self.shared.work.notify_one();
        Ok(answer)
    }
}

impl<J, R> Shared<J, R> {
    fn run(&self, write: &mut impl FnMut(&[J]) -> Vec<R>) {
        while let Some((jobs, replies)) = self.next_batch() {
            // A panic abandons this batch only: its senders are dropped.
            if let Ok(results) = catch_unwind(AssertUnwindSafe(|| write(&jobs))) {
                for (reply, result) in replies.into_iter().zip(results) {
                    // The caller may have stopped waiting (its request
                    // was cancelled); the write stands all the same.
                    let _ = reply.send(result);
                }
            }
        }
    }

    /// Sleeps until jobs wait, then takes a batch of them; `None` once
    /// closed with nothing left to write.
    #[allow(clippy::type_complexity)]
    fn next_batch(&self) -> Option<(Vec<J>, Vec<oneshot::Sender<R>>)> {
        let mut queue = self.queue.lock();
        while queue.waiting.is_empty() {
            if queue.closed {
                return None;
            }
            self.work.wait(&mut queue);
        }
        let take = queue.waiting.len().min(MAX_BATCH);
        Some(queue.waiting.drain(..take).unzip())
    }
}

impl<J, R> Drop for GroupCommit<J, R> {
    fn drop(&mut self) {
        self.shared.queue.lock().closed = true;
        self.shared.work.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    type Batches = Arc<Mutex<Vec<Vec<usize>>>>;

    /// A queue whose writer holds its first batch until `release` is set,
    /// and records every batch it writes; results are job * 10.
    fn held_queue() -> (GroupCommit<usize, usize>, Batches, Arc<AtomicBool>) {
        let batches = Batches::default();
        let release = Arc::new(AtomicBool::new(false));
        let queue = GroupCommit::start("test-writer", {
            let (batches, release) = (batches.clone(), release.clone());
            move |jobs: &[usize]| {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !release.load(Ordering::SeqCst) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                batches.lock().push(jobs.to_vec());
                jobs.iter().map(|job| job * 10).collect()
            }
        })
        .unwrap();
        (queue, batches, release)
    }

    /// Submits job 0 and waits until the writer has taken it (and is held
    /// in its first batch).
    fn first_job_taken(queue: &GroupCommit<usize, usize>) -> oneshot::Receiver<usize> {
        let first = queue.submit(0).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !queue.shared.queue.lock().waiting.is_empty() {
            assert!(Instant::now() < deadline, "the writer never took the job");
            std::thread::sleep(Duration::from_millis(1));
        }
        first
    }

    /// Jobs queued while a batch is written are written together next, in
    /// queue order, each answered with its own result.
    #[test]
    fn jobs_queued_behind_a_batch_are_written_together_in_order() {
        let (queue, batches, release) = held_queue();
        let first = first_job_taken(&queue);
        let rest: Vec<_> = (1..20).map(|i| queue.submit(i).unwrap()).collect();
        release.store(true, Ordering::SeqCst);
        assert_eq!(first.blocking_recv(), Ok(0));
        for (i, answer) in rest.into_iter().enumerate() {
            assert_eq!(answer.blocking_recv(), Ok((i + 1) * 10));
        }
        assert_eq!(
            *batches.lock(),
            [vec![0], (1..20).collect::<Vec<_>>()],
            "one batch, then everyone queued behind it"
        );
    }

    /// A batch takes at most MAX_BATCH jobs, and at most MAX_QUEUED wait:
    /// the next is refused at once.
    #[test]
    fn batches_and_the_queue_are_bounded() {
        let (queue, batches, release) = held_queue();
        let first = first_job_taken(&queue);
        let waiting: Vec<_> = (1..=MAX_QUEUED).map(|i| queue.submit(i).unwrap()).collect();
        assert_eq!(queue.submit(7).unwrap_err(), Full(7), "the job comes back");
        release.store(true, Ordering::SeqCst);
        assert_eq!(first.blocking_recv(), Ok(0));
        for (i, answer) in waiting.into_iter().enumerate() {
            assert_eq!(answer.blocking_recv(), Ok((i + 1) * 10));
        }
        let sizes: Vec<usize> = batches.lock().iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|&n| n <= MAX_BATCH), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), MAX_QUEUED + 1);
    }

    /// A write that panics abandons its own batch only: later jobs are
    /// written by the same thread.
    #[test]
    fn a_panicking_write_abandons_its_batch_only() {
        let queue = GroupCommit::start("test-writer", |jobs: &[usize]| {
            assert!(jobs[0] != 1, "a bug in the writer");
            jobs.to_vec()
        })
        .unwrap();
        assert!(queue.submit(1).unwrap().blocking_recv().is_err());
        assert_eq!(queue.submit(2).unwrap().blocking_recv(), Ok(2));
    }

    /// A job the write leaves without a result is told so, not left waiting.
    #[test]
    fn a_job_without_a_result_is_abandoned() {
        let queue = GroupCommit::start("test-writer", |jobs: &[usize]| {
            jobs.iter().copied().filter(|&job| job != 1).collect()
        })
        .unwrap();
        assert!(queue.submit(1).unwrap().blocking_recv().is_err());
        assert_eq!(queue.submit(2).unwrap().blocking_recv(), Ok(2));
    }

    /// Dropping the queue writes what waits before the thread ends.
    #[test]
    fn dropping_the_queue_writes_what_waits() {
        let (queue, _batches, release) = held_queue();
        let answers: Vec<_> = (0..5).map(|i| queue.submit(i).unwrap()).collect();
        release.store(true, Ordering::SeqCst);
        drop(queue);
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.blocking_recv(), Ok(i * 10));
        }
    }
}
