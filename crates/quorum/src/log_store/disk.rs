//! The on-disk raft log: CRC-32C framed entries in segment files plus one state file.
//!
//! Layout of the log directory:
//! - `{first_index:020}.seg`: entries with consecutive indexes starting at the name. Frame =
//!   `len: u32 LE | crc32c: u32 LE | index: u64 LE | entry (postcard)`, where `len` counts
//!   the index and the entry and the CRC covers them.
//! - `state.json`: vote, committed log id and last purged log id, rewritten atomically
//!   (durably before a vote or purge is acknowledged; `committed` is a lower bound, see
//!   [`DiskLog::save_committed`]).
//!
//! Invariants: indexes are contiguous from `last_purged + 1` (or from the first entry when
//! nothing was purged) to the last entry; an append is durable (`sync_data`) before
//! [`DiskLog::append`] returns, which is what lets the caller fire openraft's flush callback.
//! Recovery keeps every complete frame, cuts a torn tail (an incomplete or CRC-failing frame
//! at the very end of the last segment, i.e. a write the crash interrupted) and refuses
//! anything else (a bad frame with data after it, an index gap) naming the file and offset:
//! that is corruption, and silently dropping acknowledged entries would break raft's promise.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::fsutil::{at, sync_dir, write_atomic, PathError};
use crate::types::{Entry, LogId, Vote};

const STATE_FILE: &str = "state.json";
/// How stale the committed log id in `state.json` may get (see [`DiskLog::save_committed`]).
pub const COMMITTED_WRITE_INTERVAL: Duration = Duration::from_millis(200);
const SEGMENT_SUFFIX: &str = ".seg";
const FRAME_HEADER: usize = 8;
const INDEX_BYTES: usize = 8;

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("corrupt raft log {path} at byte offset {offset}: {message}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        message: String,
    },
    #[error("raft log append out of order: entry {got} after {expected_after:?}")]
    OutOfOrder {
        got: u64,
        expected_after: Option<u64>,
    },
    #[error("cannot encode raft log entry {index}: {message}")]
    Encode { index: u64, message: String },
}

/// What `state.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub vote: Option<Vote>,
    pub committed: Option<LogId>,
    pub last_purged: Option<LogId>,
}

struct Slot {
    entry: Entry,
    segment: u64,
    offset: u64,
}

struct Segment {
    path: PathBuf,
    len: u64,
    /// The index the next frame appended to this segment must carry.
    next: u64,
}

/// The log directory opened and recovered. Entries are also kept in memory: the metadata log
/// is bounded by snapshots, and openraft reads recent entries far more often than it appends.
pub struct DiskLog {
    dir: PathBuf,
    segment_bytes: u64,
    state: HardState,
    /// What `state.json` holds now; `state` differs from it only by a newer `committed`.
    persisted: HardState,
    committed_written_at: Option<Instant>,
    entries: BTreeMap<u64, Slot>,
    segments: BTreeMap<u64, Segment>,
    active: Option<File>,
    /// Torn tails cut during recovery, as (file, offset) — reported by `open`'s caller.
    pub recovered_torn_tails: Vec<(PathBuf, u64)>,
}

