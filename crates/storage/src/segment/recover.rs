//! Segment recovery: validating batches (framing, CRC, offsets) from a start position,
//! truncating at the first bad byte and rebuilding index entries from there; and finding
//! that start — the end of the prefix the recovery point vouches for — with the indexing
//! state appending that prefix produced, so a partial recovery indexes exactly as a full
//! one would.

use std::io;

use strait_records::{RecordBatch, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD};

use super::scan::Window;
use super::{BatchMeta, Segment, Stats, RECOVERY_CHUNK};
use crate::error::io_context;
use crate::index::{OffsetEntry, TimeEntry};

/// Where [`Segment::recover`] starts: a position after a trusted prefix, with the indexing
/// state and index entries appending that prefix produced.
pub(super) struct RecoverStart {
    pub(super) position: u64,
    pub(super) stats: Stats,
    offset_entries: Vec<OffsetEntry>,
    time_entries: Vec<TimeEntry>,
}

impl RecoverStart {
    pub(super) fn empty() -> Self {
        RecoverStart {
            position: 0,
            stats: Stats::empty(),
            offset_entries: Vec::new(),
            time_entries: Vec::new(),
        }
    }
}

impl Segment {
    /// Moves `start` forward over the batches that still end below `recovery_point` (a
    /// header scan of at most about `index.interval.bytes`: past the last index entry
    /// below it), accounting them as the append did. None of them earned an index entry
    /// (else that entry would be the last below the recovery point); if one would, or a
    /// header does not check out, the prefix stops there. Recovery then validates only
    /// bytes at or after the recovery point.
    pub(super) fn extend_prefix(
        &self,
        mut start: RecoverStart,
        recovery_point: i64,
        index_interval: u32,
    ) -> RecoverStart {
        let mut scan = self.scan_from(start.position, 64 * 1024);
        while let Ok(Some((pos, h, size))) = scan.next_header() {
            if h.last_offset() >= recovery_point
                || self
                    .check_batch_offsets(&h, start.stats.last_offset)
                    .is_err()
            {
                break;
            }
            let mut stats = start.stats.clone();
            let meta = BatchMeta::of_header(&h, size);
            if stats.account(self.base_offset, &meta, pos, index_interval) != (None, None) {
                break;
            }
            start.stats = stats;
            start.position = pos + size as u64;
        }
        start
    }

    /// Where recovery of a segment whose batches below `recovery_point` are durable can
    /// start, and the indexing state at that point — exactly what appending the prefix
    /// produced, so the rebuilt tail indexes as a full recovery would:
    /// * the prefix ends after the batch of the last offset-index entry below the recovery
    ///   point (that batch, and every one before it, ends below it);
    /// * right after accounting that batch, `Stats::account` had just reset the byte count
    ///   to its size, and the running max timestamp equals the last time-index entry
    ///   written by then (one is written whenever the max grew), which are exactly the time
    ///   entries naming offsets up to that batch's last offset.
    ///
    /// Falls back to the whole segment (position 0) whenever the entry or its batch header
    /// does not check out.
    pub(super) fn trusted_prefix(&self, recovery_point: i64) -> RecoverStart {
        let below = recovery_point.saturating_sub(self.base_offset);
        let kept = self
            .offset_index
            .entries()
            .partition_point(|e| i64::from(e.relative_offset) < below);
        let Some(entry) = kept.checked_sub(1).map(|i| self.offset_index.entries()[i]) else {
            return RecoverStart::empty();
        };
        let consistent = self.offset_index.entries()[..kept]
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position);
        let header = self
            .scan_from(u64::from(entry.position), RECORD_BATCH_OVERHEAD)
            .next_header();
        let Ok(Some((pos, h, size))) = header else {
            return RecoverStart::empty();
        };
        let last = self.base_offset + i64::from(entry.relative_offset);
        if !consistent || h.last_offset() != last || self.check_batch_offsets(&h, None).is_err() {
            return RecoverStart::empty();
        }
        let time_entries: Vec<TimeEntry> = self
            .time_index
            .entries()
            .iter()
            .take_while(|t| t.relative_offset <= entry.relative_offset)
            .copied()
            .collect();
        if !time_entries.windows(2).all(|w| {
            w[0].timestamp < w[1].timestamp && w[0].relative_offset <= w[1].relative_offset
        }) {
            return RecoverStart::empty();
        }
        let last_time = time_entries.last().copied();
        RecoverStart {
            position: pos + size as u64,
            stats: Stats {
                last_offset: Some(last),
                max_timestamp: last_time.map_or(-1, |t| t.timestamp),
                offset_of_max_timestamp: last_time
                    .map_or(-1, |t| self.base_offset + i64::from(t.relative_offset)),
                bytes_since_last_index_entry: size as u64,
                last_time_index_timestamp: last_time.map(|t| t.timestamp),
            },
            offset_entries: self.offset_index.entries()[..kept].to_vec(),
            time_entries,
        }
    }

    /// Validates every batch from `start`, truncates at the first invalid byte, rewrites
    /// both indexes (the trusted prefix's entries, then the rebuilt ones).
    pub(super) fn recover(&mut self, start: RecoverStart, index_interval: u32) -> io::Result<u64> {
        let RecoverStart {
            position: mut pos,
            mut stats,
            mut offset_entries,
            mut time_entries,
        } = start;
        let (trusted_offset_entries, trusted_time_entries) =
            (offset_entries.len(), time_entries.len());
        let mut damage: Option<String> = None;
        {
            let mut window = Window::new(&self.log.file, &self.log_path, self.size, RECOVERY_CHUNK);
            while pos < self.size {
                let Some(prefix) = window.get(pos, LOG_OVERHEAD)? else {
                    damage = Some("partial batch length prefix".into());
                    break;
                };
                let length = i32::from_be_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
                let Ok(length) = usize::try_from(length) else {
                    damage = Some(format!("negative batchLength {length}"));
                    break;
                };
                if length < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD {
                    damage = Some(format!("batchLength {length} too small"));
                    break;
                }
                let Some(bytes) = window.get(pos, LOG_OVERHEAD + length)? else {
                    damage = Some("partial batch".into());
                    break;
                };
                let batch = match RecordBatch::new(bytes) {
                    Ok(b) => b,
                    Err(e) => {
                        damage = Some(e.to_string());
                        break;
                    }
                };
                if let Err(e) = batch.validate_crc() {
                    damage = Some(e.to_string());
                    break;
                }
                let h = batch.header();
                if let Err(m) = self.check_batch_offsets(&h, stats.last_offset) {
                    damage = Some(m);
                    break;
                }
                let meta = BatchMeta::of_header(&h, bytes.len());
                let (o, t) = stats.account(self.base_offset, &meta, pos, index_interval);
                offset_entries.extend(o);
                time_entries.extend(t);
                pos += meta.size as u64;
            }
        }
        let truncated = self.size - pos;
        if let Some(reason) = damage {
            tracing::warn!(
                segment = %self.log_path.display(),
                position = pos,
                bytes = truncated,
                "truncating invalid tail: {reason}"
            );
            self.log
                .truncations
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            self.log
                .file
                .set_len(pos)
                .map_err(|e| io_context("truncate", &self.log_path, e))?;
            self.size = pos;
        }
        if trusted_offset_entries == 0 {
            self.offset_index.rewrite(offset_entries)?;
            self.time_index.rewrite(time_entries)?;
        } else {
            // The trusted prefix's entries are already in the files (and fsynced): cut the
            // rest and append, rather than rewrite what a power loss could then take away.
            self.offset_index.truncate_entries(trusted_offset_entries)?;
            self.offset_index
                .append(&offset_entries[trusted_offset_entries..]);
            self.time_index.truncate_entries(trusted_time_entries)?;
            self.time_index
                .append(&time_entries[trusted_time_entries..]);
            // Written now (not fsynced, as before): a sealed segment is never flushed
            // again unless the log's open asks for it, and its files should match memory.
            self.offset_index.persist(false)?;
            self.time_index.persist(false)?;
        }
        self.stats = stats;
        Ok(truncated)
    }
}

