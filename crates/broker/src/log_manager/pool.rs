//! The I/O thread pool: `num.io.threads` OS threads that run partition file I/O, and the
//! per-partition [`Lane`]s that keep one partition's mutations in submission order.
//!
//! Invariants:
//! * A lane is on the pool's run queue at most once (`scheduled`), so at most one thread
//!   runs a given lane's jobs, and it runs them front to back: jobs submitted to one lane
//!   run in submission order, never concurrently. Jobs of different lanes, and unordered
//!   jobs, run in parallel on the other threads.
//! * A thread runs at most [`LANE_BURST`] jobs of a lane before putting it at the back of
//!   the run queue, so a busy partition cannot starve the others.
//! * Every accepted job runs, even after [`IoPool::close`]: threads drain the queue before
//!   exiting. A job submitted after close is refused (dropped unrun), and the caller's
//!   waiter sees that as [`PoolClosed`]; nothing is half-run.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Jobs a thread runs from one lane before letting other lanes go first.
pub const LANE_BURST: usize = 16;

pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// The pool no longer accepts work (the broker is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the log manager is shut down")]
pub struct PoolClosed;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum Task {
    Job(Job),
    Lane(Arc<Lane>),
}

#[derive(Default)]
struct RunQueue {
    tasks: VecDeque<Task>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<RunQueue>,
    ready: Condvar,
    jobs_run: AtomicU64,
}

impl Shared {
    fn push(&self, task: Task) -> Result<(), Task> {
        let mut q = lock(&self.queue);
        if q.closed {
            return Err(task);
        }
        q.tasks.push_back(task);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Requeues a lane that still has work; accepted even when closed, so draining
    /// finishes every job the lane accepted.
    fn requeue(&self, lane: Arc<Lane>) {
        lock(&self.queue).tasks.push_back(Task::Lane(lane));
        self.ready.notify_one();
    }

    fn run_job(&self, job: Job) {
        // A panicking job drops its result sender, which its waiter reports as an error;
        // the thread stays alive for the others.
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("log manager job panicked");
        }
        self.jobs_run.fetch_add(1, Ordering::Relaxed);
    }

    fn worker(self: Arc<Self>) {
        loop {
            let task = {
                let mut q = lock(&self.queue);
                loop {
                    if let Some(t) = q.tasks.pop_front() {
                        break Some(t);
                    }
                    if q.closed {
                        break None;
                    }
                    q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            match task {
                None => return,
                Some(Task::Job(job)) => self.run_job(job),
                Some(Task::Lane(lane)) => {
                    let mut drained = false;
                    for _ in 0..LANE_BURST {
                        match lane.pop() {
                            Some(job) => self.run_job(job),
                            None => {
                                // Marked idle by `pop`: a later submit reschedules it.
                                drained = true;
                                break;
                            }
                        }
                    }
                    if !drained && lane.still_scheduled() {
                        self.requeue(lane);
                    }
                }
            }
        }
    }
}

/// One partition's ordered job queue (see the module invariants).
#[derive(Default)]
pub struct Lane {
    state: Mutex<LaneState>,
}

#[derive(Default)]
struct LaneState {
    jobs: VecDeque<Job>,
    scheduled: bool,
}

impl Lane {
    /// The next job, or `None` after marking the lane idle (under the same lock as
    /// [`IoPool::submit_ordered`] checks it, so a job pushed concurrently reschedules).
    fn pop(&self) -> Option<Job> {
        let mut s = lock(&self.state);
        let job = s.jobs.pop_front();
        if job.is_none() {
            s.scheduled = false;
        }
        job
    }

    /// True when the lane still has jobs (and stays scheduled); false marks it idle.
    fn still_scheduled(&self) -> bool {
        let mut s = lock(&self.state);
        if s.jobs.is_empty() {
            s.scheduled = false;
        }
        s.scheduled
    }

    /// Jobs waiting (not counting one running).
    pub fn queued(&self) -> usize {
        lock(&self.state).jobs.len()
    }
}

/// The fixed pool of I/O threads.
pub struct IoPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
}

impl IoPool {
    /// Starts `threads` (at least one) I/O threads named `strait-io-N`.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let size = threads.max(1);
        let mut handles = Vec::with_capacity(size);
        for i in 0..size {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("strait-io-{i}"))
                .spawn(move || s.worker());
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    lock(&shared.queue).closed = true;
                    shared.ready.notify_all();
                    return Err(e);
                }
            }
        }
        Ok(IoPool {
            shared,
            threads: Mutex::new(handles),
            size,
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// True once [`IoPool::close`] (or drop) refused new work.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.queue).closed
    }

    /// Jobs run so far (a test and metrics counter).
    pub fn jobs_run(&self) -> u64 {
        self.shared.jobs_run.load(Ordering::Relaxed)
    }

    /// Runs `job` on any I/O thread, in no particular order.
    pub(crate) fn submit(&self, job: Job) -> Result<(), PoolClosed> {
        self.shared.push(Task::Job(job)).map_err(|_| PoolClosed)
    }

    /// Runs `job` after every job submitted to `lane` before it.
    pub(crate) fn submit_ordered(&self, lane: &Arc<Lane>, job: Job) -> Result<(), PoolClosed> {
        let mut s = lock(&lane.state);
        s.jobs.push_back(job);
        if s.scheduled {
            // The thread running this lane picks it up (it drains even after close).
            return Ok(());
        }
        // Pushed with the lane locked (lane before run queue; no path takes them the other
        // way round), so on refusal this job is still the only one queued on the lane.
        if self.shared.push(Task::Lane(lane.clone())).is_err() {
            s.jobs.pop_back();
            return Err(PoolClosed);
        }
        s.scheduled = true;
        Ok(())
    }

    /// Refuses new work, lets the threads finish every accepted job, and joins them.
    /// Idempotent. Must not be called from an I/O thread.
    pub fn close(&self) {
        lock(&self.shared.queue).closed = true;
        self.shared.ready.notify_all();
        let handles = std::mem::take(&mut *lock(&self.threads));
        for h in handles {
            if h.join().is_err() {
                tracing::error!("an I/O thread panicked outside a job");
            }
        }
    }
}

