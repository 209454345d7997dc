//! The partition log: Strait's on-disk storage for one topic partition.
//!
//! # What this crate owns
//! One partition = one directory (the broker chooses `<log.dir>/<topic>-<partition>`),
//! holding:
//! * segments `<20-digit base offset>.log` with their sparse `.index` and `.timeindex`, and
//!   `.txnindex` (aborted transactions whose ABORT marker is in the segment, Kafka's format);
//! * `leader-epoch-checkpoint` (Kafka's text format), `log-start-offset-checkpoint`,
//!   `recovery-point-offset-checkpoint`, all replaced atomically (tmp, fsync, rename,
//!   fsync dir);
//! * producer snapshots `<20-digit offset>.snapshot`, written at every roll and by
//!   [`PartitionLog::close`] (the newest three kept), and `.clean-shutdown`, written last by
//!   close; open loads the newest usable snapshot and replays only the batches after it;
//! * `high-watermark-checkpoint`, the high watermark of a replicated partition (see
//!   [`PartitionLog::set_replicated`]; a single-replica log's high watermark is its log end);
//! * for compacted logs, `cleaner-offset-checkpoint` (first dirty offset) and, only while a
//!   cleaned segment is being swapped in, `<base>.cleaner-swap` manifests (see [`cleaner`]);
//! * `<file>.deleted` files waiting for `file.delete.delay.ms`.
//!
//! The model is Kafka's `UnifiedLog`/`LocalLog`/`LogSegment`, with two append paths
//! ([`PartitionLog::append_leader`] for client produce, [`PartitionLog::append_mirrored`]
//! for byte-for-byte mirroring) and one read path.
//!
//! # Invariants
//! * Batch offsets strictly increase across the whole log; gaps are allowed (compaction,
//!   transaction markers, mirrored sources). `log_end_offset` is `lastOffset + 1` of the last
//!   batch, or the active segment's base offset when it is empty, and never below
//!   `log_start_offset`.
//! * Segments are contiguous in base offset order and each holds offsets within
//!   `[base, base + i32::MAX]`, so sparse index entries fit 32 bits.
//! * Mirrored batches are stored byte-for-byte (same `baseOffset`, `partitionLeaderEpoch`,
//!   CRC). Leader appends only rewrite fields outside the CRC, plus `maxTimestamp` (and the
//!   CRC) for `LogAppendTime` topics or headers that disagree with their records.
//! * An append that returns `Ok` has been written to the OS (`pwrite` done); `kill -9`
//!   cannot lose it. fsync happens per `flush.messages`/`flush.ms`, on segment roll and on
//!   close — Kafka's durability model — and, off the append path, when the broker completes a
//!   [`FlushTicket`] (background flush bounding what a crash restart must validate).
//! * After an unclean shutdown every segment past the recovery point is validated (framing,
//!   CRC, offsets) and truncated at the first bad byte; indexes never point past the data.
//!   Segments below it are trusted with their indexes after a cheap sanity check, and
//!   producer state comes from a snapshot, so recovery work is bounded by what was written
//!   since the last flush or roll, not by the size of the log.
//! * Nothing here panics on any input bytes; errors say what and where.
//!
//! * `log_start_offset <= high_watermark <= log_end_offset`; nothing at or above the high
//!   watermark is read by consumers, deleted by retention or DeleteRecords, or cleaned.
//! * The last stable offset is min(first offset of the earliest ongoing transaction, high
//!   watermark), never below the log start; `read_committed` reads stop below it and carry
//!   the aborted transactions overlapping what they return (see [`FetchIsolation`]).
//! * A client (leader) append opens a transaction only with the [`VerificationGuard`] the
//!   log handed out for that producer and epoch, unspent and not voided by a marker since
//!   (KIP-890); continuing an open transaction needs none.
//!
//! [`PartitionLog`] is not internally synchronized: the broker wraps it in a lock. Reads
//! take `&self` and use `pread`, so a reader-writer lock allows concurrent fetches.

mod checkpoint;
pub mod cleaner;
mod epoch;
mod error;
#[cfg(any(test, feature = "fault-injection"))]
pub mod fault;
#[cfg(not(any(test, feature = "fault-injection")))]
mod fault;
mod index;
mod log;
mod producer;
mod segment;
mod txn_index;

pub use cleaner::{
    CleanCommit, CleanPlan, CleanedOutput, CleanerContext, CleanerError, CleanerPassStats,
    OffsetMap, Throttler,
};
pub use error::{AppendError, Offline, ReadError, StorageError};
pub use log::{
    FlushTicket, JitterRng, PartitionLog, RecoveryStats, TxnVerification, VerificationGuard,
};
pub use producer::ProducerSummary;
pub use segment::{FileSlice, LogSlice};
pub use strait_records::TimestampType;
pub use txn_index::{AbortedTxn, ABORTED_TXN_ENTRY_SIZE};

