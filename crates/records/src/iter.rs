//! Framing of concatenated record batches.
//!
//! The partial-tail rule: a buffer may end inside a batch (Kafka's fetch path slices bytes,
//! not batches). A batch is yielded only when its 12-byte prefix and all `batchLength` bytes
//! after it are present; iteration then stops quietly and [`BatchIter::trailing_bytes`]
//! says how much was left. Structural problems (a length too small to hold a header, a
//! magic other than 2) are errors, after which iteration ends.

use crate::batch::{layout, RecordBatch, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD};
use crate::RecordsError;

/// Iterator over the complete batches at the front of a buffer.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            buf,
            position: 0,
            failed: false,
        }
    }

    /// Byte position of the next batch (after the last one yielded).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes after the last complete batch. Non-zero means a partial trailing batch (or,
    /// after an error, the bytes from the bad batch on).
    pub fn trailing_bytes(&self) -> usize {
        self.buf.len() - self.position
    }

    /// Frames every batch and requires the buffer to end exactly at a batch boundary, as a
    /// Produce request must.
    pub fn frame_all(buf: &'a [u8]) -> Result<Vec<RecordBatch<'a>>, RecordsError> {
        let mut it = BatchIter::new(buf);
        let mut out = Vec::new();
        for batch in it.by_ref() {
            out.push(batch?);
        }
        if it.trailing_bytes() != 0 {
            return Err(RecordsError::PartialBatch {
                position: it.position(),
                remaining: it.trailing_bytes(),
            });
        }
        Ok(out)
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<RecordBatch<'a>, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = &self.buf[self.position..];
        if rest.len() < LOG_OVERHEAD {
            return None;
        }
        let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let min = RECORD_BATCH_OVERHEAD - LOG_OVERHEAD;
        if length < min as i32 {
            self.failed = true;
            return Some(Err(RecordsError::BatchTooSmall {
                position: self.position,
                length,
                min,
            }));
        }
        // The magic byte sits before the CRC, so it can be checked as soon as it arrives.
        if rest.len() > layout::MAGIC && rest[layout::MAGIC] != 2 {
            self.failed = true;
            return Some(Err(RecordsError::UnsupportedMagic {
                position: self.position,
                magic: rest[layout::MAGIC] as i8,
            }));
        }
        let total = LOG_OVERHEAD + length as usize;
        if rest.len() < total {
            return None;
        }
        self.position += total;
        Some(Ok(RecordBatch::from_framed(&rest[..total])))
    }
}
