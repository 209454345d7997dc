//! The log cleaner: compaction of `cleanup.policy=compact` (and `compact,delete`) logs with
//! Kafka's semantics (`LogCleaner` / `Cleaner` / `LogCleanerManager`).
//!
//! # What this module owns
//! * The **cleanable range** of a log ([`CleanPlan`]): from the first dirty offset (the
//!   `cleaner-offset-checkpoint` in the partition directory, else the log start) up to the
//!   first uncleanable offset = min(active segment base, first segment younger than
//!   `min.compaction.lag.ms`, the segment holding the last stable offset: data of open
//!   transactions is never cleaned). Dirty ratio = dirty bytes / (clean + dirty bytes); a log is
//!   due when the ratio exceeds `min.cleanable.dirty.ratio` (Kafka compares with `>`), or
//!   when its first dirty segment is older than `max.compaction.lag.ms`.
//! * One **cleaning pass** ([`CleanPlan::clean`]): map the latest offset of every key in
//!   the dirty segments into a bounded [`OffsetMap`] (as many whole segments as fit; a
//!   segment that does not fit ends the pass, and a first dirty segment that does not fit
//!   is [`CleanerError::OffsetMapTooSmall`]), then rewrite every segment from the log start
//!   to the end of the mapped range, in groups no larger than `segment.bytes`, into
//!   `<base>.log.cleaned` (+ `.index.cleaned`, `.timeindex.cleaned`), throttled by the
//!   shared [`Throttler`]. The per-batch / per-record decision lives in `filter`; records
//!   of aborted transactions are neither mapped nor kept, and markers go once their
//!   transaction is empty and `delete.retention.ms` has passed (`txn`). Each cleaned
//!   segment gets its `.txnindex` (entries whose transaction still has data), swapped in
//!   with the other files.
//! * The **swap** (`swap`): cleaned files become live through Kafka's protocol (`.cleaned`
//!   → `.swap` → old segments removed → final names), preceded by a manifest naming the
//!   segments a swap replaces, so `PartitionLog::open` can finish any interrupted swap.
//!
//! # Three phases (no lock held while segment data is read or written)
//! (a) `PartitionLog::plan_cleaning` under the partition's read lock: a cheap snapshot
//!     (paths, sizes, bases, producer last offsets, the segment generation);
//! (b) [`CleanPlan::clean`] with no lock: non-active segments are immutable, so they are
//!     read through the cleaner's own file handles and the output goes to `.cleaned` files;
//! (c) `PartitionLog::commit_cleaning` under the write lock: if the segment generation
//!     changed (retention, DeleteRecords, truncation, deletion ran meanwhile) the output is
//!     discarded, else the swap runs (renames and unlinks only) and the checkpoint advances.
//!
//! # Invariants
//! * Offsets are never rewritten: surviving records keep their offsets, batches keep their
//!   base offset and `lastOffsetDelta`; gaps appear. The active segment is never cleaned.
//! * A batch is rewritten only if it loses records or needs a delete horizon; otherwise its
//!   bytes are copied unchanged (a mirror's batches stay byte-identical where possible).
//! * The last data batch of each producer id is retained (empty if need be), so a producer's
//!   sequence and epoch survive compaction.
//! * Memory per cleaner thread is the `OffsetMap` (fixed at construction) plus I/O buffers
//!   of `io_buffer_bytes` (grown only to hold one batch larger than that).
//! * `kill -9` at any moment leaves, after the next open, either the old segments or the
//!   cleaned ones for every group, never a mix.

#[cfg(test)]
mod crash_tests;
mod filter;
mod offset_map;
mod pass;
pub(crate) mod swap;
mod throttle;
mod txn;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

pub use offset_map::OffsetMap;
pub use throttle::Throttler;

use crate::LogConfig;

/// Why a cleaning pass failed.
#[derive(Debug, thiserror::Error)]
pub enum CleanerError {
    /// `log.cleaner.dedupe.buffer.size` (this thread's share) cannot hold the keys of even
    /// the first dirty segment; cleaning this log cannot make progress.
    #[error(
        "offset map of {capacity} keys ({memory_bytes} bytes) cannot hold the keys of segment {segment}: \
         increase log.cleaner.dedupe.buffer.size or decrease log.cleaner.threads"
    )]
    OffsetMapTooSmall {
        segment: PathBuf,
        capacity: usize,
        memory_bytes: usize,
    },
    /// The cleaner is shutting down.
    #[error("cleaning aborted")]
    Aborted,
    #[error("corrupt data in {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("cleaner I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// What a cleaning pass shares with its thread.
pub struct CleanerContext<'a> {
    pub throttler: &'a Throttler,
    /// Set to stop a pass between batches ([`CleanerError::Aborted`]).
    pub abort: &'a AtomicBool,
    /// Read and write buffer size of this thread (its share of `log.cleaner.io.buffer.size`).
    pub io_buffer_bytes: usize,
}

