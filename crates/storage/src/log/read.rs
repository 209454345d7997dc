//! The read paths of [`PartitionLog`]: Fetch reads of whole batches and ListOffsets
//! lookups by timestamp. All take `&self` and use `pread`, so they run under a read lock.

use bytes::Bytes;
use strait_records::{decode_records, RecordBatch};

use super::{all_segments, corrupt, PartitionLog};
use crate::error::{ReadError, StorageError};
use crate::segment::{FileSlice, LogSlice, Segment};
use crate::{FetchIsolation, LogReadInfo, TimestampOffset};

impl PartitionLog {
    /// A Fetch read at an isolation level (Kafka `UnifiedLog.read`): up to the log end,
    /// the high watermark or the last stable offset. `TxnCommitted` reads also carry the
    /// aborted transactions overlapping the returned batches (Kafka's
    /// `addAbortedTransactions`, with the exact offset after the last returned batch as the
    /// upper bound); the broker still returns aborted batches and the client drops them.
    pub fn read_isolated(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        isolation: FetchIsolation,
        min_one_batch: bool,
    ) -> Result<LogReadInfo, ReadError> {
        let slice = self.read_isolated_slice(fetch_offset, max_bytes, isolation, min_one_batch)?;
        Self::materialize(slice)
    }

    /// [`Self::read_isolated`] with the records left in the segment file: the same batches
    /// and offsets, as a [`FileSlice`] a plaintext connection sends with `sendfile(2)` (or
    /// reads later with [`FileSlice::read`]). The range is fixed here, under the caller's
    /// read lock, by exactly the rules of a read.
    pub fn read_isolated_slice(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        isolation: FetchIsolation,
        min_one_batch: bool,
    ) -> Result<LogSlice, ReadError> {
        let max_offset = self.fetchable_offset(isolation);
        let mut slice = self.read_slice(fetch_offset, max_bytes, max_offset, min_one_batch)?;
        if isolation == FetchIsolation::TxnCommitted {
            slice.aborted_transactions = Some(match slice.last_offset {
                Some(last) => self.collect_aborted_transactions(fetch_offset, last + 1),
                None => Vec::new(),
            });
        }
        Ok(slice)
    }

