//! Start-up recovery of partition logs on `num.recovery.threads.per.data.dir` threads.
//! Recovering one log (index rebuild, truncating a torn tail) is independent of every
//! other, so they are opened in parallel; the result keeps the image's order, and the
//! first failure (in that order) is the error start-up reports. Once all are open it logs
//! one `log recovery finished` line summing what the logs' opens read (see
//! [`strait_storage::RecoveryStats`]): after a clean shutdown it reports nothing validated,
//! after a crash only the segments past each log's recovery point.
//!
//! [`run_background_flush`] keeps that amount small between restarts: it fsyncs each
//! partition's active segment once it holds [`BACKGROUND_FLUSH_BYTES`] unflushed (or has
//! had unflushed data for [`BACKGROUND_FLUSH_INTERVAL_MS`]) without holding the partition's
//! lock during the fsync, and moves the recovery point (see `strait_storage::FlushTicket`).
//! Kafka fsyncs only at roll by default, so its recovery after a crash re-reads up to
//! `segment.bytes` per partition; this bounds it by a few seconds of writes instead. It is
//! not a config key (`flush.ms` / `flush.messages` keep Kafka's meaning and still fsync on
//! the append path): the data is the same the kernel writes back within its
//! `dirty_expire` window anyway, one partition at a time.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strait_storage::PartitionLog;

use crate::metadata::MetadataImage;
use crate::topic_config::TopicDefaults;
use crate::topics::{now_ms, partition_dir, Partition, StartupError, TopicManager};

/// Opens every partition log the image names, in image order, on `threads` threads
/// (recovery of one log is independent of the others). The first failure wins.
pub fn open_logs(
    log_dir: &Path,
    image: &MetadataImage,
    defaults: &TopicDefaults,
    now: i64,
    threads: usize,
) -> Result<Vec<PartitionLog>, StartupError> {
    let jobs: Vec<(String, usize, strait_storage::LogConfig)> = image
        .topics
        .iter()
        .flat_map(|record| {
            let config = defaults.log_config(&record.configs);
            (0..record.partitions.len()).map(move |i| (record.name.clone(), i, config.clone()))
        })
        .collect();
    let open = |(topic, i, config): &(String, usize, strait_storage::LogConfig)| {
        let dir = partition_dir(log_dir, topic, *i as i32);
        PartitionLog::open(&dir, config.clone(), now).map_err(|source| StartupError::Log {
            topic: topic.clone(),
            partition: *i,
            dir,
            source,
        })
    };
    let started = std::time::Instant::now();
    let threads = threads.clamp(1, jobs.len().max(1));
    let logs = open_all(&jobs, open, threads, log_dir)?;
    summarize(&logs, threads, started.elapsed());
    Ok(logs)
}

/// Runs `open` over `jobs` on `threads` threads, results in job order.
fn open_all<J: Sync>(
    jobs: &[J],
    open: impl Fn(&J) -> Result<PartitionLog, StartupError> + Sync,
    threads: usize,
    log_dir: &Path,
) -> Result<Vec<PartitionLog>, StartupError> {
    if threads == 1 {
        return jobs.iter().map(open).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<PartitionLog, StartupError>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(open(job));
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| {
                    Err(StartupError::Scan {
                        dir: log_dir.to_path_buf(),
                        source: std::io::Error::other("a recovery thread stopped early"),
                    })
                })
        })
        .collect()
}

/// One start-up line with the sum of every log's [`strait_storage::RecoveryStats`].
fn summarize(logs: &[PartitionLog], threads: usize, elapsed: std::time::Duration) {
    let mut total = strait_storage::RecoveryStats::default();
    let mut clean = 0usize;
    let mut from_snapshot = 0usize;
    for log in logs {
        let s = log.recovery_stats();
        clean += usize::from(s.clean_shutdown);
        from_snapshot += usize::from(s.snapshot_offset.is_some());
        total.segments += s.segments;
        total.segments_recovered += s.segments_recovered;
        total.indexes_rebuilt += s.indexes_rebuilt;
        total.bytes_validated += s.bytes_validated;
        total.bytes_truncated += s.bytes_truncated;
        total.segments_deleted += s.segments_deleted;
        total.batches_replayed += s.batches_replayed;
        total.bytes_replayed += s.bytes_replayed;
    }
    let bytes: u64 = logs.iter().map(PartitionLog::size_in_bytes).sum();
    tracing::info!(
        logs = logs.len(),
        clean_shutdown = clean,
        threads,
        log_bytes = bytes,
        segments = total.segments,
        segments_recovered = total.segments_recovered,
        indexes_rebuilt = total.indexes_rebuilt,
        bytes_validated = total.bytes_validated,
        bytes_truncated = total.bytes_truncated,
        segments_deleted = total.segments_deleted,
        producer_state_from_snapshot = from_snapshot,
        batches_replayed = total.batches_replayed,
        bytes_replayed = total.bytes_replayed,
        elapsed_ms = elapsed.as_millis() as u64,
        "log recovery finished"
    );
}

/// Closes logs (flush, producer snapshot, clean-shutdown marker) on `threads` threads. A
/// log that fails to close is logged and left without its marker, so the next start
/// recovers it; the others are unaffected.
pub fn close_logs(logs: Vec<(String, i32, PartitionLog)>, threads: usize) {
    let started = std::time::Instant::now();
    let count = logs.len();
    let threads = threads.clamp(1, count.max(1));
    let queue = Mutex::new(logs);
    let failed = AtomicUsize::new(0);
    let work = || loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let Some((topic, partition, log)) = next else {
            break;
        };
        if let Err(e) = log.close() {
            failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%topic, partition, error = %e, "error closing log; it will be recovered at the next start");
        }
    };
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
    tracing::info!(
        logs = count,
        failed = failed.load(Ordering::Relaxed),
        threads,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "logs closed"
    );
}

