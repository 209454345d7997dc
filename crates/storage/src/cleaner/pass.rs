//! Phase (b) of a cleaning pass: build the offset map over the dirty segments, then write
//! the cleaned groups. Runs with no lock: it reads only non-active segments (immutable
//! until retention, truncation or a swap removes them, all of which bump the generation and
//! make phase (c) discard this output) through its own file handles.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use strait_records::{RecordBatch, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD};

use super::filter::{filter_batch, CompactionFilter, Filtered};
use super::txn::TxnTracker;
use super::{
    CleanPlan, CleanedGroup, CleanedOutput, CleanerContext, CleanerError, CleanerPassStats,
    OffsetMap, SegmentInfo,
};
use crate::checkpoint::sync_dir;
use crate::segment::{BatchMeta, Segment};

/// Smallest I/O buffer, whatever the configured share.
const MIN_IO_BUFFER: usize = 4096;

/// Sequential whole-batch reader over one segment file, bounded by the planned size.
struct BatchReader<'p> {
    file: File,
    path: &'p Path,
    size: u64,
    pos: u64,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<'p> BatchReader<'p> {
    fn open(seg: &'p SegmentInfo, io_buffer: usize) -> Result<Self, CleanerError> {
        let file = File::open(&seg.log_path)
            .map_err(|e| crate::error::io_context("open for cleaning", &seg.log_path, e))?;
        Ok(BatchReader {
            file,
            path: &seg.log_path,
            size: seg.size,
            pos: 0,
            buf: vec![0u8; io_buffer],
            start: 0,
            end: 0,
        })
    }

    fn corrupt(&self, message: String) -> CleanerError {
        CleanerError::Corrupt {
            path: self.path.to_path_buf(),
            message,
        }
    }

    /// The next whole batch (CRC checked), or `None` at the planned end.
    fn next_batch(
        &mut self,
        ctx: &CleanerContext<'_>,
        stats: &mut CleanerPassStats,
    ) -> Result<Option<(usize, usize)>, CleanerError> {
        loop {
            let avail = self.end - self.start;
            let mut need = LOG_OVERHEAD;
            if avail >= LOG_OVERHEAD {
                let b = &self.buf[self.start..];
                let len = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
                let total = usize::try_from(len)
                    .ok()
                    .filter(|l| *l >= RECORD_BATCH_OVERHEAD - LOG_OVERHEAD)
                    .map(|l| l + LOG_OVERHEAD)
                    .ok_or_else(|| {
                        self.corrupt(format!(
                            "batchLength {len} at position {}",
                            self.pos - avail as u64
                        ))
                    })?;
                if avail >= total {
                    let at = self.start;
                    self.start += total;
                    return Ok(Some((at, total)));
                }
                need = total;
            }
            if self.pos >= self.size {
                if avail == 0 {
                    return Ok(None);
                }
                return Err(self.corrupt(format!(
                    "{avail} bytes of a partial batch at the end of the segment"
                )));
            }
            if ctx.abort.load(Ordering::Relaxed) {
                return Err(CleanerError::Aborted);
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end = avail;
            self.start = 0;
            if self.buf.len() < need {
                // One batch larger than the buffer: grow to hold it (Kafka grows too).
                self.buf.resize(need, 0);
            }
            let n = ((self.buf.len() - self.end) as u64).min(self.size - self.pos) as usize;
            self.file
                .read_exact_at(&mut self.buf[self.end..self.end + n], self.pos)
                .map_err(|e| crate::error::io_context("read for cleaning", self.path, e))?;
            self.pos += n as u64;
            self.end += n;
            stats.bytes_read += n as u64;
            ctx.throttler.maybe_throttle(n as u64);
        }
    }

    fn batch(&self, (at, len): (usize, usize)) -> Result<RecordBatch<'_>, CleanerError> {
        let batch =
            RecordBatch::new(&self.buf[at..at + len]).map_err(|e| self.corrupt(e.to_string()))?;
        batch
            .validate_crc()
            .map_err(|e| self.corrupt(e.to_string()))?;
        Ok(batch)
    }
}

