//! The record-retention decision of one cleaning pass: per batch, then per record, with
//! the shape of Kafka's `MemoryRecords.RecordFilter` (`checkBatchRetention` /
//! `shouldRetainRecord`) so that later rules slot in without a redesign.
//!
//! # Transactions (Kafka `LogCleaner` transaction handling)
//! [`RetentionFilter::check_batch`] sees every batch first and feeds the scan's
//! [`TxnTracker`]. Data of an aborted transaction gets [`BatchDecision::discard_records`]
//! (its records go; the batch stays empty only if it is its producer's last). A marker whose
//! transaction has no data left is stamped with a delete horizon (`delete.retention.ms`
//! from now) on the first pass that finds it so, and dropped by the first pass after the
//! horizon; until then it is copied as is. An ABORT marker that stays hands its index
//! entry to the caller ([`FilterCounts::aborted_entry`]) for the cleaned `.txnindex`.

use std::collections::HashMap;

use strait_records::{Record, RecordBatch};

use super::txn::TxnTracker;
use super::OffsetMap;
use crate::txn_index::AbortedTxn;

/// What happens to a batch none of whose records survive (Kafka's `BatchRetention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchRetention {
    /// Drop the batch when it ends up empty.
    DeleteEmpty,
    /// Keep an empty header-only batch: it carries a producer's last sequence/epoch.
    RetainEmpty,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchDecision {
    pub retention: BatchRetention,
    /// Copy the batch byte-for-byte without looking at its records (control batches).
    pub keep_as_is: bool,
    /// Remove every record regardless of the per-record rule (aborted data, markers past
    /// their delete horizon).
    pub discard_records: bool,
    /// Rewrite the (control) batch with a fresh delete horizon, records unchanged.
    pub stamp_horizon: bool,
    /// The `.txnindex` entry that stays with this (ABORT marker) batch.
    pub aborted_entry: Option<AbortedTxn>,
}

/// The decision interface of a cleaning pass.
pub(crate) trait RetentionFilter {
    fn check_batch(&mut self, batch: &RecordBatch<'_>) -> BatchDecision;
    fn retain_record(&self, batch: &RecordBatch<'_>, record: &Record) -> bool;
    /// The delete horizon to stamp on a rewritten batch that holds tombstones and has none.
    fn new_delete_horizon(&self) -> i64;
}

/// Compaction: keep the latest record of each key; drop tombstones past their horizon.
pub(crate) struct CompactionFilter<'a> {
    pub map: &'a OffsetMap,
    pub now_ms: i64,
    pub delete_retention_ms: i64,
    /// Producer id → last offset of its last data batch (from the producer state).
    pub producer_last_offsets: &'a HashMap<i64, i64>,
    /// Transactions met by this scan.
    pub txns: TxnTracker,
}

impl RetentionFilter for CompactionFilter<'_> {
    fn check_batch(&mut self, batch: &RecordBatch<'_>) -> BatchDecision {
        let last_of_producer = batch.has_producer_id()
            && self
                .producer_last_offsets
                .get(&batch.producer_id())
                .is_some_and(|last| *last == batch.last_offset());
        let mut decision = BatchDecision {
            retention: if last_of_producer {
                BatchRetention::RetainEmpty
            } else {
                BatchRetention::DeleteEmpty
            },
            keep_as_is: false,
            discard_records: false,
            stamp_horizon: false,
            aborted_entry: None,
        };
        if !batch.is_control() {
            decision.discard_records = self.txns.on_data_batch(batch);
            return decision;
        }
        // A CRC-valid marker that cannot be decoded was accepted as is; keep it as is.
        let outcome = self.txns.on_marker(batch).ok();
        decision.keep_as_is = true;
        if let Some(outcome) = outcome {
            decision.aborted_entry = outcome.keep_entry;
            if outcome.can_discard {
                match batch.delete_horizon_ms() {
                    Some(h) if h <= self.now_ms => {
                        decision.keep_as_is = false;
                        decision.discard_records = true;
                    }
                    Some(_) => {}
                    None => {
                        decision.keep_as_is = false;
                        decision.stamp_horizon = true;
                    }
                }
            }
        }
        decision
    }

    fn retain_record(&self, batch: &RecordBatch<'_>, record: &Record) -> bool {
        if batch.is_control() {
            return true;
        }
        let offset = record.offset(batch);
        // Past what the map covers (a later segment): nothing known supersedes it.
        if offset > self.map.latest_offset() {
            return true;
        }
        let Some(key) = record.key.as_deref() else {
            // Kafka's cleaner drops keyless records of compacted logs.
            return false;
        };
        if offset < self.map.get(key) {
            return false;
        }
        let delete_retained = batch
            .delete_horizon_ms()
            .is_none_or(|horizon| self.now_ms < horizon);
        record.value.is_some() || delete_retained
    }

    fn new_delete_horizon(&self) -> i64 {
        self.now_ms.saturating_add(self.delete_retention_ms.max(0))
    }
}

/// The outcome of filtering one batch.
#[derive(Debug)]
pub(crate) enum Filtered {
    /// Write the original bytes.
    Copy,
    /// Write these bytes instead (records removed or a delete horizon stamped).
    Rewrite(Vec<u8>),
    /// Write nothing.
    Drop,
}

/// Counters of one batch's filtering.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FilterCounts {
    pub records_read: u64,
    pub records_removed: u64,
    /// An aborted transaction's index entry to write with this batch (see the module docs).
    pub aborted_entry: Option<AbortedTxn>,
}

/// Applies `filter` to `batch` (Kafka's `filterTo` for one batch).
pub(crate) fn filter_batch(
    filter: &mut dyn RetentionFilter,
    batch: &RecordBatch<'_>,
) -> Result<(Filtered, FilterCounts), strait_records::RecordsError> {
    let decision = filter.check_batch(batch);
    let mut counts = FilterCounts {
        aborted_entry: decision.aborted_entry,
        ..FilterCounts::default()
    };
    if decision.keep_as_is {
        return Ok((Filtered::Copy, counts));
    }
    let records = strait_records::decode_records(batch)?;
    counts.records_read = records.len() as u64;
    let mut retained = Vec::with_capacity(records.len());
    let mut has_tombstone = false;
    for r in records {
        if !decision.discard_records && filter.retain_record(batch, &r) {
            has_tombstone |= r.value.is_none();
            retained.push(r);
        }
    }
    counts.records_removed = counts.records_read - retained.len() as u64;
    if retained.is_empty() {
        return Ok(match decision.retention {
            BatchRetention::RetainEmpty if batch.records_count() == 0 => (Filtered::Copy, counts),
            BatchRetention::RetainEmpty => (
                Filtered::Rewrite(strait_records::rewrite::empty_batch_like(batch)?),
                counts,
            ),
            BatchRetention::DeleteEmpty => (Filtered::Drop, counts),
        });
    }
    // KIP-534: the first clean that keeps a tombstone stamps the horizon after which a
    // later clean may drop it; a horizon already present (also on mirrored data) stays.
    let stamp_horizon = decision.stamp_horizon || (has_tombstone && !batch.has_delete_horizon());
    if counts.records_removed == 0 && !stamp_horizon {
        return Ok((Filtered::Copy, counts));
    }
    let horizon = if stamp_horizon {
        Some(filter.new_delete_horizon())
    } else {
        batch.delete_horizon_ms()
    };
    let bytes = strait_records::rewrite::rebuild_retained(batch, &retained, horizon)?;
    Ok((Filtered::Rewrite(bytes), counts))
}