/// Unflushed bytes in a partition's active segment that make the background flush fsync it.
pub const BACKGROUND_FLUSH_BYTES: u64 = 32 << 20;
/// Age of a partition's oldest unflushed data that makes the background flush fsync it.
pub const BACKGROUND_FLUSH_INTERVAL_MS: i64 = 5_000;
/// How often the background flush looks at every partition.
const BACKGROUND_FLUSH_TICK: Duration = Duration::from_millis(500);

/// Runs until aborted (or the log manager shuts down): every tick, one pass of
/// [`background_flush_pass`] as one job on the log manager (its fsyncs never run on the
/// async workers; one pass at a time, so upkeep holds at most one I/O thread).
pub async fn run_background_flush(topics: Arc<TopicManager>) {
    let mut tick = tokio::time::interval(BACKGROUND_FLUSH_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let pass_topics = topics.clone();
        let pass = move || background_flush_pass(&pass_topics);
        if topics.io().run(pass).await.is_err() {
            return;
        }
    }
}

/// fsyncs, one at a time, the active segment of every partition that is due, each
/// without its lock held, and moves its recovery point. Returns how many moved.
pub fn background_flush_pass(topics: &TopicManager) -> usize {
    let mut moved = 0;
    for topic in topics.list() {
        for p in topic.partitions() {
            if flush_if_due(&topic.name, &p) {
                moved += 1;
            }
        }
    }
    moved
}

/// fsyncs the partition's active segment if it is due, without its lock held during the
/// fsync, and moves its recovery point; true if it moved. A partition whose lock a writer
/// holds is left for the next pass.
pub fn flush_if_due(topic: &str, p: &Partition) -> bool {
    let now = now_ms();
    let Some(ticket) = p.try_with_log(|log| {
        let dirty = log.recovery_point() < log.log_end_offset();
        let due = log.unflushed_bytes() >= BACKGROUND_FLUSH_BYTES
            || (dirty && now.saturating_sub(log.last_flush_ms()) >= BACKGROUND_FLUSH_INTERVAL_MS);
        if due {
            log.begin_background_flush()
        } else {
            Ok(None)
        }
    }) else {
        return false;
    };
    let ticket = match ticket {
        Ok(Ok(Some(t))) => t,
        Ok(Err(e)) => {
            tracing::warn!(topic, partition = p.index, error = %e, "cannot start background flush");
            return false;
        }
        _ => return false,
    };
    let synced = ticket.sync();
    match p.with_log_mut(|log| log.complete_background_flush(ticket, synced, now_ms())) {
        Ok(Ok(moved)) => moved,
        Err(_) => false,
        Ok(Err(e)) => {
            tracing::error!(topic, partition = p.index, error = %e, "background flush failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use strait_records::BatchBuilder;
    use strait_storage::VerificationGuard;

    use super::*;
    use crate::config::BrokerConfig;

    fn open(dir: &Path) -> TopicManager {
        let config = BrokerConfig::load(None, &[format!("log.dirs={}", dir.display())]).unwrap();
        TopicManager::open_with_recovery_threads(
            &config.log_dir,
            config.node_id,
            config.topic_defaults.clone(),
            2,
        )
        .unwrap()
    }

    #[test]
    fn background_flush_moves_due_recovery_points_and_close_all_marks_clean() {
        let dir = tempfile::tempdir().unwrap();
        let topics = open(dir.path());
        let topic = topics.create_topic("t", 2, BTreeMap::new(), false).unwrap();
        let p0 = topic.partition(0).unwrap();
        let p1 = topic.partition(1).unwrap();
        // Partition 0 gets more than BACKGROUND_FLUSH_BYTES, partition 1 a little.
        let value = vec![b'v'; 512 << 10];
        for _ in 0..80 {
            let b = BatchBuilder::new(0)
                .append(now_ms(), None, Some(&value))
                .build()
                .unwrap();
            p0.with_log_mut(|l| l.append_leader(&b, 0, now_ms(), VerificationGuard::NONE))
                .unwrap()
                .unwrap();
        }
        let small = BatchBuilder::new(0)
            .append(now_ms(), None, Some(b"x"))
            .build()
            .unwrap();
        p1.with_log_mut(|l| l.append_leader(&small, 0, now_ms(), VerificationGuard::NONE))
            .unwrap()
            .unwrap();
        assert_eq!(background_flush_pass(&topics), 1);
        let (rp, end) = p0
            .with_log(|l| (l.recovery_point(), l.log_end_offset()))
            .unwrap();
        assert_eq!(rp, end);
        assert_eq!(p1.with_log(|l| l.recovery_point()).unwrap(), 0);
        // Nothing due any more (partition 1 is young and small).
        assert_eq!(background_flush_pass(&topics), 0);

        topics.close_all();
        drop(topics);
        let topics = open(dir.path());
        let topic = topics.get("t").unwrap();
        for i in 0..2 {
            let stats = topic
                .partition(i)
                .unwrap()
                .with_log(|l| l.recovery_stats().clone())
                .unwrap();
            assert!(stats.clean_shutdown, "partition {i}: {stats:?}");
            assert_eq!(stats.segments_recovered, 0);
        }
    }
}
