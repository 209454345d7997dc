//! One log segment: `<base>.log` holding whole batches back to back, plus its sparse
//! `.index` and `.timeindex` (see [`crate::index`]). Recovery (validate from a position,
//! truncate, rebuild index entries) lives in [`recover`], header scans in [`scan`].
//!
//! Invariants: the log file's first `size` bytes are a sequence of complete batches whose
//! offsets strictly increase, all within `[base_offset, base_offset + i32::MAX]`; the file
//! is never read past `size`; index entries never point at or past `size`. Writes go through
//! `pwrite` at `size`, so a failed append leaves the committed prefix untouched, and
//! in-memory state advances only after the data write succeeded (see [`Segment::append`]).
//!
//! Descriptors: a segment holds exactly one open file, its `.log` (reads and appends need
//! it). Index entries are kept in memory and written to `.index` / `.timeindex` (open,
//! `pwrite`, close) by [`Segment::flush`], [`Segment::flush_handles`] and recovery; the
//! `.txnindex` is opened only to append, cut or fsync it. So an idle partition with one
//! segment costs one descriptor.
//!
//! Crash safety: the log's recovery point trusts index entries below it, so the index
//! entries covering a range are written and fdatasynced **before** a recovery point covering
//! that range is checkpointed: [`Segment::flush`] (flush, roll, close) does both before
//! returning, and a background flush fsyncs the handles [`Segment::flush_handles`] returns
//! before its completion checkpoints. Entries above the recovery point may be missing or
//! short on disk after a crash; open validates that range and rebuilds them.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use strait_records::BatchHeader;

use crate::error::{invalid_data, io_context, AppendFailure};
use crate::fault::{self, Op};
use crate::index::{IndexFile, OffsetEntry, TimeEntry};
use crate::txn_index::{AbortedTxn, TxnIndex, TxnIndexState, TXN_INDEX_SUFFIX};

mod recover;
mod scan;
mod slice;
use recover::RecoverStart;
pub(crate) use scan::HeaderScan;
use scan::Window;
use slice::LogFile;
pub use slice::{FileSlice, LogSlice};

pub(crate) const LOG_SUFFIX: &str = "log";
pub(crate) const INDEX_SUFFIX: &str = "index";
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";

/// Read-ahead for header scans (reads, clean loads) and for recovery.
const SCAN_CHUNK: usize = 64 * 1024;
const RECOVERY_CHUNK: usize = 1024 * 1024;

/// `<20-digit zero-padded base offset>.<suffix>`, Kafka's file naming.
pub(crate) fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// Every file suffix of a segment, the log first.
pub(crate) const SEGMENT_SUFFIXES: [&str; 4] = [
    LOG_SUFFIX,
    INDEX_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
];

/// The log, offset-index, time-index and transaction-index paths of the segment at
/// `base_offset`, each with `extra` appended (`""` for the live files, `".cleaned"` /
/// `".swap"` / `".deleted"`).
pub(crate) fn segment_paths(dir: &Path, base_offset: i64, extra: &str) -> [PathBuf; 4] {
    SEGMENT_SUFFIXES.map(|suffix| dir.join(format!("{}{extra}", file_name(base_offset, suffix))))
}

/// What the log needs to know about a batch to place and index it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchMeta {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size: usize,
}

impl BatchMeta {
    pub fn of_header(h: &BatchHeader, size: usize) -> Self {
        BatchMeta {
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
            size,
        }
    }
}

/// Running per-segment state, shared by append, recovery and load so they index the same way.
#[derive(Debug, Clone)]
struct Stats {
    last_offset: Option<i64>,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    bytes_since_last_index_entry: u64,
    last_time_index_timestamp: Option<i64>,
}

impl Stats {
    fn empty() -> Self {
        Stats {
            last_offset: None,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            bytes_since_last_index_entry: 0,
            last_time_index_timestamp: None,
        }
    }

