//! The 61-byte record batch header, read in place.
//!
//! Offsets of each field follow Kafka's `DefaultRecordBatch`. The CRC covers the bytes from
//! `attributes` (offset 21) to the end of the batch, so `baseOffset`, `batchLength` and
//! `partitionLeaderEpoch` can be rewritten without touching it.

use crate::{Compression, RecordsError};

/// `baseOffset` + `batchLength`: the bytes that precede what `batchLength` counts.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the v2 batch header, before the first record.
pub const RECORD_BATCH_OVERHEAD: usize = 61;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORDS_COUNT: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// Which clock a batch's timestamps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// A zero-copy view of one complete v2 record batch (header and records).
///
/// Construct it through [`crate::BatchIter`] or [`RecordBatch::new`], which check that the
/// slice holds exactly one batch of a supported magic.
#[derive(Clone, Copy)]
pub struct RecordBatch<'a> {
    bytes: &'a [u8],
}

impl std::fmt::Debug for RecordBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("last_offset", &self.last_offset())
            .field("partition_leader_epoch", &self.partition_leader_epoch())
            .field("size", &self.size_in_bytes())
            .field("attributes", &self.attributes())
            .finish()
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl<'a> RecordBatch<'a> {
    /// View `bytes` as one batch. `bytes` must be exactly one complete batch.
    pub fn new(bytes: &'a [u8]) -> Result<Self, RecordsError> {
        let mut it = crate::BatchIter::new(bytes);
        match it.next() {
            Some(Ok(batch)) if batch.size_in_bytes() == bytes.len() => Ok(batch),
            Some(Ok(batch)) => Err(RecordsError::PartialBatch {
                position: batch.size_in_bytes(),
                remaining: bytes.len() - batch.size_in_bytes(),
            }),
            Some(Err(e)) => Err(e),
            None => Err(RecordsError::PartialBatch {
                position: 0,
                remaining: bytes.len(),
            }),
        }
    }

    /// Caller guarantees `bytes` holds a whole batch of at least the header size.
    pub(crate) fn from_framed(bytes: &'a [u8]) -> Self {
        debug_assert!(bytes.len() >= RECORD_BATCH_OVERHEAD);
        RecordBatch { bytes }
    }

    /// The batch's bytes, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }
    pub fn base_offset(&self) -> i64 {
        i64_at(self.bytes, BASE_OFFSET)
    }
    pub fn batch_length(&self) -> i32 {
        i32_at(self.bytes, BATCH_LENGTH)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        i32_at(self.bytes, PARTITION_LEADER_EPOCH)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC] as i8
    }
    /// The CRC stored in the batch.
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes([
            self.bytes[CRC],
            self.bytes[CRC + 1],
            self.bytes[CRC + 2],
            self.bytes[CRC + 3],
        ])
    }
    /// CRC-32C of the bytes the stored CRC covers.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[ATTRIBUTES..])
    }
    /// Checks the stored CRC against the bytes.
    pub fn validate_crc(&self) -> Result<(), RecordsError> {
        let (stored, computed) = (self.crc(), self.compute_crc());
        if stored == computed {
            Ok(())
        } else {
            Err(RecordsError::CrcMismatch {
                base_offset: self.base_offset(),
                stored,
                computed,
            })
        }
    }
    pub fn attributes(&self) -> i16 {
        i16_at(self.bytes, ATTRIBUTES)
    }
    /// The codec id in the attributes (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression_id(&self) -> i16 {
        self.attributes() & COMPRESSION_MASK
    }
    pub fn compression(&self) -> Result<Compression, RecordsError> {
        Compression::from_id(self.compression_id()).ok_or(RecordsError::UnknownCompression {
            base_offset: self.base_offset(),
            codec: self.compression_id(),
        })
    }
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_BIT != 0
    }
    /// KIP-534: when the delete-horizon bit is set, `baseTimestamp` holds the time after
    /// which the log cleaner may drop this batch's tombstones (record timestamps are then
    /// `baseTimestamp + timestampDelta` as always, so the deltas are relative to it).
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then(|| self.base_timestamp())
    }
    pub fn last_offset_delta(&self) -> i32 {
        i32_at(self.bytes, LAST_OFFSET_DELTA)
    }
    /// `baseOffset + lastOffsetDelta`; compaction keeps the delta, so this stays exact.
    /// Saturating: these are wire values, and an absurd base offset must be refused by the
    /// caller's checks, not overflow here.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }
    /// Offset after this batch: where the next batch may start at the earliest.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }
    pub fn base_timestamp(&self) -> i64 {
        i64_at(self.bytes, BASE_TIMESTAMP)
    }
    pub fn max_timestamp(&self) -> i64 {
        i64_at(self.bytes, MAX_TIMESTAMP)
    }
    pub fn producer_id(&self) -> i64 {
        i64_at(self.bytes, PRODUCER_ID)
    }
    pub fn producer_epoch(&self) -> i16 {
        i16_at(self.bytes, PRODUCER_EPOCH)
    }
    pub fn base_sequence(&self) -> i32 {
        i32_at(self.bytes, BASE_SEQUENCE)
    }
    /// Sequence of the last record, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        last_sequence(self.base_sequence(), self.last_offset_delta())
    }
    /// The fixed header fields, by value.
    pub fn header(&self) -> BatchHeader {
        // A RecordBatch always holds at least RECORD_BATCH_OVERHEAD bytes.
        BatchHeader::parse(self.bytes).unwrap_or_default()
    }
    pub fn records_count(&self) -> i32 {
        i32_at(self.bytes, RECORDS_COUNT)
    }
    /// The bytes after the header: the records, compressed as one blob if a codec is set.
    pub fn records_payload(&self) -> &'a [u8] {
        &self.bytes[RECORD_BATCH_OVERHEAD..]
    }
    /// True if the batch carries a producer id (idempotent or transactional producer).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id() >= 0
    }
}

