//! The narrow view of the destination broker the link needs ([`LocalCluster`]).
//!
//! The link never touches storage or broker internals directly: the broker implements this
//! trait, and tests can implement it with fakes. Every method is synchronous; none may
//! block on the network.
//!
//! Partition file I/O (appends, truncations, log-start moves) must not run on the async
//! runtime's threads, so the link does not call those methods from its tasks: it wraps them
//! in work for [`LocalCluster::on_partition`], which the broker runs on the partition's
//! I/O lane (after the partition's earlier writes, on a dedicated thread) while the task
//! awaits. [`owned_write`] is that, for a mutation owned by the link's
//! [`MirrorOwner`](crate::cutover::MirrorOwner): the owner's slot is held while the work runs
//! on the I/O thread, so fencing keeps its meaning (a fence returns only after the write in
//! flight finished; none starts after it).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use strait_protocol::ErrorCode;

use crate::shared::LinkShared;
use crate::state::MirrorState;

/// Work on one partition for [`LocalCluster::on_partition`].
pub type PartitionWork = Box<dyn FnOnce() + Send + 'static>;

/// Resolves once [`PartitionWork`] ran; `Err` if the broker refused it (shutting down,
/// unknown partition), in which case it was dropped unrun.
pub type WorkDone = Pin<Box<dyn Future<Output = Result<(), LocalError>> + Send + 'static>>;

/// Runs `f` on `topic`-`partition` where the broker runs the partition's file I/O
/// ([`LocalCluster::on_partition`]), and awaits its result.
pub async fn partition_io<T: Send + 'static>(
    local: &Arc<dyn LocalCluster>,
    topic: &str,
    partition: i32,
    f: impl FnOnce(&dyn LocalCluster, &str, i32) -> T + Send + 'static,
) -> Result<T, LocalError> {
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let on = local.clone();
    let name = topic.to_string();
    let work: PartitionWork = Box::new(move || {
        // The caller may have gone (link deleted); the work is done anyway.
        let _ = tx.send(f(on.as_ref(), &name, partition));
    });
    local.on_partition(topic, partition, work).await?;
    rx.try_recv().map_err(|_| {
        LocalError::new(
            ErrorCode::KafkaStorageError,
            format!("the local write to {topic}-{partition} did not complete"),
        )
    })
}

/// Runs `f` — one local mutation of a mirror partition, owned by the link's
/// [`MirrorOwner`](crate::cutover::MirrorOwner) — where the broker runs the partition's file
/// I/O ([`partition_io`]), holding the owner's slot there while it runs. `Ok(None)`: the
/// partition is fenced for a cutover and `f` did not run.
pub async fn owned_write<T: Send + 'static>(
    shared: &Arc<LinkShared>,
    topic: &str,
    partition: i32,
    f: impl FnOnce(&dyn LocalCluster, &str, i32) -> Result<T, LocalError> + Send + 'static,
) -> Result<Option<T>, LocalError> {
    let owner_of = shared.clone();
    partition_io(&shared.local, topic, partition, move |local, t, p| {
        owner_of
            .owner
            .write(local, t, p, || f(local, t, p))
            .transpose()
    })
    .await?
}

/// A failure reported by the local broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalError {
    pub code: ErrorCode,
    pub message: String,
}

impl LocalError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        LocalError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for LocalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for LocalError {}

/// A link as persisted by the broker (configs include secrets: never display them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLink {
    pub name: String,
    pub link_id: String,
    pub configs: BTreeMap<String, String>,
    pub source_cluster_id: Option<String>,
    pub created_ms: i64,
}

/// What makes a topic a mirror, persisted with the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorInfo {
    pub link_name: String,
    pub source_topic: String,
    /// The source topic's id when the mirror was created (Metadata v10+), to detect a
    /// deleted-and-recreated source topic.
    pub source_topic_id: Option<String>,
    pub state: MirrorState,
    /// Machine-readable reason for FAILED (SOURCE_TOPIC_MAY_BE_DELETED ...).
    pub reason: Option<String>,
    pub reason_message: Option<String>,
    pub state_time_ms: i64,
    /// Per partition, how many open mirrored transactions the cutover aborted (`None`
    /// before a promote or failover committed).
    pub aborted_transactions: Option<Vec<i64>>,
}