    /// Accounts a batch at `position`, returning the index entries it earns (Kafka's
    /// `LogSegment.append`: an index entry once more than `interval` bytes were appended
    /// since the last one; a time entry then too, if the max timestamp grew).
    fn account(
        &mut self,
        base_offset: i64,
        meta: &BatchMeta,
        position: u64,
        interval: u32,
    ) -> (Option<OffsetEntry>, Option<TimeEntry>) {
        self.last_offset = Some(meta.last_offset);
        if meta.max_timestamp > self.max_timestamp {
            self.max_timestamp = meta.max_timestamp;
            self.offset_of_max_timestamp = meta.last_offset;
        }
        let mut entries = (None, None);
        if self.bytes_since_last_index_entry > u64::from(interval) {
            // Both fit: the log keeps last_offset - base <= i32::MAX and size < 4 GiB.
            entries.0 = Some(OffsetEntry {
                relative_offset: (meta.last_offset - base_offset) as u32,
                position: position as u32,
            });
            if self.max_timestamp >= 0
                && self
                    .last_time_index_timestamp
                    .is_none_or(|t| self.max_timestamp > t)
            {
                entries.1 = Some(TimeEntry {
                    timestamp: self.max_timestamp,
                    relative_offset: (self.offset_of_max_timestamp - base_offset) as u32,
                });
                self.last_time_index_timestamp = Some(self.max_timestamp);
            }
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += meta.size as u64;
        entries
    }
}

/// Handles to fsync (with their paths, the log's first) and what they cover.
pub(crate) type FlushHandles = (Vec<(File, PathBuf)>, SyncMark);

/// What a background flush's fsyncs cover of a segment's index files (see
/// [`Segment::flush_handles`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SyncMark {
    offset_entries: usize,
    time_entries: usize,
    txn_version: u64,
}

/// What [`Segment::open`] did: trusted the indexes, or validated every batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Opened {
    /// Every batch was validated and the indexes rebuilt.
    pub recovered: bool,
    /// Recovery was not asked for but the indexes failed their sanity check.
    pub index_rebuilt: bool,
    /// Bytes read and CRC-checked by recovery (0 when the indexes were trusted).
    pub bytes_validated: u64,
    /// Bytes cut off the end as torn or corrupt.
    pub truncated: u64,
}

pub(crate) struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    /// Shared with the [`FileSlice`]s of in-flight fetches (see [`slice`]).
    log: Arc<LogFile>,
    size: u64,
    offset_index: IndexFile<OffsetEntry>,
    time_index: IndexFile<TimeEntry>,
    /// Aborted transactions whose ABORT marker is in this segment.
    txn_index: TxnIndex,
    /// Set when the `.txnindex` could not be trusted at open (missing, torn, insane, or the
    /// segment was recovered): the log rebuilds it from the batches.
    txn_index_needs_rebuild: Option<String>,
    /// With a rebuild pending, the first marker offset whose entry must be regenerated:
    /// the base offset, or after a recovery from the recovery point, the end of the trusted
    /// prefix (entries for markers in it were fsynced with it and are kept).
    txn_regen_from: i64,
    stats: Stats,
    /// Wall clock of the first append since this segment was created or opened; drives
    /// `segment.ms` rolling.
    pub rolling_base_ms: Option<i64>,
}

impl Segment {
    /// Creates an empty segment, replacing any files of the same name.
    pub fn create(dir: &Path, base_offset: i64) -> io::Result<Segment> {
        Segment::create_with_suffix(dir, base_offset, "")
    }

    /// Creates an empty segment whose files carry `extra` after their usual names (the
    /// cleaner writes `.cleaned` segments this way).
    pub fn create_with_suffix(dir: &Path, base_offset: i64, extra: &str) -> io::Result<Segment> {
        let [log_path, index_path, time_index_path, _] = segment_paths(dir, base_offset, extra);
        let txn_name = format!("{}{extra}", file_name(base_offset, TXN_INDEX_SUFFIX));
        fault::hit(Op::SegmentCreate).map_err(|e| io_context("create segment", &log_path, e))?;
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(|e| io_context("create segment", &log_path, e))?;
        Ok(Segment {
            base_offset,
            offset_index: IndexFile::create(&index_path)?,
            time_index: IndexFile::create(&time_index_path)?,
            txn_index: TxnIndex::create(dir, txn_name)?,
            txn_index_needs_rebuild: None,
            txn_regen_from: base_offset,
            log_path,
            log: LogFile::new(log),
            size: 0,
            stats: Stats::empty(),
            rolling_base_ms: None,
        })
    }

