//! The aborted-transaction index of one segment, `<base>.txnindex` (Kafka's
//! `TransactionIndex`): one 34-byte entry per aborted transaction whose ABORT marker lies
//! in the segment — `version int16 (0), producerId int64, firstOffset int64,
//! lastOffset int64 (the marker's offset), lastStableOffset int64` — in marker order.
//!
//! # Owned state and invariants
//! * The entries are kept in memory too (read_committed fetches consult them on every
//!   read; 40 bytes per aborted transaction) and appended to the file with `pwrite`. The
//!   file is opened only to read it at open, to append or cut an entry, and to fsync it at
//!   flush when it changed since the last fsync; no descriptor is held in between.
//! * Durability: an entry whose marker lies below a checkpointed recovery point was
//!   fsynced before that checkpoint (flush, roll, background flush and close fsync a
//!   changed file first); entries above it are regenerated from the batches at open.
//! * `lastOffset` strictly increases through the file and lies inside the segment; an
//!   entry's `firstOffset <= lastOffset` (the transaction may have started in an earlier
//!   segment). `lastStableOffset` is the log's LSO right after the marker, which bounds the
//!   `firstOffset` of every later entry: a search can stop at the first entry whose
//!   `lastStableOffset` reaches its upper bound (`TransactionIndex.collectAbortedTxns`).
//! * A file that is missing, not a whole number of entries, or fails [`TxnIndex::sanity_check`]
//!   is rebuilt by the log from the batches (the caller learns it from [`TxnIndex::open`]).
//!   Rebuilds replace the file atomically (tmp + rename), so a crash mid-rebuild leaves the
//!   old file, and the next open rebuilds again.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::checkpoint::write_atomic;
use crate::error::io_context;

pub(crate) const TXN_INDEX_SUFFIX: &str = "txnindex";
/// Bytes of one entry on disk.
pub const ABORTED_TXN_ENTRY_SIZE: usize = 34;
const ENTRY_VERSION: i16 = 0;

/// One aborted transaction (Kafka `AbortedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// Offset of the transaction's first data batch.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset right after the marker.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ABORTED_TXN_ENTRY_SIZE] {
        let mut out = [0u8; ABORTED_TXN_ENTRY_SIZE];
        out[0..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    /// Decodes one entry; `Err` names a bad version.
    pub fn decode(b: &[u8; ABORTED_TXN_ENTRY_SIZE]) -> Result<Self, String> {
        let version = i16::from_be_bytes([b[0], b[1]]);
        if version != ENTRY_VERSION {
            return Err(format!(
                "unknown aborted-transaction entry version {version}"
            ));
        }
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        Ok(AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

/// How [`TxnIndex::open`] found the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TxnIndexState {
    Loaded,
    /// Rebuild from the segment's batches (missing: written before `.txnindex` existed, or
    /// a crash between creating the log and its index).
    NeedsRebuild(String),
}

pub(crate) struct TxnIndex {
    dir: PathBuf,
    name: String,
    path: PathBuf,
    entries: Vec<AbortedTxn>,
    /// Bumped by every change to the file; `synced_version` is the version last fsynced
    /// (atomic: a background flush notes it under a shared borrow of the log).
    version: u64,
    synced_version: AtomicU64,
}

fn open_rw(path: &Path, truncate: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
        .map_err(|e| io_context("open transaction index", path, e))
}

/// Never creates: a write for a segment whose files were renamed or deleted fails rather
/// than leaving a stray file.
fn open_existing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_context("open transaction index", path, e))
}

impl TxnIndex {
    /// Creates an empty index, truncating any existing file.
    pub fn create(dir: &Path, name: String) -> io::Result<Self> {
        let path = dir.join(&name);
        open_rw(&path, true)?;
        Ok(TxnIndex {
            dir: dir.to_path_buf(),
            name,
            path,
            entries: Vec::new(),
            // A new empty file: nothing in it to lose.
            version: 0,
            synced_version: AtomicU64::new(0),
        })
    }