/// A mirror topic as the broker knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorTopic {
    pub topic: String,
    pub partitions: i32,
    pub mirror: MirrorInfo,
}

/// Where a mirror partition's local log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionPosition {
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Epoch of the last batch in the log (for the fetch's `last_fetched_epoch`).
    pub latest_epoch: Option<i32>,
}

/// What one mirrored append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorAppend {
    pub last_offset: i64,
    pub batches: usize,
    pub bytes: usize,
}

/// One consumer-group offset to commit on the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The committed leader epoch, copied as is: the data is identical, so it is meaningful
    /// on the mirror too.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// A local topic's identity and partition count (failback validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTopic {
    pub topic_id: String,
    pub partitions: i32,
    /// Its mirror record, if it is or was a mirror (STOPPED once promoted).
    pub mirror: Option<MirrorInfo>,
}

/// One batch's identity: enough to tell whether two logs hold the same batch (the CRC
/// covers everything but the offset and epoch fields, which are compared directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchId {
    pub base_offset: i64,
    pub last_offset: i64,
    pub leader_epoch: i32,
    pub crc: u32,
}

/// One consumer-group commit on a topic partition (failback clamps those beyond the
/// truncation point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCommit {
    pub group: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// The group has members (its offsets are theirs: never moved under them).
    pub active: bool,
}

fn unsupported<T>(what: &str) -> Result<T, LocalError> {
    Err(LocalError::new(
        ErrorCode::UnsupportedVersion,
        format!("this broker does not support {what}"),
    ))
}

