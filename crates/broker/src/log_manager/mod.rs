//! The log manager: the one place partition file I/O runs — appends (with their
//! `flush.messages` fsyncs), Fetch reads, ListOffsets lookups, segment rolls, retention
//! and `.deleted` file removal, flushes — on `num.io.threads` dedicated OS threads (Kafka's
//! request handler pool), never on the async runtime's `num.network.threads` workers. An
//! async handler submits a closure and awaits its result; a slow disk then holds I/O
//! threads, not the threads serving sockets, Metadata or other partitions.
//!
//! It lives in the broker, not in `strait-storage`, because what it schedules are the
//! broker's units of work (a produce's partition append with its transactional checks, a
//! fetch's reads of a session) and the wake-ups it drives belong to the fetch handler;
//! storage stays a synchronous library with one owner per `PartitionLog`.
//!
//! Invariants:
//! * **Per-partition order.** Every request-issued partition mutation goes through its
//!   partition's [`Lane`]: Produce appends, the link's mirror appends, truncations and
//!   log-start moves (through `LocalCluster::on_partition`, see [`crate::link_local`]),
//!   transaction markers (WriteTxnMarkers and the coordinator's own), DeleteRecords; so do
//!   the reads that must not wait on a log lock from an async worker (OffsetForLeaderEpoch,
//!   DescribeLogDirs, DescribeProducers, ListOffsets lookups). Jobs on one lane run one at a
//!   time in submission order. Requests on one connection are handled in order and each
//!   awaits its jobs before answering, so a producer's batches to a partition are appended
//!   in the order it sent them (idempotent sequences and acks order hold), and a marker
//!   lands after every append queued on its partition before it; different partitions run
//!   in parallel. The job itself takes the partition's log lock, so the mutations still
//!   issued outside the pool (cutover's abort markers, restore, start-up recovery) serialize
//!   with lane jobs.
//! * **One hand-off per request.** A request's jobs on several lanes go to the I/O threads
//!   together ([`LogManager::submit_on_lanes`]): one thread wake-up and one reply wake-up,
//!   each job still in its lane's order (see `pool.rs`); handlers gather theirs in a
//!   [`RequestBatch`]. Synchronous callers (the transaction coordinator) wait with
//!   [`LogManager::run_on_lanes_blocking`], which moves the waiting worker's other tasks to
//!   another worker first.
//! * Reads ([`LogManager::run`]) are unordered. An I/O thread never parks on a partition
//!   whose write lock is held (a write stuck in `fsync`): Fetch tries the read lock and
//!   re-queues a busy partition's read on its lane, behind the write; ListOffsets timestamp
//!   lookups go through the lane; background upkeep (rolls, flush policy, retention, the
//!   recovery-point flush) is one job per pass that skips busy partitions until the next.
//!   So a stuck disk write costs one thread plus whatever waits on that partition's lane,
//!   never the pool, and never the async workers (Metadata reads no log lock at all).
//! * **Nothing acknowledged is dropped.** Shutdown ([`LogManager::shutdown`]) refuses new
//!   jobs (their requests get KAFKA_STORAGE_ERROR, never an ack) and runs every accepted
//!   one to completion before the logs are flushed and closed.
//! * Append notification is per partition ([`watch`]): a mutation wakes only the fetches
//!   waiting on that partition's moved position.

mod batch;
mod pool;
pub mod watch;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

pub use batch::RequestBatch;
pub use pool::{IoPool, Lane, PoolClosed, PoolStats, LANE_BURST};
pub use watch::{FetchWaiter, PositionWatch, Positions, WakeOn};

use strait_protocol::ErrorCode;

use crate::error::ApiError;

/// `num.io.threads`' default (Kafka's), for managers opened without a broker config.
pub const DEFAULT_IO_THREADS: usize = 8;

impl PoolClosed {
    /// What a request whose I/O was refused gets: KAFKA_STORAGE_ERROR (retriable; the
    /// broker is shutting down). Not a `From` impl, which would make `?` on closures that
    /// return `ApiError` ambiguous.
    pub fn to_api_error(self) -> ApiError {
        ApiError::new(ErrorCode::KafkaStorageError, self.to_string())
    }
}

/// The I/O threads and their counters; one per broker, owned by the topic registry.
pub struct LogManager {
    pool: IoPool,
    fetch_wakeups: AtomicU64,
    fetch_reads: AtomicU64,
    fetches_waiting: AtomicUsize,
}