    /// Opens the index, creating an empty file if none exists; the state says whether the
    /// caller must rebuild it.
    pub fn open(dir: &Path, name: String) -> io::Result<(Self, TxnIndexState)> {
        let path = dir.join(&name);
        let existed = path.exists();
        let file = open_rw(&path, false)?;
        let len = file
            .metadata()
            .map_err(|e| io_context("stat transaction index", &path, e))?
            .len();
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| io_context("read transaction index", &path, e))?;
        let mut state = if existed {
            TxnIndexState::Loaded
        } else {
            TxnIndexState::NeedsRebuild("no transaction index file".into())
        };
        if bytes.len() % ABORTED_TXN_ENTRY_SIZE != 0 {
            state = TxnIndexState::NeedsRebuild(format!(
                "{} bytes is not a whole number of {ABORTED_TXN_ENTRY_SIZE}-byte entries",
                bytes.len()
            ));
        }
        let mut entries = Vec::with_capacity(bytes.len() / ABORTED_TXN_ENTRY_SIZE);
        for chunk in bytes.chunks_exact(ABORTED_TXN_ENTRY_SIZE) {
            let mut a = [0u8; ABORTED_TXN_ENTRY_SIZE];
            a.copy_from_slice(chunk);
            match AbortedTxn::decode(&a) {
                Ok(e) => entries.push(e),
                Err(m) => {
                    state = TxnIndexState::NeedsRebuild(m);
                    break;
                }
            }
        }
        Ok((
            TxnIndex {
                dir: dir.to_path_buf(),
                name,
                path,
                entries,
                // What was read may be in the page cache only (a process crash): the next
                // flush fsyncs it.
                version: 1,
                synced_version: AtomicU64::new(0),
            },
            state,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Kafka's `TransactionIndex.sanityCheck`, plus ordering: every entry's marker lies in
    /// `[base_offset, next_offset)`, markers strictly increase, `firstOffset <= lastOffset`.
    pub fn sanity_check(&self, base_offset: i64, next_offset: i64) -> Result<(), String> {
        let mut prev: Option<i64> = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.last_offset < base_offset || e.last_offset >= next_offset {
                return Err(format!(
                    "entry {i} names marker offset {} outside the segment [{base_offset}, {next_offset})",
                    e.last_offset
                ));
            }
            if e.first_offset > e.last_offset {
                return Err(format!(
                    "entry {i} has firstOffset {} after lastOffset {}",
                    e.first_offset, e.last_offset
                ));
            }
            if prev.is_some_and(|p| e.last_offset <= p) {
                return Err(format!("entry {i} is out of marker order"));
            }
            prev = Some(e.last_offset);
        }
        Ok(())
    }

    /// Appends one entry (its marker must follow every entry's).
    pub fn append(&mut self, entry: AbortedTxn) -> io::Result<()> {
        if let Some(last) = self.entries.last() {
            if entry.last_offset <= last.last_offset {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: aborted transaction at marker {} does not follow marker {}",
                        self.path.display(),
                        entry.last_offset,
                        last.last_offset
                    ),
                ));
            }
        }
        let at = (self.entries.len() * ABORTED_TXN_ENTRY_SIZE) as u64;
        self.version += 1;
        open_existing(&self.path)?
            .write_all_at(&entry.encode(), at)
            .map_err(|e| io_context("append to", &self.path, e))?;
        self.entries.push(entry);
        Ok(())
    }

    /// Removes entries whose marker is at or after `offset` (Kafka `truncateTo`).
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        self.version += 1;
        open_existing(&self.path)?
            .set_len((keep * ABORTED_TXN_ENTRY_SIZE) as u64)
            .map_err(|e| io_context("truncate", &self.path, e))
    }

    /// Replaces the whole file atomically with `entries` (rebuilds).
    pub fn rewrite(&mut self, entries: Vec<AbortedTxn>) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(entries.len() * ABORTED_TXN_ENTRY_SIZE);
        for e in &entries {
            bytes.extend_from_slice(&e.encode());
        }
        write_atomic(&self.dir, &self.name, &bytes)?;
        self.entries = entries;
        // `write_atomic` fsynced the new file; no handle to the old inode is kept, so later
        // appends reach the new one.
        self.version += 1;
        self.synced_version.store(self.version, Ordering::Release);
        Ok(())
    }

    /// fsyncs the file if it changed since its last fsync.
    pub fn sync(&self) -> io::Result<()> {
        if let Some((file, version)) = self.handle_to_sync()? {
            file.sync_data()
                .map_err(|e| io_context("fsync", &self.path, e))?;
            self.mark_synced(version);
        }
        Ok(())
    }

    /// A handle to fsync (without holding the log) and the version it covers, or `None`
    /// when the file has not changed since its last fsync.
    pub fn handle_to_sync(&self) -> io::Result<Option<(File, u64)>> {
        if self.synced_version.load(Ordering::Acquire) >= self.version {
            return Ok(None);
        }
        Ok(Some((open_existing(&self.path)?, self.version)))
    }

    /// Notes that the file as of `version` was fsynced.
    pub fn mark_synced(&self, version: u64) {
        self.synced_version.fetch_max(version, Ordering::AcqRel);
    }

    /// Entries with `lastOffset >= fetch_offset && firstOffset < upper_bound`, and whether
    /// the search is complete (an entry's LSO reached `upper_bound`: later entries, here or
    /// in later segments, cannot overlap).
    pub fn collect(&self, fetch_offset: i64, upper_bound: i64, out: &mut Vec<AbortedTxn>) -> bool {
        for e in &self.entries {
            if e.last_offset >= fetch_offset && e.first_offset < upper_bound {
                out.push(*e);
            }
            if e.last_stable_offset >= upper_bound {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn round_trip_truncate_and_sanity() {
        let dir = tempfile::tempdir().unwrap();
        let name = "00000000000000000000.txnindex".to_string();
        let (_, state) = TxnIndex::open(dir.path(), name.clone()).unwrap();
        assert!(matches!(state, TxnIndexState::NeedsRebuild(_)));
        let mut idx = TxnIndex::create(dir.path(), name.clone()).unwrap();
        idx.append(e(1, 0, 5, 3)).unwrap();
        idx.append(e(2, 3, 9, 10)).unwrap();
        assert!(idx.append(e(3, 3, 9, 10)).is_err());
        assert_eq!(std::fs::metadata(idx.path()).unwrap().len(), 68);
        let (re, state) = TxnIndex::open(dir.path(), name.clone()).unwrap();
        assert_eq!(state, TxnIndexState::Loaded);
        assert_eq!(re.entries(), idx.entries());
        assert!(re.sanity_check(0, 10).is_ok());
        assert!(re.sanity_check(0, 9).is_err());
        assert!(re.sanity_check(6, 10).is_err());
        let mut out = Vec::new();
        assert!(!re.collect(6, 100, &mut out));
        assert_eq!(out, vec![e(2, 3, 9, 10)]);
        out.clear();
        assert!(re.collect(0, 4, &mut out));
        assert_eq!(out.len(), 2);
        idx.truncate_to(9).unwrap();
        assert_eq!(idx.entries().len(), 1);
        assert_eq!(std::fs::metadata(idx.path()).unwrap().len(), 34);
        idx.rewrite(vec![e(7, 1, 2, 3)]).unwrap();
        idx.append(e(8, 4, 5, 6)).unwrap();
        let (re, _) = TxnIndex::open(dir.path(), name).unwrap();
        assert_eq!(re.entries(), &[e(7, 1, 2, 3), e(8, 4, 5, 6)]);
        // A torn trailing entry asks for a rebuild.
        std::fs::OpenOptions::new()
            .append(true)
            .open(re.path())
            .and_then(|mut f| std::io::Write::write_all(&mut f, &[0, 0, 1]))
            .unwrap();
        let (_, state) =
            TxnIndex::open(dir.path(), "00000000000000000000.txnindex".into()).unwrap();
        assert!(matches!(state, TxnIndexState::NeedsRebuild(_)));
    }
}
