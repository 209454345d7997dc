//! The broker's log cleaner threads (Kafka's `LogCleaner` / `LogCleanerManager`).
//!
//! # What this module owns
//! * `log.cleaner.threads` dedicated OS threads (never tokio workers: cleaning is long,
//!   blocking file I/O). Each owns one [`OffsetMap`] of `log.cleaner.dedupe.buffer.size /
//!   threads` bytes and I/O buffers of `log.cleaner.io.buffer.size / threads / 2`, allocated
//!   once. One [`Throttler`] (`log.cleaner.io.max.bytes.per.second`) is shared by all.
//! * Which log is cleaned next: every compacted partition is planned under its read lock
//!   and the due one with the highest dirty ratio is taken (`grabFilthiestCompactedLog`);
//!   a partition is cleaned by at most one thread at a time (the in-progress set).
//! * Partitions whose cleaning failed (e.g. the dedupe buffer cannot hold one segment's
//!   keys) are marked uncleanable with the reason, logged, and skipped until restart;
//!   other partitions go on. Stats (passes, bytes read/written, last error) for metrics.
//!
//! # Invariants
//! * No partition lock is held while segment data is read or written: plan under the read
//!   lock, clean with no lock, commit (verify generation, swap by renames) under the write
//!   lock — see `strait_storage::cleaner`.
//! * `log.cleaner.enable=false` starts no thread; compacted logs then only grow (Kafka).
//! * [`LogCleaner::shutdown`] stops passes between batches and joins every thread.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use strait_storage::{
    CleanCommit, CleanPlan, CleanerConfig, CleanerContext, CleanerError, OffsetMap, Throttler,
};
use uuid::Uuid;

use crate::topics::{now_ms, Partition, TopicManager};

/// Aggregate cleaner counters since start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanerStats {
    pub passes: u64,
    pub discarded_passes: u64,
    pub failed_passes: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_removed: u64,
    /// The last failure, `topic-partition: error`.
    pub last_error: Option<String>,
    /// Partitions marked uncleanable, by topic and partition.
    pub uncleanable: Vec<UncleanablePartition>,
}

/// A partition the cleaner gave up on until restart, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UncleanablePartition {
    pub topic: String,
    pub partition: i32,
    pub reason: String,
}

type PartitionKey = (Uuid, i32);

struct Shared {
    topics: Arc<TopicManager>,
    config: CleanerConfig,
    throttler: Throttler,
    stop: AtomicBool,
    /// Guards the sleep between rounds so shutdown can wake the threads.
    wake: (Mutex<()>, Condvar),
    in_progress: Mutex<HashSet<PartitionKey>>,
    /// Uncleanable partitions and why (Kafka's `uncleanablePartitions`).
    failed: Mutex<HashMap<PartitionKey, (String, String)>>,
    stats: Mutex<CleanerStats>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running cleaner threads.
pub struct LogCleaner {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl LogCleaner {
    /// Starts the cleaner threads, or returns `None` when `log.cleaner.enable=false`.
    pub fn start(topics: Arc<TopicManager>, config: &CleanerConfig) -> Option<LogCleaner> {
        if !config.enable {
            tracing::info!("log cleaner disabled (log.cleaner.enable=false)");
            return None;
        }
        let threads = config.threads.max(1);
        let shared = Arc::new(Shared {
            topics,
            throttler: Throttler::new(config.io_max_bytes_per_second),
            config: config.clone(),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
            in_progress: Mutex::new(HashSet::new()),
            failed: Mutex::new(HashMap::new()),
            stats: Mutex::new(CleanerStats::default()),
        });
        // Kafka: each thread gets an equal share of the dedupe buffer, capped at 2 GiB.
        let map_bytes = (config.dedupe_buffer_size / threads as u64).min(i32::MAX as u64) as usize;
        let io_bytes = (config.io_buffer_size / threads as u64 / 2).max(4096) as usize;
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("kafka-log-cleaner-thread-{i}"))
                .spawn(move || run(shared, map_bytes, io_bytes));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    tracing::error!(thread = i, error = %e, "cannot start log cleaner thread")
                }
            }
        }
        tracing::info!(
            threads = handles.len(),
            dedupe_bytes_per_thread = map_bytes,
            "log cleaner started"
        );
        Some(LogCleaner {
            shared,
            threads: handles,
        })
    }

    /// Counters since start, with the partitions marked uncleanable.
    pub fn stats(&self) -> CleanerStats {
        let mut stats = lock(&self.shared.stats).clone();
        stats.uncleanable = lock(&self.shared.failed)
            .iter()
            .map(|((_, p), (topic, reason))| UncleanablePartition {
                topic: topic.clone(),
                partition: *p,
                reason: reason.clone(),
            })
            .collect();
        stats.uncleanable.sort();
        stats
    }

    /// Stops every thread (a pass in progress is abandoned between batches; its output is
    /// deleted) and waits for them.
    pub fn shutdown(self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _g = lock(&self.shared.wake.0);
            self.shared.wake.1.notify_all();
        }
        for t in self.threads {
            if t.join().is_err() {
                tracing::error!("a log cleaner thread panicked");
            }
        }
    }
}

