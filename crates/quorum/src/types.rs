//! The openraft type configuration of the metadata quorum: opaque byte records in, the
//! image's byte reply out, `u64` node ids (Kafka's `node.id`) and `BasicNode` addresses.
//!
//! Records are opaque here on purpose: what a record means belongs to the image (the broker),
//! the quorum only orders, replicates and applies them.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// Kafka's `node.id`: voters are named by it in `controller.quorum.voters`.
pub type NodeId = u64;

/// One proposed record: bytes the image interprets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record(pub Vec<u8>);

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record({} bytes)", self.0.len())
    }
}

/// What applying one log entry produced on the node that applied it.
///
/// `Err` is a deterministic refusal by the image (every node refuses the same record the
/// same way), so it is a reply, not a storage failure: the entry still occupies its index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply(pub Result<Vec<u8>, String>);

openraft::declare_raft_types!(
    /// The metadata quorum's openraft types.
    pub QuorumTypes:
        D = Record,
        R = Reply,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub(crate) type Entry = openraft::Entry<QuorumTypes>;
pub(crate) type LogId = openraft::LogId<NodeId>;
pub(crate) type Vote = openraft::Vote<NodeId>;
pub(crate) type StorageError = openraft::StorageError<NodeId>;
pub(crate) type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub(crate) type Raft = openraft::Raft<QuorumTypes>;
