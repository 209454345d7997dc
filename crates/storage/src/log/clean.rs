//! The log cleaner's entry points on [`PartitionLog`]: phase (a) [`PartitionLog::plan_cleaning`]
//! (read lock) and phase (c) [`PartitionLog::commit_cleaning`] (write lock). Phase (b) is
//! [`crate::CleanPlan::clean`]; see [`crate::cleaner`] for the whole design.

use std::collections::HashMap;

use super::PartitionLog;
use crate::cleaner::swap::{install, OpBudget};
use crate::cleaner::{
    CleanCommit, CleanPlan, CleanedOutput, CleanerContext, CleanerError, OffsetMap, SegmentInfo,
};
use crate::error::StorageError;
use crate::segment::Segment;

impl PartitionLog {
    /// Bumped by every removal or replacement of segments (see [`crate::cleaner`]).
    pub fn segment_generation(&self) -> u64 {
        self.generation
    }

    /// The persisted first dirty offset (`cleaner-offset-checkpoint`), if ever cleaned.
    pub fn cleaner_checkpoint(&self) -> Option<i64> {
        self.cleaner_checkpoint
    }

    /// Phase (a): the cleanable range of a compacted log, or `None` if `cleanup.policy`
    /// does not include `compact`. Cheap (no data read beyond one header per dirty segment
    /// when `max.compaction.lag.ms` is set); call it under the partition's read lock.
    pub fn plan_cleaning(&self, now_ms: i64) -> Result<Option<CleanPlan>, StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        if !self.config.cleanup_policy.compact {
            return Ok(None);
        }
        // Kafka resets a checkpoint outside [log start, log end] to the log start.
        let first_dirty = match self.cleaner_checkpoint {
            Some(c) if c >= self.log_start_offset && c <= self.log_end_offset => c,
            _ => self.log_start_offset,
        };
        let active_base = self.active.base_offset();
        let lag = self.config.min_compaction_lag_ms.max(0);
        let too_young = (lag > 0)
            .then(|| {
                self.older
                    .values()
                    .filter(|s| s.next_offset() > first_dirty)
                    .find(|s| s.largest_timestamp() > now_ms.saturating_sub(lag))
                    .map(Segment::base_offset)
            })
            .flatten();
        // Never clean an open transaction's data (Kafka stops at the LSO too): stop before
        // the segment holding the last stable offset.
        let lso = self.last_stable_offset();
        let lso_segment = if lso >= active_base {
            active_base
        } else {
            self.older
                .range(..=lso)
                .next_back()
                .map_or(active_base, |(b, _)| *b)
        };
        let first_uncleanable = too_young
            .map_or(active_base, |b| b.min(active_base))
            .min(lso_segment);

        let mut segments = Vec::new();
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        for seg in self.older.range(..first_uncleanable).map(|(_, s)| s) {
            if seg.next_offset() > first_dirty {
                dirty_bytes += seg.size();
            } else {
                clean_bytes += seg.size();
            }
            segments.push(SegmentInfo {
                base_offset: seg.base_offset(),
                next_offset: seg.next_offset(),
                size: seg.size(),
                offset_index_bytes: seg.offset_index_bytes(),
                time_index_bytes: seg.time_index_bytes(),
                log_path: seg.log_path().to_path_buf(),
            });
        }

        // Kafka's maxCompactionDelay: how far past max.compaction.lag.ms the earliest
        // first-batch timestamp of a dirty non-active segment is.
        let mut max_compaction_delay_ms = 0;
        if self.config.max_compaction_lag_ms != i64::MAX {
            let mut earliest = i64::MAX;
            for seg in self
                .older
                .values()
                .filter(|s| s.next_offset() > first_dirty)
            {
                if let Some(h) = seg.first_header()? {
                    if h.max_timestamp > 0 {
                        earliest = earliest.min(h.max_timestamp);
                    }
                }
            }
            let clean_until = now_ms.saturating_sub(self.config.max_compaction_lag_ms.max(0));
            if earliest < clean_until {
                max_compaction_delay_ms = clean_until - earliest;
            }
        }

