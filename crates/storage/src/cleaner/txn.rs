//! Transaction bookkeeping of one cleaning scan (Kafka's `CleanedTransactionMetadata`).
//!
//! Fed every batch of the scanned segments in offset order, it knows which transactional
//! data belongs to an aborted transaction (so the map ignores its keys and the rewrite
//! removes its records) and whether a marker may go: an ABORT marker once no batch of its
//! transaction is left, a COMMIT marker once the scan met no data batch of its transaction.
//!
//! # State and invariants
//! * `pending`: the aborted transactions collected from the `.txnindex` files over the
//!   scanned range (only entries whose marker is at or after the scan's first offset), by
//!   first offset, consumed as the scan reaches each one's first offset.
//! * `aborted`: per producer, the aborted transaction currently spanning the scan position
//!   and whether a batch of it was met. `committed`: producers with a transactional data
//!   batch met since their last marker (a transaction that is not aborted is committed:
//!   the cleanable range ends before the last stable offset, so nothing in it is open).
//! * An ABORT marker whose transaction still has data keeps its index entry: the caller
//!   writes it to the cleaned segment's `.txnindex` ([`TxnTracker::on_marker`] returns it).

use std::collections::{HashMap, HashSet, VecDeque};

use strait_records::{decode_records, ControlRecordType, RecordBatch, RecordsError};

use crate::txn_index::AbortedTxn;

#[derive(Debug, Default)]
pub(crate) struct TxnTracker {
    pending: VecDeque<AbortedTxn>,
    aborted: HashMap<i64, (AbortedTxn, bool)>,
    committed: HashSet<i64>,
}

/// What to do with a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MarkerOutcome {
    /// The marker's transaction has no data left: it may go once its delete horizon passed.
    pub can_discard: bool,
    /// The index entry to keep in the cleaned segment (ABORT markers that stay).
    pub keep_entry: Option<AbortedTxn>,
}

impl TxnTracker {
    /// A tracker for a scan starting at `scan_start`, given the aborted transactions over
    /// the scanned range (any order).
    pub fn new(mut aborted: Vec<AbortedTxn>, scan_start: i64) -> Self {
        aborted.retain(|a| a.last_offset >= scan_start);
        aborted.sort_by_key(|a| (a.first_offset, a.last_offset));
        aborted.dedup();
        TxnTracker {
            pending: aborted.into(),
            ..TxnTracker::default()
        }
    }

    fn consume_up_to(&mut self, offset: i64) {
        while self
            .pending
            .front()
            .is_some_and(|a| a.first_offset <= offset)
        {
            if let Some(a) = self.pending.pop_front() {
                self.aborted.entry(a.producer_id).or_insert((a, false));
            }
        }
    }

    /// A data batch: `true` if it belongs to an aborted transaction.
    pub fn on_data_batch(&mut self, batch: &RecordBatch<'_>) -> bool {
        self.consume_up_to(batch.last_offset());
        if !batch.is_transactional() {
            return false;
        }
        match self.aborted.get_mut(&batch.producer_id()) {
            Some((_, seen)) => {
                *seen = true;
                true
            }
            None => {
                self.committed.insert(batch.producer_id());
                false
            }
        }
    }

    /// A control batch. An empty one (its transaction already cleaned) may go; control
    /// types other than ABORT/COMMIT are kept.
    pub fn on_marker(&mut self, batch: &RecordBatch<'_>) -> Result<MarkerOutcome, RecordsError> {
        self.consume_up_to(batch.last_offset());
        let keep = MarkerOutcome {
            can_discard: false,
            keep_entry: None,
        };
        let records = decode_records(batch)?;
        let Some(first) = records.first() else {
            return Ok(MarkerOutcome {
                can_discard: true,
                keep_entry: None,
            });
        };
        let Some(kind) = first
            .key
            .as_deref()
            .and_then(|k| ControlRecordType::parse_key(k).ok())
        else {
            return Ok(keep);
        };
        let pid = batch.producer_id();
        Ok(match kind {
            ControlRecordType::Abort => match self.aborted.remove(&pid) {
                Some((entry, true)) => MarkerOutcome {
                    can_discard: false,
                    keep_entry: Some(entry),
                },
                _ => MarkerOutcome {
                    can_discard: true,
                    keep_entry: None,
                },
            },
            ControlRecordType::Commit => MarkerOutcome {
                can_discard: !self.committed.remove(&pid),
                keep_entry: None,
            },
            _ => keep,
        })
    }
}
