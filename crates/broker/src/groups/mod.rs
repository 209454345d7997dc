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

pub mod consumer_protocol;
pub mod store;
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

impl Member {
    fn awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
    /// Whether the session timer may remove this member now.
    fn expired(&self, now: Instant) -> bool {
        if self.heartbeat_deadline > now {
            return false;
        }
        // Members parked in a JoinGroup or SyncGroup are alive by definition, except a new
        // member whose first join has been parked too long.
        self.is_new || (self.join_waiter.is_none() && self.sync_waiter.is_none())
    }
    fn fail_waiters(&mut self, error: Code) {
        if let Some(tx) = self.join_waiter.take() {
            let _ = tx.send(JoinResult::error(error, &self.id));
        }
        if let Some(tx) = self.sync_waiter.take() {
            let _ = tx.send(SyncResult::error(error));
        }
    }
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

impl Group {
    fn new(id: &str) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_ts: now_ms(),
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            pending_sync: BTreeSet::new(),
            pending_sync_deadline: None,
            join_deadline: None,
            initial: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            txn: txn_offsets::PendingTxnOffsets::default(),
            dirty: false,
            persisted: false,
        }
    }

    fn set_state(&mut self, s: GroupState) {
        self.state = s;
        self.state_ts = now_ms();
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }
    fn static_member_id(&self, instance: &str) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance))
            .map(|m| m.id.clone())
    }
    fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }
    fn rebalance_timeout(&self) -> Duration {
        let ms = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout_ms.max(0))
            .max()
            .unwrap_or(0);
        Duration::from_millis(ms as u64)
    }
    fn num_awaiting_join(&self) -> usize {
        self.members.iter().filter(|m| m.awaiting_join()).count()
    }
    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.iter().all(Member::awaiting_join)
    }

    /// A group nobody uses and nothing remembers: drop it from memory.
    fn is_ghost(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending.is_empty()
            && self.offsets.is_empty()
            && self.txn.is_empty()
            && !self.persisted
    }

    /// Kafka's `validateMember`: UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID.
    fn validate_member(&self, member_id: &str, instance: Option<&str>) -> Result<(), Code> {
        if let Some(instance) = instance {
            match self.static_member_id(instance) {
                None => return Err(Code::UnknownMemberId),
                Some(existing) if existing != member_id => return Err(Code::FencedInstanceId),
                Some(_) => {}
            }
        }
        if self.member(member_id).is_none() {
            return Err(Code::UnknownMemberId);
        }
        Ok(())
    }

    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            self.members
                .iter()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// The protocol every member supports that most members prefer (ties: the first
    /// member's preference order).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|name| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .collect();
        let mut votes: Vec<(usize, &str)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in &self.members {
            if let Some((vote, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n.as_str()))
            {
                if let Some(slot) = votes.iter_mut().find(|(_, c)| c == vote) {
                    slot.0 += 1;
                }
            }
        }
        let mut best: Option<(usize, &str)> = None;
        for (count, name) in votes {
            if best.is_none_or(|(c, _)| count > c) {
                best = Some((count, name));
            }
        }
        best.map(|(_, n)| n.to_string())
    }

    fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(consumer_protocol::PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in &self.members {
            topics.extend(consumer_protocol::subscription_topics(
                &m.metadata_for(protocol),
            )?);
        }
        Some(topics)
    }

    fn current_member_list(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect()
    }

    fn current_generation_result(&self, member_id: &str, with_members: bool) -> JoinResult {
        JoinResult {
            error: Code::None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.current_member_list()
            } else {
                Vec::new()
            },
        }
    }

    fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
            self.dirty = true;
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if self.state == GroupState::PreparingRebalance {
            if let Some(init) = &mut self.initial {
                init.new_member_added = true;
            }
        }
        self.pending.remove(&member.id);
        self.members.push(member);
    }

    /// Removes a member, failing its parked requests with `error`.
    fn remove_member(&mut self, id: &str, error: Code) {
        let Some(pos) = self.members.iter().position(|m| m.id == id) else {
            return;
        };
        let mut m = self.members.remove(pos);
        m.fail_waiters(error);
        self.pending_sync.remove(id);
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
    }

    /// Removes a member (leave, expiry) and moves the group on.
    fn remove_member_and_update(&mut self, id: &str, cfg: &GroupConfig, now: Instant) {
        self.remove_member(id, Code::UnknownMemberId);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::PreparingRebalance => self.maybe_complete_join(cfg, now),
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.prepare_rebalance(cfg, now);
                self.maybe_complete_join(cfg, now);
            }
        }
    }

    fn prepare_rebalance(&mut self, cfg: &GroupConfig, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            // Assignments of the aborted generation are void; parked SyncGroups rejoin.
            for m in &mut self.members {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(SyncResult::error(Code::RebalanceInProgress));
                }
            }
        }
        self.pending_sync.clear();
        self.pending_sync_deadline = None;
        let was_empty = self.state == GroupState::Empty;
        self.set_state(GroupState::PreparingRebalance);
        let rebalance_timeout = self.rebalance_timeout();
        if was_empty && cfg.initial_rebalance_delay_ms > 0 {
            let delay =
                Duration::from_millis(cfg.initial_rebalance_delay_ms).min(rebalance_timeout);
            self.join_deadline = Some(now + delay);
            self.initial = Some(InitialDelay {
                end: now + rebalance_timeout,
                new_member_added: false,
            });
        } else {
            self.join_deadline = Some(now + rebalance_timeout);
            self.initial = None;
        }
    }

    fn maybe_prepare_rebalance(&mut self, cfg: &GroupConfig, now: Instant) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(cfg, now);
        }
        self.maybe_complete_join(cfg, now);
    }

    fn maybe_complete_join(&mut self, cfg: &GroupConfig, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.initial.is_none()
            && self.all_joined()
        {
            self.complete_join(cfg, now);
        }
    }

    /// The join deadline passed.
    fn on_join_deadline(&mut self, cfg: &GroupConfig, now: Instant) {
        self.join_deadline = None;
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(init) = &mut self.initial {
            if init.new_member_added && now < init.end {
                init.new_member_added = false;
                let delay = Duration::from_millis(cfg.initial_rebalance_delay_ms);
                self.join_deadline = Some((now + delay).min(init.end));
                return;
            }
        }
        self.initial = None;
        self.complete_join(cfg, now);
    }

    /// Ends the join phase: drop dynamic members that did not rejoin, start the next
    /// generation and answer every parked JoinGroup.
    fn complete_join(&mut self, cfg: &GroupConfig, now: Instant) {
        let _ = cfg;
        let not_rejoined: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.awaiting_join() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in not_rejoined {
            self.remove_member(&id, Code::UnknownMemberId);
        }
        if !self.members.is_empty() {
            let leader_joined = self
                .leader
                .as_deref()
                .and_then(|l| self.member(l))
                .is_some_and(Member::awaiting_join);
            if !leader_joined {
                match self.members.iter().find(|m| m.awaiting_join()) {
                    Some(m) => self.leader = Some(m.id.clone()),
                    None => {
                        // Only offline static members remain: wait for them (or for their
                        // sessions to expire) for another rebalance timeout.
                        self.join_deadline = Some(now + self.rebalance_timeout());
                        return;
                    }
                }
            }
        }
        self.join_deadline = None;
        self.initial = None;
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = Some(BTreeSet::new());
            self.leader = None;
            self.set_state(GroupState::Empty);
            return;
        }
        self.protocol_name = self.select_protocol();
        self.subscribed_topics = self.compute_subscribed_topics();
        self.set_state(GroupState::CompletingRebalance);
        let list = self.current_member_list();
        let leader = self.leader.clone().unwrap_or_default();
        let rebalance_timeout = self.rebalance_timeout();
        self.pending_sync = self.members.iter().map(|m| m.id.clone()).collect();
        self.pending_sync_deadline = Some((now + rebalance_timeout, self.generation));
        let (generation, ptype, pname) = (
            self.generation,
            self.protocol_type.clone(),
            self.protocol_name.clone(),
        );
        for m in &mut self.members {
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult {
                    error: Code::None,
                    generation_id: generation,
                    protocol_type: ptype.clone(),
                    protocol_name: pname.clone(),
                    leader: leader.clone(),
                    skip_assignment: false,
                    member_id: m.id.clone(),
                    members: if m.id == leader {
                        list.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
            m.heartbeat_deadline = now + session(m.session_timeout_ms);
            m.is_new = false;
        }
    }

    /// Runs every deadline that has passed.
    fn on_timer(&mut self, cfg: &GroupConfig, now: Instant) {
        let expired_pending: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending.remove(&id);
            self.maybe_complete_join(cfg, now);
        }
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.expired(now))
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member_and_update(&id, cfg, now);
        }
        if self.join_deadline.is_some_and(|d| d <= now) {
            self.on_join_deadline(cfg, now);
        }
        if let Some((deadline, generation)) = self.pending_sync_deadline {
            if deadline <= now {
                self.pending_sync_deadline = None;
                if generation == self.generation
                    && matches!(
                        self.state,
                        GroupState::CompletingRebalance | GroupState::Stable
                    )
                    && !self.pending_sync.is_empty()
                {
                    let late: Vec<String> =
                        std::mem::take(&mut self.pending_sync).into_iter().collect();
                    for id in late {
                        tracing::info!(group = %self.id, member = %id, "member did not SyncGroup in time");
                        self.remove_member(&id, Code::UnknownMemberId);
                    }
                    self.prepare_rebalance(cfg, now);
                    self.maybe_complete_join(cfg, now);
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.iter().filter_map(|m| {
            if m.is_new || (m.join_waiter.is_none() && m.sync_waiter.is_none()) {
                Some(m.heartbeat_deadline)
            } else {
                None
            }
        });
        members
            .chain(self.pending.values().copied())
            .chain(self.join_deadline)
            .chain(self.pending_sync_deadline.map(|(d, _)| d))
            .min()
    }

    fn group_record(&self) -> Record {
        Record::Group {
            group: self.id.clone(),
            protocol_type: self.protocol_type.clone(),
            generation: self.generation,
            state_ts: self.state_ts,
        }
    }
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
        handle.spawn(run_timer(weak, wake));
    }

    fn poke(&self) {
        self.wake.notify_one();
    }

    // ---------------------------------------------------------------- membership

    /// JoinGroup. May park until the join phase completes.
    pub async fn join(self: &Arc<Self>, req: JoinRequest) -> JoinResult {
        self.start_timer();
        let rx = match self.join_locked(req) {
            Ok(result) => return result,
            Err(rx) => rx,
        };
        self.poke();
        match rx.await {
            Ok(result) => result,
            // Superseded by a newer JoinGroup of the same member: that one gets the answer.
            Err(_) => JoinResult::error(Code::RebalanceInProgress, ""),
        }
    }

    fn join_locked(&self, req: JoinRequest) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
        let cfg = &self.config;
        if req.group_id.is_empty() {
            return Ok(JoinResult::error(Code::InvalidGroupId, &req.member_id));
        }
        if req.session_timeout_ms < cfg.min_session_timeout_ms
            || req.session_timeout_ms > cfg.max_session_timeout_ms
        {
            return Ok(JoinResult::error(
                Code::InvalidSessionTimeout,
                &req.member_id,
            ));
        }
        let now = Instant::now();
        let mut st = lock(&self.state);
        let unknown = req.member_id.is_empty();
        if !st.groups.contains_key(&req.group_id) {
            if !unknown {
                return Ok(JoinResult::error(Code::UnknownMemberId, &req.member_id));
            }
            st.groups
                .insert(req.group_id.clone(), Group::new(&req.group_id));
        }
        let group_id = req.group_id.clone();
        let result = {
            let Some(group) = st.groups.get_mut(&group_id) else {
                return Ok(JoinResult::error(Code::UnknownMemberId, &req.member_id));
            };
            if !accept_joining_member(group, &req.member_id, cfg.max_size) {
                if group.member(&req.member_id).is_some() {
                    group.remove_member_and_update(&req.member_id, cfg, now);
                }
                Ok(JoinResult::error(Code::GroupMaxSizeReached, ""))
            } else if unknown {
                join_new_member(group, req, cfg, now)
            } else {
                join_existing_member(group, req, cfg, now)
            }
        };
        st.settle(&group_id);
        result
    }

    /// SyncGroup. Followers park until the leader's assignment arrives.
    pub async fn sync(self: &Arc<Self>, req: SyncRequest) -> SyncResult {
        self.start_timer();
        let rx = match self.sync_locked(req) {
            Ok(r) => return r,
            Err(rx) => rx,
        };
        self.poke();
        rx.await
            .unwrap_or_else(|_| SyncResult::error(Code::RebalanceInProgress))
    }

    fn sync_locked(&self, req: SyncRequest) -> Result<SyncResult, oneshot::Receiver<SyncResult>> {
        if req.group_id.is_empty() {
            return Ok(SyncResult::error(Code::InvalidGroupId));
        }
        let now = Instant::now();
        let mut st = lock(&self.state);
        let group_id = req.group_id.clone();
        let result = match st.groups.get_mut(&group_id) {
            None => Ok(SyncResult::error(Code::UnknownMemberId)),
            Some(group) => sync_group(group, req, now),
        };
        st.settle(&group_id);
        result
    }

    /// Heartbeat.
    pub fn heartbeat(
        self: &Arc<Self>,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Code {
        self.start_timer();
        if group_id.is_empty() {
            return Code::InvalidGroupId;
        }
        let now = Instant::now();
        let mut st = lock(&self.state);
        let Some(group) = st.groups.get_mut(group_id) else {
            return Code::UnknownMemberId;
        };
        if let Err(e) = group.validate_member(member_id, instance_id) {
            return e;
        }
        if generation_id != group.generation {
            return Code::IllegalGeneration;
        }
        let state = group.state;
        if let Some(m) = group.member_mut(member_id) {
            m.heartbeat_deadline = now + session(m.session_timeout_ms);
        }
        match state {
            GroupState::Empty | GroupState::Dead => Code::UnknownMemberId,
            GroupState::PreparingRebalance => Code::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => Code::None,
        }
    }

    /// LeaveGroup for each `(member_id, group_instance_id)`. Returns the group-level error
    /// and one error per member. An empty member id with an instance id removes that static
    /// member (what admin tools send).
    pub fn leave(
        self: &Arc<Self>,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> (Code, Vec<Code>) {
        self.start_timer();
        if group_id.is_empty() {
            return (Code::InvalidGroupId, Vec::new());
        }
        let cfg = &self.config;
        let now = Instant::now();
        let mut st = lock(&self.state);
        let Some(group) = st.groups.get_mut(group_id) else {
            return (
                Code::UnknownMemberId,
                vec![Code::UnknownMemberId; members.len()],
            );
        };
        let mut errors = Vec::with_capacity(members.len());
        for (member_id, instance) in members {
            let error = if member_id.is_empty() {
                match instance.as_deref().and_then(|i| group.static_member_id(i)) {
                    Some(id) => {
                        group.remove_member_and_update(&id, cfg, now);
                        Code::None
                    }
                    None => Code::UnknownMemberId,
                }
            } else if group.pending.remove(member_id).is_some() {
                group.maybe_complete_join(cfg, now);
                Code::None
            } else {
                match group.validate_member(member_id, instance.as_deref()) {
                    Ok(()) => {
                        tracing::info!(group = %group_id, member = %member_id, "member left");
                        group.remove_member_and_update(member_id, cfg, now);
                        Code::None
                    }
                    Err(e) => e,
                }
            };
            errors.push(error);
        }
        st.settle(group_id);
        drop(st);
        self.poke();
        (Code::None, errors)
    }

    // ---------------------------------------------------------------- offsets

    /// OffsetCommit. Returns one error per partition, in request order. Offsets are
    /// written to the store before this returns.
    /// Checks each partition of an offset commit (`group_error` applies to all) and builds
    /// the records of those that pass; the per-partition results in request order.
    pub(crate) fn offset_records(
        &self,
        topics: &[(String, Vec<CommitPartition>)],
        group_error: Option<Code>,
    ) -> (Vec<OffsetRecord>, PartitionErrors) {
        let commit_ts = now_ms();
        let mut records = Vec::new();
        let mut out = Vec::with_capacity(topics.len());
        for (topic, partitions) in topics {
            let known = self.topics.get(topic);
            let mut results = Vec::with_capacity(partitions.len());
            for p in partitions {
                let error = if let Some(e) = group_error {
                    e
                } else if !known
                    .as_ref()
                    .is_some_and(|t| p.partition >= 0 && p.partition < t.partition_count())
                {
                    Code::UnknownTopicOrPartition
                } else if p
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > self.config.offset_metadata_max_bytes)
                {
                    Code::OffsetMetadataTooLarge
                } else {
                    records.push(OffsetRecord {
                        topic: topic.clone(),
                        partition: p.partition,
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata: p.metadata.clone(),
                        commit_ts,
                        topic_id: known.as_ref().map(|t| t.topic_id.to_string()),
                    });
                    Code::None
                };
                results.push((p.partition, error));
            }
            out.push((topic.clone(), results));
        }
        (records, out)
    }

    pub fn commit_offsets(self: &Arc<Self>, req: CommitRequest) -> PartitionErrors {
        self.start_timer();
        let now = Instant::now();
        let mut st = lock(&self.state);
        let group_error = self.validate_commit(&mut st, &req, now);
        let (records, mut out) = self.offset_records(&req.topics, group_error);
        if !records.is_empty() {
            let record = Record::Offsets {
                group: req.group_id.clone(),
                offsets: records,
            };
            match st.store.append(&record) {
                Ok(()) => {
                    apply_record(&mut st.groups, record);
                    if let Some(g) = st.groups.get_mut(&req.group_id) {
                        g.persisted = true;
                    }
                }
                Err(e) => {
                    tracing::error!(group = %req.group_id, error = %e, "cannot persist committed offsets");
                    for (_, parts) in &mut out {
                        for (_, err) in parts.iter_mut() {
                            if *err == Code::None {
                                *err = Code::KafkaStorageError;
                            }
                        }
                    }
                }
            }
        }
        st.settle(&req.group_id);
        out
    }

    /// Kafka's `validateOffsetCommit` (creating a "simple" group for a standalone commit).
    fn validate_commit(&self, st: &mut State, req: &CommitRequest, now: Instant) -> Option<Code> {
        let group = match st.groups.get_mut(&req.group_id) {
            Some(g) => g,
            None if req.generation_id < 0 => {
                st.groups
                    .insert(req.group_id.clone(), Group::new(&req.group_id));
                return None;
            }
            None => return Some(Code::IllegalGeneration),
        };
        if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
            if let Err(e) = group.validate_member(&req.member_id, req.group_instance_id.as_deref())
            {
                return Some(e);
            }
            if req.generation_id != group.generation {
                return Some(Code::IllegalGeneration);
            }
        } else if group.state != GroupState::Empty {
            // A commit without member id and generation is only for groups nobody uses.
            return Some(Code::UnknownMemberId);
        }
        if group.state == GroupState::CompletingRebalance {
            return Some(Code::RebalanceInProgress);
        }
        if let Some(m) = group.member_mut(&req.member_id) {
            m.heartbeat_deadline = now + session(m.session_timeout_ms);
        }
        None
    }

    /// OffsetFetch for one group. `topics: None` means every committed offset of the group.
    /// Partitions without a committed offset come back as `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        let st = lock(&self.state);
        self.fetch_offsets_in(st.groups.get(group_id), topics)
    }

    /// [`Self::fetch_offsets`] under the lock the caller holds.
    fn fetch_offsets_in(
        &self,
        group: Option<&Group>,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let parts = partitions
                        .into_iter()
                        .map(|p| {
                            let o = group
                                .and_then(|g| g.offsets.get(&(topic.clone(), p)))
                                .filter(|o| self.offset_applies(&topic, o))
                                .cloned();
                            (p, o)
                        })
                        .collect();
                    (topic, parts)
                })
                .collect(),
            None => {
                let mut out: FetchedOffsets = Vec::new();
                if let Some(g) = group {
                    for ((topic, p), o) in &g.offsets {
                        if !self.offset_applies(topic, o) {
                            continue;
                        }
                        match out.last_mut() {
                            Some((t, parts)) if t == topic => parts.push((*p, Some(o.clone()))),
                            _ => out.push((topic.clone(), vec![(*p, Some(o.clone()))])),
                        }
                    }
                }
                out
            }
        }
    }

    /// Whether a stored offset still belongs to a live topic (not deleted, not recreated).
    fn offset_applies(&self, topic: &str, o: &CommittedOffset) -> bool {
        match self.topics.get(topic) {
            None => false,
            Some(t) => o
                .topic_id
                .as_ref()
                .is_none_or(|id| *id == t.topic_id.to_string()),
        }
    }

    /// OffsetDelete. Group-level error, or one error per partition.
    pub fn delete_offsets(
        self: &Arc<Self>,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<PartitionErrors, Code> {
        self.start_timer();
        let mut st = lock(&self.state);
        let Some(group) = st.groups.get(group_id) else {
            return Err(Code::GroupIdNotFound);
        };
        let subscribed: Option<&BTreeSet<String>> = match group.state {
            GroupState::Dead => return Err(Code::GroupIdNotFound),
            GroupState::Empty => None,
            _ if group.protocol_type.as_deref() == Some(consumer_protocol::PROTOCOL_TYPE) => {
                group.subscribed_topics.as_ref()
            }
            _ => return Err(Code::NonEmptyGroup),
        };
        let active = group.state != GroupState::Empty;
        let mut out = Vec::new();
        let mut deleted = Vec::new();
        for (topic, partitions) in topics {
            let known = self.topics.get(topic);
            // Unknown subscription (unparseable metadata): assume subscribed, as Kafka does.
            let is_subscribed = active && subscribed.is_none_or(|s| s.contains(topic));
            let results: Vec<(i32, Code)> = partitions
                .iter()
                .map(|&p| {
                    let error = if !known
                        .as_ref()
                        .is_some_and(|t| p >= 0 && p < t.partition_count())
                    {
                        Code::UnknownTopicOrPartition
                    } else if is_subscribed {
                        Code::GroupSubscribedToTopic
                    } else {
                        // Kafka's tombstone drops a pending transactional offset too.
                        if group.offsets.contains_key(&(topic.clone(), p))
                            || group.txn.contains(topic, p)
                        {
                            deleted.push((topic.clone(), p));
                        }
                        Code::None
                    };
                    (p, error)
                })
                .collect();
            out.push((topic.clone(), results));
        }
        if !deleted.is_empty() {
            let record = Record::OffsetsDeleted {
                group: group_id.to_string(),
                partitions: deleted,
            };
            if let Err(e) = st.store.append(&record) {
                tracing::error!(group = %group_id, error = %e, "cannot persist offset deletion");
                for (_, parts) in &mut out {
                    for (_, err) in parts.iter_mut() {
                        if *err == Code::None {
                            *err = Code::KafkaStorageError;
                        }
                    }
                }
                return Ok(out);
            }
            apply_record(&mut st.groups, record);
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- admin views

    /// ListGroups, filtered by state names (case-insensitive; empty = all).
    pub fn list_groups(&self, states: &[String]) -> Vec<ListedGroup> {
        let st = lock(&self.state);
        let mut out: Vec<ListedGroup> = st
            .groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.as_str()))
            })
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups for one group (an unknown group is described as Dead, as Kafka does).
    pub fn describe_group(&self, group_id: &str) -> GroupDescription {
        let st = lock(&self.state);
        let Some(g) = st.groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        GroupDescription {
            group_id: g.id.clone(),
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .iter()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// DeleteGroups: only groups without members (NON_EMPTY_GROUP otherwise).
    pub fn delete_groups(self: &Arc<Self>, group_ids: &[String]) -> Vec<Code> {
        self.start_timer();
        let mut st = lock(&self.state);
        group_ids
            .iter()
            .map(|id| {
                let Some(g) = st.groups.get(id) else {
                    return Code::GroupIdNotFound;
                };
                match g.state {
                    GroupState::Dead => return Code::GroupIdNotFound,
                    GroupState::Empty => {}
                    _ => return Code::NonEmptyGroup,
                }
                if let Err(e) = st.store.append(&Record::GroupDeleted { group: id.clone() }) {
                    tracing::error!(group = %id, error = %e, "cannot persist group deletion");
                    return Code::KafkaStorageError;
                }
                if let Some(mut g) = st.groups.remove(id) {
                    g.set_state(GroupState::Dead);
                    for (pid, _) in g.pending.drain() {
                        tracing::debug!(group = %id, member = %pid, "pending member dropped with group");
                    }
                }
                tracing::info!(group = %id, "group deleted");
                Code::None
            })
            .collect()
    }

    // ---------------------------------------------------------------- timer

    /// Runs due deadlines; returns when the timer should run next.
    fn tick(&self) -> (Instant, Option<std::fs::File>) {
        let now = Instant::now();
        let cfg = &self.config;
        let mut st = lock(&self.state);
        let ids: Vec<String> = st.groups.keys().cloned().collect();
        let mut next = now + TIMER_MAX_SLEEP;
        for id in &ids {
            if let Some(g) = st.groups.get_mut(id) {
                g.on_timer(cfg, now);
            }
            st.settle(id);
            if let Some(d) = st.groups.get(id).and_then(Group::next_deadline) {
                next = next.min(d);
            }
        }
        let retention_every = Duration::from_millis(cfg.offsets_retention_check_interval_ms);
        if now.duration_since(st.last_retention_check) >= retention_every {
            st.last_retention_check = now;
            self.expire_offsets(&mut st);
        }
        if st.store.wants_compaction() {
            if let Err(e) = compact(&mut st) {
                tracing::warn!(error = %e, "group store compaction failed");
            }
        }
        let sync = st.store.sync_handle();
        (next.max(now + Duration::from_millis(1)), sync)
    }

    /// Offsets retention (KIP-211): offsets of a group without members expire
    /// `offsets.retention.minutes` after the group became empty (or, for groups that never
    /// used group management, after the commit); offsets of topics an active consumer group
    /// no longer subscribes to expire after their commit. Offsets of deleted topics go
    /// right away. A group left with no offsets and no members is removed.
    fn expire_offsets(&self, st: &mut State) {
        let now = now_ms();
        let retention = self.config.offsets_retention_ms;
        let mut records = Vec::new();
        for g in st.groups.values() {
            let mut gone = Vec::new();
            for ((topic, p), o) in &g.offsets {
                let expired = if !self.offset_applies(topic, o) {
                    true
                } else if g.txn.contains(topic, *p) {
                    // A transaction may still commit this partition (Kafka waits too).
                    false
                } else if g.state == GroupState::Empty {
                    let base = if g.protocol_type.is_some() {
                        g.state_ts.max(o.commit_ts)
                    } else {
                        o.commit_ts
                    };
                    now.saturating_sub(base) >= retention
                } else if g.state == GroupState::Stable {
                    g.subscribed_topics
                        .as_ref()
                        .is_some_and(|s| !s.contains(topic))
                        && now.saturating_sub(o.commit_ts) >= retention
                } else {
                    false
                };
                if expired {
                    gone.push((topic.clone(), *p));
                }
            }
            for key in self.stale_txn_offsets(g) {
                if !gone.contains(&key) {
                    gone.push(key);
                }
            }
            if !gone.is_empty() {
                records.push(Record::OffsetsDeleted {
                    group: g.id.clone(),
                    partitions: gone,
                });
            }
        }
        for record in records {
            match st.store.append(&record) {
                Ok(()) => apply_record(&mut st.groups, record),
                Err(e) => tracing::warn!(error = %e, "cannot persist offset expiry"),
            }
        }
        let empty: Vec<String> = st
            .groups
            .values()
            .filter(|g| {
                g.state == GroupState::Empty
                    && g.members.is_empty()
                    && g.pending.is_empty()
                    && g.offsets.is_empty()
                    && g.txn.is_empty()
                    && now.saturating_sub(g.state_ts) >= retention
            })
            .map(|g| g.id.clone())
            .collect();
        for id in empty {
            if st
                .store
                .append(&Record::GroupDeleted { group: id.clone() })
                .is_ok()
            {
                st.groups.remove(&id);
                tracing::info!(group = %id, "removed empty group with no offsets left");
            }
        }
    }

    /// Rewrites the store as a snapshot of the live state now.
    pub fn compact_store(&self) -> Result<(), MetadataError> {
        let mut st = lock(&self.state);
        compact(&mut st)
    }

    /// Size of the store's log in bytes (for tests and diagnostics).
    pub fn store_len(&self) -> u64 {
        lock(&self.state).store.len()
    }
}

fn compact(st: &mut State) -> Result<(), MetadataError> {
    let mut records = Vec::new();
    let mut ids: Vec<&String> = st.groups.keys().collect();
    ids.sort();
    for id in ids {
        let Some(g) = st.groups.get(id) else { continue };
        if !g.persisted && g.offsets.is_empty() && g.txn.is_empty() {
            continue;
        }
        records.push(g.group_record());
        // Committed and pending offsets, in the order that decides between them.
        txn_offsets::snapshot_offsets(g, &mut records);
    }
    let before = st.store.len();
    st.store.rewrite(&records)?;
    tracing::info!(
        before_bytes = before,
        after_bytes = st.store.len(),
        "compacted group store"
    );
    Ok(())
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

/// Kafka's `acceptJoiningMember` (`group.max.size`).
fn accept_joining_member(group: &Group, member_id: &str, max_size: usize) -> bool {
    match group.state {
        GroupState::Empty | GroupState::Dead => true,
        GroupState::PreparingRebalance => {
            group.member(member_id).is_some_and(Member::awaiting_join)
                || group.num_awaiting_join() < max_size
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.member(member_id).is_some() || group.members.len() < max_size
        }
    }
}

fn new_member(
    req: &JoinRequest,
    id: String,
    now: Instant,
) -> (Member, oneshot::Receiver<JoinResult>) {
    let (tx, rx) = oneshot::channel();
    (
        Member {
            id,
            instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: Some(tx),
            sync_waiter: None,
            heartbeat_deadline: now + NEW_MEMBER_JOIN_TIMEOUT,
            is_new: true,
        },
        rx,
    )
}

fn add_member_and_rebalance(
    group: &mut Group,
    req: &JoinRequest,
    id: String,
    cfg: &GroupConfig,
    now: Instant,
) -> oneshot::Receiver<JoinResult> {
    let (member, rx) = new_member(req, id, now);
    tracing::info!(group = %group.id, member = %member.id, instance = ?member.instance_id, "member joining");
    group.add_member(member);
    group.maybe_prepare_rebalance(cfg, now);
    rx
}

fn join_new_member(
    group: &mut Group,
    req: JoinRequest,
    cfg: &GroupConfig,
    now: Instant,
) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
    if group.state == GroupState::Dead {
        return Ok(JoinResult::error(Code::CoordinatorNotAvailable, ""));
    }
    if !group.supports_protocols(&req.protocol_type, &req.protocols) {
        return Ok(JoinResult::error(Code::InconsistentGroupProtocol, ""));
    }
    let prefix = req
        .group_instance_id
        .clone()
        .unwrap_or_else(|| req.client_id.clone());
    let new_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
    if let Some(instance) = req.group_instance_id.clone() {
        if let Some(old_id) = group.static_member_id(&instance) {
            return update_static_member(group, req, &old_id, new_id, cfg, now);
        }
        return Err(add_member_and_rebalance(group, &req, new_id, cfg, now));
    }
    if req.require_known_member_id {
        group
            .pending
            .insert(new_id.clone(), now + session(req.session_timeout_ms));
        return Ok(JoinResult::error(Code::MemberIdRequired, &new_id));
    }
    Err(add_member_and_rebalance(group, &req, new_id, cfg, now))
}

/// A static member rejoined with an unknown member id: it replaces its old incarnation.
fn update_static_member(
    group: &mut Group,
    req: JoinRequest,
    old_id: &str,
    new_id: String,
    cfg: &GroupConfig,
    now: Instant,
) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
    let current_leader = group.leader.clone().unwrap_or_default();
    let (tx, rx) = oneshot::channel();
    {
        let Some(m) = group.member_mut(old_id) else {
            return Ok(JoinResult::error(Code::UnknownMemberId, ""));
        };
        m.fail_waiters(Code::FencedInstanceId);
        m.id = new_id.clone();
        m.protocols = req.protocols.clone();
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.join_waiter = Some(tx);
        m.heartbeat_deadline = now + session(req.session_timeout_ms);
    }
    if group.is_leader(old_id) {
        group.leader = Some(new_id.clone());
    }
    if group.pending_sync.remove(old_id) {
        group.pending_sync.insert(new_id.clone());
    }
    tracing::info!(group = %group.id, old = %old_id, new = %new_id, "static member rejoined with a new member id");
    match group.state {
        GroupState::Stable => {
            if group.protocol_name == group.select_protocol() {
                // Nothing changes for the group: hand back the current generation.
                let is_leader = group.is_leader(&new_id);
                let result = if req.supports_skip_assignment {
                    let mut r = group.current_generation_result(&new_id, is_leader);
                    r.skip_assignment = is_leader;
                    r
                } else {
                    // Older clients cannot skip the assignment: tell them the old leader id
                    // so a rejoining leader does not assign (its new id does not match).
                    let mut r = group.current_generation_result(&new_id, false);
                    r.leader = current_leader;
                    r
                };
                group.dirty = true;
                if let Some(m) = group.member_mut(&new_id) {
                    m.join_waiter = None;
                }
                Ok(result)
            } else {
                group.maybe_prepare_rebalance(cfg, now);
                Err(rx)
            }
        }
        GroupState::CompletingRebalance => {
            // The leader may already be assigning to the old member id: rebalance.
            group.prepare_rebalance(cfg, now);
            group.maybe_complete_join(cfg, now);
            Err(rx)
        }
        _ => {
            group.maybe_complete_join(cfg, now);
            Err(rx)
        }
    }
}