#[cfg(test)]
mod tests {
    use strait_records::BatchBuilder;

    use super::*;

    /// A segment at base 0 of `n` two-record batches with rising timestamps, indexed every
    /// `interval` bytes.
    fn segment(dir: &std::path::Path, n: i64, interval: u32) -> Segment {
        let mut seg = Segment::create(dir, 0).unwrap();
        for i in 0..n {
            let bytes = BatchBuilder::new(2 * i)
                .append(1_000 + i, None, Some(&[b'r'; 90]))
                .append(1_000 + i, None, Some(&[b'r'; 90]))
                .build()
                .unwrap();
            let h = RecordBatch::new(&bytes).unwrap().header();
            let meta = BatchMeta::of_header(&h, bytes.len());
            assert!(seg.append(&bytes, &[meta], interval, 0).is_ok());
        }
        seg
    }

    #[test]
    fn trusted_prefix_ends_after_the_last_entry_below_the_recovery_point() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(dir.path(), 40, 500);
        let entries = seg.offset_index.entries().to_vec();
        assert!(entries.len() > 3);
        // Recovery point just above the third entry's batch: that batch ends the prefix.
        let third = entries[2];
        let rp = i64::from(third.relative_offset) + 1;
        let start = seg.trusted_prefix(rp);
        let (_, h, size) = seg
            .scan_from(u64::from(third.position), 4096)
            .next_header()
            .unwrap()
            .unwrap();
        assert_eq!(start.position, u64::from(third.position) + size as u64);
        assert_eq!(start.offset_entries, entries[..3]);
        assert_eq!(start.stats.last_offset, Some(h.last_offset()));
        assert_eq!(start.stats.bytes_since_last_index_entry, size as u64);
        assert!(start
            .time_entries
            .iter()
            .all(|t| t.relative_offset <= third.relative_offset));
        // Below the first entry nothing is trusted.
        assert_eq!(seg.trusted_prefix(0).position, 0);
        assert_eq!(
            seg.trusted_prefix(i64::from(entries[0].relative_offset))
                .position,
            0
        );
    }

    #[test]
    fn trusted_prefix_falls_back_to_the_segment_start_when_an_entry_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = segment(dir.path(), 40, 500);
        let mut entries = seg.offset_index.entries().to_vec();
        let rp = i64::from(entries[3].relative_offset) + 1;
        assert!(seg.trusted_prefix(rp).position > 0);
        // The entry names an offset its batch does not end at.
        entries[3].relative_offset -= 1;
        seg.offset_index.rewrite(entries.clone()).unwrap();
        assert_eq!(seg.trusted_prefix(rp).position, 0);
        // The entry points into the middle of a batch.
        entries[3].relative_offset += 1;
        entries[3].position += 7;
        seg.offset_index.rewrite(entries).unwrap();
        assert_eq!(seg.trusted_prefix(rp).position, 0);
    }
}
