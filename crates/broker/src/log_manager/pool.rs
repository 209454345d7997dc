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
//! * A batch ([`IoPool::submit_batch`]: one request's jobs on several lanes) is one hand-off:
//!   one thread takes it and runs each job by *claiming* the job's lane — only when the lane
//!   is idle (nothing queued, nobody running it), so the job is exactly where it would have
//!   run had it been queued there; a job whose lane is busy is queued on the lane instead
//!   and runs behind it. Lanes are claimed one at a time, just before their job runs, so a
//!   job stuck on one partition never holds another partition's lane.
//! * A thread is woken only when one is idle and there is work it would not otherwise see
//!   (a running thread finds queued work before it parks), and the one woken is the one
//!   that went idle last (its stack and caches are the warmest; the others stay parked).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// One request's jobs, each for its lane, in order (see the module invariants).
    Batch(Vec<(Arc<Lane>, Job)>),
}

#[derive(Default)]
struct RunQueue {
    tasks: VecDeque<Task>,
    closed: bool,
    /// Parked threads, the most recently parked last (a push wakes that one, if any).
    idle: Vec<std::thread::Thread>,
}

/// The pool's counters, read by `/metrics` and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Jobs run to completion (or to a panic).
    pub jobs_run: u64,
    /// Jobs accepted and not started yet (on the run queue or on a lane).
    pub queued: u64,
    /// Times a parked I/O thread was woken for new work.
    pub thread_wakeups: u64,
    /// Hand-offs from the async side: one per job, lane job or batch submitted.
    pub handoffs: u64,
    /// Sum over started jobs of the time from submission to start, in microseconds.
    pub queue_time_us: u64,
    /// Sum over jobs of their run time, in microseconds.
    pub run_time_us: u64,
}

/// A job counted in [`PoolStats::queued`] until it starts or is dropped unrun.
struct Queued {
    shared: Arc<Shared>,
    since: std::time::Instant,
}

impl Queued {
    fn new(shared: Arc<Shared>) -> Self {
        shared.queued.fetch_add(1, Ordering::Relaxed);
        Queued {
            shared,
            since: std::time::Instant::now(),
        }
    }