/// Counts a fetch as waiting while it lives (dropped on wake, timeout or cancellation).
pub struct WaitingFetch<'a>(&'a AtomicUsize);

impl Drop for WaitingFetch<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LogManager {
    pub fn start(io_threads: usize) -> std::io::Result<Self> {
        Ok(LogManager {
            pool: IoPool::start(io_threads)?,
            fetch_wakeups: AtomicU64::new(0),
            fetch_reads: AtomicU64::new(0),
            fetches_waiting: AtomicUsize::new(0),
        })
    }

    /// `num.io.threads`.
    pub fn threads(&self) -> usize {
        self.pool.size()
    }

    /// Runs `f` on an I/O thread, unordered (reads).
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolClosed> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.submit(Box::new(move || {
            // The requester may have gone (connection closed); the work is done anyway.
            let _ = tx.send(f());
        }))?;
        rx.await.map_err(|_| PoolClosed)
    }

    /// Runs `f` on an I/O thread after every job submitted to `lane` before it.
    pub async fn run_ordered<R: Send + 'static>(
        &self,
        lane: &Arc<Lane>,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolClosed> {
        self.submit_ordered(lane, f)?.await.map_err(|_| PoolClosed)
    }

    /// Queues `f` on `lane` now and returns its result's receiver, so a request can queue
    /// jobs on several partitions (keeping each one's order) before awaiting them all.
    pub fn submit_ordered<R: Send + 'static>(
        &self,
        lane: &Arc<Lane>,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<R>, PoolClosed> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.submit_ordered(
            lane,
            Box::new(move || {
                // The requester may have gone (connection closed); the work is done anyway.
                let _ = tx.send(f());
            }),
        )?;
        Ok(rx)
    }

    /// Runs `f` once per item, each as a job on the item's lane, and waits for them all
    /// (results in item order). A partition whose lane is stuck delays only its own result;
    /// it holds no I/O thread while it waits.
    pub async fn run_on_lanes<T, R>(
        &self,
        items: Vec<(Arc<Lane>, T)>,
        f: impl Fn(T) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolClosed>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        let rx = self.submit_on_lanes(items, f)?;
        collect(rx.await)
    }

    /// Queues one job per item on the item's lane as one hand-off to the I/O threads (a
    /// request's partitions: one thread wake-up and one reply wake-up for them all, not one
    /// each), and returns the receiver of all results, in item order. Each job keeps its
    /// place on its lane; an item whose job could not run (refused at shutdown, panicked) is
    /// `None`.
    pub fn submit_on_lanes<T, R>(
        &self,
        items: Vec<(Arc<Lane>, T)>,
        f: impl Fn(T) -> R + Send + Sync + 'static,
    ) -> Result<BatchReceiver<R>, PoolClosed>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let collector = Arc::new(Collector {
            slots: std::sync::Mutex::new((0..items.len()).map(|_| None).collect()),
            tx: std::sync::Mutex::new(Some(tx)),
        });
        let f = Arc::new(f);
        let parts = items
            .into_iter()
            .enumerate()
            .map(|(index, (lane, item))| {
                let part = Part {
                    collector: collector.clone(),
                    index,
                };
                let f = f.clone();
                let job: pool::Job = Box::new(move || part.finish(f(item)));
                (lane, job)
            })
            .collect();
        // The collector sends when its last part is done or dropped.
        drop(collector);
        self.pool.submit_batch(parts)?;
        Ok(BatchReceiver(rx))
    }

    /// Blocking form of [`LogManager::run_on_lanes`] for synchronous callers (the
    /// transaction coordinator's marker writes): the async worker waits without doing the I/O,
    /// and on a multi-threaded runtime it hands its other tasks to another worker first
    /// ([`tokio::task::block_in_place`]), so a slow disk parks one request, not a worker's
    /// sockets. Outside a runtime (or on a current-thread one, tests) it simply waits.
    pub fn run_on_lanes_blocking<T, R>(
        &self,
        items: Vec<(Arc<Lane>, T)>,
        f: impl Fn(T) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolClosed>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let rx = self.submit_on_lanes(items, f)?;
        collect(wait_blocking(rx.0))
    }

    /// Blocking form of [`LogManager::run_ordered`], with the waiting rules of
    /// [`LogManager::run_on_lanes_blocking`]. Must not be called from an I/O thread.
    pub fn run_ordered_blocking<R: Send + 'static>(
        &self,
        lane: &Arc<Lane>,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolClosed> {
        let rx = self.submit_ordered(lane, f)?;
        wait_blocking(rx).map_err(|_| PoolClosed)
    }

    /// Refuses new jobs and waits for every accepted one (see the module invariants).
    pub fn shutdown(&self) {
        self.pool.close();
    }

    /// True once [`LogManager::shutdown`] began: new jobs are refused.
    pub fn is_shut_down(&self) -> bool {
        self.pool.is_closed()
    }

    /// Jobs the I/O threads have run.
    pub fn jobs_run(&self) -> u64 {
        self.pool.jobs_run()
    }

    /// The I/O pool's counters (queue depth, wake-ups, hand-offs, job times).
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Marks a long-polling fetch as parked until the returned guard drops.
    pub fn fetch_waiting(&self) -> WaitingFetch<'_> {
        self.fetches_waiting.fetch_add(1, Ordering::Relaxed);
        WaitingFetch(&self.fetches_waiting)
    }

    /// Long-polling fetches parked right now (read done, waiting for a wake-up).
    pub fn fetches_waiting(&self) -> usize {
        self.fetches_waiting.load(Ordering::Relaxed)
    }

    /// Counts `n` partitions read by Fetch.
    pub fn count_fetch_reads(&self, n: usize) {
        self.fetch_reads.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Partition reads Fetch has done so far (a long poll costs one per partition, plus
    /// one per woken partition).
    pub fn fetch_reads(&self) -> u64 {
        self.fetch_reads.load(Ordering::Relaxed)
    }

    /// Counts one long-polling fetch resumed by a partition it waits on.
    pub fn count_fetch_wakeup(&self) {
        self.fetch_wakeups.fetch_add(1, Ordering::Relaxed);
    }

    /// Long-polling fetches resumed by an append notification so far (not by timeout).
    pub fn fetch_wakeups(&self) -> u64 {
        self.fetch_wakeups.load(Ordering::Relaxed)
    }
}

/// The results of [`LogManager::submit_on_lanes`], in item order.
pub struct BatchReceiver<R>(tokio::sync::oneshot::Receiver<Vec<Option<R>>>);

impl<R> std::future::Future for BatchReceiver<R> {
    type Output = Result<Vec<Option<R>>, PoolClosed>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.map_err(|_| PoolClosed))
    }
}

