//! Crash-safe persistence of cluster metadata: topics, their ids, partition counts and
//! leader epochs, topic config overrides, dynamic broker configs, and the producer-id
//! allocation high-water mark.
//!
//! Invariant: the file on disk is always a complete image. Every change writes a new image
//! to a temporary file, fsyncs it, renames it over the old one and fsyncs the directory, so
//! a `kill -9` or power loss leaves either the old or the new image, never a mix. Changes
//! are persisted *before* they are acknowledged to clients or acted on (partition
//! directories are created after, and deleted after, the image that names them).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const METADATA_FILE: &str = "strait-metadata.json";
/// The `format_version` of `strait-metadata.json` (and of the image inside a metadata-log snapshot).
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartitionRecord {
    pub leader_epoch: i32,
}

/// What makes a topic a mirror of a source topic over a cluster link.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MirrorRecord {
    pub link_name: String,
    pub source_topic: String,
    #[serde(default)]
    pub source_topic_id: Option<String>,
    /// ACTIVE, PAUSED, PENDING_STOPPED, STOPPED, FAILED.
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reason_message: Option<String>,
    pub state_time_ms: i64,
    /// Each partition's log end offset when the mirror was promoted or failed over: the
    /// last mirrored offset + 1, where client writes begin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_offsets: Option<Vec<i64>>,
    /// Per partition, how many open mirrored transactions the cutover closed with an
    /// ABORT marker (set with `final_offsets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_transactions: Option<Vec<i64>>,
    /// Set between a truncate-and-restore's metadata write and its end (state PAUSED,
    /// reason PENDING_RESTORE): per partition the planned truncation, so a re-run after a
    /// crash finishes the same restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_plan: Option<Vec<RestorePlanEntry>>,
}

/// One partition of a persisted truncate-and-restore plan.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestorePlanEntry {
    pub partition: i32,
    pub truncate_to: i64,
    pub previous_end_offset: i64,
    pub records: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicRecord {
    pub name: String,
    pub topic_id: String,
    pub partitions: Vec<PartitionRecord>,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    #[serde(default)]
    pub mirror: Option<MirrorRecord>,
}

/// A cluster link. Its configs include the source credentials, so the metadata file is
/// created readable by its owner only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkRecord {
    pub name: String,
    pub link_id: String,
    pub configs: BTreeMap<String, String>,
    #[serde(default)]
    pub source_cluster_id: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetadataImage {
    pub format_version: u32,
    pub cluster_id: String,
    pub node_id: i32,
    pub topics: Vec<TopicRecord>,
    /// Dynamic configs of this broker (resource name = node id).
    #[serde(default)]
    pub dynamic_broker_configs: BTreeMap<String, String>,
    /// Dynamic cluster-wide defaults (resource name = "").
    #[serde(default)]
    pub dynamic_default_broker_configs: BTreeMap<String, String>,
    /// Producer ids below this may have been handed out; allocation resumes here.
    #[serde(default)]
    pub producer_id_block_end: i64,
    #[serde(default)]
    pub links: Vec<LinkRecord>,
    /// ACL bindings (CreateAcls / DeleteAcls).
    #[serde(default)]
    pub acls: Vec<crate::auth::acl::AclRecord>,
    /// Salted SCRAM credentials (AlterUserScramCredentials), never passwords.
    #[serde(default)]
    pub scram_credentials: Vec<crate::auth::scram::ScramCredentialRecord>,
}

impl MetadataImage {
    /// The image of a new node `node_id` in cluster `cluster_id`: nothing in it yet.
    pub fn empty(cluster_id: &str, node_id: i32) -> Self {
        MetadataImage {
            format_version: FORMAT_VERSION,
            cluster_id: cluster_id.to_string(),
            node_id,
            topics: Vec::new(),
            dynamic_broker_configs: BTreeMap::new(),
            dynamic_default_broker_configs: BTreeMap::new(),
            producer_id_block_end: 0,
            links: Vec::new(),
            acls: Vec::new(),
            scram_credentials: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata file {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "log directory {path} belongs to node.id {found}, but this broker is node.id {configured}"
    )]
    NodeIdMismatch {
        path: PathBuf,
        found: i32,
        configured: i32,
    },
}

/// Reads and writes the metadata image in one log directory.
#[derive(Debug)]
pub struct MetadataStore {
    dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MetadataError + '_ {
    move |source| MetadataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl MetadataStore {
    pub fn new(dir: &Path) -> Self {
        MetadataStore {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(METADATA_FILE)
    }

    /// Loads the image, or creates a fresh one (new cluster id) if the directory has none.
    pub fn load_or_init(&self, node_id: i32) -> Result<MetadataImage, MetadataError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => {
                let image: MetadataImage =
                    serde_json::from_slice(&bytes).map_err(|e| MetadataError::Corrupt {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                if image.format_version != FORMAT_VERSION {
                    return Err(MetadataError::Corrupt {
                        path,
                        message: format!("unknown format_version {}", image.format_version),
                    });
                }
                if image.node_id != node_id {
                    return Err(MetadataError::NodeIdMismatch {
                        path,
                        found: image.node_id,
                        configured: node_id,
                    });
                }
                Ok(image)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let image = MetadataImage::empty(&new_cluster_id(), node_id);
                self.save(&image)?;
                Ok(image)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Atomically replaces the image on disk (write temp, fsync, rename, fsync dir).
    pub fn save(&self, image: &MetadataImage) -> Result<(), MetadataError> {
        let path = self.path();
        let tmp = self.dir.join(format!("{METADATA_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(image).map_err(|e| MetadataError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        {
            let mut options = OpenOptions::new();
            options.create(true).write(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&bytes).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        Ok(())
    }
}

/// Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (22 chars).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 0x3f) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 0x3f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_node_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::new(dir.path());
        let mut image = store.load_or_init(1).unwrap();
        assert_eq!(image.cluster_id.len(), 22);
        image.topics.push(TopicRecord {
            name: "t".into(),
            topic_id: uuid::Uuid::new_v4().to_string(),
            partitions: vec![PartitionRecord { leader_epoch: 0 }; 3],
            configs: BTreeMap::new(),
            mirror: None,
        });
        store.save(&image).unwrap();
        assert_eq!(store.load_or_init(1).unwrap(), image);
        assert!(matches!(
            store.load_or_init(2),
            Err(MetadataError::NodeIdMismatch { .. })
        ));
    }
}
