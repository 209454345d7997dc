//! The classic consumer-group coordinator (JoinGroup / SyncGroup / Heartbeat / LeaveGroup,
//! offsets, and the admin views of groups), with Kafka's semantics.
//!
//! # State machine (per group)
//! ```text
//!            first join                     join phase done                leader's SyncGroup
//!   Empty ─────────────▶ PreparingRebalance ───────────────▶ CompletingRebalance ─────────▶ Stable
//!     ▲                   ▲   │ (no members left)               │ join/leave/expiry            │
//!     └───────────────────┼───┘                                 ▼                              │
//!                         └──────────────── rebalance ◀──────────────────────────────────────┘
//!   DeleteGroups on an Empty group ──▶ Dead (removed)
//! ```
//! * A join phase ends when every known member has rejoined (and no member is pending the
//!   MEMBER_ID_REQUIRED round trip), or when the rebalance timeout (the largest of the
//!   members') passes; dynamic members that did not rejoin are then removed. The first
//!   join of an Empty group waits `group.initial.rebalance.delay.ms`, extended while new
//!   members keep arriving, up to the rebalance timeout.
//! * Ending the join phase starts a new generation: the protocol is chosen by vote among
//!   the protocols every member supports, the leader gets every member's metadata, and all
//!   members must SyncGroup within the rebalance timeout or be removed.
//! * Members are kept alive by heartbeats (any valid Heartbeat, SyncGroup or OffsetCommit)
//!   within their session timeout, except while their JoinGroup/SyncGroup is parked here.
//! * Static members (`group.instance.id`) survive restarts of the client: a JoinGroup with
//!   an unknown member id and a known instance id replaces the old member id (the old one
//!   is fenced with FENCED_INSTANCE_ID) and, in a Stable group whose protocol does not
//!   change, keeps the current assignment without a rebalance.
//!
//! # Concurrency
//! One mutex guards all groups; it is never held across an `.await`. Parked JoinGroup and
//! SyncGroup requests wait on a oneshot channel that the state machine completes. A timer
//! task (holding only a weak reference) drives deadlines, expires offsets and compacts the
//! store.
//!
//! # Durability
//! See [`store`]: committed offsets and each group's protocol type and generation are
//! appended to a CRC-framed log before the request is answered. Members are not persisted:
//! after a restart groups come back Empty and clients rejoin (Kafka's clients handle
//! UNKNOWN_MEMBER_ID by rejoining).
//!
//! # Transactions
//! Offsets committed with TxnOffsetCommit stay pending per producer id until the transaction
//! coordinator completes the transaction; see [`txn_offsets`] (ordering against plain
//! commits, `require_stable`, expiry and deletion rules).
//!
//! # Layout
//! This module holds the request/response types, the group and coordinator structs and
//! [`GroupCoordinator::open`] (store replay). The rest is split by concern: `group` (the
//! per-group state machine), `membership` (Join/Sync/Heartbeat/Leave), `offsets`
//! (OffsetCommit/Fetch/Delete), `admin` (List/Describe/DeleteGroups), `timer` (deadlines,
//! offset expiry, store compaction), plus [`store`], [`txn_offsets`] and
//! [`consumer_protocol`].

mod admin;
pub mod consumer_protocol;
mod group;
mod membership;
mod offsets;
pub mod store;
mod timer;
pub mod txn_offsets;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use crate::config::BrokerConfig;
use crate::metadata::MetadataError;
use crate::topics::{now_ms, TopicManager};
use store::{GroupStore, OffsetRecord, Record};
pub use txn_offsets::{StableFetchedOffsets, TxnCommitRequest};

/// A Kafka error code, NONE included (the codec's `ResponseError` has no success value).
/// Named like the codec's variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(i16);