/// A non-active segment as the plan saw it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentInfo {
    pub base_offset: i64,
    pub next_offset: i64,
    pub size: u64,
    pub offset_index_bytes: u64,
    pub time_index_bytes: u64,
    pub log_path: PathBuf,
}

/// Phase (a): what is cleanable in one log, captured under its read lock.
#[derive(Debug)]
pub struct CleanPlan {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) generation: u64,
    /// Every non-active segment below `first_uncleanable_offset`, oldest first.
    pub(crate) segments: Vec<SegmentInfo>,
    pub(crate) first_dirty_offset: i64,
    pub(crate) first_uncleanable_offset: i64,
    pub(crate) clean_bytes: u64,
    pub(crate) dirty_bytes: u64,
    pub(crate) max_compaction_delay_ms: i64,
    /// Producer id → last offset of its last data batch.
    pub(crate) producer_last_offsets: std::collections::HashMap<i64, i64>,
    /// Aborted transactions overlapping the cleanable segments (from every `.txnindex` at
    /// or after the first one), for the scan's transaction tracking.
    pub(crate) aborted_txns: Vec<crate::txn_index::AbortedTxn>,
}

impl CleanPlan {
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty_offset
    }
    pub fn first_uncleanable_offset(&self) -> i64 {
        self.first_uncleanable_offset
    }
    /// Bytes of segments below the first dirty offset (already cleaned).
    pub fn clean_bytes(&self) -> u64 {
        self.clean_bytes
    }
    /// Bytes of cleanable segments at or after the first dirty offset.
    pub fn dirty_bytes(&self) -> u64 {
        self.dirty_bytes
    }
    /// Kafka's `cleanableRatio`: dirty / (clean + dirty); 0 for an empty range.
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
    /// True when `max.compaction.lag.ms` has passed for the first dirty segment.
    pub fn needs_compaction_now(&self) -> bool {
        self.max_compaction_delay_ms > 0
    }
    /// How long past `max.compaction.lag.ms` the oldest dirty data is (0 if not overdue).
    pub fn max_compaction_delay_ms(&self) -> i64 {
        self.max_compaction_delay_ms
    }
    /// Kafka's rule for picking a log: something cleanable, and either overdue or dirtier
    /// than `min.cleanable.dirty.ratio`.
    pub fn is_due(&self) -> bool {
        self.dirty_bytes > 0
            && (self.needs_compaction_now()
                || self.dirty_ratio() > self.config.min_cleanable_dirty_ratio)
    }
    /// The segment generation the plan was taken at.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Counters of one pass, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanerPassStats {
    pub first_dirty_offset: i64,
    /// The checkpoint after this pass: everything below it has been cleaned once.
    pub end_offset: i64,
    /// True if the pass reached the first uncleanable offset (no further pass needed).
    pub complete: bool,
    pub segments_read: usize,
    pub segments_written: usize,
    /// Bytes read from segments (map build and copy) and written to cleaned segments.
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub batches_read: u64,
    pub batches_rewritten: u64,
    pub batches_dropped: u64,
    pub records_read: u64,
    pub records_removed: u64,
    pub map_keys: usize,
    pub map_capacity: usize,
    pub elapsed_ms: u64,
}

/// One cleaned group: `<base>.*.cleaned` replacing the segments at `replaced` bases.
#[derive(Debug, Clone)]
pub(crate) struct CleanedGroup {
    pub base_offset: i64,
    pub replaced: Vec<i64>,
}

/// Phase (b)'s output: cleaned files waiting to be swapped in. Dropping it without a
/// commit deletes them.
#[derive(Debug)]
pub struct CleanedOutput {
    pub(crate) dir: PathBuf,
    pub(crate) generation: u64,
    pub(crate) groups: Vec<CleanedGroup>,
    pub(crate) stats: CleanerPassStats,
}

impl CleanedOutput {
    pub fn stats(&self) -> &CleanerPassStats {
        &self.stats
    }
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl Drop for CleanedOutput {
    fn drop(&mut self) {
        for g in self.groups.drain(..) {
            for path in crate::segment::segment_paths(&self.dir, g.base_offset, ".cleaned") {
                if let Err(e) = std::fs::remove_file(&path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(file = %path.display(), error = %e, "cannot delete discarded cleaner output");
                    }
                }
            }
        }
    }
}

/// Phase (c)'s result.
#[derive(Debug, Clone, PartialEq)]
pub enum CleanCommit {
    /// The cleaned segments replaced the old ones; the checkpoint is at `stats.end_offset`.
    Swapped(CleanerPassStats),
    /// The log changed since the plan (or is another log); nothing was swapped.
    Discarded { reason: String },
}