fn last_sequence(base: i32, last_offset_delta: i32) -> i32 {
    if base < 0 {
        return -1;
    }
    let last = i64::from(base) + i64::from(last_offset_delta);
    if last > i64::from(i32::MAX) {
        (last - i64::from(i32::MAX) - 1) as i32
    } else {
        last as i32
    }
}

/// The fixed 61-byte header of a batch, parsed by value. Storage scans batch headers in
/// files without reading whole batches; nothing here checks the CRC or the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Parses the first 61 bytes of `bytes`; `None` if fewer are present.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < RECORD_BATCH_OVERHEAD {
            return None;
        }
        let b = bytes;
        Some(BatchHeader {
            base_offset: i64_at(b, BASE_OFFSET),
            batch_length: i32_at(b, BATCH_LENGTH),
            partition_leader_epoch: i32_at(b, PARTITION_LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: u32::from_be_bytes([b[CRC], b[CRC + 1], b[CRC + 2], b[CRC + 3]]),
            attributes: i16_at(b, ATTRIBUTES),
            last_offset_delta: i32_at(b, LAST_OFFSET_DELTA),
            base_timestamp: i64_at(b, BASE_TIMESTAMP),
            max_timestamp: i64_at(b, MAX_TIMESTAMP),
            producer_id: i64_at(b, PRODUCER_ID),
            producer_epoch: i16_at(b, PRODUCER_EPOCH),
            base_sequence: i32_at(b, BASE_SEQUENCE),
            records_count: i32_at(b, RECORDS_COUNT),
        })
    }
    /// Whole size of the batch (`batchLength + 12`), or `None` if `batchLength` is too
    /// small to hold a v2 header.
    pub fn size_in_bytes(&self) -> Option<usize> {
        let len = usize::try_from(self.batch_length).ok()?;
        (len >= RECORD_BATCH_OVERHEAD - LOG_OVERHEAD).then_some(len + LOG_OVERHEAD)
    }
    /// Saturating, as [`RecordBatch::last_offset`].
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }
    pub fn last_sequence(&self) -> i32 {
        last_sequence(self.base_sequence, self.last_offset_delta)
    }
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_BIT != 0
    }
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

/// Rewrites `baseOffset` in place. Outside the CRC.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites `partitionLeaderEpoch` in place. Outside the CRC.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks the batch as `LogAppendTime` with `max_timestamp`, then recomputes the CRC,
/// as a leader does for topics with `message.timestamp.type=LogAppendTime`.
pub fn set_log_append_time(batch: &mut [u8], max_timestamp: i64) {
    set_max_timestamp(batch, TimestampType::LogAppendTime, max_timestamp);
}

/// Sets the timestamp-type bit and `maxTimestamp`, recomputing the CRC only if either
/// changed (Kafka's `DefaultRecordBatch.setMaxTimestamp`). The leader uses it to stamp
/// `LogAppendTime`, and to correct a `CreateTime` batch whose header disagrees with its
/// records.
pub fn set_max_timestamp(batch: &mut [u8], timestamp_type: TimestampType, max_timestamp: i64) {
    let old_attributes = i16_at(batch, ATTRIBUTES);
    let attributes = match timestamp_type {
        TimestampType::LogAppendTime => old_attributes | TIMESTAMP_TYPE_BIT,
        TimestampType::CreateTime => old_attributes & !TIMESTAMP_TYPE_BIT,
    };
    if attributes == old_attributes && i64_at(batch, MAX_TIMESTAMP) == max_timestamp {
        return;
    }
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    write_crc(batch);
}

/// Recomputes and stores the CRC of a whole batch.
pub fn write_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

impl RecordBatch<'_> {
    /// Attribute bits for a header being built.
    pub fn attributes_for(
        compression: Compression,
        timestamp_type: TimestampType,
        transactional: bool,
        control: bool,
    ) -> i16 {
        let mut a = compression.id();
        if timestamp_type == TimestampType::LogAppendTime {
            a |= TIMESTAMP_TYPE_BIT;
        }
        if transactional {
            a |= TRANSACTIONAL_BIT;
        }
        if control {
            a |= CONTROL_BIT;
        }
        a
    }
}

/// Field offsets and bits for code in this crate that assembles headers.
pub(crate) mod layout {
    pub const MAGIC: usize = super::MAGIC;
    pub const DELETE_HORIZON_BIT: i16 = super::DELETE_HORIZON_BIT;
}
