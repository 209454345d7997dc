//! Sparse per-segment indexes, kept in memory and mirrored to a file with `pwrite`.
//!
//! * Offset index (`.index`): 8-byte entries `relativeOffset u32 BE, position u32 BE`. One
//!   entry per `index.interval.bytes` appended; the offset is the **last** offset of the
//!   batch that starts at `position` (as Kafka does). A lookup for `target` returns the
//!   position of the greatest entry with offset `<= target`: every batch before that
//!   position ends below `target`, so a forward header scan from there finds the first
//!   batch whose last offset is `>= target`.
//! * Time index (`.timeindex`): 12-byte entries `timestamp i64 BE, relativeOffset u32 BE`,
//!   appended at the same moments but only when the segment's max timestamp grew. An entry
//!   `(t, o)` means every batch up to the one ending at `o` has timestamps `<= t`.
//!
//! Invariants: offsets and positions strictly increase, timestamps strictly increase, and no
//! entry points past the end of the segment's log file. Files are never mmapped (no unsafe)
//! nor held open: the in-memory copy is authoritative, and the file is written from it
//! lazily (see [`IndexFile`]).
//!
//! Durability: the log's recovery point trusts the index entries below it, so **every entry
//! covering an offset below a recovery point is written and fdatasynced before that
//! recovery point is checkpointed**. Every path that moves the recovery point (flush, roll,
//! background flush, close) calls [`IndexFile::write_pending`] and fsyncs first; entries
//! above the recovery point may be missing from the file after a crash, and open rebuilds
//! them from the data.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::io_context;
use crate::fault::{self, Op};

pub(crate) trait IndexEntry: Copy + std::fmt::Debug {
    const SIZE: usize;
    /// Which write fault-injection rules match for this index kind.
    const WRITE_OP: Op;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(b: &[u8]) -> Self;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;
    const WRITE_OP: Op = Op::OffsetIndexWrite;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;
    const WRITE_OP: Op = Op::TimeIndexWrite;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// One index file and its entries. No file descriptor is held: the in-memory entries are
/// authoritative, and [`IndexFile::write_pending`] opens the file, `pwrite`s the entries it
/// does not hold yet and hands the handle back (or drops it) — at flush, at roll, at close
/// and for a background flush. An idle partition therefore costs one descriptor (its active
/// `.log`), as in Kafka, which mmaps its indexes and closes their files.
///
/// `written` and `synced` are prefixes of `entries` (`synced <= written <= len`): the
/// entries the file holds, and those known durable (fdatasynced). They are atomics so a
/// background flush can write and note them under a shared borrow of the log; concurrent
/// writers write the same bytes at the same positions, so they cannot disagree.
pub(crate) struct IndexFile<E: IndexEntry> {
    path: PathBuf,
    entries: Vec<E>,
    written: AtomicUsize,
    synced: AtomicUsize,
}

/// Opens an existing index file for writing; never creates one, so a write for a segment
/// whose files were renamed or deleted fails instead of leaving a stray file.
fn open_existing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_context("open index", path, e))
}