fn run(shared: Arc<Shared>, map_bytes: usize, io_bytes: usize) {
    // Allocated (and zeroed: `log.cleaner.dedupe.buffer.size` / threads) at the first
    // cleaning, not at start-up, where it competed with log recovery and the first fetches
    // for CPU although most brokers have nothing to compact yet.
    let mut map: Option<OffsetMap> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        let cleaned = match grab_filthiest(&shared) {
            Some((partition, key, plan)) => {
                let map = map.get_or_insert_with(|| {
                    OffsetMap::new(map_bytes, shared.config.io_buffer_load_factor)
                });
                clean_one(&shared, &partition, map, io_bytes, plan);
                lock(&shared.in_progress).remove(&key);
                true
            }
            None => false,
        };
        if !cleaned {
            // Nothing due: back off (log.cleaner.backoff.ms), waking early on shutdown.
            let guard = lock(&shared.wake.0);
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let _ = shared
                .wake
                .1
                .wait_timeout(guard, Duration::from_millis(shared.config.backoff_ms));
        }
    }
}

/// Plans every compacted partition not in progress or failed, and claims the due one with
/// the highest dirty ratio.
fn grab_filthiest(shared: &Shared) -> Option<(Arc<Partition>, PartitionKey, CleanPlan)> {
    let now = now_ms();
    let mut best: Option<(Arc<Partition>, PartitionKey, CleanPlan)> = None;
    for topic in shared.topics.list() {
        for p in topic.partitions() {
            let key = (topic.topic_id, p.index);
            if lock(&shared.in_progress).contains(&key) || lock(&shared.failed).contains_key(&key) {
                continue;
            }
            let plan = match p.with_log(|log| log.plan_cleaning(now)) {
                Ok(Ok(Some(plan))) if plan.is_due() => plan,
                Ok(Err(e)) => {
                    tracing::warn!(topic = %topic.name, partition = p.index, error = %e, "cannot plan log cleaning");
                    continue;
                }
                _ => continue,
            };
            if best
                .as_ref()
                .is_none_or(|(_, _, b)| plan.dirty_ratio() > b.dirty_ratio())
            {
                best = Some((p.clone(), key, plan));
            }
        }
    }
    let (p, key, plan) = best?;
    // Another thread may have claimed it meanwhile.
    lock(&shared.in_progress)
        .insert(key)
        .then_some((p, key, plan))
}

fn clean_one(
    shared: &Shared,
    partition: &Partition,
    map: &mut OffsetMap,
    io_bytes: usize,
    plan: CleanPlan,
) {
    let name = format!("{}-{}", partition.topic, partition.index);
    let generation = plan.generation();
    let ctx = CleanerContext {
        throttler: &shared.throttler,
        abort: &shared.stop,
        io_buffer_bytes: io_bytes,
    };
    let now = now_ms();
    let result = plan.clean(map, &ctx, now).and_then(|output| {
        match partition.with_log_mut(|log| log.commit_cleaning(output, now_ms())) {
            Ok(Ok(commit)) => Ok(commit),
            Ok(Err(e)) => Err(CleanerError::Io(std::io::Error::other(e.to_string()))),
            // Deleted meanwhile: the output's drop removed its files.
            Err(_) => Ok(CleanCommit::Discarded {
                reason: "partition deleted".into(),
            }),
        }
    });
    let mut stats = lock(&shared.stats);
    match result {
        Ok(CleanCommit::Swapped(s)) => {
            stats.passes += 1;
            stats.bytes_read += s.bytes_read;
            stats.bytes_written += s.bytes_written;
            stats.records_removed += s.records_removed;
            tracing::info!(
                partition = %name,
                first_dirty_offset = s.first_dirty_offset,
                end_offset = s.end_offset,
                complete = s.complete,
                bytes_read = s.bytes_read,
                bytes_written = s.bytes_written,
                records_removed = s.records_removed,
                elapsed_ms = s.elapsed_ms,
                "cleaned log"
            );
        }
        Ok(CleanCommit::Discarded { reason }) => {
            stats.discarded_passes += 1;
            tracing::debug!(partition = %name, reason, "log cleaner pass discarded");
        }
        Err(CleanerError::Aborted) => {}
        Err(e) => {
            // A failure caused by a concurrent change (retention, truncation, delete) is a
            // discarded pass, not a broken partition.
            let changed = partition
                .with_log(|log| log.segment_generation() != generation)
                .unwrap_or(true);
            if changed {
                stats.discarded_passes += 1;
                tracing::debug!(partition = %name, error = %e, "log cleaner pass raced a change; discarded");
                return;
            }
            stats.failed_passes += 1;
            let reason = e.to_string();
            tracing::error!(partition = %name, error = %reason, "log cleaning failed; partition marked uncleanable");
            stats.last_error = Some(format!("{name}: {reason}"));
            drop(stats);
            if let Some(topic) = shared.topics.get(&partition.topic) {
                lock(&shared.failed).insert(
                    (topic.topic_id, partition.index),
                    (partition.topic.clone(), reason),
                );
            }
        }
    }
}
