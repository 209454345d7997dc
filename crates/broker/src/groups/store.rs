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

use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::metadata::MetadataError;
use crate::record_log::{LogSpec, RecordLog};
#[cfg(test)]
use {crate::record_log::crc32c, std::fs};

/// Directory under `log.dir`. The name has no `-<n>` suffix, so the topic registry never
/// mistakes it for a stray partition directory.
pub const GROUPS_DIR: &str = "__strait_groups";
const LOG_FILE: &str = "groups.log";
const MAGIC: &[u8; 8] = b"STRAITG1";
/// The file's name and magic (framing, replay and compaction: [`crate::record_log`]).
const SPEC: LogSpec = LogSpec {
    file: LOG_FILE,
    magic: MAGIC,
    what: "group store",
};

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
    /// TxnOffsetCommit: offsets pending in `producer_id`'s open transaction, invisible to
    /// OffsetFetch until [`Record::TxnOffsetsEnd`] commits them. `OffsetsDeleted` and
    /// `GroupDeleted` drop pending offsets too (Kafka's tombstones do).
    TxnOffsets {
        group: String,
        producer_id: i64,
        #[serde(default)]
        producer_epoch: i16,
        offsets: Vec<OffsetRecord>,
    },
    /// The transaction of `producer_id` ended (its markers were written): its pending
    /// offsets in `group` become committed offsets (`commit`) or are dropped.
    TxnOffsetsEnd {
        group: String,
        producer_id: i64,
        commit: bool,
    },
}

/// The open log.
#[derive(Debug)]
pub struct GroupStore {
    log: RecordLog<Record>,
}

/// What start-up found.
pub type Replay = crate::record_log::Replay<Record>;

impl GroupStore {
    /// Opens (creating if needed) the store in `log_dir` and replays it.
    pub fn open(log_dir: &Path) -> Result<(GroupStore, Replay), MetadataError> {
        let (log, replay) = RecordLog::open(&log_dir.join(GROUPS_DIR), SPEC)?;
        Ok((GroupStore { log }, replay))
    }

    /// Appends one record. Returns once `write(2)` has taken all of it.
    pub fn append(&mut self, record: &Record) -> Result<(), MetadataError> {
        self.log.append(record)
    }

    /// A handle to fsync outside the coordinator's lock, if anything was appended since
    /// the last call.
    pub fn sync_handle(&mut self) -> Option<File> {
        self.log.sync_handle()
    }

    /// Current size of the log in bytes.
    pub fn len(&self) -> u64 {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Whether the log has grown enough to be worth compacting.
    pub fn wants_compaction(&self) -> bool {
        self.log.wants_compaction()
    }

    /// Replaces the log with `records` (the live state): write a temporary file, fsync,
    /// rename over the log, fsync the directory, then append to the new file.
    pub fn rewrite(&mut self, records: &[Record]) -> Result<(), MetadataError> {
        self.log.rewrite(records)
    }
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
