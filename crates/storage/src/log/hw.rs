//! The high watermark of a [`PartitionLog`] and its replication mode.
//!
//! A log is in one of two modes:
//! * **single replica** (the default after open): every appended batch is committed, so the
//!   high watermark *is* the log end offset, after every append, truncation and restore;
//! * **replicated** ([`PartitionLog::set_replicated`]): the high watermark is its own
//!   position, moved only by the replication layer — the leader with
//!   [`PartitionLog::maybe_increment_high_watermark`] once the ISR has the data (Kafka
//!   `maybeIncrementHighWatermark`), a follower with [`PartitionLog::update_high_watermark`]
//!   from the leader's fetch response (Kafka `updateHighWatermark`).
//!
//! # Invariants
//! * `log_start_offset <= high_watermark <= log_end_offset`, in both modes: every update is
//!   clamped, truncation below it lowers it to the new log end, a log start moved above it
//!   (a follower following the leader's DeleteRecords, a full truncation) raises it.
//! * Everything "committed" is bounded by it: `HighWatermark` reads, the last stable offset,
//!   DeleteRecords, retention (only segments wholly below it), the cleaner (through the
//!   last stable offset), ListOffsets for consumers.
//! * `high-watermark-checkpoint` (atomic write + fsync) is written by every flush of a
//!   replicated log, by close in both modes, and by
//!   [`PartitionLog::checkpoint_high_watermark`]. Open reads it but the log starts in
//!   single-replica mode; the broker's switch to replicated right after open applies
//!   `min(checkpoint, log end)` (Kafka: a replica without a checkpoint starts at the log
//!   start offset). A checkpoint may be ahead of what a crash left of the tail, hence the
//!   `min`.

use super::PartitionLog;
use crate::checkpoint::{write_offset, HIGH_WATERMARK_CHECKPOINT};
use crate::error::StorageError;
use crate::FetchIsolation;

/// Replication mode, the replicated high watermark and the checkpoint on disk.
#[derive(Debug, Clone)]
pub(super) struct HwState {
    pub(super) replicated: bool,
    /// The high watermark while replicated; unused (stale) in single-replica mode.
    offset: i64,
    /// What `high-watermark-checkpoint` holds (read at open, then what was last written).
    checkpoint: Option<i64>,
    /// `(log_end_offset, segment generation)` right after open while the log has never
    /// been switched: the checkpoint describes the log only while these are unchanged.
    as_opened: Option<(i64, u64)>,
}

impl HwState {
    pub(super) fn single_replica(checkpoint: Option<i64>) -> HwState {
        HwState {
            replicated: false,
            offset: 0,
            checkpoint,
            as_opened: None,
        }
    }
}

impl PartitionLog {
    /// The offset below which records are committed: the log end offset for a
    /// single-replica log, the replicated position otherwise.
    pub fn high_watermark(&self) -> i64 {
        if self.hw.replicated {
            self.hw.offset
        } else {
            self.log_end_offset
        }
    }

    /// Whether the high watermark is moved by replication rather than by appends.
    pub fn is_replicated(&self) -> bool {
        self.hw.replicated
    }

    /// Switches the replication mode; appends no longer move the high watermark once
    /// replicated. The first switch to replicated after open, with the log as open left
    /// it, resumes from `high-watermark-checkpoint` (the log start when there is none, as
    /// Kafka starts a new replica), clamped to `[log_start_offset, log_end_offset]`. A
    /// log that has since changed as a single replica exposed its log end as committed,
    /// and a high watermark never goes back: it starts at the log end (an ISR of one).
    /// To single replica: it becomes the log end offset again. Switching to the current
    /// mode does nothing.
    pub fn set_replicated(&mut self, replicated: bool) {
        if replicated == self.hw.replicated {
            return;
        }
        if replicated {
            let unchanged =
                self.hw.as_opened.take() == Some((self.log_end_offset, self.generation));
            let start = if unchanged {
                self.hw.checkpoint.unwrap_or(self.log_start_offset)
            } else {
                self.log_end_offset
            };
            self.hw.offset = self.clamp_hw(start);
        } else {
            self.hw.as_opened = None;
        }
        self.hw.replicated = replicated;
        tracing::debug!(
            dir = %self.dir.display(),
            replicated,
            high_watermark = self.high_watermark(),
            "replication mode changed"
        );
    }

    /// Leader (Kafka `maybeIncrementHighWatermark`): moves the high watermark up to
    /// `min(offset, log_end_offset)`; never lowers it. Returns whether it moved. Only in
    /// replicated mode (a single-replica log's high watermark is its log end).
    pub fn maybe_increment_high_watermark(&mut self, offset: i64) -> Result<bool, StorageError> {
        self.check_replicated("maybe_increment_high_watermark")?;
        let target = self.clamp_hw(offset);
        if target <= self.hw.offset {
            return Ok(false);
        }
        self.hw.offset = target;
        Ok(true)
    }