    fn started(self) {
        self.shared
            .queue_time_us
            .fetch_add(micros(self.since.elapsed()), Ordering::Relaxed);
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.shared.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Shared {
    queue: Mutex<RunQueue>,
    jobs_run: AtomicU64,
    queued: AtomicU64,
    thread_wakeups: AtomicU64,
    handoffs: AtomicU64,
    queue_time_us: AtomicU64,
    run_time_us: AtomicU64,
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Shared {
    /// Queues `task` and wakes an idle thread for it. Under the queue lock the idle list is
    /// exact: a thread that is not on it will look at the queue before it parks.
    fn enqueue(&self, mut q: MutexGuard<'_, RunQueue>, task: Task) {
        q.tasks.push_back(task);
        let wake = q.idle.pop();
        drop(q);
        if let Some(thread) = wake {
            self.thread_wakeups.fetch_add(1, Ordering::Relaxed);
            thread.unpark();
        }
    }

    /// Refuses new work and wakes every parked thread (to drain the queue and exit).
    fn close(&self) {
        let idle = {
            let mut q = lock(&self.queue);
            q.closed = true;
            std::mem::take(&mut q.idle)
        };
        for thread in idle {
            thread.unpark();
        }
    }

    fn push(&self, task: Task) -> Result<(), Task> {
        let q = lock(&self.queue);
        if q.closed {
            return Err(task);
        }
        self.handoffs.fetch_add(1, Ordering::Relaxed);
        self.enqueue(q, task);
        Ok(())
    }

    /// Requeues a lane that still has work; accepted even when closed, so draining
    /// finishes every job the lane accepted.
    fn requeue(&self, lane: Arc<Lane>) {
        self.enqueue(lock(&self.queue), Task::Lane(lane));
    }

    /// Queues an accepted job on its lane, scheduling the lane if it was idle (accepted
    /// even when closed: the job belongs to a batch accepted before).
    fn push_accepted(&self, lane: &Arc<Lane>, job: Job) {
        let mut s = lock(&lane.state);
        s.jobs.push_back(job);
        if !s.scheduled {
            s.scheduled = true;
            drop(s);
            self.requeue(lane.clone());
        }
    }

    fn run_job(&self, job: Job) {
        let started = std::time::Instant::now();
        // A panicking job drops its result sender, which its waiter reports as an error;
        // the thread stays alive for the others.
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("log manager job panicked");
        }
        self.run_time_us
            .fetch_add(micros(started.elapsed()), Ordering::Relaxed);
        self.jobs_run.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs a batch's jobs in order, each on its claimed lane or queued behind a busy one.
    fn run_batch(&self, parts: Vec<(Arc<Lane>, Job)>) {
        for (lane, job) in parts {
            if lane.try_claim() {
                self.run_job(job);
                if lane.still_scheduled() {
                    self.requeue(lane);
                }
            } else {
                self.push_accepted(&lane, job);
            }
        }
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
                    let me = std::thread::current();
                    let id = me.id();
                    q.idle.push(me);
                    drop(q);
                    // An unpark between the push and here is not lost: park returns at once.
                    std::thread::park();
                    q = lock(&self.queue);
                    // Woken by a push (which took us off the list) or spuriously (still on
                    // it: off, and look at the queue again).
                    q.idle.retain(|t| t.id() != id);
                }
            };
            match task {
                None => return,
                Some(Task::Job(job)) => self.run_job(job),
                Some(Task::Batch(parts)) => self.run_batch(parts),
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

    /// Takes the lane for one job run outside its queue: only when idle (no job queued or
    /// running), so that job runs exactly where it would have run had it been queued.
    /// The claimer must call [`Lane::still_scheduled`] after the job, as a lane task does.
    fn try_claim(&self) -> bool {
        let mut s = lock(&self.state);
        if s.scheduled {
            return false;
        }
        // Not scheduled implies nothing queued (a queued job always schedules its lane).
        s.scheduled = true;
        true
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
                    shared.close();
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

    /// The pool's counters (see [`PoolStats`]).
    pub fn stats(&self) -> PoolStats {
        let s = &self.shared;
        PoolStats {
            jobs_run: s.jobs_run.load(Ordering::Relaxed),
            queued: s.queued.load(Ordering::Relaxed),
            thread_wakeups: s.thread_wakeups.load(Ordering::Relaxed),
            handoffs: s.handoffs.load(Ordering::Relaxed),
            queue_time_us: s.queue_time_us.load(Ordering::Relaxed),
            run_time_us: s.run_time_us.load(Ordering::Relaxed),
        }
    }

    /// Wraps `job` to count it as queued until it starts (or is dropped unrun), and its wait.
    fn timed(&self, job: Job) -> Job {
        let queued = Queued::new(self.shared.clone());
        Box::new(move || {
            queued.started();
            job();
        })
    }

    /// Runs `job` on any I/O thread, in no particular order.
    pub(crate) fn submit(&self, job: Job) -> Result<(), PoolClosed> {
        let job = self.timed(job);
        self.shared.push(Task::Job(job)).map_err(|_| PoolClosed)
    }

    /// Runs each job after every job submitted to its lane before it — one hand-off for
    /// them all (see the module invariants). Jobs whose lane is busy now are queued on it
    /// at once (they would wait behind it anyway); the rest go to one thread as a batch.
    /// On refusal (closed) nothing was queued.
    pub(crate) fn submit_batch(&self, parts: Vec<(Arc<Lane>, Job)>) -> Result<(), PoolClosed> {
        if self.is_closed() {
            return Err(PoolClosed);
        }
        if parts.len() == 1 {
            if let Some((lane, job)) = parts.into_iter().next() {
                return self.submit_ordered(&lane, job);
            }
            return Ok(());
        }
        let parts: Vec<(Arc<Lane>, Job)> = parts
            .into_iter()
            .map(|(lane, job)| (lane, self.timed(job)))
            .collect();
        let mut batch = Vec::with_capacity(parts.len());
        // Lanes with a job in `batch`: a later job of one of them must follow it there, not
        // jump ahead onto the lane.
        let mut batched = std::collections::HashSet::new();
        for (lane, job) in parts {
            // Lane before run queue, as in `submit_ordered`.
            let key = Arc::as_ptr(&lane) as usize;
            let mut s = lock(&lane.state);
            if s.scheduled && !batched.contains(&key) {
                s.jobs.push_back(job);
                continue;
            }
            drop(s);
            batched.insert(key);
            batch.push((lane, job));
        }
        if batch.is_empty() {
            return Ok(());
        }
        // A close that raced in since the check above refuses the rest (dropped unrun: their
        // waiters see PoolClosed); the jobs already on busy lanes run, as every accepted job.
        self.shared.push(Task::Batch(batch)).map_err(|_| PoolClosed)
    }

    /// Runs `job` after every job submitted to `lane` before it.
    pub(crate) fn submit_ordered(&self, lane: &Arc<Lane>, job: Job) -> Result<(), PoolClosed> {
        let job = self.timed(job);
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
        self.shared.close();
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
        self.shared.close();
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
        let (started_tx, started_rx) = mpsc::channel::<()>();
        pool.submit_ordered(
            &blocked,
            Box::new(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            }),
        )
        .unwrap();
        // Running, not merely queued: the check below is about a lane held by a job.
        started_rx.recv().unwrap();
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

    #[test]
    fn a_batch_is_one_handoff_and_each_job_keeps_its_lanes_order() {
        let pool = IoPool::start(3).unwrap();
        let (held, free) = (Arc::new(Lane::default()), Arc::new(Lane::default()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let log = seen.clone();
        pool.submit_ordered(
            &held,
            Box::new(move || {
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                log.lock().unwrap().push("held-first");
            }),
        )
        .unwrap();
        entered_rx.recv().unwrap();
        let before = pool.stats();
        let (done_tx, done_rx) = mpsc::channel();
        let job = |name: &'static str| -> Job {
            let (log, done) = (seen.clone(), done_tx.clone());
            Box::new(move || {
                log.lock().unwrap().push(name);
                done.send(name).unwrap();
            })
        };
        pool.submit_batch(vec![
            (held.clone(), job("held-second")),
            (free.clone(), job("free-1")),
            (free.clone(), job("free-2")),
        ])
        .unwrap();
        // The free lane's jobs run, in order, while the held lane's waits behind its job.
        assert_eq!(done_rx.recv().unwrap(), "free-1");
        assert_eq!(done_rx.recv().unwrap(), "free-2");
        assert_eq!(held.queued(), 1);
        let after = pool.stats();
        assert_eq!(
            after.handoffs,
            before.handoffs + 1,
            "one hand-off for the batch"
        );
        assert!(after.thread_wakeups <= before.thread_wakeups + 1);
        release_tx.send(()).unwrap();
        assert_eq!(done_rx.recv().unwrap(), "held-second");
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["free-1", "free-2", "held-first", "held-second"]
        );
        pool.close();
        let end = pool.stats();
        assert_eq!(end.queued, 0);
        assert_eq!(end.jobs_run, 4);
        assert_eq!(
            pool.submit_batch(vec![(free.clone(), job("late-1")), (held, job("late-2"))]),
            Err(PoolClosed)
        );
        assert_eq!(
            pool.stats().queued,
            0,
            "a refused job is not counted as queued"
        );
    }
}