/// The destination broker, as the link sees it.
pub trait LocalCluster: Send + Sync + 'static {
    fn load_links(&self) -> Vec<StoredLink>;
    fn store_link(&self, link: &StoredLink) -> Result<(), LocalError>;
    fn remove_link(&self, name: &str) -> Result<(), LocalError>;

    /// Does a topic (mirror or not) of this name exist?
    fn topic_exists(&self, topic: &str) -> bool;
    /// Every mirror topic, of every link, including stopped ones.
    fn mirror_topics(&self) -> Vec<MirrorTopic>;
    /// Creates a read-only mirror topic. Configs the broker does not know are dropped.
    fn create_mirror_topic(
        &self,
        topic: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        mirror: MirrorInfo,
    ) -> Result<(), LocalError>;
    /// A mirror's current topic config overrides.
    fn mirror_configs(&self, topic: &str) -> Result<BTreeMap<String, String>, LocalError>;
    /// Replaces a mirror's topic config overrides (the link's config sync; bypasses the
    /// read-only check that refuses clients). Configs the broker does not know are dropped.
    fn set_mirror_configs(
        &self,
        topic: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), LocalError>;
    /// Grows a mirror topic to follow its source.
    fn add_mirror_partitions(&self, topic: &str, total: i32) -> Result<(), LocalError>;
    /// Persists a mirror's new state (and reason).
    fn set_mirror_state(
        &self,
        topic: &str,
        state: MirrorState,
        reason: Option<(String, String)>,
    ) -> Result<(), LocalError>;

    /// Runs `work` where this broker runs `topic`-`partition`'s file I/O, after the
    /// partition's earlier writes, and resolves once it ran. The mutating methods below
    /// (append, truncations, log-start moves) are meant to be called inside such work; the
    /// default (fakes) runs it at once.
    fn on_partition(&self, _topic: &str, _partition: i32, work: PartitionWork) -> WorkDone {
        work();
        Box::pin(std::future::ready(Ok(())))
    }

    /// Where the partition's log stands, as of its last mutation (cheap; no file I/O).
    fn partition_position(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionPosition, LocalError>;
    /// Appends whole source batches byte-for-byte (the broker's mirror append path). Refused
    /// unless the topic is a mirror that is still mirroring.
    fn append_mirrored(
        &self,
        topic: &str,
        partition: i32,
        records: &[u8],
    ) -> Result<MirrorAppend, LocalError>;
    fn truncate_to(&self, topic: &str, partition: i32, offset: i64) -> Result<(), LocalError>;
    /// Follows the source's log start offset forward (DeleteRecords or retention on the
    /// source), as a Kafka follower follows its leader's. Never moves it backwards.
    fn advance_log_start_offset(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), LocalError>;
    fn truncate_fully_and_start_at(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), LocalError>;
    /// Keeps the partition's leader epoch (as reported to clients) >= `at_least`. Does not
    /// touch the log's epoch cache, which follows the mirrored batches.
    fn raise_leader_epoch(
        &self,
        topic: &str,
        partition: i32,
        at_least: i32,
    ) -> Result<(), LocalError>;
    /// The local group's committed offsets for these partitions (`None`: no commit).
    fn group_offsets(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Vec<((String, i32), Option<i64>)>;
    /// Does the local group have members? Their offsets are never overwritten.
    fn group_is_active(&self, group: &str) -> bool;
    /// A standalone commit (generation -1) of `offsets` for `group`; refused for a group
    /// with active members. Returns how many partitions were committed.
    fn commit_group_offsets(
        &self,
        group: &str,
        offsets: &[GroupOffset],
    ) -> Result<usize, LocalError>;
    /// Every ACL on the destination.
    fn acls(&self) -> Vec<crate::filters::AclBinding>;
    /// Creates and deletes ACLs in one persisted change. Bindings the destination cannot
    /// represent are skipped and described in the returned errors; the rest still apply.
    /// Returns (created, deleted, errors).
    fn apply_acls(
        &self,
        create: &[crate::filters::AclBinding],
        delete: &[crate::filters::AclBinding],
    ) -> Result<(usize, usize, Vec<String>), LocalError>;
    /// Makes a mirror writable: leader epoch above every mirrored epoch, producer ids above
    /// every mirrored producer id, every open mirrored transaction aborted (an ABORT marker
    /// written before the state change), state STOPPED. Returns the number of transactions
    /// aborted per partition; a topic already STOPPED is left alone (its recorded counts).
    fn promote(&self, topic: &str) -> Result<Vec<i64>, LocalError>;

    // ---- failback (truncate-and-restore); defaults refuse, so fakes need not care.

    /// This cluster's id (the peer finds its link back to us by it).
    fn cluster_id(&self) -> String {
        String::new()
    }
    /// A topic's id, partition count and mirror record.
    fn topic_info(&self, _topic: &str) -> Option<LocalTopic> {
        None
    }
    /// The partition's leader-epoch cache: `(epoch, start offset)`, ascending.
    fn epoch_entries(&self, _topic: &str, _partition: i32) -> Result<Vec<(i32, i64)>, LocalError> {
        unsupported("leader-epoch lookups")
    }
    /// The batch holding `offset`, if the log has one.
    fn batch_at(
        &self,
        _topic: &str,
        _partition: i32,
        _offset: i64,
    ) -> Result<Option<BatchId>, LocalError> {
        unsupported("batch lookups")
    }
    /// How many (non-control) records the log holds at or after `offset`.
    fn records_from(&self, _topic: &str, _partition: i32, _offset: i64) -> Result<i64, LocalError> {
        unsupported("record counts")
    }
    /// The one metadata write of a truncate-and-restore: a normal (or STOPPED) topic
    /// becomes a read-only mirror, PAUSED with reason PENDING_RESTORE, carrying the
    /// persisted plan (per partition: truncate to, previous end, records to remove), so
    /// a crash after it leaves a topic nobody can write and a re-run can finish.
    fn begin_restore(
        &self,
        _topic: &str,
        _mirror: MirrorInfo,
        _plan: &[strait_protocol::mirror_admin::PartitionTruncation],
    ) -> Result<(), LocalError> {
        unsupported("truncate-and-restore")
    }
    /// The persisted plan of a mirror still PENDING_RESTORE.
    fn restore_plan(
        &self,
        _topic: &str,
    ) -> Option<Vec<strait_protocol::mirror_admin::PartitionTruncation>> {
        None
    }
    /// Ends a restore: clears the plan and sets the mirror's state (ACTIVE or PAUSED).
    fn finish_restore(&self, _topic: &str, _state: MirrorState) -> Result<(), LocalError> {
        unsupported("truncate-and-restore")
    }
    /// Every consumer-group commit on `topic`.
    fn topic_group_commits(&self, _topic: &str) -> Vec<GroupCommit> {
        Vec::new()
    }
}