/// SyncGroup against one group (Kafka's validation order, then by state).
fn sync_group(
    group: &mut Group,
    req: SyncRequest,
    now: Instant,
) -> Result<SyncResult, oneshot::Receiver<SyncResult>> {
    if let Err(e) = group.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
        return Ok(SyncResult::error(e));
    }
    if req.generation_id != group.generation {
        return Ok(SyncResult::error(Code::IllegalGeneration));
    }
    if req
        .protocol_type
        .as_ref()
        .is_some_and(|t| group.protocol_type.as_ref() != Some(t))
        || req
            .protocol_name
            .as_ref()
            .is_some_and(|n| group.protocol_name.as_ref() != Some(n))
    {
        return Ok(SyncResult::error(Code::InconsistentGroupProtocol));
    }
    group.pending_sync.remove(&req.member_id);
    let ptype = group.protocol_type.clone();
    let pname = group.protocol_name.clone();
    match group.state {
        GroupState::Empty | GroupState::Dead => Ok(SyncResult::error(Code::UnknownMemberId)),
        GroupState::PreparingRebalance => Ok(SyncResult::error(Code::RebalanceInProgress)),
        GroupState::Stable => {
            let Some(m) = group.member_mut(&req.member_id) else {
                return Ok(SyncResult::error(Code::UnknownMemberId));
            };
            m.heartbeat_deadline = now + session(m.session_timeout_ms);
            Ok(SyncResult {
                error: Code::None,
                protocol_type: ptype,
                protocol_name: pname,
                assignment: m.assignment.clone(),
            })
        }
        GroupState::CompletingRebalance => {
            let (tx, rx) = oneshot::channel();
            if let Some(m) = group.member_mut(&req.member_id) {
                m.sync_waiter = Some(tx);
                m.heartbeat_deadline = now + session(m.session_timeout_ms);
            }
            if group.is_leader(&req.member_id) {
                let assignments: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                for m in &mut group.members {
                    m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                }
                group.set_state(GroupState::Stable);
                group.dirty = true;
                for m in &mut group.members {
                    if let Some(tx) = m.sync_waiter.take() {
                        let _ = tx.send(SyncResult {
                            error: Code::None,
                            protocol_type: ptype.clone(),
                            protocol_name: pname.clone(),
                            assignment: m.assignment.clone(),
                        });
                    }
                }
            }
            Err(rx)
        }
    }
}

