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
//! entry points past the end of the segment's log file. Files are never mmapped (no unsafe);
//! the in-memory copy is authoritative and the file is rebuilt from it when needed.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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

/// One index file and its entries.
pub(crate) struct IndexFile<E: IndexEntry> {
    path: PathBuf,
    file: File,
    entries: Vec<E>,
}

impl<E: IndexEntry> IndexFile<E> {
    /// Opens (creating if absent) and reads every entry. `None` entries means the file's
    /// length is not a whole number of entries; the caller rebuilds it.
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
        let entries = bytes.chunks_exact(E::SIZE).map(E::decode).collect();
        Ok((
            IndexFile {
                path: path.to_path_buf(),
                file,
                entries,
            },
            whole,
        ))
    }

    /// Creates an empty index, truncating any existing file.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| io_context("create index", path, e))?;
        Ok(IndexFile {
            path: path.to_path_buf(),
            file,
            entries: Vec::new(),
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

    /// Appends entries with one write. On error the in-memory entries are unchanged, but
    /// the file may hold part of the new entries past them (the caller takes the
    /// partition offline; recovery rebuilds indexes from the data).
    pub fn append(&mut self, new: &[E]) -> io::Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(new.len() * E::SIZE);
        for e in new {
            e.encode(&mut buf);
        }
        fault::write_all_at(&self.file, E::WRITE_OP, &buf, self.size_in_bytes())
            .map_err(|e| io_context("append to index", &self.path, e))?;
        self.entries.extend_from_slice(new);
        Ok(())
    }

    /// Keeps the first `n` entries.
    pub fn truncate_entries(&mut self, n: usize) -> io::Result<()> {
        if n >= self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(n);
        self.file
            .set_len(self.size_in_bytes())
            .map_err(|e| io_context("truncate index", &self.path, e))
    }

    /// Replaces the whole file with `entries`.
    pub fn rewrite(&mut self, entries: Vec<E>) -> io::Result<()> {
        self.entries.clear();
        self.file
            .set_len(0)
            .map_err(|e| io_context("reset index", &self.path, e))?;
        self.append(&entries)
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file
            .sync_data()
            .map_err(|e| io_context("fsync index", &self.path, e))
    }

    /// A second handle to the file, to fsync it without holding the log.
    pub fn try_clone_file(&self) -> io::Result<File> {
        self.file
            .try_clone()
            .map_err(|e| io_context("duplicate handle of", &self.path, e))
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
        ])
        .unwrap();
        assert_eq!(idx.lookup(5), 0);
        assert_eq!(idx.lookup(10), 100);
        assert_eq!(idx.lookup(19), 100);
        assert_eq!(idx.lookup(25), 200);
        assert!(idx.is_consistent(201));
        assert!(!idx.is_consistent(200));
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
        ])
        .unwrap();
        assert_eq!(idx.last_before(100), None);
        assert_eq!(idx.last_before(101).unwrap().relative_offset, 1);
        assert_eq!(idx.last_before(1000).unwrap().relative_offset, 5);
        assert!(idx.is_consistent(Some(5)));
        assert!(!idx.is_consistent(Some(4)));
    }
}
