//! Records inside a batch, control records, and a batch builder.
//!
//! Record layout (Kafka `DefaultRecord`), all varints zig-zag encoded:
//! `length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//!  keyLength varint (-1 = null), key, valueLength varint (-1 = null), value,
//!  headerCount varint, [headerKeyLength varint, headerKey utf8, headerValueLength varint, value]`.
//!
//! Decoding never trusts a length or count from the input beyond the bytes actually
//! present, so arbitrary input yields an error, never a panic or a huge allocation.

use bytes::Bytes;

use crate::batch::{write_crc, RecordBatch, TimestampType, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD};
use crate::{Compression, RecordsError};

/// One record, as stored in a batch (offset and timestamp relative to the batch).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl Record {
    /// Absolute offset of this record in `batch`.
    /// Saturates rather than overflows: the inputs are wire values (a batch claiming a base
    /// offset near `i64::MAX` is refused by the append paths, but must not panic first).
    pub fn offset(&self, batch: &RecordBatch<'_>) -> i64 {
        batch
            .base_offset()
            .saturating_add(i64::from(self.offset_delta))
    }

    /// The record's timestamp as a consumer sees it: the batch's `maxTimestamp` for
    /// `LogAppendTime` batches, else `baseTimestamp + timestampDelta`.
    pub fn timestamp(&self, batch: &RecordBatch<'_>) -> i64 {
        match batch.timestamp_type() {
            TimestampType::LogAppendTime => batch.max_timestamp(),
            TimestampType::CreateTime => batch.base_timestamp().wrapping_add(self.timestamp_delta),
        }
    }

    /// Appends the encoded record (length prefix included) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(
            16 + self.key.as_ref().map_or(0, |k| k.len())
                + self.value.as_ref().map_or(0, |v| v.len()),
        );
        body.push(0); // attributes: unused in v2
        write_varlong(&mut body, self.timestamp_delta);
        write_varint(&mut body, self.offset_delta);
        write_nullable_bytes(&mut body, self.key.as_deref());
        write_nullable_bytes(&mut body, self.value.as_deref());
        write_varint(&mut body, len_i32(self.headers.len()));
        for (k, v) in &self.headers {
            write_varint(&mut body, len_i32(k.len()));
            body.extend_from_slice(k.as_bytes());
            write_nullable_bytes(&mut body, v.as_deref());
        }
        write_varint(out, len_i32(body.len()));
        out.extend_from_slice(&body);
    }
}

/// Lengths inside one batch are bounded by the i32 batch length; saturate rather than wrap
/// so an absurd input makes an invalid (rejected) batch instead of a misleading one.
fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn write_nullable_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, len_i32(b.len()));
            out.extend_from_slice(b);
        }
    }
}

/// Appends a zig-zag varint (Kafka `ByteUtils.writeVarint`).
pub fn write_varint(out: &mut Vec<u8>, value: i32) {
    let mut v = ((value << 1) ^ (value >> 31)) as u32;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a zig-zag varlong (Kafka `ByteUtils.writeVarlong`).
pub fn write_varlong(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a zig-zag varint at `*pos`, advancing it. At most 5 bytes, as in Kafka.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, String> {
    let mut raw: u32 = 0;
    for i in 0..5 {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        raw |= u32::from(b & 0x7f).wrapping_shl(7 * i);
        if b & 0x80 == 0 {
            return Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32));
        }
    }
    Err("varint longer than 5 bytes".to_string())
}

/// Reads a zig-zag varlong at `*pos`, advancing it. At most 10 bytes, as in Kafka.
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, String> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(*pos).ok_or("truncated varlong")?;
        *pos += 1;
        raw |= u64::from(b & 0x7f).wrapping_shl(7 * i);
        if b & 0x80 == 0 {
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    Err("varlong longer than 10 bytes".to_string())
}

/// Cursor over one decoded records blob; every read is bounds-checked.
struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    end: usize,
}