fn join_existing_member(
    group: &mut Group,
    req: JoinRequest,
    cfg: &GroupConfig,
    now: Instant,
) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
    let member_id = req.member_id.clone();
    if group.state == GroupState::Dead {
        return Ok(JoinResult::error(Code::CoordinatorNotAvailable, &member_id));
    }
    if !group.supports_protocols(&req.protocol_type, &req.protocols) {
        return Ok(JoinResult::error(
            Code::InconsistentGroupProtocol,
            &member_id,
        ));
    }
    if group.pending.contains_key(&member_id) {
        if req.group_instance_id.is_some() {
            return Ok(JoinResult::error(Code::UnknownMemberId, &member_id));
        }
        return Err(add_member_and_rebalance(group, &req, member_id, cfg, now));
    }
    if let Err(e) = group.validate_member(&member_id, req.group_instance_id.as_deref()) {
        return Ok(JoinResult::error(e, &member_id));
    }
    let (is_leader, matches) = match group.member(&member_id) {
        Some(m) => (group.is_leader(&member_id), m.matches(&req.protocols)),
        None => return Ok(JoinResult::error(Code::UnknownMemberId, &member_id)),
    };
    match group.state {
        GroupState::PreparingRebalance => Err(update_member_and_rebalance(group, &req, cfg, now)),
        GroupState::CompletingRebalance => {
            if matches {
                // It missed the JoinGroup answer: repeat it.
                Ok(group.current_generation_result(&member_id, is_leader))
            } else {
                Err(update_member_and_rebalance(group, &req, cfg, now))
            }
        }
        GroupState::Stable => {
            if is_leader || !matches {
                // The leader rejoining forces a rebalance (e.g. topic metadata changed).
                Err(update_member_and_rebalance(group, &req, cfg, now))
            } else {
                Ok(group.current_generation_result(&member_id, false))
            }
        }
        GroupState::Empty | GroupState::Dead => {
            Ok(JoinResult::error(Code::UnknownMemberId, &member_id))
        }
    }
}

