//! [`PartitionLog`]: segments, offsets, the two append paths, recovery at open.
//! Appends live in [`append`], reads in [`read`], retention/DeleteRecords/truncation in
//! [`retention`], the log cleaner's phases in [`clean`], transaction state (LSO,
//! `.txnindex`, markers) in [`txn`], transaction verification guards in [`verify`], the
//! high watermark of replicated partitions and its checkpoint in [`hw`].

mod append;
mod clean;
mod durable;
#[cfg(test)]
mod fault_tests;
mod hw;
mod read;
mod recover;
mod retention;
mod txn;
mod verify;

pub use durable::FlushTicket;
pub use recover::RecoveryStats;
pub use verify::{TxnVerification, VerificationGuard};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint::{
    read_offset, sync_dir, write_atomic, write_offset, CLEANER_OFFSET_CHECKPOINT, CLEAN_SHUTDOWN,
    HIGH_WATERMARK_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};
use crate::epoch::LeaderEpochCache;
use crate::error::{io_context, Offline, StorageError};
use crate::producer::ProducerStateManager;
use crate::segment::{
    file_name, Segment, INDEX_SUFFIX, LOG_SUFFIX, SEGMENT_SUFFIXES, TIME_INDEX_SUFFIX,
};
use crate::txn_index::TXN_INDEX_SUFFIX;
use crate::LogConfig;

/// Suffixes of files left by interrupted operations; deleted on open (after interrupted
/// cleaner swaps have been finished, see [`crate::cleaner`]).
const STRAY_SUFFIXES: [&str; 4] = [".tmp", ".deleted", ".cleaned", ".swap"];

/// Source of randomness for `segment.jitter.ms`; injectable so tests are deterministic.
pub type JitterRng = Box<dyn FnMut() -> u64 + Send + Sync>;