/// Maps every keyed data record at or after `start` in `seg`. `false` if the map filled up.
/// Aborted transactions' records are not mapped: they must never supersede a committed
/// value (Kafka's `buildOffsetMapForSegment`).
fn map_segment(
    seg: &SegmentInfo,
    map: &mut OffsetMap,
    start: i64,
    txns: &mut TxnTracker,
    ctx: &CleanerContext<'_>,
    stats: &mut CleanerPassStats,
) -> Result<bool, CleanerError> {
    let mut reader = BatchReader::open(seg, ctx.io_buffer_bytes)?;
    while let Some(span) = reader.next_batch(ctx, stats)? {
        let batch = reader.batch(span)?;
        if batch.is_control() {
            txns.on_marker(&batch)
                .map_err(|e| reader.corrupt(e.to_string()))?;
            continue;
        }
        if txns.on_data_batch(&batch) || batch.last_offset() < start {
            continue;
        }
        let records =
            strait_records::decode_records(&batch).map_err(|e| reader.corrupt(e.to_string()))?;
        for r in &records {
            let offset = r.offset(&batch);
            if let Some(key) = r.key.as_deref() {
                if offset >= start && !map.put(key, offset) {
                    return Ok(false);
                }
            }
        }
        map.update_latest_offset(batch.last_offset());
    }
    Ok(true)
}

/// Kafka's `groupSegmentsBySize`: consecutive segments whose total log size stays within
/// `segment.bytes`, index sizes within `segment.index.bytes`, and offsets within 32 bits of
/// the group's base.
fn group_by_size(
    segments: &[SegmentInfo],
    max_bytes: u64,
    max_index_bytes: u64,
) -> Vec<&[SegmentInfo]> {
    let mut groups = Vec::new();
    let mut from = 0;
    while from < segments.len() {
        let first = &segments[from];
        let (mut size, mut index, mut time) =
            (first.size, first.offset_index_bytes, first.time_index_bytes);
        let mut to = from + 1;
        while let Some(next) = segments.get(to) {
            let last_offset = next.next_offset.max(next.base_offset + 1) - 1;
            if size + next.size > max_bytes
                || index + next.offset_index_bytes > max_index_bytes
                || time + next.time_index_bytes > max_index_bytes
                || last_offset - first.base_offset > i64::from(i32::MAX)
            {
                break;
            }
            size += next.size;
            index += next.offset_index_bytes;
            time += next.time_index_bytes;
            to += 1;
        }
        groups.push(&segments[from..to]);
        from = to;
    }
    groups
}

impl CleanPlan {
    /// Phase (b): one cleaning pass with `map` (cleared first). See the module docs.
    pub fn clean(
        self,
        map: &mut OffsetMap,
        ctx: &CleanerContext<'_>,
        now_ms: i64,
    ) -> Result<CleanedOutput, CleanerError> {
        let started = Instant::now();
        map.clear();
        let io_buffer = ctx.io_buffer_bytes.max(MIN_IO_BUFFER);
        let ctx = CleanerContext {
            io_buffer_bytes: io_buffer,
            ..*ctx
        };
        let mut stats = CleanerPassStats {
            first_dirty_offset: self.first_dirty_offset,
            end_offset: self.first_dirty_offset,
            map_capacity: map.capacity(),
            ..CleanerPassStats::default()
        };
        let mut output = CleanedOutput {
            dir: self.dir.clone(),
            generation: self.generation,
            groups: Vec::new(),
            stats: CleanerPassStats::default(),
        };
        let Some(dirty_from) = self
            .segments
            .iter()
            .position(|s| s.next_offset > self.first_dirty_offset)
        else {
            stats.complete = true;
            output.stats = stats;
            return Ok(output);
        };

        // 1. Map as many whole dirty segments as fit.
        let mut last_mapped = None;
        let mut map_txns = TxnTracker::new(
            self.aborted_txns.clone(),
            self.segments[dirty_from].base_offset,
        );
        for (i, seg) in self.segments.iter().enumerate().skip(dirty_from) {
            if !map_segment(
                seg,
                map,
                self.first_dirty_offset,
                &mut map_txns,
                &ctx,
                &mut stats,
            )? {
                break;
            }
            last_mapped = Some(i);
        }
        let Some(last_mapped) = last_mapped else {
            return Err(CleanerError::OffsetMapTooSmall {
                segment: self.segments[dirty_from].log_path.clone(),
                capacity: map.capacity(),
                memory_bytes: map.memory_bytes(),
            });
        };
        let end_offset = self.segments[last_mapped]
            .next_offset
            .max(self.first_dirty_offset);
        // Records past the mapped range are never superseded by this map's view.
        map.update_latest_offset(end_offset - 1);
        stats.end_offset = end_offset;
        stats.complete = last_mapped + 1 == self.segments.len();
        stats.map_keys = map.len();

        // 2. Rewrite every segment from the log start to the end of the mapped range.
        let to_clean = &self.segments[..=last_mapped];
        let max_bytes = self.config.segment_bytes.min(i32::MAX as u64);
        let max_index = u64::from(self.config.segment_index_bytes);
        let mut filter = CompactionFilter {
            map,
            now_ms,
            delete_retention_ms: self.config.delete_retention_ms,
            producer_last_offsets: &self.producer_last_offsets,
            txns: TxnTracker::new(
                self.aborted_txns.clone(),
                to_clean.first().map_or(0, |s| s.base_offset),
            ),
        };
        for group in group_by_size(to_clean, max_bytes, max_index) {
            let base = group[0].base_offset;
            output.groups.push(CleanedGroup {
                base_offset: base,
                replaced: group.iter().map(|s| s.base_offset).collect(),
            });
            self.write_group(group, &mut filter, &ctx, &mut stats, now_ms)?;
            stats.segments_read += group.len();
            stats.segments_written += 1;
        }
        sync_dir(&self.dir)?;
        stats.elapsed_ms = started.elapsed().as_millis() as u64;
        output.stats = stats;
        Ok(output)
    }