    /// Opens an existing segment. With `recover_from = Some(r)`, every batch that ends at
    /// or after offset `r` (the log's recovery point: everything below it was fsynced with
    /// its index entries) is validated (framing, CRC, offsets), the file is truncated at the
    /// first bad byte and index entries from there on are rebuilt; the prefix below `r` is
    /// trusted with its index entries, so a crash soon after a flush re-reads only what was
    /// written since. With `None`, the indexes are trusted after sanity checks and only the
    /// tail after the last index entry is scanned; any inconsistency falls back to full
    /// recovery.
    /// Returns the segment and what opening it did (see [`Opened`]).
    pub fn open(
        dir: &Path,
        base_offset: i64,
        recover_from: Option<i64>,
        index_interval: u32,
    ) -> io::Result<(Segment, Opened)> {
        let log_path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(|e| io_context("open segment", &log_path, e))?;
        let size = log
            .metadata()
            .map_err(|e| io_context("stat", &log_path, e))?
            .len();
        let (offset_index, offset_whole) =
            IndexFile::open(&dir.join(file_name(base_offset, INDEX_SUFFIX)))?;
        let (time_index, time_whole) =
            IndexFile::open(&dir.join(file_name(base_offset, TIME_INDEX_SUFFIX)))?;
        let (txn_index, txn_state) = TxnIndex::open(dir, file_name(base_offset, TXN_INDEX_SUFFIX))?;
        let mut seg = Segment {
            base_offset,
            log_path,
            log: LogFile::new(log),
            size,
            offset_index,
            time_index,
            txn_index,
            txn_index_needs_rebuild: match txn_state {
                TxnIndexState::Loaded => None,
                TxnIndexState::NeedsRebuild(reason) => Some(reason),
            },
            txn_regen_from: base_offset,
            stats: Stats::empty(),
            rolling_base_ms: None,
        };
        let whole = offset_whole && time_whole;
        if recover_from.is_none() {
            let loaded = if whole {
                seg.load_tail()
            } else {
                Err("index file length is not a whole number of entries".to_string())
            };
            match loaded {
                Ok(()) => {
                    if seg.txn_index_needs_rebuild.is_none() {
                        if let Err(reason) =
                            seg.txn_index.sanity_check(base_offset, seg.next_offset())
                        {
                            seg.txn_index_needs_rebuild = Some(reason);
                        }
                    }
                    if let Some(reason) = &seg.txn_index_needs_rebuild {
                        tracing::warn!(
                            segment = %seg.log_path.display(),
                            "rebuilding the transaction index: {reason}"
                        );
                    }
                    return Ok((seg, Opened::default()));
                }
                Err(reason) => tracing::warn!(
                    segment = %seg.log_path.display(),
                    "rebuilding segment indexes: {reason}"
                ),
            }
        }
        let start = match recover_from {
            Some(r) if whole && r > base_offset => {
                let start = seg.trusted_prefix(r);
                seg.extend_prefix(start, r, index_interval)
            }
            _ => RecoverStart::empty(),
        };
        let from = start.position;
        // Entries for markers in the trusted prefix are kept if the file loaded whole.
        let trusted_end = start.stats.last_offset.map(|l| l + 1);
        let txn_loaded = seg.txn_index_needs_rebuild.is_none();
        let truncated = seg.recover(start, index_interval)?;
        // Its entries depend on producer state before them: the log rebuilds them.
        seg.txn_index_needs_rebuild = Some("segment was recovered".into());
        seg.txn_regen_from = match trusted_end {
            Some(end) if txn_loaded && from > 0 => end,
            _ => base_offset,
        };
        let opened = Opened {
            recovered: true,
            index_rebuilt: recover_from.is_none(),
            bytes_validated: (seg.size + truncated).saturating_sub(from),
            truncated,
        };
        Ok((seg, opened))
    }

