//! A small crash-safe record log for coordinator state (the group store, the transaction
//! store): one append-only file of JSON records, replayed at start-up into an in-memory
//! state machine, compacted by rewriting it as a snapshot of the live state.
//!
//! # Format
//! `<dir>/<name>`: an 8-byte magic (one per store, so one store's file is never read as
//! another's), then records framed as `len: u32 BE | crc32c(payload): u32 BE | payload`
//! where the payload is one JSON record. It is not a Kafka topic and is never served to
//! clients.
//!
//! # Durability
//! [`RecordLog::append`] returns only after `write(2)` of the whole frame has returned, so
//! a record that was acknowledged survives `kill -9` (the OS has it). The owner fsyncs
//! periodically ([`RecordLog::sync_handle`]); compaction fsyncs.
//!
//! # Recovery
//! Start-up replays every complete record. The first frame that is short, fails its CRC or
//! does not parse ends the replay; everything from there on is a torn tail (a crash in the
//! middle of a write) and is truncated away so new appends follow valid data.
//!
//! # Compaction
//! [`RecordLog::rewrite`] writes a snapshot of the live state to `<name>.tmp`, fsyncs it,
//! renames it over the log and fsyncs the directory: a crash at any point leaves either the
//! old or the new file (a leftover `.tmp` is removed at open).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::metadata::MetadataError;

/// A single record larger than this is treated as corruption on replay.
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// Compaction is considered once the file is at least this big ...
const COMPACT_MIN_BYTES: u64 = 4 * 1024 * 1024;
/// ... and at least this many times the size of the last snapshot.
const COMPACT_GROWTH_FACTOR: u64 = 4;

fn io_err(path: &Path, source: std::io::Error) -> MetadataError {
    MetadataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where a log lives and how it is recognised.
#[derive(Debug, Clone, Copy)]
pub struct LogSpec {
    /// File name inside the directory.
    pub file: &'static str,
    /// Its first 8 bytes.
    pub magic: &'static [u8; 8],
    /// What it is, for error messages ("group store").
    pub what: &'static str,
}

/// The open log of records `R`.
#[derive(Debug)]
pub struct RecordLog<R> {
    dir: PathBuf,
    spec: LogSpec,
    file: File,
    len: u64,
    /// Size of the file right after the last compaction (or open).
    base_len: u64,
    /// Appended since the last fsync.
    dirty: bool,
    _records: PhantomData<fn(R) -> R>,
}

/// What start-up found.
#[derive(Debug)]
pub struct Replay<R> {
    pub records: Vec<R>,
    /// Bytes dropped from the end (a torn or corrupt tail).
    pub truncated_bytes: u64,
}

impl<R> Default for Replay<R> {
    fn default() -> Self {
        Replay {
            records: Vec::new(),
            truncated_bytes: 0,
        }
    }
}

impl<R: Serialize + DeserializeOwned> RecordLog<R> {
    /// Opens (creating `dir` and the file if needed) and replays the log.
    pub fn open(dir: &Path, spec: LogSpec) -> Result<(Self, Replay<R>), MetadataError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        // A leftover temporary file is an unfinished compaction: the log is still whole.
        let tmp = dir.join(tmp_name(spec.file));
        if tmp.exists() {
            fs::remove_file(&tmp).map_err(|e| io_err(&tmp, e))?;
        }
        let path = dir.join(spec.file);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_err(&path, e))?;
        let magic = spec.magic;
        let mut replay = Replay::default();
        let valid_len = if bytes.is_empty() {
            file.write_all(magic).map_err(|e| io_err(&path, e))?;
            file.sync_all().map_err(|e| io_err(&path, e))?;
            sync_dir(dir)?;
            magic.len()
        } else if bytes.len() < magic.len() && magic.starts_with(&bytes) {
            // Torn while writing the magic of a new file.
            file.set_len(0).map_err(|e| io_err(&path, e))?;
            file.write_all(magic).map_err(|e| io_err(&path, e))?;
            replay.truncated_bytes = bytes.len() as u64;
            magic.len()
        } else if !bytes.starts_with(magic) {
            return Err(MetadataError::Corrupt {
                path,
                message: format!("not a Strait {} (bad magic)", spec.what),
            });
        } else {
            let (records, valid) = decode_all(&bytes[magic.len()..]);
            replay.records = records;
            let valid = magic.len() + valid;
            if valid < bytes.len() {
                replay.truncated_bytes = (bytes.len() - valid) as u64;
                tracing::warn!(
                    path = %path.display(),
                    dropped_bytes = replay.truncated_bytes,
                    "{}: dropping a torn or corrupt tail", spec.what
                );
                file.set_len(valid as u64).map_err(|e| io_err(&path, e))?;
                file.sync_all().map_err(|e| io_err(&path, e))?;
            }
            valid
        };
        let len = valid_len as u64;
        Ok((
            RecordLog {
                dir: dir.to_path_buf(),
                spec,
                file,
                len,
                base_len: len,
                dirty: false,
                _records: PhantomData,
            },
            replay,
        ))
    }

    fn path(&self) -> PathBuf {
        self.dir.join(self.spec.file)
    }

    /// Appends one record. Returns once `write(2)` has taken all of it.
    pub fn append(&mut self, record: &R) -> Result<(), MetadataError> {
        let frame = encode_frame(record).map_err(|e| MetadataError::Corrupt {
            path: self.path(),
            message: format!("cannot encode record: {e}"),
        })?;
        if let Err(e) = self.file.write_all(&frame) {
            // A partial write leaves a torn frame; cut it off so later appends stay readable.
            let _ = self.file.set_len(self.len);
            return Err(io_err(&self.path(), e));
        }
        self.len += frame.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// A handle to fsync outside the owner's lock, if anything was appended since the last
    /// call.
    pub fn sync_handle(&mut self) -> Option<File> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        self.file.try_clone().ok()
    }

    /// Current size of the log in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= self.spec.magic.len() as u64
    }

    /// Whether the log has grown enough to be worth compacting.
    pub fn wants_compaction(&self) -> bool {
        self.len >= COMPACT_MIN_BYTES
            && self.len >= self.base_len.saturating_mul(COMPACT_GROWTH_FACTOR)
    }

    /// Replaces the log with `records` (the live state): write a temporary file, fsync,
    /// rename over the log, fsync the directory, then append to the new file.
    pub fn rewrite(&mut self, records: &[R]) -> Result<(), MetadataError> {
        let tmp = self.dir.join(tmp_name(self.spec.file));
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(self.spec.magic);
        for r in records {
            let frame = encode_frame(r).map_err(|e| MetadataError::Corrupt {
                path: tmp.clone(),
                message: format!("cannot encode record: {e}"),
            })?;
            buf.extend_from_slice(&frame);
        }
        {
            let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
            f.write_all(&buf).map_err(|e| io_err(&tmp, e))?;
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
        }
        let path = self.path();
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        self.len = buf.len() as u64;
        self.base_len = self.len.max(self.spec.magic.len() as u64 + 1);
        self.dirty = false;
        Ok(())
    }
}

