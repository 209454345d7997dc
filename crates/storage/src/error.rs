//! Errors of the partition log. Every message names what failed and where (offset, file),
//! and each variant maps to one Kafka error code (noted per variant) in the broker.

use std::io;
use std::path::{Path, PathBuf};

use strait_records::RecordsError;

/// Why an append was refused. Nothing is written when an append fails validation.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Framing, magic or CRC is wrong, or records cannot be decoded. Kafka: CORRUPT_MESSAGE (2).
    #[error("corrupt record batch: {0}")]
    Corrupt(RecordsError),
    /// Well-formed bytes that break a rule (control batch from a client, count mismatch,
    /// missing sequence, ...). Kafka: INVALID_RECORD (87).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A record without a key on a `cleanup.policy=compact` topic (leader path only; the
    /// broker adds the partition to Kafka's message). Kafka: INVALID_RECORD (87).
    /// `batch` is the batch's position in the request, `batch_index` the record's index
    /// inside it (Kafka's `record_errors.batch_index`).
    #[error(
        "Compacted topic cannot accept message without key (batch {batch}, record {batch_index})"
    )]
    CompactedTopicRequiresKey { batch: usize, batch_index: usize },
    /// A batch larger than `max.message.bytes`. Kafka: MESSAGE_TOO_LARGE (10).
    #[error("record batch of {size} bytes exceeds max.message.bytes ({max})")]
    RecordTooLarge { size: usize, max: u32 },
    /// Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    #[error(
        "out of order sequence number for producer {producer_id} epoch {producer_epoch}: \
         batch base sequence {base_sequence}, last sequence in the log {last_sequence}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        last_sequence: i32,
    },
    /// Kafka: INVALID_PRODUCER_EPOCH (47).
    #[error("producer {producer_id} epoch {producer_epoch} is older than the current epoch {current_epoch}")]
    InvalidProducerEpoch {
        producer_id: i64,
        producer_epoch: i16,
        current_epoch: i16,
    },
    /// A transactional write the log cannot accept: a client batch with the transactional
    /// bit (Strait has no transaction coordinator yet, so no partition was ever added to a
    /// transaction — Kafka's leader answers an unverified transactional write the same way),
    /// or a marker for a producer with an older epoch. Kafka: INVALID_TXN_STATE (48).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// A marker whose coordinator epoch is older than the last one seen for the producer
    /// (a zombie coordinator). Kafka: TRANSACTION_COORDINATOR_FENCED (52).
    #[error(
        "transaction marker for producer {producer_id} has coordinator epoch {coordinator_epoch}, \
         older than the current {current_coordinator_epoch}"
    )]
    TransactionCoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current_coordinator_epoch: i32,
    },
    /// Mirror path: the first batch starts below the log end offset.
    #[error("first batch has baseOffset {first_offset} below the log end offset {log_end_offset}")]
    UnexpectedAppendOffset {
        first_offset: i64,
        log_end_offset: i64,
    },
    /// Mirror path: a batch does not start after the previous one ends.
    #[error("offsets out of order: batch at baseOffset {base_offset} follows a batch ending at {previous_last_offset}")]
    OffsetsOutOfOrder {
        base_offset: i64,
        previous_last_offset: i64,
    },
    /// Kafka: KAFKA_STORAGE_ERROR (56).
    #[error("storage I/O error: {0}")]
    Io(io::Error),
    /// The partition went offline after an earlier I/O error left its files and memory out
    /// of step; nothing is written until a restart recovers it. Kafka: KAFKA_STORAGE_ERROR (56).
    #[error("{0}")]
    Offline(Offline),
}

/// Why a partition log is offline: which directory, and the error that took it there.
#[derive(Debug, Clone, thiserror::Error)]
#[error("partition log {} is offline after a storage error ({cause}); restart the broker to recover it", dir.display())]
pub struct Offline {
    pub dir: PathBuf,
    pub cause: String,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Kafka: OFFSET_OUT_OF_RANGE (1).
    #[error("fetch offset {offset} is out of range [log start {log_start_offset}, log end {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// Kafka: KAFKA_STORAGE_ERROR (56).
    #[error("storage I/O error: {0}")]
    Io(io::Error),
    /// See [`AppendError::Offline`]. Kafka: KAFKA_STORAGE_ERROR (56).
    #[error("{0}")]
    Offline(Offline),
}

/// Errors of log management operations (open, retention, truncation, checkpoints).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O error: {0}")]
    Io(io::Error),
    #[error("corrupt file {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// DeleteRecords beyond the high watermark. Kafka: OFFSET_OUT_OF_RANGE (1).
    #[error("offset {offset} is out of range [log start {log_start_offset}, high watermark {high_watermark}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        high_watermark: i64,
    },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// See [`AppendError::Offline`]. Kafka: KAFKA_STORAGE_ERROR (56).
    #[error("{0}")]
    Offline(Offline),
}

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        StorageError::Io(e)
    }
}
impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}
impl From<io::Error> for AppendError {
    fn from(e: io::Error) -> Self {
        AppendError::Io(e)
    }
}
impl From<StorageError> for AppendError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(e) => AppendError::Io(e),
            StorageError::Offline(o) => AppendError::Offline(o),
            other => AppendError::Io(io::Error::other(other.to_string())),
        }
    }
}
impl From<StorageError> for ReadError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(e) => ReadError::Io(e),
            StorageError::Offline(o) => ReadError::Offline(o),
            other => ReadError::Io(io::Error::other(other.to_string())),
        }
    }
}

/// How far a failed segment append got (see `Segment::append`).
#[derive(Debug)]
pub(crate) enum AppendFailure {
    /// Nothing of the append is in any file and no in-memory state changed: the log is
    /// exactly as before, the error goes back to the client, a retry is safe.
    NotWritten(io::Error),
    /// Some bytes reached a file (or could not be cut back) while in-memory state does not
    /// describe them: the partition must go offline until a restart recovers it.
    Torn(io::Error),
}

impl AppendFailure {
    /// The underlying error, for writers whose output is discarded on any failure (the
    /// cleaner's `.cleaned` segments).
    pub fn into_io(self) -> io::Error {
        match self {
            AppendFailure::NotWritten(e) | AppendFailure::Torn(e) => e,
        }
    }
}

/// Adds the operation and file to an I/O error, keeping its kind.
pub(crate) fn io_context(op: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}

/// An I/O error for bytes on disk that do not make sense (so reads fail cleanly).
pub(crate) fn invalid_data(path: &Path, message: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {message}", path.display()),
    )
}