    /// Follower (Kafka `updateHighWatermark` with the leader's high watermark from a fetch
    /// response): sets it to `offset` clamped to `[log_start_offset, log_end_offset]`, so it
    /// may go down (a new leader's high watermark can lag the old one's). Returns whether
    /// it moved. Only in replicated mode.
    pub fn update_high_watermark(&mut self, offset: i64) -> Result<bool, StorageError> {
        self.check_replicated("update_high_watermark")?;
        let target = self.clamp_hw(offset);
        if target == self.hw.offset {
            return Ok(false);
        }
        self.hw.offset = target;
        Ok(true)
    }

    /// Writes `high-watermark-checkpoint` now (if it changed), as Kafka's periodic
    /// `replication-offset-checkpoint` does. Flush and close also write it. A failed write
    /// leaves the previous file in place (atomic replace) and memory unchanged, so it
    /// returns the error without taking the partition offline; a failure inside a flush
    /// does take it offline, as every flush failure does.
    pub fn checkpoint_high_watermark(&mut self) -> Result<(), StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        self.write_hw_checkpoint()
    }

    /// The offset reads and lookups at `isolation` stop below: the log end for replicas,
    /// the high watermark for read_uncommitted consumers, the last stable offset for
    /// read_committed ones (what ListOffsets LATEST answers, Kafka's `lastFetchableOffset`).
    pub fn fetchable_offset(&self, isolation: FetchIsolation) -> i64 {
        match isolation {
            FetchIsolation::LogEnd => self.log_end_offset,
            FetchIsolation::HighWatermark => self.high_watermark(),
            FetchIsolation::TxnCommitted => self.last_stable_offset(),
        }
    }

    /// Called once open has recovered the log: what the checkpoint read there applies to.
    pub(super) fn hw_opened(&mut self) {
        self.hw.as_opened = Some((self.log_end_offset, self.generation));
    }

    pub(super) fn write_hw_checkpoint(&mut self) -> Result<(), StorageError> {
        let hw = self.high_watermark();
        if self.hw.checkpoint != Some(hw) {
            write_offset(&self.dir, HIGH_WATERMARK_CHECKPOINT, hw)?;
            self.hw.checkpoint = Some(hw);
        }
        Ok(())
    }

    /// After the log end moved down (truncation) or the log start moved (DeleteRecords is
    /// bounded by the high watermark, but a follower's full truncation can pass it): the
    /// high watermark comes back within `[log_start_offset, log_end_offset]`.
    pub(super) fn hw_after_truncation(&mut self) {
        if self.hw.replicated {
            self.hw.offset = self.clamp_hw(self.hw.offset);
        }
    }

    /// Not `i64::clamp`, which panics on an inverted range: the order of `max` then `min`
    /// keeps the result at or below the log end whatever happens.
    fn clamp_hw(&self, offset: i64) -> i64 {
        offset.max(self.log_start_offset).min(self.log_end_offset)
    }

    fn check_replicated(&self, op: &str) -> Result<(), StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        if !self.hw.replicated {
            return Err(StorageError::InvalidArgument(format!(
                "{op}: the log is single-replica (its high watermark is the log end); \
                 call set_replicated(true) first"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use strait_records::BatchBuilder;

    use crate::fault::{self, Op};
    use crate::{LogConfig, PartitionLog, StorageError};

    const NOW: i64 = 1_700_000_000_000;
    const EIO: i32 = 5;

    fn append(log: &mut PartitionLog) {
        let base = log.log_end_offset();
        let batch = BatchBuilder::new(base)
            .append(NOW, Some(b"k"), Some(b"v"))
            .build()
            .unwrap();
        log.append_mirrored(&batch, NOW).unwrap();
    }

    /// A flush that cannot write the high-watermark checkpoint takes the partition
    /// offline (Kafka offlines the log dir); the file keeps its previous value, which a
    /// restart then uses.
    #[test]
    fn failed_checkpoint_write_at_flush_goes_offline_and_keeps_the_old_value() {
        let dir = tempfile::tempdir().unwrap();
        fault::clear();
        let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
        log.set_replicated(true);
        for _ in 0..4 {
            append(&mut log);
        }
        log.maybe_increment_high_watermark(2).unwrap();
        log.flush().unwrap();
        log.maybe_increment_high_watermark(4).unwrap();
        // The recovery point is already at the log end: the only checkpoint written by
        // this flush is the high watermark's.
        fault::fail_nth(Op::Checkpoint, 0, EIO, false, false);
        let r = log.flush();
        fault::clear();
        assert!(matches!(r, Err(StorageError::Offline(_))), "{r:?}");
        assert!(log.is_offline());
        assert!(matches!(
            log.update_high_watermark(3),
            Err(StorageError::Offline(_))
        ));
        drop(log);
        let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
        log.set_replicated(true);
        assert_eq!((log.high_watermark(), log.log_end_offset()), (2, 4));
    }
}