    /// Restores `stats` from the indexes plus a header scan of the bytes after the last
    /// offset-index entry. `Err` explains an inconsistency (the caller then recovers).
    fn load_tail(&mut self) -> Result<(), String> {
        if !self.offset_index.is_consistent(self.size) {
            return Err("offset index entries are unordered or point past the log end".into());
        }
        let (start, mut prev_last) = match self.offset_index.last() {
            Some(e) => (u64::from(e.position), None),
            None => (0, None),
        };
        let expected_first_last = self
            .offset_index
            .last()
            .map(|e| self.base_offset + i64::from(e.relative_offset));
        let mut stats = Stats::empty();
        let mut scan = self.scan_from(start, SCAN_CHUNK);
        let mut first = true;
        while let Some((pos, h, size)) = scan.next_header().map_err(|e| e.to_string())? {
            self.check_batch_offsets(&h, prev_last)
                .map_err(|m| format!("position {pos}: {m}"))?;
            if first {
                if let Some(expected) = expected_first_last {
                    if h.last_offset() != expected {
                        return Err(format!(
                            "last index entry names offset {expected} but the batch at position {pos} ends at {}",
                            h.last_offset()
                        ));
                    }
                }
                first = false;
            }
            prev_last = Some(h.last_offset());
            stats.last_offset = Some(h.last_offset());
            if h.max_timestamp > stats.max_timestamp {
                stats.max_timestamp = h.max_timestamp;
                stats.offset_of_max_timestamp = h.last_offset();
            }
            stats.bytes_since_last_index_entry += size as u64;
        }
        let max_rel = stats.last_offset.map(|l| (l - self.base_offset) as u32);
        if !self.time_index.is_consistent(max_rel) {
            return Err("time index entries are unordered or name offsets past the log end".into());
        }
        if let Some(t) = self.time_index.last() {
            stats.last_time_index_timestamp = Some(t.timestamp);
            if t.timestamp > stats.max_timestamp {
                stats.max_timestamp = t.timestamp;
                stats.offset_of_max_timestamp = self.base_offset + i64::from(t.relative_offset);
            }
        }
        self.stats = stats;
        Ok(())
    }

