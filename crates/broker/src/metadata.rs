//! The cluster metadata image: topics, their ids, partition counts and leader epochs, topic
//! config overrides, dynamic broker configs, the producer-id allocation high-water mark,
//! links, ACLs and SCRAM credentials — the shape `TopicManager` reads and edits.
//!
//! Persistence is the metadata log's ([`crate::metadata_log`]): the image is what its
//! records build, and every change is committed there before it is acknowledged or acted on.
//! `strait-metadata.json` ([`METADATA_FILE`]), this image serialised whole, is what Strait
//! wrote before the log existed; it is only read, once, to migrate a data directory
//! ([`crate::metadata_log::migrate`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub const METADATA_FILE: &str = "strait-metadata.json";
/// The `format_version` of `strait-metadata.json` (and of the image inside a metadata-log snapshot).
pub const FORMAT_VERSION: u32 = 1;

/// One partition's registration: where its replicas live and who leads it (RF=1 this
/// session, so `replicas` has one broker).
///
/// Compatibility: images written before placement existed have only `leader_epoch`; they
/// decode with empty `replicas` / `isr` and `leader` = [`NO_LEADER`](crate::replication::NO_LEADER),
/// and [`PartitionRecord::or_local`] turns that legacy form into "hosted and led by the node
/// that wrote it" (what a single node always meant).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartitionRecord {
    pub leader_epoch: i32,
    /// Assignment order; the first is the preferred leader. Empty only in the legacy form.
    #[serde(default)]
    pub replicas: Vec<i32>,
    #[serde(default)]
    pub isr: Vec<i32>,
    #[serde(default = "no_leader")]
    pub leader: i32,
    /// Bumped by every change to the registration; never decreases.
    #[serde(default)]
    pub partition_epoch: i32,
    /// KIP-455: the replicas an in-flight reassignment adds (⊆ `replicas`); empty (and not
    /// written, so older images keep their bytes) when none runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding_replicas: Vec<i32>,
    /// KIP-455: the replicas an in-flight reassignment removes (⊆ `replicas`, disjoint
    /// from `adding_replicas`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing_replicas: Vec<i32>,
}

fn no_leader() -> i32 {
    crate::replication::NO_LEADER
}

impl PartitionRecord {
    /// A new partition on `replicas`: all in sync, led by the first, epochs 0 (what Kafka's
    /// controller writes for a new partition).
    pub fn placed(replicas: Vec<i32>) -> Self {
        PartitionRecord {
            leader_epoch: 0,
            leader: replicas.first().copied().unwrap_or_else(no_leader),
            isr: replicas.clone(),
            replicas,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    /// The legacy (pre-placement) form: no replica list was recorded.
    pub fn is_legacy(&self) -> bool {
        self.replicas.is_empty()
    }

    /// This record with the legacy form resolved: replicas = isr = leader = `node_id`.
    pub fn or_local(mut self, node_id: i32) -> Self {
        if self.is_legacy() {
            self.replicas = vec![node_id];
            self.isr = vec![node_id];
            self.leader = node_id;
        }
        self
    }
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

impl MirrorRecord {
    /// A mirror of `source_topic` over `link_name`, in `state` since `state_time_ms`: no
    /// source topic id or reason yet, no cutover offsets, no restore in progress.
    pub fn new(link_name: &str, source_topic: &str, state: &str, state_time_ms: i64) -> Self {
        MirrorRecord {
            link_name: link_name.to_string(),
            source_topic: source_topic.to_string(),
            source_topic_id: None,
            state: state.to_string(),
            reason: None,
            reason_message: None,
            state_time_ms,
            final_offsets: None,
            aborted_transactions: None,
            restore_plan: None,
        }
    }
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

/// A cluster link. Its configs include the source credentials, so the metadata log's
/// directory is readable by its owner only.
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

/// Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (22 chars).
pub fn new_cluster_id() -> String {
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
    fn cluster_ids_are_kafka_shaped_and_unique() {
        let a = new_cluster_id();
        assert_eq!(a.len(), 22);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, new_cluster_id());
    }
}