impl Reader<'_> {
    fn slice(&self) -> &[u8] {
        &self.buf[..self.end]
    }
    fn varint(&mut self) -> Result<i32, String> {
        let mut p = self.pos;
        let v = read_varint(self.slice(), &mut p)?;
        self.pos = p;
        Ok(v)
    }
    fn varlong(&mut self) -> Result<i64, String> {
        let mut p = self.pos;
        let v = read_varlong(self.slice(), &mut p)?;
        self.pos = p;
        Ok(v)
    }
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.slice().get(self.pos).ok_or("truncated record")?;
        self.pos += 1;
        Ok(b)
    }
    /// A length-prefixed byte string; -1 is null, other negatives are malformed.
    fn nullable_bytes(&mut self, what: &str) -> Result<Option<Bytes>, String> {
        let len = self.varint()?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| format!("negative {what} length {len}"))?;
        if self.end - self.pos < len {
            return Err(format!(
                "{what} length {len} exceeds the {} bytes left",
                self.end - self.pos
            ));
        }
        let b = self.buf.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(Some(b))
    }
}

/// Decodes every record of `batch`, decompressing its payload if needed (bounded by
/// [`crate::MAX_DECOMPRESSED_BYTES`]). Fails if the records do not exactly fill the payload
/// or their number differs from the header's `recordsCount` (Kafka does the same).
pub fn decode_records(batch: &RecordBatch<'_>) -> Result<Vec<Record>, RecordsError> {
    let base_offset = batch.base_offset();
    let malformed = |message: String| RecordsError::MalformedRecord {
        base_offset,
        message,
    };
    let payload = match batch.compression()? {
        Compression::None => Bytes::copy_from_slice(batch.records_payload()),
        codec => Bytes::from(codec.decompress(batch.records_payload())?),
    };
    let count = batch.records_count();
    let count =
        usize::try_from(count).map_err(|_| malformed(format!("negative records count {count}")))?;
    // Each record takes at least 7 bytes, so never reserve more than the payload can hold.
    let mut records = Vec::with_capacity(count.min(payload.len() / 7 + 1));
    let mut r = Reader {
        buf: &payload,
        pos: 0,
        end: payload.len(),
    };
    for i in 0..count {
        let len = r.varint().map_err(&malformed)?;
        let len = usize::try_from(len)
            .map_err(|_| malformed(format!("record {i}: negative length {len}")))?;
        if payload.len() - r.pos < len {
            return Err(malformed(format!(
                "record {i}: length {len} exceeds the {} bytes left",
                payload.len() - r.pos
            )));
        }
        let end = r.pos + len;
        let mut rec = Reader {
            buf: &payload,
            pos: r.pos,
            end,
        };
        let record = decode_one(&mut rec).map_err(|m| malformed(format!("record {i}: {m}")))?;
        if rec.pos != end {
            return Err(malformed(format!(
                "record {i}: declared length {len} but the fields use {}",
                rec.pos - r.pos
            )));
        }
        r.pos = end;
        records.push(record);
    }
    if r.pos != payload.len() {
        return Err(malformed(format!(
            "{} bytes left after the {count} records the header declares",
            payload.len() - r.pos
        )));
    }
    Ok(records)
}

fn decode_one(r: &mut Reader<'_>) -> Result<Record, String> {
    let _attributes = r.byte()?;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint()?;
    let key = r.nullable_bytes("key")?;
    let value = r.nullable_bytes("value")?;
    let header_count = r.varint()?;
    let header_count = usize::try_from(header_count)
        .map_err(|_| format!("negative header count {header_count}"))?;
    // A header takes at least 2 bytes.
    let mut headers = Vec::with_capacity(header_count.min((r.end - r.pos) / 2 + 1));
    for _ in 0..header_count {
        let k = r.nullable_bytes("header key")?.ok_or("null header key")?;
        let k = String::from_utf8(k.to_vec()).map_err(|_| "header key is not UTF-8".to_string())?;
        let v = r.nullable_bytes("header value")?;
        headers.push((k, v));
    }
    Ok(Record {
        offset_delta,
        timestamp_delta,
        key,
        value,
        headers,
    })
}

/// Control record types (Kafka `ControlRecordType`), from a control record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    Abort,
    Commit,
    LeaderChange,
    SnapshotHeader,
    SnapshotFooter,
    KraftVersion,
    KraftVoters,
    /// A type this code does not know; Kafka ignores these.
    Unknown(i16),
}

