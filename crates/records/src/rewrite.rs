//! Rebuilding a batch after the log cleaner removed some of its records, with the
//! semantics of Kafka's `MemoryRecords.filterTo` / `buildRetainedRecordsInto`:
//!
//! * `baseOffset`, `lastOffsetDelta` (so the last offset and the last sequence), producer
//!   id / epoch / base sequence, `partitionLeaderEpoch`, timestamp type, transactional and
//!   control bits and the compression codec are kept; records keep their offset deltas.
//! * `baseTimestamp` becomes the delete horizon when one is given (KIP-534, attribute bit 6),
//!   else the first retained record's timestamp; timestamp deltas are rebased so every
//!   record's timestamp is unchanged.
//! * `maxTimestamp` is the largest retained record timestamp (`CreateTime`), or the
//!   original `maxTimestamp` for `LogAppendTime` batches (it *is* their timestamp).
//! * The CRC is recomputed.
//!
//! A batch that keeps no record but must survive (the last batch of an idempotent producer,
//! whose sequence must not be forgotten) becomes an empty, uncompressed header-only batch,
//! as Kafka's `DefaultRecordBatch.writeEmptyHeader` writes it.

use crate::batch::{RecordBatch, TimestampType};
use crate::record::{BatchBuilder, Record};
use crate::RecordsError;

fn like(original: &RecordBatch<'_>) -> BatchBuilder {
    BatchBuilder::new(original.base_offset())
        .leader_epoch(original.partition_leader_epoch())
        .timestamp_type(original.timestamp_type())
        .producer(
            original.producer_id(),
            original.producer_epoch(),
            original.base_sequence(),
        )
        .transactional(original.is_transactional())
        .control(original.is_control())
        .last_offset_delta(original.last_offset_delta())
}

/// Rebuilds `original` holding only `retained` (records decoded from it, deltas relative
/// to its `baseTimestamp`). `delete_horizon_ms`, when set, is stored as the batch's delete
/// horizon. An empty `retained` gives the same as [`empty_batch_like`].
pub fn rebuild_retained(
    original: &RecordBatch<'_>,
    retained: &[Record],
    delete_horizon_ms: Option<i64>,
) -> Result<Vec<u8>, RecordsError> {
    if retained.is_empty() {
        return empty_batch_like(original);
    }
    let old_base = original.base_timestamp();
    let absolute = |r: &Record| old_base.wrapping_add(r.timestamp_delta);
    let new_base = match delete_horizon_ms {
        Some(h) => h,
        None => retained.first().map_or(old_base, absolute),
    };
    let max_timestamp = match original.timestamp_type() {
        TimestampType::LogAppendTime => original.max_timestamp(),
        TimestampType::CreateTime => retained.iter().map(absolute).max().unwrap_or(-1),
    };
    let mut b = like(original)
        .compression(original.compression()?)
        .max_timestamp(max_timestamp);
    b = match delete_horizon_ms {
        Some(h) => b.delete_horizon(h),
        None => b.base_timestamp(new_base),
    };
    for r in retained {
        let mut r = r.clone();
        r.timestamp_delta = absolute(&r).wrapping_sub(new_base);
        b = b.push(r);
    }
    b.build()
}

/// A header-only batch with `original`'s offsets, producer fields, epoch, attributes
/// (uncompressed, no delete horizon) and `maxTimestamp`; `baseTimestamp` -1.
pub fn empty_batch_like(original: &RecordBatch<'_>) -> Result<Vec<u8>, RecordsError> {
    like(original)
        .max_timestamp(original.max_timestamp())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_records, Compression};

    #[test]
    fn rebuild_keeps_offsets_sequence_and_timestamps() {
        for codec in Compression::ALL {
            let bytes = BatchBuilder::new(100)
                .leader_epoch(4)
                .compression(codec)
                .producer(7, 2, 40)
                .append(1_000, Some(b"a"), Some(b"1"))
                .append(1_010, Some(b"b"), None)
                .append(1_020, Some(b"c"), Some(b"3"))
                .build()
                .unwrap();
            let batch = RecordBatch::new(&bytes).unwrap();
            let recs = decode_records(&batch).unwrap();
            let kept = [recs[1].clone()];
            let out = rebuild_retained(&batch, &kept, Some(5_000)).unwrap();
            let nb = RecordBatch::new(&out).unwrap();
            nb.validate_crc().unwrap();
            assert_eq!(nb.base_offset(), 100);
            assert_eq!(nb.last_offset(), 102);
            assert_eq!(nb.last_sequence(), 42);
            assert_eq!(nb.partition_leader_epoch(), 4);
            assert_eq!(nb.compression().unwrap(), codec);
            assert_eq!(nb.delete_horizon_ms(), Some(5_000));
            assert_eq!(nb.records_count(), 1);
            let r = &decode_records(&nb).unwrap()[0];
            assert_eq!(r.offset(&nb), 101);
            assert_eq!(r.timestamp(&nb), 1_010);
            assert_eq!(nb.max_timestamp(), 1_010);
            assert_eq!(r.value, None);

            // A later rewrite keeps the horizon and the timestamps.
            let again =
                rebuild_retained(&nb, &decode_records(&nb).unwrap(), nb.delete_horizon_ms())
                    .unwrap();
            let ab = RecordBatch::new(&again).unwrap();
            assert_eq!(decode_records(&ab).unwrap()[0].timestamp(&ab), 1_010);

            let empty = empty_batch_like(&batch).unwrap();
            let eb = RecordBatch::new(&empty).unwrap();
            eb.validate_crc().unwrap();
            assert_eq!((eb.base_offset(), eb.last_offset()), (100, 102));
            assert_eq!(
                (eb.producer_id(), eb.producer_epoch(), eb.base_sequence()),
                (7, 2, 40)
            );
            assert_eq!(eb.records_count(), 0);
            assert_eq!(eb.max_timestamp(), 1_020);
            assert!(!eb.has_delete_horizon());
        }
    }
}
