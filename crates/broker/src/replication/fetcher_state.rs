//! The replica fetcher's per-partition state and the log work it does, synchronously,
//! on the partition's lane (Kafka's `PartitionFetchState` and the follower half of
//! `ReplicaFetcherThread.processPartitionData` / `truncate`).
//!
//! # Invariants
//! * **The safety rule.** Every follower mutation (append, truncation, full truncation,
//!   log-start move, high-watermark update) runs inside `Partition::with_log_mut` and first
//!   re-checks, under that lock, that the partition's leader epoch is still the one this
//!   assignment fetches in and its registration still names the same leader
//!   ([`still_following`]). The leader transition reads the log end under the same lock,
//!   so a response that was in flight when this node became leader (or followed someone
//!   else) is dropped, never appended.
//! * Only whole batches are appended, byte for byte with the leader's offsets and epochs
//!   (`append_mirrored`), starting exactly at the log end: batches wholly below it are
//!   skipped, a batch straddling it means the logs diverged (truncate again by epoch), a
//!   partial trailing batch is left for the next fetch.
//! * The follower's high watermark is the leader's clamped to its own log end
//!   (`update_high_watermark` clamps), updated after every answer, records or not; the log
//!   start follows the leader's up to that high watermark.
//! * A follower log is always replicated: its high watermark is never its log end by
//!   default (switched here on first touch if the transition has not done it yet).

use std::sync::Arc;
use std::time::Instant;

use strait_records::BatchIter;
use strait_storage::{AppendError, PartitionLog, StorageError};

use crate::replication::follower::{EpochEndOffset, FollowerLog, Truncation};
use crate::topics::Partition;

/// Where a partition is in the fetcher's cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Truncate by OffsetForLeaderEpoch before fetching; `ask` is the epoch to ask about
    /// (`None`: the log's latest, read when the request is built).
    Truncating { ask: Option<i32> },
    /// The leader answered OFFSET_OUT_OF_RANGE: look up its log start (ListOffsets
    /// EARLIEST) to decide between a full truncation and a new epoch walk.
    OutOfRange,
    /// Fetching from the log end.
    Fetching,
    /// Our own log failed (KAFKA_STORAGE_ERROR): stopped until reassigned.
    Failed,
}

/// One followed partition in a leader's fetcher task.
pub struct PartState {
    pub partition: Arc<Partition>,
    pub leader_epoch: i32,
    pub phase: Phase,
    /// Skip this partition until then (after a partition error; Kafka's
    /// `replica.fetch.backoff.ms` per partition).
    pub retry_at: Option<Instant>,
}

impl PartState {
    /// A new assignment: truncation first (the pre-KIP-595 way, on every assignment).
    pub fn new(partition: Arc<Partition>, leader_epoch: i32) -> Self {
        PartState {
            partition,
            leader_epoch,
            phase: Phase::Truncating { ask: None },
            retry_at: None,
        }
    }

    pub fn ready(&self, now: Instant) -> bool {
        self.phase != Phase::Failed && self.retry_at.is_none_or(|t| t <= now)
    }
}

/// Why a log job did not do its work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The leader epoch or leader moved since the request: the answer is dropped.
    Stale,
    /// The partition was deleted.
    Gone,
    /// Our own log failed: the partition stops (Kafka marks it failed and offlines the dir).
    Storage(String),
    /// The leader's data cannot be appended (corrupt, out of order): back off and retry.
    BadData(String),
    /// The answer starts inside a batch we hold: the logs diverged, truncate again.
    Diverged,
}

/// Whether `partition` is still followed from `leader_id` in `leader_epoch` (call under
/// the log lock: see the module invariants).
pub fn still_following(partition: &Partition, leader_id: i32, leader_epoch: i32) -> bool {
    partition.leader_epoch() == leader_epoch
        && partition
            .registration()
            .is_some_and(|r| r.leader == leader_id)
}

/// Runs `f` on the log under its write lock, after the safety re-check.
pub fn guarded<R>(
    partition: &Partition,
    leader_id: i32,
    leader_epoch: i32,
    f: impl FnOnce(&mut PartitionLog) -> Result<R, JobError>,
) -> Result<R, JobError> {
    partition
        .with_log_mut(|log| {
            if !still_following(partition, leader_id, leader_epoch) {
                return Err(JobError::Stale);
            }
            if !log.is_replicated() {
                log.set_replicated(true);
            }
            f(log)
        })
        .map_err(|_| JobError::Gone)?
}