    /// Reads whole batches from the first one whose last offset is `>= fetch_offset`, up to
    /// (excluding) any batch starting at or after `max_offset`, within `max_bytes` — except
    /// that with `min_one_batch` the first batch is returned whole even if larger. Reads stay
    /// within one segment (as Kafka's do); the caller fetches again for more.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<LogReadInfo, ReadError> {
        let slice = self.read_slice(fetch_offset, max_bytes, max_offset, min_one_batch)?;
        Self::materialize(slice)
    }

    fn materialize(slice: LogSlice) -> Result<LogReadInfo, ReadError> {
        let records = if slice.records.is_empty() {
            Bytes::new()
        } else {
            Bytes::from(slice.records.read()?)
        };
        Ok(LogReadInfo {
            records,
            high_watermark: slice.high_watermark,
            last_stable_offset: slice.last_stable_offset,
            log_start_offset: slice.log_start_offset,
            aborted_transactions: slice.aborted_transactions,
        })
    }

    /// [`Self::read`] as a range of the segment file.
    fn read_slice(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<LogSlice, ReadError> {
        self.check_online().map_err(ReadError::Offline)?;
        if fetch_offset < self.log_start_offset || fetch_offset > self.log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                offset: fetch_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        let mut info = LogSlice {
            records: FileSlice::empty(),
            last_offset: None,
            high_watermark: self.high_watermark(),
            last_stable_offset: self.last_stable_offset(),
            log_start_offset: self.log_start_offset,
            aborted_transactions: None,
        };
        for seg in self.segments_from(fetch_offset) {
            let Some((start, first, first_size)) = seg.find_first_batch(fetch_offset)? else {
                continue;
            };
            if first.base_offset >= max_offset {
                return Ok(info);
            }
            let mut len = 0usize;
            let mut last_offset = first.last_offset();
            if first_size <= max_bytes || min_one_batch {
                len = first_size;
                let mut scan = seg.scan_headers_from(start + first_size as u64);
                while let Some((_, h, size)) = scan.next_header()? {
                    if h.base_offset >= max_offset || len + size > max_bytes {
                        break;
                    }
                    len += size;
                    last_offset = h.last_offset();
                }
            }
            if len > 0 {
                info.records = seg.slice(start, len)?;
                info.last_offset = Some(last_offset);
            }
            return Ok(info);
        }
        Ok(info)
    }

    /// Segments that may hold `offset` or anything after it, in order.
    pub(super) fn segments_from(&self, offset: i64) -> impl Iterator<Item = &Segment> {
        let older = match self.older.range(..=offset).next_back() {
            Some((&floor, _)) => self.older.range(floor..),
            None => self.older.range(..),
        };
        older.map(|(_, s)| s).chain(std::iter::once(&self.active))
    }

    fn read_batch(seg: &Segment, pos: u64, size: usize) -> Result<Vec<u8>, StorageError> {
        Ok(seg.read_at(pos, size)?)
    }

    /// ListOffsets by timestamp for a consumer at `isolation` (Kafka `fetchOffsetForTimestamp`
    /// with its `lastFetchableOffset`): [`Self::offset_for_timestamp`], but `None` when the
    /// record found is at or above [`Self::fetchable_offset`] — an uncommitted record is not
    /// reported, and Kafka does not search further back either.
    pub fn offset_for_timestamp_isolated(
        &self,
        target_ms: i64,
        isolation: FetchIsolation,
    ) -> Result<Option<TimestampOffset>, StorageError> {
        let bound = self.fetchable_offset(isolation);
        Ok(self
            .offset_for_timestamp(target_ms)?
            .filter(|t| t.offset < bound))
    }

    /// ListOffsets MAX_TIMESTAMP for a consumer at `isolation`: [`Self::max_timestamp_offset`],
    /// `None` when that record is at or above [`Self::fetchable_offset`] (Kafka's filter).
    pub fn max_timestamp_offset_isolated(
        &self,
        isolation: FetchIsolation,
    ) -> Result<Option<TimestampOffset>, StorageError> {
        let bound = self.fetchable_offset(isolation);
        Ok(self.max_timestamp_offset()?.filter(|t| t.offset < bound))
    }

    /// ListOffsets by timestamp over the whole log (replica view, up to the log end; see
    /// [`Self::offset_for_timestamp_isolated`] for consumers): the first record (at or
    /// after the log start) whose timestamp is `>= target_ms`, found via the time index
    /// and decoded like Kafka does.
    pub fn offset_for_timestamp(
        &self,
        target_ms: i64,
    ) -> Result<Option<TimestampOffset>, StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        for seg in all_segments(&self.older, &self.active) {
            if seg.max_timestamp() < target_ms {
                continue;
            }
            let mut scan = seg.scan_from(seg.position_for_timestamp(target_ms), 64 * 1024);
            while let Some((pos, h, size)) = scan.next_header()? {
                if h.max_timestamp < target_ms || h.last_offset() < self.log_start_offset {
                    continue;
                }
                let bytes = Self::read_batch(seg, pos, size)?;
                let batch = RecordBatch::new(&bytes).map_err(|e| corrupt(seg.log_path(), e))?;
                let records = decode_records(&batch).map_err(|e| corrupt(seg.log_path(), e))?;
                for r in &records {
                    let (offset, timestamp) = (r.offset(&batch), r.timestamp(&batch));
                    if timestamp >= target_ms && offset >= self.log_start_offset {
                        return Ok(Some(TimestampOffset {
                            timestamp,
                            offset,
                            leader_epoch: (h.partition_leader_epoch >= 0)
                                .then_some(h.partition_leader_epoch),
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP over the whole log (replica view; see
    /// [`Self::max_timestamp_offset_isolated`]): the first record carrying the largest
    /// timestamp.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>, StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        let mut best: Option<&Segment> = None;
        for seg in all_segments(&self.older, &self.active) {
            if seg.max_timestamp() >= 0
                && best.is_none_or(|b| seg.max_timestamp() > b.max_timestamp())
            {
                best = Some(seg);
            }
        }
        let Some(seg) = best else { return Ok(None) };
        let target = seg.max_timestamp();
        let mut scan = seg.scan();
        while let Some((pos, h, size)) = scan.next_header()? {
            if h.max_timestamp != target || h.last_offset() < self.log_start_offset {
                continue;
            }
            let leader_epoch = (h.partition_leader_epoch >= 0).then_some(h.partition_leader_epoch);
            let bytes = Self::read_batch(seg, pos, size)?;
            let batch = RecordBatch::new(&bytes).map_err(|e| corrupt(seg.log_path(), e))?;
            let records = decode_records(&batch).map_err(|e| corrupt(seg.log_path(), e))?;
            for r in &records {
                let offset = r.offset(&batch);
                if r.timestamp(&batch) == target && offset >= self.log_start_offset {
                    return Ok(Some(TimestampOffset {
                        timestamp: target,
                        offset,
                        leader_epoch,
                    }));
                }
            }
        }
        Ok(None)
    }
}