impl DiskLog {
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<DiskLog, LogError> {
        fs::create_dir_all(dir).map_err(at(dir))?;
        let state_path = dir.join(STATE_FILE);
        let state = match fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LogError::Corrupt {
                path: state_path.clone(),
                offset: 0,
                message: format!("unreadable state file: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HardState::default(),
            Err(e) => return Err(at(&state_path)(e).into()),
        };
        let mut bases = Vec::new();
        for item in fs::read_dir(dir).map_err(at(dir))? {
            let item = item.map_err(at(dir))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if let Some(base) = name
                .strip_suffix(SEGMENT_SUFFIX)
                .and_then(|b| b.parse::<u64>().ok())
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut log = DiskLog {
            dir: dir.to_path_buf(),
            segment_bytes,
            persisted: state.clone(),
            state,
            committed_written_at: None,
            entries: BTreeMap::new(),
            segments: BTreeMap::new(),
            active: None,
            recovered_torn_tails: Vec::new(),
        };
        let count = bases.len();
        for (i, base) in bases.into_iter().enumerate() {
            log.recover_segment(base, i + 1 == count)?;
        }
        // A purge interrupted by a crash leaves whole segments behind the purge point.
        log.remove_purged_segments()?;
        if let Some((&last_base, _)) = log.segments.iter().next_back() {
            let path = log.segment_path(last_base);
            log.active = Some(
                OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(at(&path))?,
            );
        }
        Ok(log)
    }

    fn segment_path(&self, base: u64) -> PathBuf {
        self.dir.join(format!("{base:020}{SEGMENT_SUFFIX}"))
    }

    fn recover_segment(&mut self, base: u64, is_last: bool) -> Result<(), LogError> {
        let path = self.segment_path(base);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(at(&path))?;
        let file_len = bytes.len() as u64;
        let corrupt = |offset: u64, message: String| LogError::Corrupt {
            path: path.clone(),
            offset,
            message,
        };
        let purged_upto = self.state.last_purged.map(|l| l.index);
        let mut offset = 0usize;
        let mut expected = base;
        let mut torn_at = None;
        while offset < bytes.len() {
            let rest = &bytes[offset..];
            let frame_len = (rest.len() >= FRAME_HEADER)
                .then(|| u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize);
            let complete =
                frame_len.filter(|len| *len >= INDEX_BYTES && FRAME_HEADER + len <= rest.len());
            let Some(len) = complete else {
                // Header or body runs past the end of the file: the last write was cut short.
                torn_at = Some(offset as u64);
                break;
            };
            let body = &rest[FRAME_HEADER..FRAME_HEADER + len];
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            if crc32c::crc32c(body) != crc {
                if offset + FRAME_HEADER + len == bytes.len() {
                    torn_at = Some(offset as u64);
                    break;
                }
                return Err(corrupt(
                    offset as u64,
                    format!("CRC-32C mismatch in a {len}-byte frame followed by more data"),
                ));
            }
            let mut index_bytes = [0u8; INDEX_BYTES];
            index_bytes.copy_from_slice(&body[..INDEX_BYTES]);
            let index = u64::from_le_bytes(index_bytes);
            if index != expected {
                return Err(corrupt(
                    offset as u64,
                    format!("entry index {index} where {expected} was expected"),
                ));
            }
            let entry: Entry = postcard::from_bytes(&body[INDEX_BYTES..])
                .map_err(|e| corrupt(offset as u64, format!("undecodable entry {index}: {e}")))?;
            if entry.log_id.index != index {
                return Err(corrupt(
                    offset as u64,
                    format!("frame index {index} holds entry {}", entry.log_id.index),
                ));
            }
            if purged_upto.is_none_or(|p| index > p) {
                if let Some((&last, _)) = self.entries.iter().next_back() {
                    if last + 1 != index {
                        return Err(corrupt(
                            offset as u64,
                            format!("entry {index} follows entry {last}: entries are missing"),
                        ));
                    }
                } else if let Some(p) = purged_upto {
                    if index != p + 1 {
                        return Err(corrupt(
                            offset as u64,
                            format!("first entry {index} after purged {p}: entries are missing"),
                        ));
                    }
                }
                self.entries.insert(
                    index,
                    Slot {
                        entry,
                        segment: base,
                        offset: offset as u64,
                    },
                );
            }
            expected = index + 1;
            offset += FRAME_HEADER + len;
        }
        let mut len = file_len;
        if let Some(torn) = torn_at {
            if !is_last {
                return Err(corrupt(
                    torn,
                    "incomplete frame in a segment that is not the last one".to_string(),
                ));
            }
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(at(&path))?;
            f.set_len(torn).map_err(at(&path))?;
            f.sync_all().map_err(at(&path))?;
            tracing::warn!(file = %path.display(), offset = torn, "raft log: discarded a torn tail left by a crash");
            self.recovered_torn_tails.push((path.clone(), torn));
            len = torn;
        }
        if len == 0 {
            // An empty segment holds nothing and would pin a stale base name.
            fs::remove_file(&path).map_err(at(&path))?;
            sync_dir(&self.dir)?;
            return Ok(());
        }
        self.segments.insert(
            base,
            Segment {
                path,
                len,
                next: expected,
            },
        );
        Ok(())
    }

    pub fn state(&self) -> &HardState {
        &self.state
    }

    fn save_state(&mut self, state: HardState) -> Result<(), LogError> {
        self.state = state;
        self.write_state()
    }

    fn write_state(&mut self) -> Result<(), LogError> {
        if self.state == self.persisted {
            return Ok(());
        }
        let path = self.dir.join(STATE_FILE);
        let bytes = serde_json::to_vec(&self.state).map_err(|e| LogError::Encode {
            index: 0,
            message: e.to_string(),
        })?;
        write_atomic(&path, &bytes)?;
        self.persisted = self.state.clone();
        self.committed_written_at = Some(Instant::now());
        Ok(())
    }

    /// Writes a `committed` that `save_committed` held back (at shutdown).
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.write_state()
    }

    pub fn save_vote(&mut self, vote: Vote) -> Result<(), LogError> {
        let state = HardState {
            vote: Some(vote),
            ..self.state.clone()
        };
        self.save_state(state)
    }

    /// Records the committed log id; written at most every [`COMMITTED_WRITE_INTERVAL`]
    /// (and with every vote or purge write, and at `flush`).
    ///
    /// Why not on every commit: an atomic rewrite costs three fsyncs-worth of time here, five
    /// times an entry append, and openraft treats the stored value as a lower bound only —
    /// it re-applies up to it at startup and the leader re-commits the rest. A stale value
    /// delays the image after a crash by at most the interval; it never loses or reorders an
    /// entry, whose durability is the log's `sync_data`, not this file.
    pub fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), LogError> {
        self.state.committed = committed;
        let due = self
            .committed_written_at
            .is_none_or(|at| at.elapsed() >= COMMITTED_WRITE_INTERVAL);
        if due {
            self.write_state()?;
        }
        Ok(())
    }

