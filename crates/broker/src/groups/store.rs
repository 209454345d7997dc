//! Persistence for the group coordinator: committed offsets and the little group metadata
//! that must survive a restart (protocol type, generation, when the state last changed).
//!
//! # Format
//! One append-only file, `<log.dir>/__strait_groups/groups.log`: an 8-byte magic, then
//! records framed as `len: u32 BE | crc32c(payload): u32 BE | payload` where the payload is
//! one JSON [`Record`]. It is not a Kafka topic and is never served to clients.
//!
//! # Durability
//! [`GroupStore::append`] returns only after `write(2)` of the whole frame has returned, so
//! a record that was acknowledged survives `kill -9` (the OS has it). The file is fsynced
//! periodically ([`GroupStore::sync_handle`]) and whenever it is compacted.
//!
//! # Recovery
//! Start-up replays every complete record. The first frame that is short, fails its CRC or
//! does not parse ends the replay; everything from there on is a torn tail (a crash in the
//! middle of a write) and is truncated away so new appends follow valid data.
//!
//! # Compaction
//! When the file has grown well past the size of its live content, the coordinator writes a
//! snapshot of the live state to `groups.log.tmp`, fsyncs it, renames it over `groups.log`
//! and fsyncs the directory: a crash at any point leaves either the old or the new file.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::metadata::MetadataError;

/// Directory under `log.dir`. The name has no `-<n>` suffix, so the topic registry never
/// mistakes it for a stray partition directory.
pub const GROUPS_DIR: &str = "__strait_groups";
const LOG_FILE: &str = "groups.log";
const TMP_FILE: &str = "groups.log.tmp";
const MAGIC: &[u8; 8] = b"STRAITG1";
/// A single record larger than this is treated as corruption on replay.
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// Compaction is considered once the file is at least this big ...
const COMPACT_MIN_BYTES: u64 = 4 * 1024 * 1024;
/// ... and at least this many times the size of the last snapshot.
const COMPACT_GROWTH_FACTOR: u64 = 4;

/// One committed offset as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffsetRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(default = "minus_one")]
    pub leader_epoch: i32,
    #[serde(default)]
    pub metadata: Option<String>,
    pub commit_ts: i64,
    /// The topic's id when the offset was committed: if the topic is later deleted (and
    /// perhaps recreated under the same name), the offset no longer applies.
    #[serde(default)]
    pub topic_id: Option<String>,
}

fn minus_one() -> i32 {
    -1
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The persisted part of a group's metadata.
    Group {
        group: String,
        #[serde(default)]
        protocol_type: Option<String>,
        generation: i32,
        #[serde(default)]
        state_ts: i64,
    },
    /// Offsets committed in one request.
    Offsets {
        group: String,
        offsets: Vec<OffsetRecord>,
    },
    /// OffsetDelete, expiry, or offsets of a deleted topic.
    OffsetsDeleted {
        group: String,
        partitions: Vec<(String, i32)>,
    },
    /// DeleteGroups (or expiry of an empty group): the group and all its offsets.
    GroupDeleted { group: String },
}

