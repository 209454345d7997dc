//! A topic's `compression.type` on the client append path (Kafka's `LogValidator`): a
//! produced batch whose codec differs from the topic's is decoded and re-encoded in the
//! topic's codec before `append_leader`, so consumers read the codec the topic promises.
//!
//! Invariants:
//! * Only leader appends are rewritten (Produce); mirrored and follower appends keep the
//!   source's bytes (DESIGN invariant 1) and never come here.
//! * A rewritten batch keeps everything but its codec and CRC: base offset, partition
//!   leader epoch, producer id / epoch / base sequence (so idempotent deduplication and
//!   sequence checks see the same batch), transactional flag, timestamp type, base
//!   timestamp, and every record's offset delta, timestamp delta, key, value and headers.
//!   `maxTimestamp` is recomputed from the records for CreateTime (equal for a well-formed
//!   batch) and kept for LogAppendTime; `append_leader` then assigns offsets, stamps the
//!   epoch and validates exactly as for a batch the producer had compressed itself.
//! * Bytes that do not frame as batches, or carry a bad CRC, are passed through unchanged so
//!   `append_leader` rejects them with its usual error; a batch whose records cannot be
//!   decoded is rejected here as CORRUPT_MESSAGE naming the batch.

use strait_protocol::ErrorCode;
use strait_records::record::{decode_records, BatchBuilder};
use strait_records::{BatchIter, Compression, RecordBatch, TimestampType};

use crate::error::ApiError;

/// Re-encodes the batches of `records` whose codec is not `target`. `Ok(None)`: nothing
/// to change (every batch already uses `target`, or the input is left to `append_leader`).
pub fn recompress(records: &[u8], target: Compression) -> Result<Option<Vec<u8>>, ApiError> {
    let Ok(batches) = BatchIter::frame_all(records) else {
        return Ok(None);
    };
    let differs = |b: &RecordBatch<'_>| !b.compression().is_ok_and(|c| c == target);
    if batches.iter().all(|b| !differs(b) || b.is_control()) {
        return Ok(None);
    }
    if batches
        .iter()
        .any(|b| b.validate_crc().is_err() || b.compression().is_err())
    {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(records.len());
    for (i, batch) in batches.iter().enumerate() {
        if !differs(batch) || batch.is_control() {
            out.extend_from_slice(batch.as_bytes());
            continue;
        }
        out.extend_from_slice(&reencode(batch, target).map_err(|m| {
            ApiError::new(
                ErrorCode::CorruptMessage,
                format!("batch {i}: cannot recompress to {}: {m}", target.name()),
            )
        })?);
    }
    Ok(Some(out))
}

fn reencode(batch: &RecordBatch<'_>, target: Compression) -> Result<Vec<u8>, String> {
    let records = decode_records(batch).map_err(|e| e.to_string())?;
    let mut b = BatchBuilder::new(batch.base_offset())
        .leader_epoch(batch.partition_leader_epoch())
        .compression(target)
        .timestamp_type(batch.timestamp_type())
        .producer(
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
        )
        .transactional(batch.is_transactional())
        .base_timestamp(batch.base_timestamp())
        .last_offset_delta(batch.last_offset_delta());
    if batch.timestamp_type() == TimestampType::LogAppendTime || records.is_empty() {
        b = b.max_timestamp(batch.max_timestamp());
    }
    for r in records {
        b = b.push(r);
    }
    b.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use strait_records::record::decode_records;

    fn sample(codec: Compression) -> Vec<u8> {
        BatchBuilder::new(0)
            .compression(codec)
            .producer(7, 2, 40)
            .append_with_headers(
                1_700_000_000_000,
                Some(b"k1"),
                Some(b"v1"),
                vec![("h".to_string(), Some(Bytes::from_static(b"x")))],
            )
            .append(1_700_000_000_005, None, Some(b"v2"))
            .append(1_699_999_999_990, Some(b"k3"), None)
            .build()
            .unwrap()
    }

    #[test]
    fn rewrites_only_the_codec() {
        let input = sample(Compression::Lz4);
        let out = recompress(&input, Compression::Zstd).unwrap().unwrap();
        let before = RecordBatch::new(&input).unwrap();
        let after = RecordBatch::new(&out).unwrap();
        after.validate_crc().unwrap();
        assert_eq!(after.compression().unwrap(), Compression::Zstd);
        assert_eq!(after.producer_id(), 7);
        assert_eq!(after.producer_epoch(), 2);
        assert_eq!(after.base_sequence(), 40);
        assert_eq!(after.last_offset_delta(), before.last_offset_delta());
        assert_eq!(after.base_timestamp(), before.base_timestamp());
        assert_eq!(after.max_timestamp(), before.max_timestamp());
        assert_eq!(after.records_count(), 3);
        assert_eq!(
            decode_records(&after).unwrap(),
            decode_records(&before).unwrap()
        );
    }

    #[test]
    fn same_codec_and_garbage_pass_through() {
        let input = sample(Compression::Zstd);
        assert!(recompress(&input, Compression::Zstd).unwrap().is_none());
        assert!(
            recompress(b"not a batch at all, just bytes", Compression::Zstd)
                .unwrap()
                .is_none()
        );
        let uncompressed = recompress(&input, Compression::None).unwrap().unwrap();
        assert_eq!(
            RecordBatch::new(&uncompressed)
                .unwrap()
                .compression()
                .unwrap(),
            Compression::None
        );
    }
}