fn update_member_and_rebalance(
    group: &mut Group,
    req: &JoinRequest,
    cfg: &GroupConfig,
    now: Instant,
) -> oneshot::Receiver<JoinResult> {
    let (tx, rx) = oneshot::channel();
    if let Some(m) = group.member_mut(&req.member_id) {
        m.protocols = req.protocols.clone();
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        // A JoinGroup already parked for this member is superseded (its receiver errors).
        m.join_waiter = Some(tx);
    }
    group.maybe_prepare_rebalance(cfg, now);
    rx
}

async fn run_timer(weak: Weak<GroupCoordinator>, wake: Arc<Notify>) {
    loop {
        let (next, sync) = match weak.upgrade() {
            Some(c) => c.tick(),
            None => return,
        };
        if let Some(f) = sync {
            if let Err(e) = tokio::task::spawn_blocking(move || f.sync_data()).await {
                tracing::warn!(error = %e, "group store fsync task failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            heartbeat_deadline: Instant::now(),
            is_new: false,
        }
    }

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

    #[test]
    fn protocol_selection_is_by_vote_among_common_protocols() {
        let mut g = Group::new("g");
        g.protocol_type = Some("consumer".into());
        g.members
            .push(member("a", &["range", "roundrobin", "sticky"]));
        g.members.push(member("b", &["roundrobin", "range"]));
        g.members
            .push(member("c", &["roundrobin", "range", "sticky"]));
        assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
        assert!(g.supports_protocols("consumer", &[("range".into(), Bytes::new())]));
        assert!(!g.supports_protocols("consumer", &[("sticky".into(), Bytes::new())]));
        assert!(!g.supports_protocols("connect", &[("range".into(), Bytes::new())]));
    }

    #[test]
    fn empty_group_needs_type_and_protocols() {
        let g = Group::new("g");
        assert!(!g.supports_protocols("", &[("range".into(), Bytes::new())]));
        assert!(!g.supports_protocols("consumer", &[]));
        assert!(g.supports_protocols("consumer", &[("range".into(), Bytes::new())]));
    }
}
