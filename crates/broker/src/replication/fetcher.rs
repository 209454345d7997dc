//! The follower side of replication: the replica fetchers (Kafka's
//! `ReplicaFetcherManager` / `ReplicaFetcherThread`), one async task per leader broker,
//! each fetching every partition this node follows from that leader over its own
//! PLAINTEXT connection, as replica `node.id`.
//!
//! # What this module owns
//! * [`ReplicaFetcherManager`]: which partition is fetched from which leader in which
//!   leader epoch (`follow` / `unfollow`, called by the replica manager's transitions),
//!   starting a leader's task on its first partition and stopping it when its last one
//!   leaves. A partition moves between tasks when its leader changes.
//! * The per-leader loop (`fetcher_task.rs`): truncation by OffsetForLeaderEpoch on every
//!   (re)assignment — Kafka's pre-KIP-595 way: simpler than diverging-epoch handling and
//!   the same decision ([`crate::replication::follower`]) — then sessionless full Fetch v12
//!   requests (replica id = `node.id`, `current_leader_epoch` = the assigned epoch) from
//!   the log end; OFFSET_OUT_OF_RANGE resolved with ListOffsets EARLIEST.
//! * The log work (`fetcher_state.rs`), run on the partition's lane on the log manager's
//!   I/O threads (or on tokio's blocking pool when built without a topic registry, in
//!   unit tests) — never on an async worker.
//!
//! # Invariants
//! * A partition is in at most one task's assignment; a new `follow` replaces it.
//! * The safety rule (see `fetcher_state.rs`): every append / truncation re-checks the
//!   partition's leader epoch and leader under the log lock, so a stale response never
//!   lands after this node became leader or follows another broker.
//! * A connection failure backs off the whole task (`replica.fetch.backoff.ms`), a
//!   partition error only that partition; our own storage failure stops the partition
//!   until it is reassigned.

#[path = "fetcher_state.rs"]
pub mod state;
#[path = "fetcher_task.rs"]
mod task;
#[cfg(test)]
#[path = "fetcher_tests.rs"]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::topics::{Partition, TopicManager};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `replica.*` settings of the fetchers (Kafka's defaults in `Default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaFetchConfig {
    /// `node.id`: the replica id sent in every request.
    pub node_id: i32,
    /// `replica.fetch.max.bytes` (1048576): per-partition bytes.
    pub max_bytes: i32,
    /// `replica.fetch.response.max.bytes` (10485760): bytes of one response.
    pub response_max_bytes: i32,
    /// `replica.fetch.wait.max.ms` (500): the leader's long poll.
    pub max_wait_ms: i32,
    /// `replica.fetch.min.bytes` (1).
    pub min_bytes: i32,
    /// `replica.fetch.backoff.ms` (1000): pause after a failed fetch or partition error.
    pub backoff_ms: u64,
    /// `replica.socket.timeout.ms` (30000): timeout of each request to the leader.
    pub socket_timeout_ms: u64,
}

impl Default for ReplicaFetchConfig {
    fn default() -> Self {
        ReplicaFetchConfig {
            node_id: 1,
            max_bytes: 1_048_576,
            response_max_bytes: 10_485_760,
            max_wait_ms: 500,
            min_bytes: 1,
            backoff_ms: 1000,
            socket_timeout_ms: 30_000,
        }
    }
}

impl ReplicaFetchConfig {
    /// The broker's `node.id` and `replica.fetch.*` / `replica.socket.timeout.ms`.
    pub fn from_broker(config: &crate::config::BrokerConfig) -> Self {
        ReplicaFetchConfig {
            node_id: config.node_id,
            max_bytes: config.replica_fetch_max_bytes,
            response_max_bytes: config.replica_fetch_response_max_bytes,
            max_wait_ms: config.replica_fetch_wait_max_ms,
            min_bytes: config.replica_fetch_min_bytes,
            backoff_ms: config.replica_fetch_backoff_ms,
            socket_timeout_ms: config.replica_socket_timeout_ms,
        }
    }
}

/// `host:port` of broker `id`'s inter-broker listener, from the metadata image.
pub type LeaderEndpoint = Arc<dyn Fn(i32) -> Option<(String, u16)> + Send + Sync>;

