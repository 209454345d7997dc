//! Removing data from a [`PartitionLog`]: time/size retention (`cleanup.policy=delete`),
//! DeleteRecords (log start offset), truncation. Each of these bumps the segment
//! generation, so a log-cleaner pass planned before them is discarded instead of swapped
//! in (retention and cleaning never race on one partition).

use std::fs;
use std::io;

use super::PartitionLog;
use crate::checkpoint::{
    sync_dir, write_offset, CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
};
use crate::error::{io_context, StorageError};
use crate::segment::Segment;

impl PartitionLog {
    /// DeleteRecords: moves the log start to `offset` (<= high watermark), persists it,
    /// and deletes segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        if offset > self.high_watermark() {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                high_watermark: self.high_watermark(),
            });
        }
        if offset > self.log_start_offset {
            self.set_log_start_offset(offset)?;
            let doomed = self.segments_below_log_start();
            self.delete_older(&doomed, "log start offset", None)?;
        }
        Ok(self.log_start_offset)
    }

    fn set_log_start_offset(&mut self, offset: i64) -> Result<(), StorageError> {
        self.log_start_offset = offset;
        write_offset(&self.dir, LOG_START_OFFSET_CHECKPOINT, offset)?;
        if self.epochs.truncate_from_start(offset) {
            self.epochs.flush()?;
        }
        self.producers.evict_below(offset);
        self.hw_after_truncation();
        Ok(())
    }

    /// Deletes the given (oldest) non-active segments and moves the log start up to the
    /// first remaining segment.
    fn delete_older(
        &mut self,
        bases: &[i64],
        reason: &str,
        now_ms: Option<i64>,
    ) -> Result<usize, StorageError> {
        let mut deleted = 0;
        for base in bases {
            if let Some(seg) = self.older.remove(base) {
                tracing::info!(segment = %seg.log_path().display(), reason, "deleting segment");
                self.generation += 1;
                self.remove_segment(seg, now_ms)?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            let first = self.first_segment_base();
            if first > self.log_start_offset {
                self.set_log_start_offset(first)?;
            }
        }
        Ok(deleted)
    }

    /// Segments below the log start, plus time and size retention when `cleanup.policy`
    /// includes `delete` (a `compact`-only log keeps everything else: the cleaner bounds
    /// it). Never deletes the active segment, nor (Kafka's `deletableSegments` rule) a
    /// segment holding anything at or above the high watermark: uncommitted data may
    /// still be needed by the ISR and must never become the log start. Returns how many
    /// segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        let mut doomed = self.segments_below_log_start();
        let below_hw = self.segments_below_high_watermark();
        let delete = self.config.cleanup_policy.delete;
        if delete && self.config.retention_ms >= 0 {
            let retention_ms = self.config.retention_ms;
            doomed.extend(
                self.older
                    .values()
                    .skip(doomed.len())
                    .take(below_hw.saturating_sub(doomed.len()))
                    .take_while(|s| now_ms.saturating_sub(s.largest_timestamp()) > retention_ms)
                    .map(Segment::base_offset),
            );
        }
        if delete && self.config.retention_bytes >= 0 {
            let kept: u64 = self
                .older
                .values()
                .skip(doomed.len())
                .map(Segment::size)
                .sum::<u64>()
                + self.active.size();
            let mut excess = i128::from(kept) - i128::from(self.config.retention_bytes);
            let more: Vec<i64> = self
                .older
                .values()
                .skip(doomed.len())
                .take(below_hw.saturating_sub(doomed.len()))
                .take_while(|s| {
                    let fits = excess - i128::from(s.size()) >= 0;
                    if fits {
                        excess -= i128::from(s.size());
                    }
                    fits
                })
                .map(Segment::base_offset)
                .collect();
            doomed.extend(more);
        }
        self.delete_older(&doomed, "retention", Some(now_ms))
    }

    /// Oldest non-active segments that hold nothing at or above the log start: Kafka's
    /// rule, the *next* segment starts at or below it. (A segment's own next offset is not
    /// enough: a segment the cleaner emptied would otherwise drag the log start forward.)
    fn segments_below_log_start(&self) -> Vec<i64> {
        let bases: Vec<i64> = self
            .older
            .keys()
            .copied()
            .chain(std::iter::once(self.active.base_offset()))
            .collect();
        bases
            .windows(2)
            .take_while(|w| w[1] <= self.log_start_offset)
            .map(|w| w[0])
            .collect()
    }

    /// Removes a segment's files now, or, with `file.delete.delay.ms` > 0, renames them
    /// `.deleted` and queues them for [`PartitionLog::maybe_delete_pending`] (Kafka's
    /// asynchronous delete: readers holding the old files are unaffected either way).
    pub(super) fn remove_segment(
        &mut self,
        seg: Segment,
        now_ms: Option<i64>,
    ) -> Result<(), StorageError> {
        let delay = self.config.file_delete_delay_ms;
        if delay > 0 {
            let due = now_ms.map(|n| n.saturating_add(delay));
            for path in seg.rename_deleted()? {
                self.pending_deletes.push((due, path));
            }
        } else {
            seg.delete()?;
        }
        Ok(())
    }

    /// Removes `.deleted` files whose `file.delete.delay.ms` has passed; called from the
    /// broker's maintenance loop. Files queued without a time (DeleteRecords, truncation)
    /// start their delay at the first call that sees them. Returns how many were removed.
    pub fn maybe_delete_pending(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        let delay = self.config.file_delete_delay_ms.max(0);
        let mut removed = 0;
        let mut result = Ok(());
        self.pending_deletes.retain_mut(|(due, path)| {
            let due = *due.get_or_insert(now_ms.saturating_add(delay));
            if due > now_ms || result.is_err() {
                return true;
            }
            match fs::remove_file(&*path) {
                Ok(()) => {
                    removed += 1;
                    false
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => {
                    result = Err(io_context("delete", path, e));
                    true
                }
            }
        });
        result?;
        Ok(removed)
    }

    /// How many of the oldest non-active segments lie wholly below the high watermark: the
    /// next segment starts at or below it (Kafka's `upperBoundOffset <= highWatermark`).
    fn segments_below_high_watermark(&self) -> usize {
        let hw = self.high_watermark();
        let bases: Vec<i64> = self
            .older
            .keys()
            .copied()
            .chain(std::iter::once(self.active.base_offset()))
            .collect();
        bases.windows(2).take_while(|w| w[1] <= hw).count()
    }

    /// Files renamed `.deleted` and not yet removed.
    pub fn pending_delete_count(&self) -> usize {
        self.pending_deletes.len()
    }

    /// Removes every batch whose last offset is `>= offset` (a batch straddling `offset` is
    /// removed whole). The log end becomes the end of the remaining data.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        if offset < 0 {
            return Err(StorageError::InvalidArgument(format!(
                "truncate_to({offset})"
            )));
        }
        if offset >= self.log_end_offset {
            return Ok(());
        }
        if offset < self.first_segment_base() {
            return self.truncate_fully_and_start_at(offset);
        }
        self.generation += 1;
        if self.active.base_offset() > offset {
            let Some((&floor, _)) = self.older.range(..=offset).next_back() else {
                return self.truncate_fully_and_start_at(offset);
            };
            let later: Vec<i64> = self.older.range(floor + 1..).map(|(b, _)| *b).collect();
            for b in later {
                if let Some(seg) = self.older.remove(&b) {
                    self.remove_segment(seg, None)?;
                }
            }
            if let Some(new_active) = self.older.remove(&floor) {
                let old = std::mem::replace(&mut self.active, new_active);
                self.remove_segment(old, None)?;
            }
        }
        self.active.truncate_to(offset)?;
        self.log_end_offset = self.active.next_offset();
        // Before any write that can fail below: never a high watermark past the log end.
        self.hw_after_truncation();
        // Unknown how much of the (possibly older) active segment is fsynced: count all
        // of it, so the background flush (see `durable`) covers it soon.
        self.flushed_active_size = 0;
        if self.log_start_offset > self.log_end_offset {
            self.log_start_offset = self.log_end_offset;
            write_offset(
                &self.dir,
                LOG_START_OFFSET_CHECKPOINT,
                self.log_start_offset,
            )?;
        }
        if self.epochs.truncate_from_end(self.log_end_offset) {
            self.epochs.flush()?;
        }
        // Snapshots above the new end describe batches that are gone (Kafka
        // `truncateAndReload`); the state is replayed from the newest one left.
        self.delete_snapshots_above(Some(self.log_end_offset))?;
        self.load_producer_state(false, false)?;
        if self.recovery_point > self.log_end_offset {
            self.recovery_point = self.log_end_offset;
            write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, self.recovery_point)?;
        }
        // Kafka's maybeTruncateCheckpoint: nothing past the new end has been cleaned.
        if self
            .cleaner_checkpoint
            .is_some_and(|c| c > self.log_end_offset)
        {
            self.set_cleaner_checkpoint(self.log_end_offset)?;
        }
        self.hw_after_truncation();
        Ok(())
    }

    /// Deletes all data and restarts the log empty at `offset` (log start = log end = offset).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        if offset < 0 {
            return Err(StorageError::InvalidArgument(format!(
                "truncate_fully_and_start_at({offset})"
            )));
        }
        self.generation += 1;
        for (_, seg) in std::mem::take(&mut self.older) {
            self.remove_segment(seg, None)?;
        }
        if self.active.base_offset() == offset {
            // Re-creating truncates the same files in place.
            self.active = self.create_active_segment(offset)?;
        } else {
            let new = self.create_active_segment(offset)?;
            let old = std::mem::replace(&mut self.active, new);
            self.remove_segment(old, None)?;
        }
        sync_dir(&self.dir)?;
        self.log_end_offset = offset;
        self.log_start_offset = offset;
        // Before any write that can fail: the high watermark stays within the new range.
        self.hw_after_truncation();
        write_offset(&self.dir, LOG_START_OFFSET_CHECKPOINT, offset)?;
        self.epochs.clear();
        self.epochs.flush()?;
        self.producers.clear();
        self.delete_snapshots_above(None)?;
        // The empty state at the new start: a crash before the next roll replays from here.
        self.take_snapshot(offset)?;
        self.recovery_point = offset;
        write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, offset)?;
        if self.cleaner_checkpoint.is_some() {
            self.set_cleaner_checkpoint(offset)?;
        }
        Ok(())
    }

    pub(super) fn set_cleaner_checkpoint(&mut self, offset: i64) -> Result<(), StorageError> {
        write_offset(&self.dir, CLEANER_OFFSET_CHECKPOINT, offset)?;
        self.cleaner_checkpoint = Some(offset);
        Ok(())
    }
}