impl ControlRecordType {
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KraftVersion,
            6 => ControlRecordType::KraftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KraftVersion => 5,
            ControlRecordType::KraftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }
    /// Parses a control record key: `version i16, type i16`. A key shorter than 4 bytes or
    /// with a negative version is invalid (as in Kafka); newer versions are read as v0.
    pub fn parse_key(key: &[u8]) -> Result<Self, String> {
        if key.len() < 4 {
            return Err(format!(
                "control record key has {} bytes, expected at least 4",
                key.len()
            ));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(format!("control record key has negative version {version}"));
        }
        Ok(Self::from_id(i16::from_be_bytes([key[2], key[3]])))
    }
    /// The 4-byte key for this type (version 0).
    pub fn key(self) -> [u8; 4] {
        let t = self.id().to_be_bytes();
        [0, 0, t[0], t[1]]
    }
}

/// The type of a control batch's record. `Ok(None)` when the batch is not a control batch
/// or is empty (compaction may empty a control batch entirely).
pub fn control_record_type(
    batch: &RecordBatch<'_>,
) -> Result<Option<ControlRecordType>, RecordsError> {
    if !batch.is_control() {
        return Ok(None);
    }
    let records = decode_records(batch)?;
    let Some(first) = records.first() else {
        return Ok(None);
    };
    let key = first
        .key
        .as_deref()
        .ok_or_else(|| RecordsError::MalformedRecord {
            base_offset: batch.base_offset(),
            message: "control record has a null key".to_string(),
        })?;
    ControlRecordType::parse_key(key)
        .map(Some)
        .map_err(|message| RecordsError::MalformedRecord {
            base_offset: batch.base_offset(),
            message,
        })
}

/// Value of an ABORT/COMMIT control record (Kafka `EndTransactionMarker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub version: i16,
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    pub fn parse(value: &[u8]) -> Result<Self, String> {
        if value.len() < 6 {
            return Err(format!(
                "end transaction marker has {} bytes, expected 6",
                value.len()
            ));
        }
        let version = i16::from_be_bytes([value[0], value[1]]);
        if version < 0 {
            return Err(format!(
                "end transaction marker has negative version {version}"
            ));
        }
        Ok(EndTxnMarker {
            version,
            coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
        })
    }
    pub fn encode(&self) -> [u8; 6] {
        let v = self.version.to_be_bytes();
        let e = self.coordinator_epoch.to_be_bytes();
        [v[0], v[1], e[0], e[1], e[2], e[3]]
    }
}

/// Builds one complete, valid v2 batch: lengths, counts and CRC computed from the records.
///
/// ```
/// use strait_records::{BatchBuilder, Compression, RecordBatch};
/// let bytes = BatchBuilder::new(0)
///     .compression(Compression::Lz4)
///     .append(1_700_000_000_000, Some(b"k"), Some(b"v"))
///     .build()
///     .unwrap();
/// let batch = RecordBatch::new(&bytes).unwrap();
/// assert!(batch.validate_crc().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    compression: Compression,
    timestamp_type: TimestampType,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    base_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    last_offset_delta: Option<i32>,
    delete_horizon: bool,
    records: Vec<Record>,
}

impl BatchBuilder {
    /// A batch at `base_offset`, no leader epoch, no compression, `CreateTime`, no producer.
    pub fn new(base_offset: i64) -> Self {
        BatchBuilder {
            base_offset,
            partition_leader_epoch: -1,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
            base_timestamp: None,
            max_timestamp: None,
            last_offset_delta: None,
            delete_horizon: false,
            records: Vec::new(),
        }
    }