    fn write_group(
        &self,
        group: &[SegmentInfo],
        filter: &mut CompactionFilter<'_>,
        ctx: &CleanerContext<'_>,
        stats: &mut CleanerPassStats,
        now_ms: i64,
    ) -> Result<(), CleanerError> {
        let interval = self.config.index_interval_bytes;
        let mut out = Segment::create_with_suffix(&self.dir, group[0].base_offset, ".cleaned")?;
        let mut pending: Vec<u8> = Vec::with_capacity(ctx.io_buffer_bytes);
        let mut metas: Vec<BatchMeta> = Vec::new();
        let flush = |out: &mut Segment,
                     pending: &mut Vec<u8>,
                     metas: &mut Vec<BatchMeta>,
                     stats: &mut CleanerPassStats|
         -> Result<(), CleanerError> {
            if pending.is_empty() {
                return Ok(());
            }
            out.append(pending, metas, interval, now_ms)
                .map_err(crate::error::AppendFailure::into_io)?;
            stats.bytes_written += pending.len() as u64;
            ctx.throttler.maybe_throttle(pending.len() as u64);
            pending.clear();
            metas.clear();
            Ok(())
        };
        // The newest timestamp of the input, so time retention treats an emptied (or
        // timestamp-less) output like the data it replaces.
        let mut input_max_timestamp = -1i64;
        let mut input_modified_ms = 0i64;
        for seg in group {
            let mut reader = BatchReader::open(seg, ctx.io_buffer_bytes)?;
            if let Ok(Ok(d)) = reader
                .file
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t.duration_since(std::time::UNIX_EPOCH))
            {
                input_modified_ms = input_modified_ms.max(d.as_millis() as i64);
            }
            while let Some(span) = reader.next_batch(ctx, stats)? {
                let batch = reader.batch(span)?;
                stats.batches_read += 1;
                input_max_timestamp = input_max_timestamp.max(batch.max_timestamp());
                let (filtered, counts) =
                    filter_batch(filter, &batch).map_err(|e| reader.corrupt(e.to_string()))?;
                stats.records_read += counts.records_read;
                stats.records_removed += counts.records_removed;
                if let Some(entry) = counts.aborted_entry {
                    out.append_aborted_txn(entry)?;
                }
                let bytes: &[u8] = match &filtered {
                    Filtered::Copy => batch.as_bytes(),
                    Filtered::Rewrite(b) => {
                        stats.batches_rewritten += 1;
                        b
                    }
                    Filtered::Drop => {
                        stats.batches_dropped += 1;
                        continue;
                    }
                };
                let h = RecordBatch::new(bytes)
                    .map_err(|e| reader.corrupt(e.to_string()))?
                    .header();
                metas.push(BatchMeta::of_header(&h, bytes.len()));
                pending.extend_from_slice(bytes);
                if pending.len() >= ctx.io_buffer_bytes {
                    flush(&mut out, &mut pending, &mut metas, stats)?;
                }
            }
        }
        flush(&mut out, &mut pending, &mut metas, stats)?;
        out.set_modified_ms(if input_max_timestamp >= 0 {
            input_max_timestamp
        } else {
            input_modified_ms
        })?;
        out.flush()?;
        Ok(())
    }
}
