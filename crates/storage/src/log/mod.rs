//! [`PartitionLog`]: segments, offsets, the two append paths, reads, retention, recovery.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use strait_records::batch::{set_base_offset, set_max_timestamp, set_partition_leader_epoch};
use strait_records::{decode_records, BatchHeader, BatchIter, RecordBatch, TimestampType};

use crate::checkpoint::{
    read_offset, read_optional, sync_dir, write_atomic, write_offset, CLEAN_SHUTDOWN,
    LOG_START_OFFSET_CHECKPOINT, PRODUCER_SNAPSHOT, RECOVERY_POINT_CHECKPOINT,
};
use crate::epoch::LeaderEpochCache;
use crate::error::{io_context, AppendError, ReadError, StorageError};
use crate::producer::{ClientCheck, ProducerEntry, ProducerStateManager};
use crate::segment::{file_name, BatchMeta, Segment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::{LeaderAppendInfo, LogConfig, LogReadInfo, MirrorAppendInfo, TimestampOffset};

/// Suffixes of files left by interrupted operations; deleted on open.
const STRAY_SUFFIXES: [&str; 4] = [".tmp", ".deleted", ".cleaned", ".swap"];

/// The log of one partition. See the crate docs for its files and invariants.
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Every segment but the active one, by base offset.
    older: BTreeMap<i64, Segment>,
    /// The segment appends go to; always present, possibly empty.
    active: Segment,
    log_start_offset: i64,
    log_end_offset: i64,
    /// Everything below this offset has been fsynced; recovery after a crash starts here.
    recovery_point: i64,
    epochs: LeaderEpochCache,
    producers: ProducerStateManager,
    unflushed_messages: i64,
    last_flush_ms: i64,
}

fn all_segments<'a>(
    older: &'a BTreeMap<i64, Segment>,
    active: &'a Segment,
) -> impl Iterator<Item = &'a Segment> {
    older.values().chain(std::iter::once(active))
}

fn corrupt(path: &Path, message: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_context("delete", path, e)),
    }
}

impl PartitionLog {
    /// Opens (creating if absent) and recovers the log in `dir`.
    ///
    /// After a clean shutdown (marker present) indexes are trusted after sanity checks and
    /// producer state comes from the snapshot, so opening does not scan the data. Otherwise
    /// every segment from the one holding the recovery point on is validated batch by batch
    /// and truncated at the first bad byte (segments after a damaged one are deleted, as in
    /// Kafka), and producer state is rebuilt from batch headers.
    pub fn open(
        dir: impl Into<PathBuf>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<PartitionLog, StorageError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io_context("create log directory", &dir, e))?;
        let marker = dir.join(CLEAN_SHUTDOWN);
        let clean = marker.exists();
        if clean {
            // From here on a crash must be seen as unclean.
            remove_if_exists(&marker)?;
            sync_dir(&dir)?;
        }