    /// A transaction marker batch (ABORT or COMMIT) for `producer_id`.
    pub fn end_txn_marker(
        base_offset: i64,
        marker: ControlRecordType,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        timestamp: i64,
    ) -> Self {
        let value = EndTxnMarker {
            version: 0,
            coordinator_epoch,
        }
        .encode();
        BatchBuilder::new(base_offset)
            .producer(producer_id, producer_epoch, -1)
            .transactional(true)
            .control(true)
            .append(timestamp, Some(&marker.key()), Some(&value))
    }

    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }
    pub fn leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }
    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.timestamp_type = timestamp_type;
        self
    }
    /// Idempotent/transactional producer fields.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }
    pub fn control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }
    /// Fixes `baseTimestamp`; by default it is the first appended record's timestamp.
    pub fn base_timestamp(mut self, ts: i64) -> Self {
        self.base_timestamp = Some(ts);
        self
    }
    /// Overrides the header's `maxTimestamp` (default: the largest record timestamp).
    pub fn max_timestamp(mut self, ts: i64) -> Self {
        self.max_timestamp = Some(ts);
        self
    }
    /// Overrides `lastOffsetDelta`, e.g. to model a compacted batch whose last records were
    /// removed. Default: the largest record offset delta (or 0 for an empty batch).
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta = Some(delta);
        self
    }

    /// Sets the KIP-534 delete-horizon bit with `horizon_ms` as `baseTimestamp` (record
    /// timestamps stay `baseTimestamp + timestampDelta`, so call this before appending).
    pub fn delete_horizon(mut self, horizon_ms: i64) -> Self {
        self.delete_horizon = true;
        self.base_timestamp = Some(horizon_ms);
        self
    }

    /// Adds a record at the next offset delta, with an absolute timestamp.
    pub fn append(self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        self.append_with_headers(timestamp, key, value, Vec::new())
    }

    /// Adds a record with headers at the next offset delta, with an absolute timestamp.
    pub fn append_with_headers(
        mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Vec<(String, Option<Bytes>)>,
    ) -> Self {
        let base_ts = *self.base_timestamp.get_or_insert(timestamp);
        let offset_delta = self
            .records
            .last()
            .map_or(0, |r| r.offset_delta.saturating_add(1));
        self.records.push(Record {
            offset_delta,
            timestamp_delta: timestamp.wrapping_sub(base_ts),
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers,
        });
        self
    }

    /// Adds a record exactly as given (deltas relative to this batch).
    pub fn push(mut self, record: Record) -> Self {
        self.records.push(record);
        self
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Encodes the batch.
    pub fn build(&self) -> Result<Vec<u8>, RecordsError> {
        let mut raw = Vec::new();
        for r in &self.records {
            r.encode_into(&mut raw);
        }
        let payload = self.compression.compress(&raw)?;
        let too_big = || RecordsError::Codec {
            codec: "none",
            message: format!(
                "batch of {} record bytes does not fit an i32 length",
                payload.len()
            ),
        };
        let batch_length = i32::try_from(RECORD_BATCH_OVERHEAD - LOG_OVERHEAD + payload.len())
            .map_err(|_| too_big())?;
        let count = i32::try_from(self.records.len()).map_err(|_| too_big())?;
        let base_ts = if self.records.is_empty() {
            self.base_timestamp.unwrap_or(-1)
        } else {
            self.base_timestamp.unwrap_or(0)
        };
        let max_ts = self.max_timestamp.unwrap_or_else(|| {
            self.records
                .iter()
                .map(|r| base_ts.wrapping_add(r.timestamp_delta))
                .max()
                .unwrap_or(-1)
        });
        let last_delta = self.last_offset_delta.unwrap_or_else(|| {
            self.records
                .iter()
                .map(|r| r.offset_delta)
                .max()
                .unwrap_or(0)
        });
        let mut attributes = RecordBatch::attributes_for(
            self.compression,
            self.timestamp_type,
            self.transactional,
            self.control,
        );
        if self.delete_horizon {
            attributes |= crate::batch::layout::DELETE_HORIZON_BIT;
        }

        let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + payload.len());
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.push(2); // magic
        out.extend_from_slice(&0u32.to_be_bytes()); // CRC, filled below
        out.extend_from_slice(&attributes.to_be_bytes());
        out.extend_from_slice(&last_delta.to_be_bytes());
        out.extend_from_slice(&base_ts.to_be_bytes());
        out.extend_from_slice(&max_ts.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        debug_assert_eq!(out.len(), RECORD_BATCH_OVERHEAD);
        out.extend_from_slice(&payload);
        write_crc(&mut out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BatchIter;

    #[test]
    fn varint_known_encodings() {
        // Values from Kafka's ByteUtilsTest.
        let cases: [(i32, &[u8]); 5] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
        ];
        for (v, enc) in cases {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(out, enc, "{v}");
            let mut p = 0;
            assert_eq!(read_varint(&out, &mut p).unwrap(), v);
        }
        for v in [i32::MIN, i32::MAX, 300, -300] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            let mut p = 0;
            assert_eq!(read_varint(&out, &mut p).unwrap(), v);
            assert_eq!(p, out.len());
        }
        for v in [i64::MIN, i64::MAX, 0, -1, 1 << 40] {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            let mut p = 0;
            assert_eq!(read_varlong(&out, &mut p).unwrap(), v);
        }
        assert!(read_varint(&[0xff; 6], &mut 0).is_err());
        assert!(read_varlong(&[0xff; 11], &mut 0).is_err());
    }

    #[test]
    fn builder_round_trip_with_headers() {
        let bytes = BatchBuilder::new(42)
            .leader_epoch(7)
            .producer(1000, 3, 17)
            .append(1_000, Some(b"a"), None)
            .append_with_headers(
                1_005,
                None,
                Some(b"value"),
                vec![
                    ("h".into(), Some(Bytes::from_static(b"x"))),
                    ("n".into(), None),
                ],
            )
            .build()
            .unwrap();
        let batch = RecordBatch::new(&bytes).unwrap();
        batch.validate_crc().unwrap();
        assert_eq!(batch.base_offset(), 42);
        assert_eq!(batch.last_offset(), 43);
        assert_eq!(batch.partition_leader_epoch(), 7);
        assert_eq!(batch.base_timestamp(), 1_000);
        assert_eq!(batch.max_timestamp(), 1_005);
        assert_eq!(batch.producer_id(), 1000);
        assert_eq!(batch.base_sequence(), 17);
        assert_eq!(batch.last_sequence(), 18);
        let recs = decode_records(&batch).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].offset(&batch), 43);
        assert_eq!(recs[1].timestamp(&batch), 1_005);
        assert_eq!(recs[1].headers.len(), 2);
        assert_eq!(recs[0].value, None);
    }

    #[test]
    fn control_marker() {
        let bytes = BatchBuilder::end_txn_marker(9, ControlRecordType::Abort, 5, 1, 12, 77)
            .build()
            .unwrap();
        let batch = RecordBatch::new(&bytes).unwrap();
        assert!(batch.is_control() && batch.is_transactional());
        assert_eq!(
            control_record_type(&batch).unwrap(),
            Some(ControlRecordType::Abort)
        );
        let rec = &decode_records(&batch).unwrap()[0];
        let m = EndTxnMarker::parse(rec.value.as_deref().unwrap()).unwrap();
        assert_eq!(m.coordinator_epoch, 12);
        assert_eq!(
            ControlRecordType::parse_key(&[0, 0, 0, 9]).unwrap(),
            ControlRecordType::Unknown(9)
        );
        assert!(ControlRecordType::parse_key(&[0, 0, 0]).is_err());
        assert!(ControlRecordType::parse_key(&[0xff, 0xff, 0, 0]).is_err());
        let data = BatchBuilder::new(0)
            .append(1, None, Some(b"x"))
            .build()
            .unwrap();
        assert_eq!(
            control_record_type(&RecordBatch::new(&data).unwrap()).unwrap(),
            None
        );
    }

    #[test]
    fn record_count_mismatch_is_an_error() {
        let mut bytes = BatchBuilder::new(0)
            .append(1, None, Some(b"x"))
            .build()
            .unwrap();
        bytes[60] = 2; // recordsCount = 2
        write_crc(&mut bytes);
        let batch = RecordBatch::new(&bytes).unwrap();
        assert!(decode_records(&batch).is_err());
    }

    #[test]
    fn empty_batch() {
        let bytes = BatchBuilder::new(5).build().unwrap();
        let batch = RecordBatch::new(&bytes).unwrap();
        assert_eq!(batch.records_count(), 0);
        assert_eq!(batch.base_timestamp(), -1);
        assert!(decode_records(&batch).unwrap().is_empty());
        assert_eq!(BatchIter::new(&bytes).count(), 1);
    }
}