/// A per-process random seed (std's `RandomState` is randomly keyed), then xorshift64*.
fn default_jitter_rng() -> JitterRng {
    use std::hash::{BuildHasher, Hasher};
    let mut state = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        | 1;
    Box::new(move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

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
    /// Bytes of the active segment known fsynced (see [`durable`]).
    flushed_active_size: u64,
    epochs: LeaderEpochCache,
    producers: ProducerStateManager,
    unflushed_messages: i64,
    last_flush_ms: i64,
    /// Bumped whenever segments are removed or replaced (retention, DeleteRecords,
    /// truncation, a cleaner swap): a cleaner plan taken at another generation is discarded.
    generation: u64,
    /// `cleaner-offset-checkpoint`: the first dirty offset, once the log has been cleaned.
    cleaner_checkpoint: Option<i64>,
    /// Files renamed `.deleted`, removed once due (`file.delete.delay.ms`); a `None` due
    /// time is stamped by the next [`PartitionLog::maybe_delete_pending`].
    pending_deletes: Vec<(Option<i64>, PathBuf)>,
    /// `segment.jitter.ms` drawn for the active segment (Kafka's `rollJitterMs`).
    active_roll_jitter_ms: i64,
    jitter_rng: JitterRng,
    /// Set when an I/O error left files and memory out of step (see [`append`]): every
    /// later append, read, flush and close fails with it until a restart recovers the log.
    offline: Option<Offline>,
    /// Producer id → its pending transaction verification (see [`verify`]); memory only.
    verifications: HashMap<i64, verify::VerificationEntry>,
    /// Offsets of the `<offset>.snapshot` producer snapshots on disk (see [`recover`]).
    snapshots: BTreeSet<i64>,
    /// What open did.
    recovery_stats: RecoveryStats,
    /// Replication mode and the high watermark (see [`hw`]).
    hw: hw::HwState,
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
    /// producer state comes from the snapshot at the log end, so opening does not scan the
    /// data. Otherwise every segment from the one holding the recovery point on is
    /// validated batch by batch and truncated at the first bad byte (segments after a
    /// damaged one are deleted, as in Kafka); segments before it keep their indexes after
    /// the same sanity checks (a failing one is rebuilt). Either way producer state is the
    /// newest usable producer snapshot plus a replay of the batch headers after it (see
    /// [`recover`]), so neither case reads the log below the recovery point.
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

        // Before anything else looks at segment files: finish (or roll back) a cleaner swap
        // that a crash interrupted, so the listing below sees whole old or new segments.
        let force_recover = crate::cleaner::swap::recover_interrupted(&dir)?;

        let mut bases = Vec::new();
        let mut index_files = Vec::new();
        let mut snapshots = BTreeSet::new();
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
                INDEX_SUFFIX | TIME_INDEX_SUFFIX | TXN_INDEX_SUFFIX => {
                    index_files.push((base, path))
                }
                recover::SNAPSHOT_SUFFIX => {
                    snapshots.insert(base);
                }
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

        let mut stats = RecoveryStats {
            clean_shutdown: clean,
            ..RecoveryStats::default()
        };
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
        let mut damaged_at: Option<i64> = None;
        for &base in &bases {
            if let Some(bad) = damaged_at {
                stats.segments_deleted += 1;
                tracing::warn!(
                    base,
                    damaged = bad,
                    "deleting segment written after a damaged one"
                );
                for suffix in SEGMENT_SUFFIXES {
                    remove_if_exists(&dir.join(file_name(base, suffix)))?;
                }
                continue;
            }
            // Validate from the recovery point in its segment (everything below it was
            // fsynced with its index entries), whole segments after it, and whole segments
            // a cleaner swap just put in place.
            let recover = if force_recover.contains(&base) {
                Some(base)
            } else {
                match recover_from {
                    Some(r) if base == r => Some(recovery_checkpoint.unwrap_or(base).max(base)),
                    Some(r) if base > r => Some(base),
                    _ => None,
                }
            };
            let (seg, opened) = Segment::open(&dir, base, recover, config.index_interval_bytes)?;
            let truncated = opened.truncated;
            if opened.recovered {
                stats.segments_recovered += 1;
                stats.indexes_rebuilt += usize::from(opened.index_rebuilt);
                stats.bytes_validated += opened.bytes_validated;
                stats.bytes_truncated += truncated;
            }
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
            // Segments at or after the recovery point are not fsynced here (Kafka does not
            // either): the recovery point stays where it was, so a crash before the next
            // flush validates them again. Segments below it are never validated again, so
            // those whose indexes were rebuilt (or that a cleaner swap put in place) are.
            if opened.recovered && (opened.index_rebuilt || force_recover.contains(&base)) {
                seg.flush()?;
            }
            if truncated > 0 {
                damaged_at = Some(base);
            }
            segments.push(seg);
        }

        let active = match segments.pop() {
            Some(seg) => seg,
            None => {
                let seg = Segment::create(&dir, log_start_checkpoint.unwrap_or(0))?;
                if config.preallocate {
                    seg.preallocate(config.segment_bytes);
                }
                seg
            }
        };
        let cleaner_checkpoint = read_offset(&dir, CLEANER_OFFSET_CHECKPOINT)?;
        // Kept until the broker switches the log to replicated mode (see [`hw`]).
        let hw_checkpoint = read_offset(&dir, HIGH_WATERMARK_CHECKPOINT)?;
        let older: BTreeMap<i64, Segment> =
            segments.into_iter().map(|s| (s.base_offset(), s)).collect();
        let (epochs, epochs_ok) = LeaderEpochCache::load(&dir)?;
        let mut log = PartitionLog {
            log_end_offset: active.next_offset(),
            log_start_offset: 0,
            recovery_point: 0,
            flushed_active_size: 0,
            dir,
            config,
            older,
            active,
            epochs,
            producers: ProducerStateManager::default(),
            unflushed_messages: 0,
            last_flush_ms: now_ms,
            generation: 0,
            cleaner_checkpoint,
            pending_deletes: Vec::new(),
            active_roll_jitter_ms: 0,
            jitter_rng: default_jitter_rng(),
            offline: None,
            verifications: HashMap::new(),
            snapshots,
            recovery_stats: stats,
            hw: hw::HwState::single_replica(hw_checkpoint),
        };
        log.active_roll_jitter_ms = log.draw_roll_jitter();
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

        // Producer state (and regenerated `.txnindex` files): newest usable snapshot plus
        // the batches after it; a lost epoch checkpoint needs every batch.
        let has_data = all_segments(&log.older, &log.active).any(|s| !s.is_empty());
        let (snapshot, batches, bytes) = log.load_producer_state(clean, !epochs_ok && has_data)?;
        log.recovery_stats.snapshot_offset = snapshot;
        log.recovery_stats.batches_replayed = batches;
        log.recovery_stats.bytes_replayed = bytes;
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
        // After a clean shutdown everything was flushed. Otherwise the recovery point does
        // not move: what recovery validated is not fsynced yet (Kafka's rule: only a flush
        // advances it), it is only clamped to a log end that truncation moved below it.
        log.recovery_point = if clean {
            log.log_end_offset
        } else {
            recovery_checkpoint
                .unwrap_or(0)
                .max(log.first_segment_base())
                .min(log.log_end_offset)
        };
        if recovery_checkpoint != Some(log.recovery_point) {
            write_offset(&log.dir, RECOVERY_POINT_CHECKPOINT, log.recovery_point)?;
        }
        if clean {
            log.flushed_active_size = log.active.size();
        }
        log.recovery_stats.segments = log.segment_count();
        log.hw_opened();
        tracing::debug!(
            dir = %log.dir.display(),
            clean,
            stats = ?log.recovery_stats,
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

    /// True once an I/O error took this partition offline (Kafka's offline log dir):
    /// appends and reads fail with KAFKA_STORAGE_ERROR until the broker restarts.
    pub fn is_offline(&self) -> bool {
        self.offline.is_some()
    }

    /// Why the partition is offline, if it is.
    pub fn offline_error(&self) -> Option<&Offline> {
        self.offline.as_ref()
    }

    /// `Err` with the offline state, for every operation that touches the files.
    fn check_online(&self) -> Result<(), Offline> {
        match &self.offline {
            Some(o) => Err(o.clone()),
            None => Ok(()),
        }
    }

    /// Takes the partition offline after `cause` left files and memory out of step: from
    /// now on nothing is written (so no offset is reused and no torn state is made worse)
    /// and a restart's recovery truncates the torn tail. Acks were only sent for appends
    /// that returned `Ok`, so nothing acknowledged is lost.
    fn go_offline(&mut self, cause: impl std::fmt::Display) -> Offline {
        if let Some(o) = &self.offline {
            return o.clone();
        }
        let o = Offline {
            dir: self.dir.clone(),
            cause: cause.to_string(),
        };
        tracing::error!(
            dir = %self.dir.display(),
            log_end_offset = self.log_end_offset,
            error = %o.cause,
            "PARTITION OFFLINE: storage error left the log inconsistent; refusing appends and \
             reads until restart"
        );
        self.offline = Some(o.clone());
        o
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

    /// Starts a new active segment at `new_base` (>= the log end offset). The old one is
    /// fsynced first, so after a crash only the active segment needs recovery.
    fn roll(&mut self, new_base: i64) -> Result<(), StorageError> {
        if self.active.base_offset() == new_base {
            return Ok(());
        }
        let new = self.create_active_segment(new_base)?;
        let old = std::mem::replace(&mut self.active, new);
        if old.is_empty() {
            old.delete()?;
        } else {
            if self.config.preallocate {
                old.trim_preallocation()?;
            }
            old.flush()?;
            self.older.insert(old.base_offset(), old);
        }
        sync_dir(&self.dir)?;
        // Producer state has been applied up to the log end offset as it was before the
        // append that is rolling (that append's batches are applied after it is written),
        // so that is the snapshot's offset. Written before the recovery point moves: a
        // crash in between recovers the previous segment from an older snapshot.
        self.take_snapshot(self.log_end_offset)?;
        self.recovery_point = self.recovery_point.max(new_base.min(self.log_end_offset));
        write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, self.recovery_point)?;
        tracing::debug!(dir = %self.dir.display(), new_base, "rolled segment");
        Ok(())
    }

    /// A new active segment: `preallocate` reserves `segment.bytes`, and a fresh
    /// `segment.jitter.ms` is drawn for it.
    fn create_active_segment(&mut self, base: i64) -> Result<Segment, StorageError> {
        let seg = Segment::create(&self.dir, base)?;
        if self.config.preallocate {
            seg.preallocate(self.config.segment_bytes);
        }
        self.active_roll_jitter_ms = self.draw_roll_jitter();
        self.flushed_active_size = 0;
        Ok(seg)
    }

    /// Kafka's `randomSegmentJitter`: uniform in `[0, min(segment.jitter.ms, segment.ms))`.
    fn draw_roll_jitter(&mut self) -> i64 {
        let bound = self.config.segment_jitter_ms.min(self.config.segment_ms);
        if bound <= 0 {
            return 0;
        }
        ((self.jitter_rng)() % bound as u64) as i64
    }

    /// `segment.ms` minus the active segment's jitter.
    fn max_segment_ms(&self) -> i64 {
        self.config
            .segment_ms
            .saturating_sub(self.active_roll_jitter_ms)
    }

    /// Replaces the `segment.jitter.ms` randomness (tests make it deterministic) and draws
    /// the active segment's jitter again from it.
    pub fn set_jitter_rng(&mut self, rng: JitterRng) {
        self.jitter_rng = rng;
        self.active_roll_jitter_ms = self.draw_roll_jitter();
    }

    /// The active segment's `segment.jitter.ms` draw.
    pub fn active_roll_jitter_ms(&self) -> i64 {
        self.active_roll_jitter_ms
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
        self.check_online().map_err(StorageError::Offline)?;
        if epoch < 0 || self.epochs.latest_epoch().is_some_and(|l| epoch <= l) {
            return Ok(());
        }
        if self.epochs.assign(epoch, self.log_end_offset) {
            if let Err(e) = self.epochs.flush() {
                return Err(StorageError::Offline(self.go_offline(e)));
            }
        }
        Ok(())
    }

    /// Rolls the active segment if `segment.ms` has elapsed since its first append.
    pub fn maybe_roll(&mut self, now_ms: i64) -> Result<(), StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        let due = !self.active.is_empty()
            && self
                .active
                .rolling_base_ms
                .is_some_and(|t| now_ms.saturating_sub(t) > self.max_segment_ms());
        if due {
            if let Err(e) = self.roll(self.log_end_offset) {
                return Err(StorageError::Offline(self.go_offline(e)));
            }
        }
        Ok(())
    }

    /// fsyncs if `flush.ms` has elapsed since the last fsync (or `flush.messages` reached).
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<(), StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
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

    /// A failed fsync takes the partition offline: after one, Linux may have dropped the
    /// dirty pages, so what is on disk is unknown (PostgreSQL's "fsyncgate"; Kafka takes
    /// the log dir offline too).
    fn flush_inner(&mut self, now_ms: Option<i64>) -> Result<(), StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        match self.flush_files(now_ms) {
            Ok(()) => Ok(()),
            Err(e) => Err(StorageError::Offline(self.go_offline(e))),
        }
    }

    fn flush_files(&mut self, now_ms: Option<i64>) -> Result<(), StorageError> {
        self.active.flush()?;
        self.flushed_active_size = self.active.size();
        if self.recovery_point != self.log_end_offset {
            self.recovery_point = self.log_end_offset;
            write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, self.recovery_point)?;
        }
        self.unflushed_messages = 0;
        if let Some(now) = now_ms {
            self.last_flush_ms = now;
        }
        if self.hw.replicated {
            self.write_hw_checkpoint()?;
        }
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

    /// Flushes, writes the producer snapshot at the log end and the clean-shutdown marker
    /// (last: its presence promises everything before it is on disk).
    /// An offline log is not closed cleanly: no marker is written, so the next open
    /// recovers (validates and truncates) the torn tail.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        self.flush()?;
        self.take_snapshot(self.log_end_offset)?;
        // Both modes: a single-replica log switched to replicated after this restart
        // resumes at what it exposed as committed (a flush already wrote it if replicated).
        self.write_hw_checkpoint()?;
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
