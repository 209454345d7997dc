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
//! * **Per-partition order.** Every Produce append goes through its partition's [`Lane`]
//!   ([`LogManager::submit_ordered`]): jobs on one lane run one at a time in submission
//!   order. Requests on one connection are handled in order
//!   and each produce awaits its appends before answering, so a producer's batches to a
//!   partition are appended in the order it sent them (idempotent sequences and acks order
//!   hold); produces to different partitions run in parallel. The job itself takes the
//!   partition's log lock, so mutations still issued outside the pool — the link's mirror
//!   appends (the link's `LocalCluster` trait is synchronous), transaction markers,
//!   DeleteRecords, cutover and restore — serialize with lane jobs.
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

mod pool;
pub mod watch;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

pub use pool::{IoPool, Lane, PoolClosed, LANE_BURST};
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
        let f = Arc::new(f);
        let mut pending = Vec::with_capacity(items.len());
        for (lane, item) in items {
            let f = f.clone();
            pending.push(self.submit_ordered(&lane, move || f(item))?);
        }
        let mut out = Vec::with_capacity(pending.len());
        for rx in pending {
            out.push(rx.await.map_err(|_| PoolClosed)?);
        }
        Ok(out)
    }

    /// Blocking form of [`LogManager::run_ordered`] for callers on plain threads (never on
    /// the async runtime).
    pub fn run_ordered_blocking<R: Send + 'static>(
        &self,
        lane: &Arc<Lane>,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolClosed> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.pool.submit_ordered(
            lane,
            Box::new(move || {
                let _ = tx.send(f());
            }),
        )?;
        rx.recv().map_err(|_| PoolClosed)
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