#[allow(non_upper_case_globals)]
impl Code {
    pub const CoordinatorNotAvailable: Code = Code(15);
    pub const FencedInstanceId: Code = Code(82);
    pub const GroupIdNotFound: Code = Code(69);
    pub const GroupMaxSizeReached: Code = Code(81);
    pub const GroupSubscribedToTopic: Code = Code(86);
    pub const IllegalGeneration: Code = Code(22);
    pub const InconsistentGroupProtocol: Code = Code(23);
    pub const InvalidGroupId: Code = Code(24);
    pub const InvalidSessionTimeout: Code = Code(26);
    pub const KafkaStorageError: Code = Code(56);
    pub const MemberIdRequired: Code = Code(79);
    pub const NonEmptyGroup: Code = Code(68);
    pub const None: Code = Code(0);
    pub const OffsetMetadataTooLarge: Code = Code(12);
    pub const RebalanceInProgress: Code = Code(27);
    pub const UnknownMemberId: Code = Code(25);
    pub const UnknownTopicOrPartition: Code = Code(3);

    /// The wire value.
    pub fn code(self) -> i16 {
        self.0
    }
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// DescribeGroups' `client_host` of a member. The request context does not carry the
/// peer address yet, so the host is reported as unknown rather than made up.
pub const UNKNOWN_CLIENT_HOST: &str = "/unknown";

/// How long a brand-new member's first JoinGroup may stay parked (Kafka's
/// `group.new.member.join.timeout`): sockets are muted while it is parked, so a client that
/// gave up cannot be detected otherwise.
const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);
/// The timer wakes at least this often (fsync of the store, compaction, retention).
const TIMER_MAX_SLEEP: Duration = Duration::from_secs(1);