fn tmp_name(file: &str) -> String {
    format!("{file}.tmp")
}

fn sync_dir(dir: &Path) -> Result<(), MetadataError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

/// One frame: `len | crc32c | JSON payload`.
pub fn encode_frame<R: Serialize>(record: &R) -> Result<Vec<u8>, serde_json::Error> {
    let payload = serde_json::to_vec(record)?;
    let mut frame = Vec::with_capacity(payload.len() + 8);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Decodes complete, valid frames; returns them and how many bytes they span.
fn decode_all<R: DeserializeOwned>(mut bytes: &[u8]) -> (Vec<R>, usize) {
    let mut records = Vec::new();
    let mut consumed = 0;
    loop {
        if bytes.len() < 8 {
            break;
        }
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let crc = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if len > MAX_RECORD_BYTES || bytes.len() < 8 + len {
            break;
        }
        let payload = &bytes[8..8 + len];
        if crc32c(payload) != crc {
            break;
        }
        let Ok(record) = serde_json::from_slice::<R>(payload) else {
            break;
        };
        records.push(record);
        consumed += 8 + len;
        bytes = &bytes[8 + len..];
    }
    (records, consumed)
}

/// CRC-32C (Castagnoli), the checksum Kafka's record batches use too.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: LogSpec = LogSpec {
        file: "t.log",
        magic: b"STRAITT0",
        what: "test store",
    };

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
    struct Rec(u32, String);

    #[test]
    fn append_replay_torn_tail_and_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("store");
        {
            let (mut l, r) = RecordLog::<Rec>::open(&d, SPEC).unwrap();
            assert!(r.records.is_empty() && l.is_empty());
            l.append(&Rec(1, "a".into())).unwrap();
            l.append(&Rec(2, "b".into())).unwrap();
            assert!(l.sync_handle().is_some());
            assert!(l.sync_handle().is_none());
        }
        let path = d.join(SPEC.file);
        let full = fs::read(&path).unwrap();
        assert!(full.starts_with(SPEC.magic));
        fs::write(&path, &full[..full.len() - 3]).unwrap();
        {
            let (mut l, r) = RecordLog::<Rec>::open(&d, SPEC).unwrap();
            assert_eq!(r.records, vec![Rec(1, "a".into())]);
            assert!(r.truncated_bytes > 0);
            l.append(&Rec(3, "c".into())).unwrap();
            l.rewrite(&[Rec(3, "c".into())]).unwrap();
            l.append(&Rec(4, "d".into())).unwrap();
        }
        let (_, r) = RecordLog::<Rec>::open(&d, SPEC).unwrap();
        assert_eq!(r.records, vec![Rec(3, "c".into()), Rec(4, "d".into())]);
        assert_eq!(r.truncated_bytes, 0);
    }

    /// The framing is the group store's since its first release: `len BE | crc32c BE |
    /// JSON` after the magic. Existing data directories depend on it.
    #[test]
    fn frame_layout_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut l, _) = RecordLog::<Rec>::open(dir.path(), SPEC).unwrap();
            l.append(&Rec(7, "x".into())).unwrap();
        }
        let bytes = fs::read(dir.path().join(SPEC.file)).unwrap();
        let payload = br#"[7,"x"]"#;
        let mut want = SPEC.magic.to_vec();
        want.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        want.extend_from_slice(&crc32c(payload).to_be_bytes());
        want.extend_from_slice(payload);
        assert_eq!(bytes, want);
    }

    #[test]
    fn another_stores_magic_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            RecordLog::<Rec>::open(dir.path(), SPEC).unwrap();
        }
        let other = LogSpec {
            magic: b"STRAITX0",
            ..SPEC
        };
        let e = RecordLog::<Rec>::open(dir.path(), other).unwrap_err();
        assert!(e.to_string().contains("magic") || format!("{e:?}").contains("magic"));
    }
}