    /// Checks a batch's offsets against this segment and the previous batch.
    fn check_batch_offsets(&self, h: &BatchHeader, prev_last: Option<i64>) -> Result<(), String> {
        if h.last_offset_delta < 0 {
            return Err(format!("negative lastOffsetDelta {}", h.last_offset_delta));
        }
        if h.base_offset < self.base_offset {
            return Err(format!(
                "baseOffset {} below the segment base {}",
                h.base_offset, self.base_offset
            ));
        }
        if h.last_offset() - self.base_offset > i64::from(i32::MAX) {
            return Err(format!(
                "lastOffset {} too far above the segment base {}",
                h.last_offset(),
                self.base_offset
            ));
        }
        if let Some(prev) = prev_last {
            if h.base_offset <= prev {
                return Err(format!(
                    "baseOffset {} does not follow offset {prev}",
                    h.base_offset
                ));
            }
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// Offset after the last batch, or the base offset when empty.
    pub fn next_offset(&self) -> i64 {
        self.stats.last_offset.map_or(self.base_offset, |l| l + 1)
    }
    pub fn max_timestamp(&self) -> i64 {
        self.stats.max_timestamp
    }
    pub fn offset_index_bytes(&self) -> u64 {
        self.offset_index.size_in_bytes()
    }
    pub fn time_index_bytes(&self) -> u64 {
        self.time_index.size_in_bytes()
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Largest timestamp for time retention: the max record timestamp, or the file's
    /// modification time when no batch carries a timestamp (Kafka does the same).
    pub fn largest_timestamp(&self) -> i64 {
        if self.stats.max_timestamp >= 0 {
            return self.stats.max_timestamp;
        }
        self.log
            .file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn scan_from(&self, position: u64, chunk: usize) -> HeaderScan<'_> {
        HeaderScan {
            window: Window::new(&self.log.file, &self.log_path, self.size, chunk),
            pos: position,
            chunk,
        }
    }

    pub fn scan(&self) -> HeaderScan<'_> {
        self.scan_from(0, SCAN_CHUNK)
    }

    /// A fetch read's scan: the first `pread` takes one header, and read-ahead starts
    /// after a batch no larger than [`SCAN_CHUNK`] (the log is often 1 MB batches, and a
    /// 64 KiB read-ahead per header is more bytes copied than sendfile leaves).
    pub fn scan_headers_from(&self, position: u64) -> HeaderScan<'_> {
        let mut scan = self.scan_from(position, SCAN_CHUNK);
        scan.window.chunk = strait_records::RECORD_BATCH_OVERHEAD;
        scan
    }

    /// Writes `bytes` (whole batches described by `metas`) at the end of the segment and
    /// adds their index entries in memory. In-memory state (size, stats, index entries)
    /// changes only once every byte is written, so a failure never leaves it describing
    /// bytes that are not there. A failed data write is cut back to the committed size: if
    /// that works the append had no effect ([`AppendFailure::NotWritten`], safe to retry);
    /// if it does not, the file no longer matches memory ([`AppendFailure::Torn`]) and the
    /// caller must take the partition offline. Index write failures surface at the next
    /// flush instead, which takes the partition offline the same way. (An earlier
    /// version counted the data as committed before the index writes and returned their
    /// error, so the log end offset was not advanced and the next append reused offsets.)
    pub fn append(
        &mut self,
        bytes: &[u8],
        metas: &[BatchMeta],
        index_interval: u32,
        now_ms: i64,
    ) -> Result<(), AppendFailure> {
        if let Err(e) = fault::write_all_at(&self.log.file, Op::LogWrite, bytes, self.size) {
            let e = io_context("append to", &self.log_path, e);
            // A partial pwrite may have extended the file: cut it back to the committed size.
            return match fault::hit(Op::SetLen).and_then(|()| self.log.file.set_len(self.size)) {
                Ok(()) => Err(AppendFailure::NotWritten(e)),
                Err(cut) => Err(AppendFailure::Torn(io::Error::new(
                    e.kind(),
                    format!("{e}; cutting back to {} bytes failed too: {cut}", self.size),
                ))),
            };
        }
        // Entries are computed on a copy: `self.stats` advances only after the index writes.
        let mut stats = self.stats.clone();
        let mut offset_entries = Vec::new();
        let mut time_entries = Vec::new();
        let mut pos = self.size;
        for meta in metas {
            let (o, t) = stats.account(self.base_offset, meta, pos, index_interval);
            offset_entries.extend(o);
            time_entries.extend(t);
            pos += meta.size as u64;
        }
        // In memory only: the files get them at the next flush (see the module docs).
        self.offset_index.append(&offset_entries);
        self.time_index.append(&time_entries);
        self.stats = stats;
        self.size += bytes.len() as u64;
        self.rolling_base_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Position and header of the first batch whose last offset is `>= target`.
    pub fn find_first_batch(&self, target: i64) -> io::Result<Option<(u64, BatchHeader, usize)>> {
        if self.stats.last_offset.is_none_or(|l| l < target) {
            return Ok(None);
        }
        let relative = (target - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        let mut scan = self.scan_headers_from(u64::from(self.offset_index.lookup(relative)));
        while let Some((pos, h, size)) = scan.next_header()? {
            if h.last_offset() >= target {
                return Ok(Some((pos, h, size)));
            }
        }
        Ok(None)
    }

    /// Position from which a scan finds every batch that may hold a timestamp `>= target`.
    pub fn position_for_timestamp(&self, target: i64) -> u64 {
        match self.time_index.last_before(target) {
            Some(e) => u64::from(self.offset_index.lookup(e.relative_offset)),
            None => 0,
        }
    }

    pub fn read_at(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        self.check_range(position, len)?;
        slice::pread_exact(&self.log.file, &self.log_path, position, len)
    }

    /// The range `read_at` would read, left in the file for a later `sendfile`.
    pub fn slice(&self, position: u64, len: usize) -> io::Result<FileSlice> {
        self.check_range(position, len)?;
        Ok(FileSlice::new(&self.log, &self.log_path, position, len))
    }

    fn check_range(&self, position: u64, len: usize) -> io::Result<()> {
        if position + len as u64 > self.size {
            return Err(invalid_data(
                &self.log_path,
                format!("read of {len} bytes at {position} past the segment end"),
            ));
        }
        Ok(())
    }

    /// Removes every batch whose last offset is `>= offset`.
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let Some((pos, _, _)) = self.find_first_batch(offset)? else {
            return Ok(());
        };
        // Before the cut: a fetch still sending a slice of the old bytes must stop.
        self.log.truncations.fetch_add(1, Ordering::AcqRel);
        self.log
            .file
            .set_len(pos)
            .map_err(|e| io_context("truncate", &self.log_path, e))?;
        self.size = pos;
        let keep = self
            .offset_index
            .entries()
            .partition_point(|e| u64::from(e.position) < pos);
        self.offset_index.truncate_entries(keep)?;
        let keep = self
            .time_index
            .entries()
            .partition_point(|e| self.base_offset + i64::from(e.relative_offset) < offset);
        self.time_index.truncate_entries(keep)?;
        self.txn_index.truncate_to(offset)?;
        if let Err(reason) = self.load_tail() {
            return Err(invalid_data(
                &self.log_path,
                format!("after truncation: {reason}"),
            ));
        }
        if self.size == 0 {
            self.rolling_base_ms = None;
        }
        Ok(())
    }

    /// Reserves `bytes` of disk for the log file without changing its visible size
    /// (`preallocate`), so appends do not fragment the file. `fallocate(FALLOC_FL_KEEP_SIZE)`
    /// through `rustix` (safe wrapper; the workspace denies `unsafe`). File systems without
    /// fallocate get a warning and no reservation: preallocation is an optimisation.
    pub fn preallocate(&self, bytes: u64) {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{fallocate, FallocateFlags};
            if let Err(e) = fallocate(&self.log.file, FallocateFlags::KEEP_SIZE, 0, bytes) {
                tracing::warn!(segment = %self.log_path.display(), error = %e, "cannot preallocate segment");
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = bytes;
    }

    /// Releases blocks reserved past the data (after [`Segment::preallocate`]) once the
    /// segment stops being active.
    pub fn trim_preallocation(&self) -> io::Result<()> {
        self.log
            .file
            .set_len(self.size)
            .map_err(|e| io_context("trim", &self.log_path, e))
    }

    /// Sets the log file's modification time: time retention falls back to it for a segment
    /// with no timestamps, e.g. one the cleaner emptied (Kafka preserves it the same way).
    pub fn set_modified_ms(&self, ms: i64) -> io::Result<()> {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        self.log
            .file
            .set_modified(t)
            .map_err(|e| io_context("set modification time of", &self.log_path, e))
    }

    /// Renames the segment's files to `<name>.deleted` (Kafka's asynchronous delete, for
    /// `file.delete.delay.ms`) and returns the new paths, log first.
    pub fn rename_deleted(self) -> io::Result<Vec<PathBuf>> {
        let mut renamed = Vec::with_capacity(4);
        for path in self.file_paths() {
            let mut to = path.clone().into_os_string();
            to.push(".deleted");
            let to = PathBuf::from(to);
            match fs::rename(&path, &to) {
                Ok(()) => renamed.push(to),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_context("rename for deletion", &path, e)),
            }
        }
        Ok(renamed)
    }

    /// Header of the first batch, if any.
    pub fn first_header(&self) -> io::Result<Option<BatchHeader>> {
        Ok(self.scan().next_header()?.map(|(_, h, _)| h))
    }

    /// Makes everything in the segment durable: fdatasyncs the log, writes the pending
    /// index entries and fdatasyncs each index file that changed since its last fsync
    /// (an unchanged one is not even opened). Index files are closed again afterwards.
    pub fn flush(&self) -> io::Result<()> {
        fault::hit(Op::Fsync)
            .and_then(|()| self.log.file.sync_data())
            .map_err(|e| io_context("fsync", &self.log_path, e))?;
        self.offset_index.persist(true)?;
        self.time_index.persist(true)?;
        self.txn_index.sync()
    }

    /// For a background flush: writes the pending index entries now (cheap, under the
    /// log's lock) and returns handles to fsync without the lock — a duplicate of the log's
    /// and the index files that hold data not known durable — with their paths, and what
    /// to pass to [`Segment::mark_synced`] once they are fsynced. The index handles are
    /// opened here and closed when the caller drops them.
    ///
    /// The outer error (the log handle could not be duplicated) leaves nothing written and
    /// is not fatal; the inner one is a failed index write, which the caller must treat
    /// like a failed flush.
    pub fn flush_handles(&self) -> io::Result<io::Result<FlushHandles>> {
        let log = self
            .log
            .file
            .try_clone()
            .map_err(|e| io_context("duplicate handle of", &self.log_path, e))?;
        let mut files = vec![(log, self.log_path.clone())];
        let mut mark = SyncMark::default();
        let written = (|| {
            if let Some((file, n)) = self.offset_index.write_pending()? {
                files.push((file, self.offset_index.path().to_path_buf()));
                mark.offset_entries = n;
            }
            if let Some((file, n)) = self.time_index.write_pending()? {
                files.push((file, self.time_index.path().to_path_buf()));
                mark.time_entries = n;
            }
            if let Some((file, version)) = self.txn_index.handle_to_sync()? {
                files.push((file, self.txn_index.path().to_path_buf()));
                mark.txn_version = version;
            }
            Ok(())
        })();
        Ok(written.map(|()| (files, mark)))
    }

    /// Notes that the handles [`Segment::flush_handles`] returned with `mark` were
    /// fsynced, so the next flush does not reopen files with nothing new.
    pub fn mark_synced(&self, mark: SyncMark) {
        self.offset_index.mark_synced(mark.offset_entries);
        self.time_index.mark_synced(mark.time_entries);
        self.txn_index.mark_synced(mark.txn_version);
    }

    /// The segment's files, the log first.
    fn file_paths(&self) -> [PathBuf; 4] {
        [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ]
    }

    /// Aborted transactions whose marker is in this segment, in marker order.
    pub fn aborted_txns(&self) -> &[AbortedTxn] {
        self.txn_index.entries()
    }

    /// Records an aborted transaction whose marker was just appended to this segment.
    pub fn append_aborted_txn(&mut self, entry: AbortedTxn) -> io::Result<()> {
        self.txn_index.append(entry)
    }

    /// With a rebuild pending, the first marker offset whose entry must be regenerated
    /// (entries for earlier markers are kept).
    pub fn txn_index_regen_from(&self) -> Option<i64> {
        self.txn_index_needs_rebuild
            .as_ref()
            .map(|_| self.txn_regen_from)
    }

    /// Replaces the transaction index entries for markers at or after
    /// [`Self::txn_index_regen_from`] with `entries`, rebuilt from the batches.
    pub fn rebuild_txn_index(&mut self, entries: Vec<AbortedTxn>) -> io::Result<()> {
        let from = self.txn_regen_from;
        let mut all: Vec<AbortedTxn> = self
            .txn_index
            .entries()
            .iter()
            .filter(|e| e.last_offset < from)
            .copied()
            .collect();
        all.extend(entries);
        self.txn_index.rewrite(all)?;
        self.txn_index_needs_rebuild = None;
        self.txn_regen_from = self.base_offset;
        Ok(())
    }

    /// Collects this segment's aborted transactions overlapping `[fetch_offset,
    /// upper_bound)`; `true` when no later segment can hold more.
    pub fn collect_aborted_txns(
        &self,
        fetch_offset: i64,
        upper_bound: i64,
        out: &mut Vec<AbortedTxn>,
    ) -> bool {
        self.txn_index.collect(fetch_offset, upper_bound, out)
    }

    /// Deletes the segment's files. The log file goes first: an index without its log is
    /// a stray that the next open removes, while a log without its index is rebuilt.
    pub fn delete(self) -> io::Result<()> {
        for path in self.file_paths() {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_context("delete", &path, e)),
            }
        }
        Ok(())
    }
}