fn collect<R, E>(r: Result<Vec<Option<R>>, E>) -> Result<Vec<R>, PoolClosed> {
    r.map_err(|_| PoolClosed)?
        .into_iter()
        .map(|slot| slot.ok_or(PoolClosed))
        .collect()
}

/// Waits for an I/O job's result from synchronous code (see
/// [`LogManager::run_on_lanes_blocking`]).
fn wait_blocking<F: std::future::Future>(rx: F) -> F::Output {
    // Unconstrained: the wait loop below must not be told to yield by tokio's budget.
    let rx = tokio::task::unconstrained(rx);
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| park_on(rx))
        }
        // A current-thread runtime (tests) cannot hand its tasks away; the job runs on an
        // I/O thread, which needs nothing from this one, so a plain wait cannot deadlock.
        _ => park_on(rx),
    }
}

/// Polls `f` to completion, parking this thread between polls.
fn park_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Gathers a batch's results; sends them once every part has finished or been dropped.
struct Collector<R> {
    slots: std::sync::Mutex<Vec<Option<R>>>,
    tx: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<Vec<Option<R>>>>>,
}

impl<R> Drop for Collector<R> {
    fn drop(&mut self) {
        // The last part is gone: hand over whatever was produced (a missing slot is a part
        // that never ran).
        let tx = self.tx.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        let slots = std::mem::take(self.slots.get_mut().unwrap_or_else(|e| e.into_inner()));
        if let Some(tx) = tx {
            // The requester may have gone (connection closed); the work is done anyway.
            let _ = tx.send(slots);
        }
    }
}

/// One item's share of a [`Collector`].
struct Part<R> {
    collector: Arc<Collector<R>>,
    index: usize,
}

impl<R> Part<R> {
    fn finish(self, out: R) {
        let mut slots = self
            .collector
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(self.index) {
            *slot = Some(out);
        }
    }
}