fn io_err(path: &Path, source: std::io::Error) -> MetadataError {
    MetadataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open log.
#[derive(Debug)]
pub struct GroupStore {
    dir: PathBuf,
    file: File,
    len: u64,
    /// Size of the file right after the last compaction (or open).
    base_len: u64,
    /// Appended since the last fsync.
    dirty: bool,
}

/// What start-up found.
#[derive(Debug, Default)]
pub struct Replay {
    pub records: Vec<Record>,
    /// Bytes dropped from the end (a torn or corrupt tail).
    pub truncated_bytes: u64,
}

impl GroupStore {
    /// Opens (creating if needed) the store in `log_dir` and replays it.
    pub fn open(log_dir: &Path) -> Result<(GroupStore, Replay), MetadataError> {
        let dir = log_dir.join(GROUPS_DIR);
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        // A leftover temporary file is an unfinished compaction: the log is still whole.
        let tmp = dir.join(TMP_FILE);
        if tmp.exists() {
            fs::remove_file(&tmp).map_err(|e| io_err(&tmp, e))?;
        }
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_err(&path, e))?;
        let mut replay = Replay::default();
        let valid_len = if bytes.is_empty() {
            file.write_all(MAGIC).map_err(|e| io_err(&path, e))?;
            file.sync_all().map_err(|e| io_err(&path, e))?;
            sync_dir(&dir)?;
            MAGIC.len()
        } else if bytes.len() < MAGIC.len() && MAGIC.starts_with(&bytes) {
            // Torn while writing the magic of a new file.
            file.set_len(0).map_err(|e| io_err(&path, e))?;
            file.write_all(MAGIC).map_err(|e| io_err(&path, e))?;
            replay.truncated_bytes = bytes.len() as u64;
            MAGIC.len()
        } else if !bytes.starts_with(MAGIC) {
            return Err(MetadataError::Corrupt {
                path,
                message: "not a Strait group store (bad magic)".into(),
            });
        } else {
            let (records, valid) = decode_all(&bytes[MAGIC.len()..]);
            replay.records = records;
            let valid = MAGIC.len() + valid;
            if valid < bytes.len() {
                replay.truncated_bytes = (bytes.len() - valid) as u64;
                tracing::warn!(
                    path = %path.display(),
                    dropped_bytes = replay.truncated_bytes,
                    "group store: dropping a torn or corrupt tail"
                );
                file.set_len(valid as u64).map_err(|e| io_err(&path, e))?;
                file.sync_all().map_err(|e| io_err(&path, e))?;
            }
            valid
        };
        let len = valid_len as u64;
        Ok((
            GroupStore {
                dir,
                file,
                len,
                base_len: len,
                dirty: false,
            },
            replay,
        ))
    }

    fn path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Appends one record. Returns once `write(2)` has taken all of it.
    pub fn append(&mut self, record: &Record) -> Result<(), MetadataError> {
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

    /// A handle to fsync outside the coordinator's lock, if anything was appended since
    /// the last call.
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
        self.len <= MAGIC.len() as u64
    }

    /// Whether the log has grown enough to be worth compacting.
    pub fn wants_compaction(&self) -> bool {
        self.len >= COMPACT_MIN_BYTES
            && self.len >= self.base_len.saturating_mul(COMPACT_GROWTH_FACTOR)
    }

    /// Replaces the log with `records` (the live state): write a temporary file, fsync,
    /// rename over the log, fsync the directory, then append to the new file.
    pub fn rewrite(&mut self, records: &[Record]) -> Result<(), MetadataError> {
        let tmp = self.dir.join(TMP_FILE);
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(MAGIC);
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
        self.base_len = self.len.max(MAGIC.len() as u64 + 1);
        self.dirty = false;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), MetadataError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

fn encode_frame(record: &Record) -> Result<Vec<u8>, serde_json::Error> {
    let payload = serde_json::to_vec(record)?;
    let mut frame = Vec::with_capacity(payload.len() + 8);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Decodes complete, valid frames; returns them and how many bytes they span.
fn decode_all(mut bytes: &[u8]) -> (Vec<Record>, usize) {
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
        let Ok(record) = serde_json::from_slice::<Record>(payload) else {
            break;
        };
        records.push(record);
        consumed += 8 + len;
        bytes = &bytes[8 + len..];
    }
    (records, consumed)
}

/// CRC-32C (Castagnoli), the checksum Kafka's record batches use too.
fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(group: &str, n: i64) -> Record {
        Record::Offsets {
            group: group.into(),
            offsets: vec![OffsetRecord {
                topic: "t".into(),
                partition: 0,
                offset: n,
                leader_epoch: 3,
                metadata: Some("m".into()),
                commit_ts: 1,
                topic_id: None,
            }],
        }
    }

    #[test]
    fn crc32c_known_vector() {
        // RFC 3720 test vector: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn append_replay_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, r) = GroupStore::open(dir.path()).unwrap();
            assert!(r.records.is_empty());
            s.append(&offsets("g", 1)).unwrap();
            s.append(&offsets("g", 2)).unwrap();
        }
        let path = dir.path().join(GROUPS_DIR).join(LOG_FILE);
        let full = fs::read(&path).unwrap();
        // Tear the last record in half.
        fs::write(&path, &full[..full.len() - 5]).unwrap();
        {
            let (mut s, r) = GroupStore::open(dir.path()).unwrap();
            assert_eq!(r.records, vec![offsets("g", 1)]);
            assert!(r.truncated_bytes > 0);
            s.append(&offsets("g", 3)).unwrap();
        }
        let (_, r) = GroupStore::open(dir.path()).unwrap();
        assert_eq!(r.records, vec![offsets("g", 1), offsets("g", 3)]);
        assert_eq!(r.truncated_bytes, 0);
    }

    #[test]
    fn corrupt_crc_ends_replay() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = GroupStore::open(dir.path()).unwrap();
            s.append(&offsets("g", 1)).unwrap();
            s.append(&offsets("g", 2)).unwrap();
        }
        let path = dir.path().join(GROUPS_DIR).join(LOG_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let (_, r) = GroupStore::open(dir.path()).unwrap();
        assert_eq!(r.records, vec![offsets("g", 1)]);
    }

    #[test]
    fn rewrite_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = GroupStore::open(dir.path()).unwrap();
            for i in 0..10 {
                s.append(&offsets("g", i)).unwrap();
            }
            s.rewrite(&[offsets("g", 9)]).unwrap();
            s.append(&offsets("h", 1)).unwrap();
        }
        let (_, r) = GroupStore::open(dir.path()).unwrap();
        assert_eq!(r.records, vec![offsets("g", 9), offsets("h", 1)]);
    }

    #[test]
    fn bad_magic_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(GROUPS_DIR)).unwrap();
        fs::write(dir.path().join(GROUPS_DIR).join(LOG_FILE), b"garbage!!").unwrap();
        assert!(GroupStore::open(dir.path()).is_err());
    }
}