/// How far a read may go (Kafka `FetchIsolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchIsolation {
    /// Followers: up to the log end.
    LogEnd,
    /// read_uncommitted consumers: up to the high watermark.
    HighWatermark,
    /// read_committed consumers: up to the last stable offset, with the aborted
    /// transactions overlapping the returned range.
    TxnCommitted,
}

/// Per-topic log settings (Kafka topic config names in the field docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll once the active segment would exceed this (capped at i32::MAX).
    pub segment_bytes: u64,
    /// `segment.ms`: roll once this long has passed since the active segment's first append.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest timestamp is older; -1 = unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger; -1 = unlimited.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes between sparse offset-index entries.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: roll once an index file reaches this size.
    pub segment_index_bytes: u32,
    /// `max.message.bytes`: largest batch accepted on the leader path.
    pub max_message_bytes: u32,
    /// `flush.messages`: fsync after this many records appended.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when this long has passed since the last fsync.
    pub flush_ms: i64,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `cleanup.policy`: which of time/size deletion and compaction apply.
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio`: dirty bytes / (clean + dirty) at which cleaning starts.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a record stays uncompacted at least this long after append.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty record becomes eligible at the latest after this.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: tombstones survive at least this long after the first clean
    /// of the segment holding them (Kafka's delete horizon, KIP-534).
    pub delete_retention_ms: i64,
    /// `segment.jitter.ms`: a random amount in `[0, jitter)` is subtracted from `segment.ms`
    /// per segment, so partitions created together do not all roll at once.
    pub segment_jitter_ms: i64,
    /// `file.delete.delay.ms`: deleted segments are renamed `.deleted` and removed this much later.
    pub file_delete_delay_ms: i64,
    /// `preallocate`: reserve `segment.bytes` of disk for a new segment up front.
    pub preallocate: bool,
}

/// `cleanup.policy` (Kafka: a list of `delete` and/or `compact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// `delete`: segments are removed by `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// `compact`: the log cleaner keeps the latest record of each key.
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    /// Parses Kafka's list syntax (`delete`, `compact`, `compact,delete`); `None` on an
    /// unknown item. An empty list means neither (Kafka allows it: keep everything).
    pub fn parse(value: &str) -> Option<CleanupPolicy> {
        let mut p = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                _ => return None,
            }
        }
        Some(p)
    }
}

/// Broker-wide log cleaner settings (Kafka's `log.cleaner.*` keys and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable` (true).
    pub enable: bool,
    /// `log.cleaner.threads` (1).
    pub threads: usize,
    /// `log.cleaner.backoff.ms` (15000): sleep when no log needs cleaning.
    pub backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size` (134217728): bytes for the key → offset maps of all
    /// cleaner threads together; each thread gets an equal share.
    pub dedupe_buffer_size: u64,
    /// `log.cleaner.io.buffer.load.factor` (0.9): how full a thread's map may get.
    pub io_buffer_load_factor: f64,
    /// `log.cleaner.io.buffer.size` (524288): read/write buffer bytes of all threads together.
    pub io_buffer_size: u64,
    /// `log.cleaner.io.max.bytes.per.second` (unlimited): read + write throttle of all threads.
    pub io_max_bytes_per_second: f64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            threads: 1,
            backoff_ms: 15_000,
            dedupe_buffer_size: 128 * 1024 * 1024,
            io_buffer_load_factor: 0.9,
            io_buffer_size: 512 * 1024,
            io_max_bytes_per_second: f64::MAX,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            max_message_bytes: 1024 * 1024 + 12,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            message_timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy::DELETE,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            segment_jitter_ms: 0,
            file_delete_delay_ms: 60_000,
            preallocate: false,
        }
    }
}

/// Result of a client (leader) append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on `LogAppendTime` topics, -1 for `CreateTime`.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// True when the batch was a retry of one already in the log: nothing was written and
    /// the offsets are the original ones.
    pub duplicate: bool,
    pub record_count: i64,
}

/// Result of a mirrored (follower-style) append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorAppendInfo {
    /// Base offset of the first batch, -1 if `records` was empty.
    pub first_offset: i64,
    /// Last offset of the last batch, -1 if `records` was empty.
    pub last_offset: i64,
    pub batches: usize,
    pub bytes: usize,
    /// Largest `partitionLeaderEpoch` among the batches, -1 if none.
    pub max_epoch: i32,
}

/// Result of a read: whole batches, plus the offsets a fetch response reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReadInfo {
    pub records: bytes::Bytes,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// [`FetchIsolation::TxnCommitted`] reads only: aborted transactions with
    /// `lastOffset >= fetch offset` and `firstOffset <` the offset after the returned
    /// batches, ordered by marker offset (empty when nothing was returned).
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
}

/// A record found by timestamp (ListOffsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
    pub leader_epoch: Option<i32>,
}