        let producer_last_offsets: HashMap<i64, i64> = self.producers.last_data_offsets();
        let aborted_txns = match segments.first() {
            Some(first) => self.collect_aborted_transactions(first.base_offset, first_uncleanable),
            None => Vec::new(),
        };
        Ok(Some(CleanPlan {
            dir: self.dir.clone(),
            config: self.config.clone(),
            generation: self.generation,
            segments,
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: first_uncleanable,
            clean_bytes,
            dirty_bytes,
            max_compaction_delay_ms,
            producer_last_offsets,
            aborted_txns,
        }))
    }

    /// Phase (c): swaps the cleaned segments in and advances the checkpoint, unless the
    /// log changed since the plan (then the output is discarded and its files deleted).
    /// Only renames and unlinks happen here, so the write lock is held briefly.
    pub fn commit_cleaning(
        &mut self,
        output: CleanedOutput,
        now_ms: i64,
    ) -> Result<CleanCommit, StorageError> {
        self.commit_cleaning_with_budget(output, now_ms, &mut OpBudget::default())
    }

    pub(crate) fn commit_cleaning_with_budget(
        &mut self,
        mut output: CleanedOutput,
        now_ms: i64,
        budget: &mut OpBudget,
    ) -> Result<CleanCommit, StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        if output.dir != self.dir {
            return Ok(CleanCommit::Discarded {
                reason: format!("output belongs to {}", output.dir.display()),
            });
        }
        if output.generation != self.generation {
            return Ok(CleanCommit::Discarded {
                reason: format!(
                    "segments changed while cleaning (generation {} -> {})",
                    output.generation, self.generation
                ),
            });
        }
        if let Some(missing) = output
            .groups
            .iter()
            .flat_map(|g| g.replaced.iter())
            .find(|b| !self.older.contains_key(b))
        {
            return Ok(CleanCommit::Discarded {
                reason: format!("segment {missing} is no longer in the log"),
            });
        }
        self.generation += 1;
        let delay = self.config.file_delete_delay_ms > 0;
        let interval = self.config.index_interval_bytes;
        while !output.groups.is_empty() {
            let group = output.groups.remove(0);
            let deleted = match install(&self.dir, &group, delay, budget) {
                Ok(d) => d,
                Err(e) => {
                    // Put it back so the output's drop removes any `.cleaned` files left; a
                    // swap that got further is finished by the next open (swap manifest).
                    output.groups.insert(0, group);
                    return Err(e.into());
                }
            };
            let due = Some(now_ms.saturating_add(self.config.file_delete_delay_ms));
            self.pending_deletes
                .extend(deleted.into_iter().map(|p| (due, p)));
            let (seg, _) = Segment::open(&self.dir, group.base_offset, None, interval)?;
            for b in &group.replaced {
                // Files already unlinked or renamed; dropping closes the handles.
                self.older.remove(b);
            }
            self.older.insert(group.base_offset, seg);
        }
        let stats = output.stats.clone();
        self.set_cleaner_checkpoint(stats.end_offset)?;
        tracing::info!(
            dir = %self.dir.display(),
            first_dirty_offset = stats.first_dirty_offset,
            end_offset = stats.end_offset,
            segments_read = stats.segments_read,
            segments_written = stats.segments_written,
            bytes_read = stats.bytes_read,
            bytes_written = stats.bytes_written,
            records_removed = stats.records_removed,
            "log cleaner pass swapped in"
        );
        Ok(CleanCommit::Swapped(stats))
    }

    /// All three phases on an exclusively held log: plans, cleans if due and commits.
    /// `Ok(None)` when nothing is due. For tests and single-threaded callers; the broker's
    /// cleaner threads run the phases under their own locking.
    pub fn clean_once(
        &mut self,
        map: &mut OffsetMap,
        ctx: &CleanerContext<'_>,
        now_ms: i64,
    ) -> Result<Option<CleanCommit>, CleanerError> {
        let plan = match self.plan_cleaning(now_ms) {
            Ok(Some(plan)) if plan.is_due() => plan,
            Ok(_) => return Ok(None),
            Err(e) => return Err(storage_to_cleaner(e)),
        };
        let output = plan.clean(map, ctx, now_ms)?;
        self.commit_cleaning(output, now_ms)
            .map(Some)
            .map_err(storage_to_cleaner)
    }
}

fn storage_to_cleaner(e: StorageError) -> CleanerError {
    match e {
        StorageError::Io(e) => CleanerError::Io(e),
        StorageError::Corrupt { path, message } => CleanerError::Corrupt { path, message },
        other => CleanerError::Io(std::io::Error::other(other.to_string())),
    }
}