/// Counters of all fetchers (`strait_replica_fetcher_*`).
#[derive(Debug, Default)]
pub struct FetcherStats {
    /// Fetch requests answered.
    pub fetches: AtomicU64,
    /// Batches appended to follower logs.
    pub batches_appended: AtomicU64,
    pub bytes_appended: AtomicU64,
    /// Truncation steps applied (OffsetForLeaderEpoch answers and full truncations).
    pub truncations: AtomicU64,
    /// Partition errors and failed requests (each backs off).
    pub errors: AtomicU64,
    /// Responses dropped because the leader or epoch moved meanwhile.
    pub stale_dropped: AtomicU64,
}

impl FetcherStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters in Prometheus text format, for `GET /metrics`.
    pub fn render_prometheus(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for (name, help, c) in [
            ("fetches", "Replica Fetch requests answered by leaders.", &self.fetches),
            ("batches_appended", "Record batches appended to follower logs.", &self.batches_appended),
            ("bytes_appended", "Bytes appended to follower logs.", &self.bytes_appended),
            ("truncations", "Follower truncation steps applied (by leader epoch, or a full truncation to the leader's log start).", &self.truncations),
            ("errors", "Failed replica fetcher requests and partition errors (each backs off replica.fetch.backoff.ms).", &self.errors),
            ("stale_dropped", "Leader answers dropped because the partition's leader or leader epoch changed meanwhile.", &self.stale_dropped),
        ] {
            let _ = writeln!(
                out,
                "# HELP strait_replica_fetcher_{name}_total {help}\n# TYPE strait_replica_fetcher_{name}_total counter\nstrait_replica_fetcher_{name}_total {}",
                c.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// Where the fetchers run their log work.
#[derive(Clone)]
pub(crate) enum LogRunner {
    /// On each partition's lane, on the log manager's I/O threads.
    Lanes(Weak<TopicManager>),
    /// On tokio's blocking pool (no topic registry: unit tests); the log lock orders it.
    Blocking,
}

/// One followed partition as the manager assigned it.
#[derive(Clone)]
pub(crate) struct Assigned {
    pub partition: Arc<Partition>,
    pub leader_epoch: i32,
}

type Key = (String, i32);

/// What the manager shares with one leader's task.
pub(crate) struct TaskShared {
    pub leader_id: i32,
    pub assigned: Mutex<HashMap<Key, Assigned>>,
    /// Woken on every assignment change and on stop.
    pub changed: tokio::sync::Notify,
    pub stopped: AtomicBool,
}

struct LeaderTask {
    shared: Arc<TaskShared>,
    handle: tokio::task::JoinHandle<()>,
}

/// See the module docs.
pub struct ReplicaFetcherManager {
    config: ReplicaFetchConfig,
    leader_endpoint: LeaderEndpoint,
    runtime: tokio::runtime::Handle,
    io: LogRunner,
    tasks: Mutex<HashMap<i32, LeaderTask>>,
    shut_down: AtomicBool,
    stats: Arc<FetcherStats>,
}

impl ReplicaFetcherManager {
    /// The fetchers, with their log work on tokio's blocking pool. A broker uses
    /// [`ReplicaFetcherManager::start_on`] so that work runs on the partitions' lanes.
    pub fn start(
        config: ReplicaFetchConfig,
        leader_endpoint: Arc<dyn Fn(i32) -> Option<(String, u16)> + Send + Sync>,
        runtime: tokio::runtime::Handle,
    ) -> Arc<Self> {
        Self::with_runner(config, leader_endpoint, runtime, LogRunner::Blocking)
    }

    /// [`ReplicaFetcherManager::start`] with the log work on the partitions' lanes of
    /// `topics`' log manager (held weakly: the topics hold the replica manager that
    /// holds this).
    pub fn start_on(
        config: ReplicaFetchConfig,
        leader_endpoint: Arc<dyn Fn(i32) -> Option<(String, u16)> + Send + Sync>,
        runtime: tokio::runtime::Handle,
        topics: &Arc<TopicManager>,
    ) -> Arc<Self> {
        Self::with_runner(
            config,
            leader_endpoint,
            runtime,
            LogRunner::Lanes(Arc::downgrade(topics)),
        )
    }

    pub(crate) fn with_runner(
        config: ReplicaFetchConfig,
        leader_endpoint: LeaderEndpoint,
        runtime: tokio::runtime::Handle,
        io: LogRunner,
    ) -> Arc<Self> {
        Arc::new(ReplicaFetcherManager {
            config,
            leader_endpoint,
            runtime,
            io,
            tasks: Mutex::new(HashMap::new()),
            shut_down: AtomicBool::new(false),
            stats: Arc::new(FetcherStats::default()),
        })
    }

    /// Follow `partition` from `leader_id` in `leader_epoch` (replaces any earlier
    /// assignment of it).
    pub fn follow(&self, partition: Arc<Partition>, leader_id: i32, leader_epoch: i32) {
        if self.shut_down.load(Ordering::Acquire) {
            return;
        }
        if leader_id < 0 || leader_id == self.config.node_id {
            // Nobody to fetch from (no leader, or this node leads): not following.
            tracing::warn!(topic = %partition.topic, partition = partition.index, leader_id, "follow without a remote leader; the partition is not fetched");
            self.unfollow(&partition.topic, partition.index);
            return;
        }
        let key = (partition.topic.clone(), partition.index);
        let mut tasks = lock(&self.tasks);
        Self::remove_from(&mut tasks, &key, Some(leader_id));
        let task = tasks
            .entry(leader_id)
            .or_insert_with(|| self.spawn(leader_id));
        lock(&task.shared.assigned).insert(
            key,
            Assigned {
                partition,
                leader_epoch,
            },
        );
        task.shared.changed.notify_one();
    }

    /// Stop fetching it (this node became its leader, or it was deleted / moved away).
    pub fn unfollow(&self, topic: &str, partition: i32) {
        let key = (topic.to_string(), partition);
        Self::remove_from(&mut lock(&self.tasks), &key, None);
    }

    /// Stops every task now (an in-flight request is abandoned; a log job already on an
    /// I/O thread completes).
    pub fn shutdown(&self) {
        self.shut_down.store(true, Ordering::Release);
        for (_, t) in lock(&self.tasks).drain() {
            t.shared.stopped.store(true, Ordering::Release);
            t.shared.changed.notify_one();
            t.handle.abort();
        }
    }

    /// The leaders with a running task, and how many partitions each fetches.
    pub fn fetchers(&self) -> Vec<(i32, usize)> {
        let mut v: Vec<(i32, usize)> = lock(&self.tasks)
            .iter()
            .map(|(id, t)| (*id, lock(&t.shared.assigned).len()))
            .collect();
        v.sort_unstable();
        v
    }

    pub fn stats(&self) -> &FetcherStats {
        &self.stats
    }

    /// Removes `key` from every task but `keep`'s; a task left with nothing stops (Kafka's
    /// `shutdownIdleFetcherThreads`).
    fn remove_from(tasks: &mut HashMap<i32, LeaderTask>, key: &Key, keep: Option<i32>) {
        let mut idle = Vec::new();
        for (id, t) in tasks.iter() {
            if Some(*id) == keep {
                continue;
            }
            let mut assigned = lock(&t.shared.assigned);
            if assigned.remove(key).is_some() {
                t.shared.changed.notify_one();
            }
            if assigned.is_empty() {
                idle.push(*id);
            }
        }
        for id in idle {
            if let Some(t) = tasks.remove(&id) {
                t.shared.stopped.store(true, Ordering::Release);
                t.shared.changed.notify_one();
            }
        }
    }

    fn spawn(&self, leader_id: i32) -> LeaderTask {
        let shared = Arc::new(TaskShared {
            leader_id,
            assigned: Mutex::new(HashMap::new()),
            changed: tokio::sync::Notify::new(),
            stopped: AtomicBool::new(false),
        });
        let run = task::LeaderFetcher {
            config: self.config.clone(),
            leader_endpoint: self.leader_endpoint.clone(),
            io: self.io.clone(),
            shared: shared.clone(),
            stats: self.stats.clone(),
        };
        tracing::info!(
            leader = leader_id,
            node = self.config.node_id,
            "starting the replica fetcher"
        );
        let handle = self.runtime.spawn(run.run());
        LeaderTask { shared, handle }
    }
}
