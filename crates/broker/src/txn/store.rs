//! The transaction log: the coordinator's state as records, replayed at open.
//!
//! `<log.dir>/__strait_transactions/transactions.log`, framed by [`crate::record_log`]
//! (magic `STRAITX1`). The directory name has no `-<n>` suffix, so the topic registry never
//! takes it for a partition directory.
//!
//! # Records
//! * [`TxnRecord::CoordinatorEpoch`]: written at every open with the previous epoch + 1;
//!   markers carry it so a partition can refuse markers of an older coordinator.
//! * [`TxnRecord::Txn`]: the whole [`TxnMetadata`] of one transactional id after a
//!   transition (like a value of Kafka's `__transaction_state`, keyed by the id). The
//!   latest record of an id is its state; replay is therefore idempotent and order-only.
//! * [`TxnRecord::Removed`]: the id expired (a tombstone).
//!
//! Compaction rewrites the file as the coordinator epoch plus the latest record of every
//! live id. This is the form a replicated metadata log can carry later unchanged.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::state::TxnMetadata;
use crate::metadata::MetadataError;
use crate::record_log::{LogSpec, RecordLog};

/// Directory under `log.dir`.
pub const TXN_DIR: &str = "__strait_transactions";
pub const LOG_FILE: &str = "transactions.log";
const SPEC: LogSpec = LogSpec {
    file: LOG_FILE,
    magic: b"STRAITX1",
    what: "transaction store",
};

/// One entry of the transaction log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TxnRecord {
    CoordinatorEpoch { epoch: i32 },
    Txn(TxnMetadata),
    Removed { transactional_id: String },
}

/// What replay rebuilt.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The epoch of the previous coordinator (-1 for a new store).
    pub coordinator_epoch: i32,
    pub txns: HashMap<String, TxnMetadata>,
    pub truncated_bytes: u64,
}

/// Applies one record to the state (replay and live writes alike).
pub fn apply(txns: &mut HashMap<String, TxnMetadata>, epoch: &mut i32, record: TxnRecord) {
    match record {
        TxnRecord::CoordinatorEpoch { epoch: e } => *epoch = (*epoch).max(e),
        TxnRecord::Txn(md) => {
            txns.insert(md.transactional_id.clone(), md);
        }
        TxnRecord::Removed { transactional_id } => {
            txns.remove(&transactional_id);
        }
    }
}

/// The open transaction log.
#[derive(Debug)]
pub struct TxnStore {
    log: RecordLog<TxnRecord>,
}

impl TxnStore {
    /// Opens (creating) the log under `log_dir` and replays it.
    pub fn open(log_dir: &Path) -> Result<(TxnStore, Loaded), MetadataError> {
        let (log, replay) = RecordLog::open(&log_dir.join(TXN_DIR), SPEC)?;
        let mut loaded = Loaded {
            coordinator_epoch: -1,
            truncated_bytes: replay.truncated_bytes,
            ..Loaded::default()
        };
        for r in replay.records {
            apply(&mut loaded.txns, &mut loaded.coordinator_epoch, r);
        }
        Ok((TxnStore { log }, loaded))
    }

    /// Returns once `write(2)` has taken the whole record.
    pub fn append(&mut self, record: &TxnRecord) -> Result<(), MetadataError> {
        self.log.append(record)
    }

    pub fn sync_handle(&mut self) -> Option<File> {
        self.log.sync_handle()
    }

    pub fn wants_compaction(&self) -> bool {
        self.log.wants_compaction()
    }

    /// Rewrites the log as `epoch` plus one record per live id.
    pub fn compact<'a>(
        &mut self,
        epoch: i32,
        txns: impl Iterator<Item = &'a TxnMetadata>,
    ) -> Result<(), MetadataError> {
        let mut records = vec![TxnRecord::CoordinatorEpoch { epoch }];
        records.extend(txns.cloned().map(TxnRecord::Txn));
        self.log.rewrite(&records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_latest_state_epoch_and_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let a = TxnMetadata::new("a", 1, 1000, 5);
        let mut a2 = a.clone();
        a2.producer_epoch = 3;
        let b = TxnMetadata::new("b", 2, 1000, 5);
        {
            let (mut s, l) = TxnStore::open(dir.path()).unwrap();
            assert_eq!(l.coordinator_epoch, -1);
            s.append(&TxnRecord::CoordinatorEpoch { epoch: 0 }).unwrap();
            s.append(&TxnRecord::Txn(a.clone())).unwrap();
            s.append(&TxnRecord::Txn(b.clone())).unwrap();
            s.append(&TxnRecord::Txn(a2.clone())).unwrap();
            s.append(&TxnRecord::Removed {
                transactional_id: "b".into(),
            })
            .unwrap();
        }
        let (mut s, l) = TxnStore::open(dir.path()).unwrap();
        assert_eq!(l.coordinator_epoch, 0);
        assert_eq!(l.txns.len(), 1);
        assert_eq!(l.txns["a"], a2);
        s.compact(4, l.txns.values()).unwrap();
        drop(s);
        let (_, l) = TxnStore::open(dir.path()).unwrap();
        assert_eq!(l.coordinator_epoch, 4);
        assert_eq!(l.txns["a"], a2);
        assert!(dir.path().join(TXN_DIR).join(LOG_FILE).exists());
    }
}
