//! Helpers shared by the storage integration tests: reading a partition log back batch by
//! batch, CRC-checked, from an offset to its log end offset. One copy: a test file keeps
//! only what is its own (`recovery_common` still carries its own read loop).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // not every test uses every helper

use strait_records::{BatchIter, RecordBatch};
use strait_storage::PartitionLog;

/// Calls `f` with every batch readable from `from` up to the log end offset, in offset
/// order, each CRC-checked (a batch that ends before `from` is skipped).
pub fn for_each_batch(log: &PartitionLog, from: i64, mut f: impl FnMut(&RecordBatch<'_>)) {
    let mut next = from;
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, i64::MAX, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            b.validate_crc().unwrap();
            if b.last_offset() >= next {
                f(&b);
                next = b.last_offset() + 1;
            }
        }
    }
}

/// Every batch readable from `from`, as (base offset, last offset) pairs.
pub fn offsets(log: &PartitionLog, from: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for_each_batch(log, from, |b| out.push((b.base_offset(), b.last_offset())));
    out
}