    pub fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .values()
            .next_back()
            .map(|s| s.entry.log_id)
            .or(self.state.last_purged)
    }

    pub fn last_purged(&self) -> Option<LogId> {
        self.state.last_purged
    }

    pub fn entries(&self, range: impl std::ops::RangeBounds<u64>) -> Vec<Entry> {
        self.entries
            .range(range)
            .map(|(_, s)| s.entry.clone())
            .collect()
    }

    /// Appends entries and makes them durable before returning.
    pub fn append(&mut self, entries: impl IntoIterator<Item = Entry>) -> Result<(), LogError> {
        let mut pending: Vec<Entry> = Vec::new();
        let mut next = self.last_log_id().map(|l| l.index + 1);
        for entry in entries {
            let index = entry.log_id.index;
            if next.is_some_and(|n| n != index) {
                return Err(LogError::OutOfOrder {
                    got: index,
                    expected_after: next.map(|n| n - 1),
                });
            }
            next = Some(index + 1);
            pending.push(entry);
        }
        let Some(first) = pending.first().map(|e| e.log_id.index) else {
            return Ok(());
        };
        // A new segment when the active one is full, or when it does not end right before
        // `first` (everything in it was purged and the log continues after a snapshot).
        let fits = self
            .segments
            .values()
            .next_back()
            .is_some_and(|s| s.len < self.segment_bytes && s.next == first);
        if self.active.is_none() || !fits {
            self.roll(first)?;
        }
        let Some((&base, segment)) = self.segments.iter_mut().next_back() else {
            return Err(LogError::OutOfOrder {
                got: first,
                expected_after: None,
            });
        };
        let mut buf = Vec::new();
        let mut slots = Vec::with_capacity(pending.len());
        for entry in pending {
            let index = entry.log_id.index;
            let body_start = buf.len() + FRAME_HEADER;
            buf.extend_from_slice(&[0u8; FRAME_HEADER]);
            buf.extend_from_slice(&index.to_le_bytes());
            let encoded = postcard::to_stdvec(&entry).map_err(|e| LogError::Encode {
                index,
                message: e.to_string(),
            })?;
            buf.extend_from_slice(&encoded);
            let len = (buf.len() - body_start) as u32;
            let crc = crc32c::crc32c(&buf[body_start..]);
            buf[body_start - FRAME_HEADER..body_start - 4].copy_from_slice(&len.to_le_bytes());
            buf[body_start - 4..body_start].copy_from_slice(&crc.to_le_bytes());
            slots.push((
                index,
                Slot {
                    entry,
                    segment: base,
                    offset: segment.len + (body_start - FRAME_HEADER) as u64,
                },
            ));
        }
        let path = segment.path.clone();
        let Some(file) = self.active.as_mut() else {
            return Err(LogError::OutOfOrder {
                got: first,
                expected_after: None,
            });
        };
        file.write_all(&buf).map_err(at(&path))?;
        // Durable before the caller tells openraft the entries are flushed.
        file.sync_data().map_err(at(&path))?;
        segment.len += buf.len() as u64;
        segment.next = next.unwrap_or(first);
        self.entries.extend(slots);
        Ok(())
    }

    fn roll(&mut self, base: u64) -> Result<(), LogError> {
        let path = self.segment_path(base);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(at(&path))?;
        file.set_len(0).map_err(at(&path))?;
        sync_dir(&self.dir)?;
        self.segments.insert(
            base,
            Segment {
                path,
                len: 0,
                next: base,
            },
        );
        self.active = Some(file);
        Ok(())
    }

    /// Removes every entry at or after `index` (raft's conflicting suffix).
    pub fn truncate(&mut self, index: u64) -> Result<(), LogError> {
        let Some(slot) = self.entries.get(&index) else {
            return Ok(());
        };
        let (cut_segment, cut_offset) = (slot.segment, slot.offset);
        self.active = None;
        // Newest first, so a crash midway leaves a shorter log, never one with a hole.
        let later: Vec<u64> = self
            .segments
            .range(cut_segment + 1..)
            .map(|(b, _)| *b)
            .rev()
            .collect();
        for base in later {
            if let Some(seg) = self.segments.remove(&base) {
                fs::remove_file(&seg.path).map_err(at(&seg.path))?;
            }
        }
        if let Some(seg) = self.segments.get_mut(&cut_segment) {
            let f = OpenOptions::new()
                .write(true)
                .open(&seg.path)
                .map_err(at(&seg.path))?;
            f.set_len(cut_offset).map_err(at(&seg.path))?;
            f.sync_all().map_err(at(&seg.path))?;
            seg.len = cut_offset;
            seg.next = index;
            if cut_offset == 0 {
                let path = seg.path.clone();
                self.segments.remove(&cut_segment);
                fs::remove_file(&path).map_err(at(&path))?;
            }
        }
        sync_dir(&self.dir)?;
        self.entries.split_off(&index);
        if let Some((_, seg)) = self.segments.iter().next_back() {
            self.active = Some(
                OpenOptions::new()
                    .append(true)
                    .open(&seg.path)
                    .map_err(at(&seg.path))?,
            );
        }
        Ok(())
    }

    /// Forgets every entry up to and including `log_id` (they are in a snapshot now).
    pub fn purge(&mut self, log_id: LogId) -> Result<(), LogError> {
        if self
            .state
            .last_purged
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        // Recorded first: recovery skips entries at or below it, so deleting files after a
        // crash here is optional.
        let state = HardState {
            last_purged: Some(log_id),
            ..self.state.clone()
        };
        self.save_state(state)?;
        self.entries = self.entries.split_off(&(log_id.index + 1));
        self.remove_purged_segments()
    }

    /// Deletes the segments whose entries all lie at or before the last purged index.
    fn remove_purged_segments(&mut self) -> Result<(), LogError> {
        let Some(purged) = self.state.last_purged.map(|p| p.index) else {
            return Ok(());
        };
        let bases: Vec<u64> = self.segments.keys().copied().collect();
        let mut removed = false;
        for (i, base) in bases.iter().enumerate() {
            let fully_purged = self
                .segments
                .get(base)
                .is_some_and(|s| s.next <= purged + 1);
            if !fully_purged {
                break;
            }
            if bases.get(i + 1).is_none() {
                self.active = None;
            }
            if let Some(seg) = self.segments.remove(base) {
                fs::remove_file(&seg.path).map_err(at(&seg.path))?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}