impl<E: IndexEntry> IndexFile<E> {
    /// Reads every entry (creating an empty file if absent) and closes the file. `false`
    /// means the file's length is not a whole number of entries; the caller rebuilds it.
    /// The entries read are in the file but not known durable (a process crash leaves
    /// them in the page cache), so the next flush fsyncs them.
    pub fn open(path: &Path) -> io::Result<(Self, bool)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_context("open index", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| io_context("stat index", path, e))?
            .len();
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| io_context("read index", path, e))?;
        let whole = bytes.len() % E::SIZE == 0;
        let entries: Vec<E> = bytes.chunks_exact(E::SIZE).map(E::decode).collect();
        Ok((
            IndexFile {
                path: path.to_path_buf(),
                written: AtomicUsize::new(entries.len()),
                synced: AtomicUsize::new(0),
                entries,
            },
            whole,
        ))
    }

    /// Creates an empty index file, truncating any existing one, and closes it.
    pub fn create(path: &Path) -> io::Result<Self> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| io_context("create index", path, e))?;
        Ok(IndexFile {
            path: path.to_path_buf(),
            entries: Vec::new(),
            written: AtomicUsize::new(0),
            synced: AtomicUsize::new(0),
        })
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }
    pub fn last(&self) -> Option<&E> {
        self.entries.last()
    }
    pub fn size_in_bytes(&self) -> u64 {
        (self.entries.len() * E::SIZE) as u64
    }

    /// Adds entries in memory only; they reach the file at the next
    /// [`IndexFile::write_pending`] (every recovery-point move does one first).
    pub fn append(&mut self, new: &[E]) {
        self.entries.extend_from_slice(new);
    }

    /// Writes the entries the file does not hold yet with one `pwrite`. Returns the handle
    /// and the entry count the file then holds when some of them are not known durable
    /// (the caller fsyncs it, then calls [`IndexFile::mark_synced`]), `None` when
    /// everything is durable already (no file is opened). On a write error the file may
    /// hold part of the new entries past `written`: they are cut back (best effort) and
    /// rewritten by the next call; the caller takes the partition offline.
    pub fn write_pending(&self) -> io::Result<Option<(File, usize)>> {
        let len = self.entries.len();
        let written = self.written.load(Ordering::Acquire).min(len);
        if self.synced.load(Ordering::Acquire) >= len {
            return Ok(None);
        }
        let file = open_existing(&self.path)?;
        if written < len {
            let mut buf = Vec::with_capacity((len - written) * E::SIZE);
            for e in &self.entries[written..] {
                e.encode(&mut buf);
            }
            let at = (written * E::SIZE) as u64;
            if let Err(e) = fault::write_all_at(&file, E::WRITE_OP, &buf, at) {
                if let Err(cut) = file.set_len(at) {
                    tracing::warn!(index = %self.path.display(), error = %cut, "cannot cut back after a failed index write");
                }
                return Err(io_context("append to index", &self.path, e));
            }
            self.written.fetch_max(len, Ordering::AcqRel);
        }
        Ok(Some((file, len)))
    }

    /// Notes that the first `n` entries were fsynced (after [`IndexFile::write_pending`]).
    pub fn mark_synced(&self, n: usize) {
        self.synced
            .fetch_max(n.min(self.entries.len()), Ordering::AcqRel);
    }

    /// Writes pending entries and, with `sync`, fdatasyncs the file; then closes it.
    pub fn persist(&self, sync: bool) -> io::Result<()> {
        if !sync && self.written.load(Ordering::Acquire) >= self.entries.len() {
            return Ok(());
        }
        let Some((file, n)) = self.write_pending()? else {
            return Ok(());
        };
        if sync {
            file.sync_data()
                .map_err(|e| io_context("fsync index", &self.path, e))?;
            self.mark_synced(n);
        }
        Ok(())
    }

    /// Keeps the first `n` entries, cutting the file if it holds more.
    pub fn truncate_entries(&mut self, n: usize) -> io::Result<()> {
        if n >= self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(n);
        if *self.written.get_mut() > n {
            open_existing(&self.path)?
                .set_len(self.size_in_bytes())
                .map_err(|e| io_context("truncate index", &self.path, e))?;
            *self.written.get_mut() = n;
        }
        let synced = self.synced.get_mut();
        *synced = (*synced).min(n);
        Ok(())
    }

    /// Replaces the whole file with `entries` (written now, not fsynced).
    pub fn rewrite(&mut self, entries: Vec<E>) -> io::Result<()> {
        open_existing(&self.path)?
            .set_len(0)
            .map_err(|e| io_context("reset index", &self.path, e))?;
        self.entries = entries;
        *self.written.get_mut() = 0;
        *self.synced.get_mut() = 0;
        self.persist(false)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl IndexFile<OffsetEntry> {
    /// Position of the greatest entry with relative offset `<= relative_target`, else 0.
    pub fn lookup(&self, relative_target: u32) -> u32 {
        let i = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_target);
        if i == 0 {
            0
        } else {
            self.entries[i - 1].position
        }
    }

    /// True if entries strictly increase and stay below `log_size`.
    pub fn is_consistent(&self, log_size: u64) -> bool {
        self.entries
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position)
            && self
                .entries
                .last()
                .is_none_or(|e| u64::from(e.position) < log_size)
    }
}

impl IndexFile<TimeEntry> {
    /// The greatest entry whose timestamp is strictly below `target`.
    pub fn last_before(&self, target: i64) -> Option<TimeEntry> {
        let i = self.entries.partition_point(|e| e.timestamp < target);
        i.checked_sub(1).map(|i| self.entries[i])
    }

    /// True if timestamps strictly increase, offsets do not decrease, and no entry names an
    /// offset beyond `max_relative_offset`.
    pub fn is_consistent(&self, max_relative_offset: Option<u32>) -> bool {
        let ordered = self.entries.windows(2).all(|w| {
            w[0].timestamp < w[1].timestamp && w[0].relative_offset <= w[1].relative_offset
        });
        let bounded = match (self.entries.last(), max_relative_offset) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(e), Some(max)) => e.relative_offset <= max,
        };
        ordered && bounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = IndexFile::<OffsetEntry>::create(&p).unwrap();
        idx.append(&[
            OffsetEntry {
                relative_offset: 10,
                position: 100,
            },
            OffsetEntry {
                relative_offset: 20,
                position: 200,
            },
        ]);
        assert_eq!(idx.lookup(5), 0);
        assert_eq!(idx.lookup(10), 100);
        assert_eq!(idx.lookup(19), 100);
        assert_eq!(idx.lookup(25), 200);
        assert!(idx.is_consistent(201));
        assert!(!idx.is_consistent(200));
        // Appends stay in memory until written.
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
        idx.persist(true).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 16);
        assert!(
            idx.write_pending().unwrap().is_none(),
            "nothing left to write"
        );
        drop(idx);
        let (idx, whole) = IndexFile::<OffsetEntry>::open(&p).unwrap();
        assert!(whole);
        assert_eq!(idx.entries().len(), 2);
        std::fs::write(&p, [0u8; 7]).unwrap();
        let (_, whole) = IndexFile::<OffsetEntry>::open(&p).unwrap();
        assert!(!whole);
    }

    #[test]
    fn time_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = IndexFile::<TimeEntry>::create(&dir.path().join("0.timeindex")).unwrap();
        idx.append(&[
            TimeEntry {
                timestamp: 100,
                relative_offset: 1,
            },
            TimeEntry {
                timestamp: 200,
                relative_offset: 5,
            },
        ]);
        assert_eq!(idx.last_before(100), None);
        assert_eq!(idx.last_before(101).unwrap().relative_offset, 1);
        assert_eq!(idx.last_before(1000).unwrap().relative_offset, 5);
        assert!(idx.is_consistent(Some(5)));
        assert!(!idx.is_consistent(Some(4)));
    }
}
