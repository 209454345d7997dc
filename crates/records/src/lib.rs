//! Kafka record batches (magic v2), byte-exact.
//!
//! This crate owns the on-wire and on-disk unit of Kafka data: the record batch. It knows
//! no sockets and no files. The invariants it guards:
//!
//! * A batch is read through [`RecordBatch`], a zero-copy view over its bytes. Nothing here
//!   rewrites a field covered by the CRC except [`batch::set_max_timestamp`], which
//!   recomputes the CRC (Kafka does the same for `LogAppendTime` topics).
//! * `baseOffset` and `partitionLeaderEpoch` lie outside the CRC, so the leader append path
//!   may stamp them freely; the mirror path must not.
//! * [`BatchIter`] frames a buffer of concatenated batches and stops, without error, at a
//!   partial trailing batch (a fetch response may end mid-batch); it reports how many bytes
//!   it left behind so callers that require whole batches (Produce) can reject them.
//!
//! # Layout
//! * [`batch`]: the 61-byte header view, CRC-32C, field setters.
//! * [`iter`]: framing of concatenated batches, the partial-tail rule.
//! * [`compression`]: gzip, snappy (xerial framing), lz4 (frame format), zstd.
//! * [`record`]: individual records inside a batch, control records, and a batch builder.
//! * [`rewrite`]: rebuilding a batch that lost records to compaction (offsets, sequence,
//!   producer fields, epoch and codec kept; KIP-534 delete horizon).

pub mod batch;
pub mod compression;
pub mod iter;
pub mod record;
pub mod rewrite;

pub use batch::{BatchHeader, RecordBatch, TimestampType, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD};
pub use compression::{Compression, MAX_DECOMPRESSED_BYTES};
pub use iter::BatchIter;
pub use record::{
    control_record_type, decode_records, BatchBuilder, ControlRecordType, EndTxnMarker, Record,
};

/// Everything that can be wrong with record bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordsError {
    #[error(
        "record batch at byte {position}: batchLength {length} is smaller than the minimum {min}"
    )]
    BatchTooSmall {
        position: usize,
        length: i32,
        min: usize,
    },
    #[error("record batch at byte {position}: unsupported magic {magic} (only v2 is supported)")]
    UnsupportedMagic { position: usize, magic: i8 },
    #[error(
        "record batch with baseOffset {base_offset}: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    CrcMismatch {
        base_offset: i64,
        stored: u32,
        computed: u32,
    },
    #[error(
        "record batch at byte {position}: {remaining} trailing bytes do not form a complete batch"
    )]
    PartialBatch { position: usize, remaining: usize },
    #[error("record batch with baseOffset {base_offset}: unknown compression codec {codec}")]
    UnknownCompression { base_offset: i64, codec: i16 },
    #[error("{codec} (de)compression failed: {message}")]
    Codec {
        codec: &'static str,
        message: String,
    },
    #[error("malformed record in batch with baseOffset {base_offset}: {message}")]
    MalformedRecord { base_offset: i64, message: String },
}