impl Drop for IoPool {
    fn drop(&mut self) {
        // Not joined: the last reference may be dropped on an I/O thread itself.
        lock(&self.shared.queue).closed = true;
        self.shared.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn lane_jobs_run_in_order_and_lanes_in_parallel() {
        let pool = IoPool::start(4).unwrap();
        let lane = Arc::new(Lane::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done_rx) = mpsc::channel();
        for i in 0..500 {
            let seen = seen.clone();
            let done = done_tx.clone();
            pool.submit_ordered(
                &lane,
                Box::new(move || {
                    seen.lock().unwrap().push(i);
                    done.send(()).unwrap();
                }),
            )
            .unwrap();
        }
        for _ in 0..500 {
            done_rx.recv().unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), (0..500).collect::<Vec<_>>());

        // A lane blocked in a job does not hold up another lane.
        let blocked = Arc::new(Lane::default());
        let (release_tx, release_rx) = mpsc::channel::<()>();
        pool.submit_ordered(
            &blocked,
            Box::new(move || {
                release_rx.recv().unwrap();
            }),
        )
        .unwrap();
        let (tx, rx) = mpsc::channel();
        pool.submit_ordered(&lane, Box::new(move || tx.send(7).unwrap()))
            .unwrap();
        assert_eq!(rx.recv().unwrap(), 7);
        assert_eq!(blocked.queued(), 0);
        release_tx.send(()).unwrap();
        pool.close();
    }

    #[test]
    fn close_drains_accepted_jobs_and_refuses_new_ones() {
        let pool = IoPool::start(1).unwrap();
        let lane = Arc::new(Lane::default());
        let count = Arc::new(AtomicU64::new(0));
        for _ in 0..100 {
            let c = count.clone();
            pool.submit_ordered(
                &lane,
                Box::new(move || {
                    c.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .unwrap();
        }
        pool.close();
        assert_eq!(count.load(Ordering::SeqCst), 100);
        assert_eq!(pool.submit_ordered(&lane, Box::new(|| {})), Err(PoolClosed));
        assert_eq!(pool.submit(Box::new(|| {})), Err(PoolClosed));
        assert_eq!(lane.queued(), 0);
    }
}