        let mut bases = Vec::new();
        let mut index_files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_context("list", &dir, e))? {
            let entry = entry.map_err(|e| io_context("list", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if STRAY_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                tracing::info!(file = %path.display(), "deleting stray file");
                remove_if_exists(&path)?;
                continue;
            }
            let Some((stem, ext)) = name.rsplit_once('.') else {
                continue;
            };
            if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(base) = stem.parse::<i64>() else {
                tracing::warn!(file = %path.display(), "ignoring segment file with an out-of-range base offset");
                continue;
            };
            match ext {
                LOG_SUFFIX => bases.push(base),
                INDEX_SUFFIX | TIME_INDEX_SUFFIX => index_files.push((base, path)),
                _ => {}
            }
        }
        bases.sort_unstable();
        for (base, path) in index_files {
            if bases.binary_search(&base).is_err() {
                tracing::info!(file = %path.display(), "deleting index without a segment");
                remove_if_exists(&path)?;
            }
        }

        let log_start_checkpoint = read_offset(&dir, LOG_START_OFFSET_CHECKPOINT)?;
        let recovery_checkpoint = read_offset(&dir, RECOVERY_POINT_CHECKPOINT)?;
        // First segment to validate: none after a clean shutdown; else the one holding the
        // recovery point (all of them if it is unknown).
        let recover_from = if clean {
            None
        } else {
            match recovery_checkpoint {
                Some(rp) => bases
                    .iter()
                    .rev()
                    .find(|b| **b <= rp)
                    .or(bases.first())
                    .copied(),
                None => bases.first().copied(),
            }
        };

        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
        let mut damaged_at: Option<i64> = None;
        for &base in &bases {
            if let Some(bad) = damaged_at {
                tracing::warn!(
                    base,
                    damaged = bad,
                    "deleting segment written after a damaged one"
                );
                for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    remove_if_exists(&dir.join(file_name(base, suffix)))?;
                }
                continue;
            }
            let recover = recover_from.is_some_and(|r| base >= r);
            let (seg, truncated) = Segment::open(&dir, base, recover, config.index_interval_bytes)?;
            if let Some(prev) = segments.last() {
                if prev.next_offset() > base {
                    return Err(corrupt(
                        seg.log_path(),
                        format!(
                            "segment starts at {base} but the previous segment ends at {}",
                            prev.next_offset() - 1
                        ),
                    ));
                }
            }
            if recover {
                seg.flush()?;
            }
            if truncated > 0 {
                damaged_at = Some(base);
            }
            segments.push(seg);
        }

        let active = match segments.pop() {
            Some(seg) => seg,
            None => Segment::create(&dir, log_start_checkpoint.unwrap_or(0))?,
        };
        let older: BTreeMap<i64, Segment> =
            segments.into_iter().map(|s| (s.base_offset(), s)).collect();
        let (epochs, epochs_ok) = LeaderEpochCache::load(&dir)?;
        let mut log = PartitionLog {
            log_end_offset: active.next_offset(),
            log_start_offset: 0,
            recovery_point: 0,
            dir,
            config,
            older,
            active,
            epochs,
            producers: ProducerStateManager::default(),
            unflushed_messages: 0,
            last_flush_ms: now_ms,
        };
        let first_base = log.first_segment_base();
        log.log_start_offset = log_start_checkpoint.unwrap_or(first_base).max(first_base);
        if log.log_start_offset > log.log_end_offset {
            // Data below a persisted log start was lost (or never existed): start afresh
            // there rather than expose offsets that go backwards.
            tracing::warn!(
                log_start_offset = log.log_start_offset,
                log_end_offset = log.log_end_offset,
                "log end below the log start after recovery; truncating fully"
            );
            let start = log.log_start_offset;
            log.truncate_fully_and_start_at(start)?;
        }
        if log_start_checkpoint != Some(log.log_start_offset) {
            write_offset(&log.dir, LOG_START_OFFSET_CHECKPOINT, log.log_start_offset)?;
        }

        // Producer state: the clean-shutdown snapshot if it matches, else a header scan.
        let snapshot_path = log.dir.join(PRODUCER_SNAPSHOT);
        let mut producers_loaded = false;
        if clean && epochs_ok {
            if let Some(bytes) = read_optional(&snapshot_path)? {
                match ProducerStateManager::decode_snapshot(&bytes) {
                    Ok((state, end)) if end == log.log_end_offset => {
                        log.producers = state;
                        producers_loaded = true;
                    }
                    Ok((_, end)) => tracing::warn!(
                        end,
                        "producer snapshot does not match the log end; rebuilding"
                    ),
                    Err(e) => tracing::warn!("ignoring producer snapshot: {e}"),
                }
            }
        }
        // A snapshot is only valid for the shutdown that wrote it.
        remove_if_exists(&snapshot_path)?;
        let has_data = all_segments(&log.older, &log.active).any(|s| !s.is_empty());
        if !producers_loaded || (!epochs_ok && has_data) {
            log.rebuild_from_headers(!epochs_ok)?;
        }
        log.producers.evict_below(log.log_start_offset);
        let mut epochs_changed = !epochs_ok && has_data;
        epochs_changed |= log.epochs.truncate_from_end(log.log_end_offset);
        epochs_changed |= log.epochs.truncate_from_start(log.log_start_offset);
        if epochs_changed {
            log.epochs.flush()?;
        }

        if !log.active.is_empty() {
            let first_ts = log.active.first_header()?.map_or(-1, |h| h.max_timestamp);
            // segment.ms counts from the first append; after a restart the best estimate
            // is the first batch's timestamp (Kafka uses it too), never later than now.
            log.active.rolling_base_ms = Some(if first_ts >= 0 {
                first_ts.min(now_ms)
            } else {
                now_ms
            });
        }
        // Segments recovered above were fsynced, and older ones were fsynced when rolled.
        log.recovery_point = log.log_end_offset;
        if recovery_checkpoint != Some(log.recovery_point) {
            write_offset(&log.dir, RECOVERY_POINT_CHECKPOINT, log.recovery_point)?;
        }
        tracing::debug!(
            dir = %log.dir.display(),
            clean,
            log_start_offset = log.log_start_offset,
            log_end_offset = log.log_end_offset,
            segments = log.older.len() + 1,
            "opened partition log"
        );
        Ok(log)
    }

    fn first_segment_base(&self) -> i64 {
        self.older
            .keys()
            .next()
            .copied()
            .unwrap_or(self.active.base_offset())
    }

    /// Rebuilds producer state (and, if asked, the epoch cache) from every batch header.
    fn rebuild_from_headers(&mut self, rebuild_epochs: bool) -> Result<(), StorageError> {
        let mut producers = ProducerStateManager::default();
        if rebuild_epochs {
            self.epochs.clear();
        }
        for seg in all_segments(&self.older, &self.active) {
            let mut scan = seg.scan();
            while let Some((_, h, _)) = scan.next_header()? {
                producers.update(&h);
                if rebuild_epochs {
                    self.epochs.assign(h.partition_leader_epoch, h.base_offset);
                }
            }
        }
        producers.evict_below(self.log_start_offset);
        self.producers = producers;
        Ok(())
    }

    pub fn update_config(&mut self, config: LogConfig) {
        self.config = config;
    }
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    /// `lastOffset + 1` of the last batch, or the active segment's base when it is empty.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    /// Single replica: everything written is committed.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset
    }
    /// Equal to the high watermark until transactions are tracked.
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
    }
    pub fn size_in_bytes(&self) -> u64 {
        all_segments(&self.older, &self.active)
            .map(Segment::size)
            .sum()
    }
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }
    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        self.older.len() + 1
    }
    /// Base offsets of all segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        all_segments(&self.older, &self.active)
            .map(Segment::base_offset)
            .collect()
    }
    /// The leader-epoch cache entries `(epoch, start_offset)`, oldest first.
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.epochs
            .entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    /// Client produce path (Kafka `appendAsLeader`). See the crate docs and the brief in
    /// the method list: validates, deduplicates idempotent retries, assigns offsets from
    /// the log end, stamps `leader_epoch`, applies `LogAppendTime`, writes, and applies
    /// the flush policy.
    pub fn append_leader(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<LeaderAppendInfo, AppendError> {
        let batches = BatchIter::frame_all(records).map_err(AppendError::Corrupt)?;
        if batches.is_empty() {
            return Err(AppendError::InvalidRecord(
                "produce request carries no record batches".into(),
            ));
        }
        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let mut staged: HashMap<i64, ProducerEntry> = HashMap::new();
        let mut duplicates = Vec::new();
        // (header with its final offsets, max record timestamp)
        let mut planned: Vec<(BatchHeader, i64)> = Vec::with_capacity(batches.len());
        let mut next_offset = self.log_end_offset;
        let mut record_count = 0i64;
        for (i, batch) in batches.iter().enumerate() {
            let size = batch.size_in_bytes();
            if size > self.config.max_message_bytes as usize {
                return Err(AppendError::RecordTooLarge {
                    size,
                    max: self.config.max_message_bytes,
                });
            }
            batch.validate_crc().map_err(AppendError::Corrupt)?;
            let mut h = batch.header();
            if h.is_control() {
                return Err(AppendError::InvalidRecord(format!(
                    "batch {i} is a control batch; clients may not write control records"
                )));
            }
            if h.last_offset_delta < 0
                || i64::from(h.records_count) != i64::from(h.last_offset_delta) + 1
            {
                return Err(AppendError::InvalidRecord(format!(
                    "batch {i}: recordsCount {} does not match lastOffsetDelta {}",
                    h.records_count, h.last_offset_delta
                )));
            }
            // Kafka validates every record on the leader path; a malformed record accepted
            // here would break every consumer that reads past it.
            let recs = decode_records(batch).map_err(AppendError::Corrupt)?;
            let mut max_ts = -1i64;
            for (j, r) in recs.iter().enumerate() {
                if r.offset_delta != j as i32 {
                    return Err(AppendError::InvalidRecord(format!(
                        "batch {i}: record {j} has offsetDelta {}, expected {j}",
                        r.offset_delta
                    )));
                }
                max_ts = max_ts.max(batch.base_timestamp().wrapping_add(r.timestamp_delta));
            }
            h.base_offset = next_offset;
            if h.producer_id >= 0 {
                if h.base_sequence < 0 {
                    return Err(AppendError::InvalidRecord(format!(
                        "batch {i}: producer id {} without a base sequence",
                        h.producer_id
                    )));
                }
                let current = staged
                    .get(&h.producer_id)
                    .or_else(|| self.producers.get(h.producer_id));
                match ProducerStateManager::check_client(current, &h)? {
                    ClientCheck::Duplicate(meta) => {
                        duplicates.push(meta);
                        continue;
                    }
                    ClientCheck::Append => {
                        let mut entry = current
                            .cloned()
                            .unwrap_or_else(|| ProducerEntry::new(h.producer_epoch));
                        entry.add(h.producer_epoch, ProducerEntry::meta_of(&h));
                        staged.insert(h.producer_id, entry);
                    }
                }
            }
            next_offset = h.last_offset() + 1;
            record_count += i64::from(h.records_count);
            planned.push((h, max_ts));
        }
        if !duplicates.is_empty() {
            if !planned.is_empty() {
                return Err(AppendError::InvalidRecord(
                    "append mixes duplicate (already written) and new idempotent batches".into(),
                ));
            }
            let first = duplicates[0];
            let last = duplicates[duplicates.len() - 1];
            return Ok(LeaderAppendInfo {
                base_offset: first.first_offset,
                last_offset: last.last_offset,
                log_append_time_ms: -1,
                log_start_offset: self.log_start_offset,
                duplicate: true,
                record_count: duplicates
                    .iter()
                    .map(|d| d.last_offset - d.first_offset + 1)
                    .sum(),
            });
        }

        // Stamp offsets, epoch and timestamps on a private copy.
        let mut buf = records.to_vec();
        let mut metas = Vec::with_capacity(planned.len());
        let mut pos = 0usize;
        for (batch, (h, max_ts)) in batches.iter().zip(&planned) {
            let size = batch.size_in_bytes();
            let b = &mut buf[pos..pos + size];
            set_base_offset(b, h.base_offset);
            set_partition_leader_epoch(b, leader_epoch);
            let max_timestamp = if log_append_time {
                set_max_timestamp(b, TimestampType::LogAppendTime, now_ms);
                now_ms
            } else {
                set_max_timestamp(b, TimestampType::CreateTime, *max_ts);
                *max_ts
            };
            metas.push(BatchMeta {
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
                max_timestamp,
                size,
            });
            pos += size;
        }
        let base_offset = self.log_end_offset;
        // Like Kafka, the epoch is recorded before the data: an entry at the log end with
        // no data after it is harmless, data with no entry is not.
        if self.epochs.assign(leader_epoch, base_offset) {
            self.epochs.flush()?;
        }
        self.write_batches(&buf, &metas, now_ms)?;
        for (h, _) in &planned {
            self.producers.update(h);
        }
        self.after_append(record_count, now_ms)?;
        Ok(LeaderAppendInfo {
            base_offset,
            last_offset: self.log_end_offset - 1,
            log_append_time_ms: if log_append_time { now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
            duplicate: false,
            record_count,
        })
    }

    /// Mirror path (Kafka `appendAsFollower`): whole batches stored byte-for-byte.
    /// Verifies CRCs and strictly increasing offsets (the first batch must start at or
    /// after the log end), builds the epoch cache from the batches' epochs and updates
    /// producer state without sequence checks. No `max.message.bytes` check.
    pub fn append_mirrored(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<MirrorAppendInfo, AppendError> {
        let batches = BatchIter::frame_all(records).map_err(AppendError::Corrupt)?;
        let mut headers = Vec::with_capacity(batches.len());
        let mut metas = Vec::with_capacity(batches.len());
        let mut prev_last: Option<i64> = None;
        for batch in &batches {
            batch.validate_crc().map_err(AppendError::Corrupt)?;
            let h = batch.header();
            if h.base_offset < 0 || h.last_offset_delta < 0 {
                return Err(AppendError::InvalidRecord(format!(
                    "batch with baseOffset {} has lastOffsetDelta {}",
                    h.base_offset, h.last_offset_delta
                )));
            }
            match prev_last {
                None if h.base_offset < self.log_end_offset => {
                    return Err(AppendError::UnexpectedAppendOffset {
                        first_offset: h.base_offset,
                        log_end_offset: self.log_end_offset,
                    })
                }
                Some(prev) if h.base_offset <= prev => {
                    return Err(AppendError::OffsetsOutOfOrder {
                        base_offset: h.base_offset,
                        previous_last_offset: prev,
                    })
                }
                _ => {}
            }
            prev_last = Some(h.last_offset());
            metas.push(BatchMeta::of_header(&h, batch.size_in_bytes()));
            headers.push(h);
        }
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Ok(MirrorAppendInfo {
                first_offset: -1,
                last_offset: -1,
                batches: 0,
                bytes: 0,
                max_epoch: -1,
            });
        };
        let info = MirrorAppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset(),
            batches: headers.len(),
            bytes: records.len(),
            max_epoch: headers
                .iter()
                .map(|h| h.partition_leader_epoch)
                .max()
                .unwrap_or(-1),
        };
        let mut epochs_changed = false;
        for h in &headers {
            epochs_changed |= self.epochs.assign(h.partition_leader_epoch, h.base_offset);
        }
        if epochs_changed {
            self.epochs.flush()?;
        }
        self.write_batches(records, &metas, now_ms)?;
        let mut record_count = 0i64;
        for h in &headers {
            self.producers.update(h);
            record_count += i64::from(h.records_count.max(0));
        }
        self.after_append(record_count, now_ms)?;
        Ok(info)
    }

    /// Writes batches into the active segment, rolling before any batch that does not fit.
    /// Consecutive batches that fit go out in one `pwrite`.
    fn write_batches(
        &mut self,
        bytes: &[u8],
        metas: &[BatchMeta],
        now_ms: i64,
    ) -> Result<(), AppendError> {
        let interval = self.config.index_interval_bytes;
        let (mut run_start, mut run_byte_start, mut byte_pos) = (0usize, 0usize, 0usize);
        let mut pending = 0u64;
        for (i, meta) in metas.iter().enumerate() {
            if self.should_roll(meta, pending, now_ms) {
                if i > run_start {
                    self.active.append(
                        &bytes[run_byte_start..byte_pos],
                        &metas[run_start..i],
                        interval,
                        now_ms,
                    )?;
                    self.log_end_offset = self.active.next_offset();
                }
                self.roll(meta.base_offset.max(self.log_end_offset))?;
                run_start = i;
                run_byte_start = byte_pos;
                pending = 0;
            }
            pending += meta.size as u64;
            byte_pos += meta.size;
        }
        if run_start < metas.len() {
            self.active.append(
                &bytes[run_byte_start..byte_pos],
                &metas[run_start..],
                interval,
                now_ms,
            )?;
        }
        self.log_end_offset = self.active.next_offset();
        Ok(())
    }

    /// Kafka's `shouldRoll`, evaluated before appending `meta` after `pending` bytes that
    /// are about to be written to the active segment.
    fn should_roll(&self, meta: &BatchMeta, pending: u64, now_ms: i64) -> bool {
        let a = &self.active;
        // Relative offsets are 32-bit: a huge gap (compacted or mirrored source) forces a
        // new segment based at this batch, even if the active one is empty.
        if meta.last_offset - a.base_offset() > i64::from(i32::MAX) {
            return true;
        }
        let size = a.size() + pending;
        if size == 0 {
            return false;
        }
        let max_segment = self.config.segment_bytes.min(i32::MAX as u64);
        let rolling_base = a.rolling_base_ms.or((pending > 0).then_some(now_ms));
        let max_index = u64::from(self.config.segment_index_bytes);
        size + meta.size as u64 > max_segment
            || rolling_base.is_some_and(|t| now_ms.saturating_sub(t) > self.config.segment_ms)
            || a.offset_index_bytes() + 8 > max_index
            || a.time_index_bytes() + 12 > max_index
    }

    /// Starts a new active segment at `new_base` (>= the log end offset). The old one is
    /// fsynced first, so after a crash only the active segment needs recovery.
    fn roll(&mut self, new_base: i64) -> Result<(), StorageError> {
        if self.active.base_offset() == new_base {
            return Ok(());
        }
        let new = Segment::create(&self.dir, new_base)?;
        let old = std::mem::replace(&mut self.active, new);
        if old.is_empty() {
            old.delete()?;
        } else {
            old.flush()?;
            self.older.insert(old.base_offset(), old);
        }
        sync_dir(&self.dir)?;
        self.recovery_point = self.recovery_point.max(new_base.min(self.log_end_offset));
        write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, self.recovery_point)?;
        tracing::debug!(dir = %self.dir.display(), new_base, "rolled segment");
        Ok(())
    }

    fn after_append(&mut self, record_count: i64, now_ms: i64) -> Result<(), StorageError> {
        self.unflushed_messages = self.unflushed_messages.saturating_add(record_count);
        if self.unflushed_messages >= self.config.flush_messages
            || now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms
        {
            self.flush_inner(Some(now_ms))?;
        }
        Ok(())
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
        if fetch_offset < self.log_start_offset || fetch_offset > self.log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                offset: fetch_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        let mut info = LogReadInfo {
            records: Bytes::new(),
            high_watermark: self.high_watermark(),
            last_stable_offset: self.last_stable_offset(),
            log_start_offset: self.log_start_offset,
        };
        for seg in self.segments_from(fetch_offset) {
            let Some((start, first, first_size)) = seg.find_first_batch(fetch_offset)? else {
                continue;
            };
            if first.base_offset >= max_offset {
                return Ok(info);
            }
            let mut len = 0usize;
            if first_size <= max_bytes || min_one_batch {
                len = first_size;
                let mut scan = seg.scan_from(start + first_size as u64, 64 * 1024);
                while let Some((_, h, size)) = scan.next_header()? {
                    if h.base_offset >= max_offset || len + size > max_bytes {
                        break;
                    }
                    len += size;
                }
            }
            if len > 0 {
                info.records = Bytes::from(seg.read_at(start, len)?);
            }
            return Ok(info);
        }
        Ok(info)
    }

    /// Segments that may hold `offset` or anything after it, in order.
    fn segments_from(&self, offset: i64) -> impl Iterator<Item = &Segment> {
        let older = match self.older.range(..=offset).next_back() {
            Some((&floor, _)) => self.older.range(floor..),
            None => self.older.range(..),
        };
        older.map(|(_, s)| s).chain(std::iter::once(&self.active))
    }

    fn read_batch(seg: &Segment, pos: u64, size: usize) -> Result<Vec<u8>, StorageError> {
        Ok(seg.read_at(pos, size)?)
    }

    /// ListOffsets by timestamp: the first record (at or after the log start) whose
    /// timestamp is `>= target_ms`, found via the time index and decoded like Kafka does.
    pub fn offset_for_timestamp(
        &self,
        target_ms: i64,
    ) -> Result<Option<TimestampOffset>, StorageError> {
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

    /// ListOffsets MAX_TIMESTAMP: the first record carrying the largest timestamp.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>, StorageError> {
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

    /// Leader epoch of the batch range containing `offset`, from the epoch cache.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.epochs.epoch_for_offset(offset)
    }

    /// Kafka `LeaderEpochFileCache.endOffsetFor`; `(-1, -1)` when undefined.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset)
    }

    /// Records that `epoch` starts at the log end offset. No-op unless newer than the latest.
    pub fn assign_epoch_start(&mut self, epoch: i32) -> Result<(), StorageError> {
        if epoch < 0 || self.epochs.latest_epoch().is_some_and(|l| epoch <= l) {
            return Ok(());
        }
        if self.epochs.assign(epoch, self.log_end_offset) {
            self.epochs.flush()?;
        }
        Ok(())
    }

    /// DeleteRecords: moves the log start to `offset` (<= high watermark), persists it,
    /// and deletes segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, StorageError> {
        if offset > self.high_watermark() {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                high_watermark: self.high_watermark(),
            });
        }
        if offset > self.log_start_offset {
            self.set_log_start_offset(offset)?;
            let doomed: Vec<i64> = self
                .older
                .values()
                .take_while(|s| s.next_offset() <= offset)
                .map(Segment::base_offset)
                .collect();
            self.delete_older(&doomed, "log start offset")?;
        }
        Ok(self.log_start_offset)
    }

    fn set_log_start_offset(&mut self, offset: i64) -> Result<(), StorageError> {
        self.log_start_offset = offset;
        write_offset(&self.dir, LOG_START_OFFSET_CHECKPOINT, offset)?;
        if self.epochs.truncate_from_start(offset) {
            self.epochs.flush()?;
        }
        self.producers.evict_below(offset);
        Ok(())
    }

    /// Deletes the given (oldest) non-active segments and moves the log start up to the
    /// first remaining segment.
    fn delete_older(&mut self, bases: &[i64], reason: &str) -> Result<usize, StorageError> {
        let mut deleted = 0;
        for base in bases {
            if let Some(seg) = self.older.remove(base) {
                tracing::info!(segment = %seg.log_path().display(), reason, "deleting segment");
                seg.delete()?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            let first = self.first_segment_base();
            if first > self.log_start_offset {
                self.set_log_start_offset(first)?;
            }
        }
        Ok(deleted)
    }

    /// Time and size retention plus segments below the log start. Never deletes the active
    /// segment. Returns how many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        let mut doomed: Vec<i64> = self
            .older
            .values()
            .take_while(|s| s.next_offset() <= self.log_start_offset)
            .map(Segment::base_offset)
            .collect();
        if self.config.retention_ms >= 0 {
            let retention_ms = self.config.retention_ms;
            doomed.extend(
                self.older
                    .values()
                    .skip(doomed.len())
                    .take_while(|s| now_ms.saturating_sub(s.largest_timestamp()) > retention_ms)
                    .map(Segment::base_offset),
            );
        }
        if self.config.retention_bytes >= 0 {
            let kept: u64 = self
                .older
                .values()
                .skip(doomed.len())
                .map(Segment::size)
                .sum::<u64>()
                + self.active.size();
            let mut excess = i128::from(kept) - i128::from(self.config.retention_bytes);
            let more: Vec<i64> = self
                .older
                .values()
                .skip(doomed.len())
                .take_while(|s| {
                    let fits = excess - i128::from(s.size()) >= 0;
                    if fits {
                        excess -= i128::from(s.size());
                    }
                    fits
                })
                .map(Segment::base_offset)
                .collect();
            doomed.extend(more);
        }
        self.delete_older(&doomed, "retention")
    }

    /// Rolls the active segment if `segment.ms` has elapsed since its first append.
    pub fn maybe_roll(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let due = !self.active.is_empty()
            && self
                .active
                .rolling_base_ms
                .is_some_and(|t| now_ms.saturating_sub(t) > self.config.segment_ms);
        if due {
            self.roll(self.log_end_offset)?;
        }
        Ok(())
    }

    /// fsyncs if `flush.ms` has elapsed since the last fsync (or `flush.messages` reached).
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let dirty = self.unflushed_messages > 0 || self.recovery_point < self.log_end_offset;
        if dirty
            && (now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms
                || self.unflushed_messages >= self.config.flush_messages)
        {
            self.flush_inner(Some(now_ms))?;
        }
        Ok(())
    }

    /// fsyncs the active segment and advances the recovery point to the log end.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.flush_inner(None)
    }

    fn flush_inner(&mut self, now_ms: Option<i64>) -> Result<(), StorageError> {
        self.active.flush()?;
        if self.recovery_point != self.log_end_offset {
            self.recovery_point = self.log_end_offset;
            write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, self.recovery_point)?;
        }
        self.unflushed_messages = 0;
        if let Some(now) = now_ms {
            self.last_flush_ms = now;
        }
        Ok(())
    }

    /// Removes every batch whose last offset is `>= offset` (a batch straddling `offset` is
    /// removed whole). The log end becomes the end of the remaining data.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        if offset < 0 {
            return Err(StorageError::InvalidArgument(format!(
                "truncate_to({offset})"
            )));
        }
        if offset >= self.log_end_offset {
            return Ok(());
        }
        if offset < self.first_segment_base() {
            return self.truncate_fully_and_start_at(offset);
        }
        if self.active.base_offset() > offset {
            let Some((&floor, _)) = self.older.range(..=offset).next_back() else {
                return self.truncate_fully_and_start_at(offset);
            };
            let later: Vec<i64> = self.older.range(floor + 1..).map(|(b, _)| *b).collect();
            for b in later {
                if let Some(seg) = self.older.remove(&b) {
                    seg.delete()?;
                }
            }
            if let Some(new_active) = self.older.remove(&floor) {
                let old = std::mem::replace(&mut self.active, new_active);
                old.delete()?;
            }
        }
        self.active.truncate_to(offset)?;
        self.log_end_offset = self.active.next_offset();
        if self.log_start_offset > self.log_end_offset {
            self.log_start_offset = self.log_end_offset;
            write_offset(
                &self.dir,
                LOG_START_OFFSET_CHECKPOINT,
                self.log_start_offset,
            )?;
        }
        if self.epochs.truncate_from_end(self.log_end_offset) {
            self.epochs.flush()?;
        }
        self.rebuild_from_headers(false)?;
        if self.recovery_point > self.log_end_offset {
            self.recovery_point = self.log_end_offset;
            write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, self.recovery_point)?;
        }
        Ok(())
    }

    /// Deletes all data and restarts the log empty at `offset` (log start = log end = offset).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        if offset < 0 {
            return Err(StorageError::InvalidArgument(format!(
                "truncate_fully_and_start_at({offset})"
            )));
        }
        for (_, seg) in std::mem::take(&mut self.older) {
            seg.delete()?;
        }
        if self.active.base_offset() == offset {
            // Re-creating truncates the same files in place.
            self.active = Segment::create(&self.dir, offset)?;
        } else {
            let old = std::mem::replace(&mut self.active, Segment::create(&self.dir, offset)?);
            old.delete()?;
        }
        sync_dir(&self.dir)?;
        self.log_end_offset = offset;
        self.log_start_offset = offset;
        write_offset(&self.dir, LOG_START_OFFSET_CHECKPOINT, offset)?;
        self.epochs.clear();
        self.epochs.flush()?;
        self.producers.clear();
        self.recovery_point = offset;
        write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, offset)?;
        Ok(())
    }

    /// Largest producer id seen in the log (for PID allocation after promotion).
    pub fn max_producer_id(&self) -> Option<i64> {
        self.producers.max_producer_id()
    }

    /// `(epoch, last sequence)` of a producer; the sequence is -1 if it has no batch yet.
    pub fn producer_state(&self, producer_id: i64) -> Option<(i16, i32)> {
        self.producers
            .get(producer_id)
            .map(|e| (e.epoch, e.last_seq()))
    }

    /// Flushes, writes the producer snapshot and the clean-shutdown marker.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.flush()?;
        write_atomic(
            &self.dir,
            PRODUCER_SNAPSHOT,
            &self.producers.encode_snapshot(self.log_end_offset),
        )?;
        write_atomic(&self.dir, CLEAN_SHUTDOWN, b"")?;
        Ok(())
    }

    /// Deletes the directory and everything in it.
    pub fn delete(self) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        drop(self);
        fs::remove_dir_all(&dir)
            .map_err(|e| StorageError::Io(io_context("delete log directory", &dir, e)))
    }
}