fn storage(e: StorageError) -> JobError {
    JobError::Storage(e.to_string())
}

/// What one truncation answer led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Truncated to `log_end_offset`: fetch from there.
    Done { log_end_offset: i64 },
    /// Truncated; ask the leader again about `epoch`.
    AskAgain { epoch: i32 },
}

fn model(log: &PartitionLog) -> FollowerLog {
    FollowerLog {
        epochs: log.epoch_entries(),
        log_end_offset: log.log_end_offset(),
        high_watermark: log.high_watermark(),
    }
}

/// Applies the leader's OffsetForLeaderEpoch answer (see [`crate::replication::follower`]).
pub fn apply_epoch_answer(
    log: &mut PartitionLog,
    answer: EpochEndOffset,
) -> Result<Step, JobError> {
    match model(log).truncation(answer) {
        Truncation::Complete { offset } => {
            log.truncate_to(offset).map_err(storage)?;
            Ok(Step::Done {
                log_end_offset: log.log_end_offset(),
            })
        }
        Truncation::AskAgain { offset, next_epoch } => {
            log.truncate_to(offset).map_err(storage)?;
            Ok(Step::AskAgain { epoch: next_epoch })
        }
    }
}

/// A log without any epoch (nothing to ask the leader about): back to its high watermark,
/// Kafka's conservative fallback.
pub fn truncate_without_epoch(log: &mut PartitionLog) -> Result<Step, JobError> {
    let hw = log.high_watermark();
    log.truncate_to(hw).map_err(storage)?;
    Ok(Step::Done {
        log_end_offset: log.log_end_offset(),
    })
}

/// After OFFSET_OUT_OF_RANGE, with the leader's log start: a log that ends below it
/// restarts empty there (`truncate_fully_and_start_at`); otherwise our log is past the
/// leader's end, and the epoch walk decides (returns `false`).
pub fn reset_below_leader_start(
    log: &mut PartitionLog,
    leader_log_start: i64,
) -> Result<bool, JobError> {
    if log.log_end_offset() < leader_log_start {
        log.truncate_fully_and_start_at(leader_log_start)
            .map_err(storage)?;
        return Ok(true);
    }
    Ok(false)
}

/// The leader's answer for one partition without error, as the log job needs it.
#[derive(Debug, Clone)]
pub struct FetchedData {
    pub records: bytes::Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// What an applied fetch answer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    pub batches: usize,
    pub bytes: usize,
    pub log_end_offset: i64,
    pub high_watermark: i64,
}

/// Appends the complete batches of `data` at the log end, then follows the leader's high
/// watermark and log start (see the module invariants).
pub fn apply_fetched(
    log: &mut PartitionLog,
    data: &FetchedData,
    now_ms: i64,
) -> Result<Applied, JobError> {
    let leo = log.log_end_offset();
    let mut start = None;
    let mut end = 0usize;
    for batch in BatchIter::new(&data.records) {
        let batch = batch
            .map_err(|e| JobError::BadData(format!("malformed batch from the leader: {e}")))?;
        let at = end;
        end += batch.size_in_bytes();
        if batch.last_offset() < leo {
            continue;
        }
        if start.is_none() {
            if batch.base_offset() < leo {
                return Err(JobError::Diverged);
            }
            start = Some(at);
        }
    }
    let mut applied = Applied::default();
    if let Some(start) = start {
        let info = log
            .append_mirrored(&data.records[start..end], now_ms)
            .map_err(|e| match e {
                AppendError::Io(_) | AppendError::Offline(_) => JobError::Storage(e.to_string()),
                AppendError::UnexpectedAppendOffset { .. } => JobError::Diverged,
                other => JobError::BadData(other.to_string()),
            })?;
        applied.batches = info.batches;
        applied.bytes = info.bytes;
    }
    if data.high_watermark >= 0 {
        log.update_high_watermark(data.high_watermark)
            .map_err(storage)?;
    }
    // Kafka's follower `maybeIncrementLogStartOffset(leaderLogStartOffset)`: bounded by
    // the high watermark, as DeleteRecords is on the leader.
    if data.log_start_offset > log.log_start_offset()
        && data.log_start_offset <= log.high_watermark()
    {
        log.delete_records_before(data.log_start_offset)
            .map_err(storage)?;
    }
    applied.log_end_offset = log.log_end_offset();
    applied.high_watermark = log.high_watermark();
    Ok(applied)
}