/// Coordinator settings (broker configs with Kafka's names).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `group.max.size`
    pub max_size: usize,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_max_bytes: usize,
    /// `offsets.retention.minutes`, in ms
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`
    pub offsets_retention_check_interval_ms: u64,
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms,
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            max_size: c.group_max_size as usize,
            offset_metadata_max_bytes: c.offset_metadata_max_bytes,
            offsets_retention_ms: c.offsets_retention_minutes.saturating_mul(60_000),
            offsets_retention_check_interval_ms: c.offsets_retention_check_interval_ms,
        }
    }
}

/// Kafka's classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka uses on the wire (ListGroups, DescribeGroups).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_ts: i64,
    pub topic_id: Option<String>,
    /// Where the record that wrote it falls in apply order ([`txn_offsets::next_seq`]):
    /// Kafka's commit-record offset, which decides between a transactional and a plain
    /// commit of the same partition. Not persisted: replay reassigns it in the same order.
    pub seq: u64,
}

/// A JoinGroup as the coordinator sees it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a dynamic member must first get its member id (MEMBER_ID_REQUIRED).
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a rejoining static leader can be told to skip the assignment.
    pub supports_skip_assignment: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    pub error: Code,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    pub members: Vec<JoinMember>,
}

impl JoinResult {
    fn error(error: Code, member_id: &str) -> Self {
        JoinResult {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    pub error: Code,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(error: Code) -> Self {
        SyncResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// One partition of an OffsetCommit.
#[derive(Debug, Clone)]
pub struct CommitPartition {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub group_id: String,
    /// -1 for a standalone commit (admin tools, manual assignment).
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<(String, Vec<CommitPartition>)>,
}

/// Per topic, per partition: the committed offset, if any.
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;
/// Per topic, per partition: the outcome.
pub type PartitionErrors = Vec<(String, Vec<(i32, Code)>)>;

/// ListGroups entry.
#[derive(Debug, Clone)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

/// DescribeGroups member.
#[derive(Debug, Clone)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// DescribeGroups entry.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
    heartbeat_deadline: Instant,
    /// Joined but not yet through a completed join phase.
    is_new: bool,
}

struct InitialDelay {
    /// The join phase may not last past this (start + rebalance timeout).
    end: Instant,
    new_member_added: bool,
}

struct Group {
    id: String,
    state: GroupState,
    state_ts: i64,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    generation: i32,
    leader: Option<String>,
    /// In join order (the first becomes leader when the leader leaves).
    members: Vec<Member>,
    /// MEMBER_ID_REQUIRED handed out, rejoin expected by the deadline.
    pending: HashMap<String, Instant>,
    /// Members of the current generation that have not sent SyncGroup yet.
    pending_sync: BTreeSet<String>,
    pending_sync_deadline: Option<(Instant, i32)>,
    join_deadline: Option<Instant>,
    initial: Option<InitialDelay>,
    /// Topics the members subscribe to (consumer protocol); `None` if unknown.
    subscribed_topics: Option<BTreeSet<String>>,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// TxnOffsetCommit offsets of open transactions (not visible to OffsetFetch).
    txn: txn_offsets::PendingTxnOffsets,
    /// Persisted metadata changed since the last write.
    dirty: bool,
    /// Ever written to the store (so deletion needs a tombstone).
    persisted: bool,
}

fn session(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct State {
    groups: HashMap<String, Group>,
    store: GroupStore,
    last_retention_check: Instant,
    /// Counts completed transactions, so TxnOffsetCommit can tell that one ended while it
    /// was being verified (see [`txn_offsets`]).
    txn_ends: txn_offsets::EndCounters,
}

impl State {
    /// Persists the metadata of a group whose generation or protocol type changed. A
    /// failure is logged: members can carry on, and the next change writes it again.
    fn flush_group(&mut self, id: &str) {
        let Some(g) = self.groups.get_mut(id) else {
            return;
        };
        if !g.dirty {
            return;
        }
        g.dirty = false;
        let record = g.group_record();
        match self.store.append(&record) {
            Ok(()) => g.persisted = true,
            Err(e) => {
                g.dirty = true;
                tracing::warn!(group = %id, error = %e, "cannot persist group metadata");
            }
        }
    }

    /// After an operation on `id`: persist what changed, forget the group if it is a ghost.
    fn settle(&mut self, id: &str) {
        self.flush_group(id);
        if self.groups.get(id).is_some_and(Group::is_ghost) {
            self.groups.remove(id);
        }
    }
}

/// The coordinator. One per broker; this broker coordinates every group.
pub struct GroupCoordinator {
    config: GroupConfig,
    topics: Arc<TopicManager>,
    state: Mutex<State>,
    wake: Arc<Notify>,
    timer: OnceLock<()>,
}

impl GroupCoordinator {
    /// Opens the store under `config.log_dir` and rebuilds groups and offsets from it.
    pub fn open(config: &BrokerConfig, topics: Arc<TopicManager>) -> Result<Self, MetadataError> {
        let (store, replay) = GroupStore::open(&config.log_dir)?;
        let mut groups: HashMap<String, Group> = HashMap::new();
        for record in replay.records {
            apply_record(&mut groups, record);
        }
        for g in groups.values_mut() {
            g.persisted = true;
            g.subscribed_topics = Some(BTreeSet::new());
        }
        if replay.truncated_bytes > 0 {
            tracing::warn!(
                dropped_bytes = replay.truncated_bytes,
                "group store had a torn tail; recovered every complete record"
            );
        }
        let now = Instant::now();
        Ok(GroupCoordinator {
            config: GroupConfig::from_broker(config),
            topics,
            state: Mutex::new(State {
                groups,
                store,
                last_retention_check: now,
                txn_ends: txn_offsets::EndCounters::default(),
            }),
            wake: Arc::new(Notify::new()),
            timer: OnceLock::new(),
        })
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Starts the timer task (idempotent; needs a tokio runtime, else does nothing). Every
    /// entry point calls it, so in-process users need not.
    pub fn start_timer(self: &Arc<Self>) {
        if self.timer.get().is_some() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.timer.set(()).is_err() {
            return;
        }
        let weak = Arc::downgrade(self);
        let wake = self.wake.clone();
        handle.spawn(timer::run_timer(weak, wake));
    }

    fn poke(&self) {
        self.wake.notify_one();
    }
}

/// Applies a stored record to the in-memory groups (replay and live writes alike).
fn apply_record(groups: &mut HashMap<String, Group>, record: Record) {
    match record {
        Record::Group {
            group,
            protocol_type,
            generation,
            state_ts,
        } => {
            let g = groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group));
            // Live groups already hold these values; on replay they restore them.
            if g.members.is_empty() {
                g.protocol_type = protocol_type;
                g.generation = g.generation.max(generation);
                if state_ts > 0 {
                    g.state_ts = state_ts;
                }
            }
        }
        Record::Offsets { group, offsets } => {
            let g = groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group));
            let seq = txn_offsets::next_seq();
            for o in offsets {
                let (key, o) = txn_offsets::committed(o, seq);
                g.offsets.insert(key, o);
            }
        }
        Record::OffsetsDeleted { group, partitions } => {
            if let Some(g) = groups.get_mut(&group) {
                g.txn.remove_partitions(&partitions);
                for key in partitions {
                    g.offsets.remove(&key);
                }
            }
        }
        Record::TxnOffsets {
            group,
            producer_id,
            producer_epoch,
            offsets,
        } => txn_offsets::apply_pending(groups, group, producer_id, producer_epoch, offsets),
        Record::TxnOffsetsEnd {
            group,
            producer_id,
            commit,
        } => txn_offsets::apply_end(groups, &group, producer_id, commit),
        Record::GroupDeleted { group } => {
            groups.remove(&group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_codec() {
        use strait_protocol::ErrorCode;
        assert_eq!(Code::None.code(), 0);
        assert_eq!(
            Code::CoordinatorNotAvailable.code(),
            ErrorCode::CoordinatorNotAvailable.code()
        );
        assert_eq!(
            Code::FencedInstanceId.code(),
            ErrorCode::FencedInstanceId.code()
        );
        assert_eq!(
            Code::GroupIdNotFound.code(),
            ErrorCode::GroupIdNotFound.code()
        );
        assert_eq!(
            Code::GroupMaxSizeReached.code(),
            ErrorCode::GroupMaxSizeReached.code()
        );
        assert_eq!(
            Code::GroupSubscribedToTopic.code(),
            ErrorCode::GroupSubscribedToTopic.code()
        );
        assert_eq!(
            Code::IllegalGeneration.code(),
            ErrorCode::IllegalGeneration.code()
        );
        assert_eq!(
            Code::InconsistentGroupProtocol.code(),
            ErrorCode::InconsistentGroupProtocol.code()
        );
        assert_eq!(
            Code::InvalidGroupId.code(),
            ErrorCode::InvalidGroupId.code()
        );
        assert_eq!(
            Code::InvalidSessionTimeout.code(),
            ErrorCode::InvalidSessionTimeout.code()
        );
        assert_eq!(
            Code::KafkaStorageError.code(),
            ErrorCode::KafkaStorageError.code()
        );
        assert_eq!(
            Code::MemberIdRequired.code(),
            ErrorCode::MemberIdRequired.code()
        );
        assert_eq!(Code::NonEmptyGroup.code(), ErrorCode::NonEmptyGroup.code());
        assert_eq!(
            Code::OffsetMetadataTooLarge.code(),
            ErrorCode::OffsetMetadataTooLarge.code()
        );
        assert_eq!(
            Code::RebalanceInProgress.code(),
            ErrorCode::RebalanceInProgress.code()
        );
        assert_eq!(
            Code::UnknownMemberId.code(),
            ErrorCode::UnknownMemberId.code()
        );
        assert_eq!(
            Code::UnknownTopicOrPartition.code(),
            ErrorCode::UnknownTopicOrPartition.code()
        );
    }
}
