//! Transaction state of a [`PartitionLog`]: the last stable offset, the aborted-transaction
//! index per segment (`.txnindex`), its search for read_committed fetches (Kafka
//! `collectAbortedTransactions`), its rebuild from the batches at open, and the marker
//! append the transaction coordinator will use.
//!
//! Every batch, on every path (leader, mirror, marker, rebuild), goes through
//! [`PartitionLog::apply_producer_batch`] in offset order, so an entry's
//! `lastStableOffset` is computed the same way live and after a restart: the smallest
//! first offset of the transactions still open right after the marker, else the marker's
//! offset + 1.

use strait_records::{BatchBuilder, BatchHeader, ControlRecordType, RecordBatch};

use super::{all_segments, PartitionLog};
use crate::error::{AppendError, StorageError};
use crate::producer::{EndMarker, ProducerSummary};
use crate::segment::{BatchMeta, Segment};
use crate::txn_index::AbortedTxn;

impl PartitionLog {
    /// Kafka `lastStableOffset`: the first offset of the earliest ongoing transaction if it
    /// is below the high watermark (clamped to the log start: retention may have removed
    /// the transaction's first batches), else the high watermark. Without transactions it
    /// equals the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        match self.producers.first_unstable_offset() {
            Some(first) => first.max(self.log_start_offset).min(hw),
            None => hw,
        }
    }

    /// Kafka `firstUnstableOffset`: first offset of the earliest ongoing transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.first_unstable_offset()
    }

    /// Every producer this partition holds state for, by producer id (Kafka
    /// `UnifiedLog.activeProducers`, what DescribeProducers reports).
    pub fn active_producers(&self) -> Vec<ProducerSummary> {
        self.producers.summaries()
    }

    /// `(producer id, first offset)` of every ongoing transaction, by first offset.
    pub fn ongoing_transactions(&self) -> Vec<(i64, i64)> {
        self.producers.ongoing_transactions().collect()
    }

    /// Closes every ongoing transaction with an ABORT marker at the log end, stamped with
    /// `leader_epoch` (a mirror cutover: the source coordinator that would have finished
    /// them is out of reach). Each marker carries the producer's id and current epoch, and
    /// the coordinator epoch of the producer's last marker (0 if it never had one), so the
    /// coordinator checks of [`Self::append_control_marker`] pass. Afterwards the last
    /// stable offset equals the high watermark. Idempotent: with no transaction open it
    /// writes nothing. Returns `(producer id, marker offset)` per marker written.
    pub fn abort_ongoing_transactions(
        &mut self,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<Vec<(i64, i64)>, AppendError> {
        let open: Vec<(i64, i16, i32)> = self
            .producers
            .ongoing_transactions()
            .filter_map(|(pid, _)| {
                self.producers
                    .get(pid)
                    .map(|e| (pid, e.epoch, e.coordinator_epoch.max(0)))
            })
            .collect();
        let mut written = Vec::with_capacity(open.len());
        for (pid, epoch, coordinator_epoch) in open {
            let offset = self.append_control_marker(
                pid,
                epoch,
                coordinator_epoch,
                false,
                leader_epoch,
                now_ms,
            )?;
            written.push((pid, offset));
        }
        Ok(written)
    }

    /// Kafka `collectAbortedTransactions(startOffset, upperBoundOffset)`: every aborted
    /// transaction with `lastOffset >= start_offset` and `firstOffset < upper_bound`,
    /// searched from the segment holding `start_offset` onward (an entry sits in its
    /// marker's segment, which is never before the data) until an entry's LSO reaches the
    /// upper bound.
    pub fn collect_aborted_transactions(
        &self,
        start_offset: i64,
        upper_bound: i64,
    ) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        for seg in self.segments_from(start_offset) {
            if seg.collect_aborted_txns(start_offset, upper_bound, &mut out) {
                break;
            }
        }
        out
    }

    /// Every `.txnindex` entry of the log, oldest marker first (tests and tools).
    pub fn aborted_transactions(&self) -> Vec<AbortedTxn> {
        all_segments(&self.older, &self.active)
            .flat_map(|s| s.aborted_txns().iter().copied())
            .collect()
    }

    /// Applies one appended batch (at its final offset) to producer state, and records an
    /// aborted transaction in the index of the segment holding its marker.
    pub(super) fn apply_producer_batch(
        &mut self,
        h: &BatchHeader,
        marker: Option<EndMarker>,
    ) -> Result<(), StorageError> {
        if h.is_control() && h.producer_id >= 0 {
            // The transaction (if any) ended: a verification started before this marker
            // must not open a new one (see `verify`).
            self.clear_verification(h.producer_id);
        }
        let Some(done) = self.producers.update(h, marker) else {
            return Ok(());
        };
        if !done.aborted {
            return Ok(());
        }
        let entry = AbortedTxn {
            producer_id: done.producer_id,
            first_offset: done.first_offset,
            last_offset: done.last_offset,
            last_stable_offset: self
                .producers
                .first_unstable_offset()
                .unwrap_or(done.last_offset + 1),
        };
        let seg = self.segment_holding_mut(done.last_offset);
        seg.append_aborted_txn(entry)?;
        Ok(())
    }

    /// The segment `offset` falls in (the active one if at or past its base).
    fn segment_holding_mut(&mut self, offset: i64) -> &mut Segment {
        if offset >= self.active.base_offset() {
            return &mut self.active;
        }
        match self.older.range_mut(..=offset).next_back() {
            Some((_, seg)) => seg,
            None => &mut self.active,
        }
    }

    /// Writes a transaction marker (a Kafka control batch: transactional + control bits,
    /// one record with key `version 0, type` and value `version 0, coordinator_epoch`) at
    /// the log end, stamped with `leader_epoch`, for the transaction coordinator. Closes the
    /// producer's ongoing transaction; an abort is recorded in the `.txnindex`. Kafka's
    /// checks for the coordinator origin apply: a producer epoch older than the producer's
    /// current one is `InvalidProducerEpoch`, an older coordinator epoch is
    /// `TransactionCoordinatorFenced`. Returns the marker's offset.
    pub fn append_control_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<i64, AppendError> {
        self.check_online().map_err(AppendError::Offline)?;
        if producer_id < 0 {
            return Err(AppendError::InvalidTxnState(format!(
                "transaction marker for invalid producer id {producer_id}"
            )));
        }
        if let Some(entry) = self.producers.get(producer_id) {
            if producer_epoch < entry.epoch {
                return Err(AppendError::InvalidProducerEpoch {
                    producer_id,
                    producer_epoch,
                    current_epoch: entry.epoch,
                });
            }
            if coordinator_epoch < entry.coordinator_epoch {
                return Err(AppendError::TransactionCoordinatorFenced {
                    producer_id,
                    coordinator_epoch,
                    current_coordinator_epoch: entry.coordinator_epoch,
                });
            }
        }
        let offset = self.log_end_offset;
        let kind = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let bytes = BatchBuilder::end_txn_marker(
            offset,
            kind,
            producer_id,
            producer_epoch,
            coordinator_epoch,
            now_ms,
        )
        .leader_epoch(leader_epoch)
        .build()
        .map_err(AppendError::Corrupt)?;
        let batch = RecordBatch::new(&bytes).map_err(AppendError::Corrupt)?;
        let h = batch.header();
        let meta = BatchMeta::of_header(&h, bytes.len());
        self.commit_append(
            &bytes,
            &[meta],
            &[(leader_epoch, offset)],
            1,
            now_ms,
            |log| {
                log.apply_producer_batch(
                    &h,
                    Some(EndMarker {
                        commit,
                        coordinator_epoch,
                    }),
                )
            },
        )?;
        Ok(offset)
    }
}
