//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98 / KIP-447) and their
//! completion by the transaction coordinator.
//!
//! # What this module owns
//! * The **pending** offsets of every group, per producer id ([`PendingTxnOffsets`]):
//!   TxnOffsetCommit writes them ([`GroupCoordinator::commit_txn_offsets`]), persisted as a
//!   [`Record::TxnOffsets`] before the request is answered. OffsetFetch never returns them.
//! * Their completion ([`GroupCoordinator::end_txn_offsets`]), called by the transaction
//!   coordinator when it writes a transaction's markers and again when it re-drives a
//!   PREPARE_* transaction after a restart: commit turns them into committed offsets, abort
//!   drops them; persisted as a [`Record::TxnOffsetsEnd`] before they are applied.
//! * `require_stable` OffsetFetch ([`GroupCoordinator::fetch_offsets_stable`]): a partition
//!   with a pending offset answers UNSTABLE_OFFSET_COMMIT, so the consumer retries instead
//!   of starting from an offset a transaction is about to move.
//!
//! # Invariants
//! * **Kafka's ordering.** Every offset, committed or pending, carries the sequence number
//!   of the record that wrote it ([`next_seq`], assigned in apply order, live and on replay
//!   alike). A committing transaction's offset replaces the committed one only if it was
//!   written later: a plain OffsetCommit sent after the TxnOffsetCommit wins even when the
//!   transaction commits afterwards. Kafka compares the commit records' log offsets, not
//!   the markers' (OffsetMetadataManager.replayEndTransactionMarker).
//! * **Snapshots keep that order.** [`snapshot_offsets`] emits committed and pending
//!   offsets sorted by sequence, so replaying a compacted store picks the same winners.
//! * **Pending offsets do not expire**, and while a partition has one its committed offset
//!   does not expire either, nor is the group removed for being empty (as Kafka).
//!   OffsetDelete, DeleteGroups and deletion of the topic drop them, as Kafka's tombstones.
//! * **Completion is idempotent**: nothing pending for the producer → `Ok`, nothing written.
//! * **No pending offset outlives its transaction.** A TxnOffsetCommit is verified with the
//!   transaction coordinator outside the group lock; if a transaction of the same producer
//!   and group ended in between ([`EndCounters`]), the write is not made and the
//!   verification is repeated, so an offset is never left pending after the
//!   `end_txn_offsets` that should have completed it.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::store::{OffsetRecord, Record};
use super::{
    apply_record, lock, Code, CommitPartition, CommittedOffset, FetchedOffsets, Group,
    GroupCoordinator, GroupState, PartitionErrors, State,
};
use crate::metadata::MetadataError;

#[allow(non_upper_case_globals)]
impl Code {
    pub const ConcurrentTransactions: Code = Code(51);
    pub const UnstableOffsetCommit: Code = Code(88);

    /// A code from elsewhere (the transaction coordinator's verification).
    pub fn from_wire(code: i16) -> Code {
        Code(code)
    }
}

/// How often a TxnOffsetCommit re-verifies when transactions of its producer keep ending
/// while it is verified (in practice once is enough: see [`EndCounters`]).
const MAX_VERIFY_ATTEMPTS: usize = 5;

static SEQ: AtomicU64 = AtomicU64::new(1);

/// The next position in apply order. Process-wide: only the relative order matters.
pub(super) fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// A stored offset as the in-memory map holds it.
pub(super) fn committed(o: OffsetRecord, seq: u64) -> ((String, i32), CommittedOffset) {
    (
        (o.topic, o.partition),
        CommittedOffset {
            offset: o.offset,
            leader_epoch: o.leader_epoch,
            metadata: o.metadata,
            commit_ts: o.commit_ts,
            topic_id: o.topic_id,
            seq,
        },
    )
}

fn to_record((topic, partition): &(String, i32), o: &CommittedOffset) -> OffsetRecord {
    OffsetRecord {
        topic: topic.clone(),
        partition: *partition,
        offset: o.offset,
        leader_epoch: o.leader_epoch,
        metadata: o.metadata.clone(),
        commit_ts: o.commit_ts,
        topic_id: o.topic_id.clone(),
    }
}

#[derive(Debug, Clone)]
struct PendingOffset {
    offset: CommittedOffset,
    producer_epoch: i16,
}

/// The pending transactional offsets of one group, by producer id. A later TxnOffsetCommit
/// of the same producer replaces the pending offset of that partition.
#[derive(Debug, Default)]
pub(super) struct PendingTxnOffsets {
    by_producer: BTreeMap<i64, BTreeMap<(String, i32), PendingOffset>>,
}

impl PendingTxnOffsets {
    pub(super) fn is_empty(&self) -> bool {
        self.by_producer.is_empty()
    }

    /// Whether any open transaction has an offset for `topic`-`partition`.
    pub(super) fn contains(&self, topic: &str, partition: i32) -> bool {
        let key = (topic.to_string(), partition);
        self.by_producer.values().any(|m| m.contains_key(&key))
    }

    fn has_producer(&self, producer_id: i64) -> bool {
        self.by_producer.contains_key(&producer_id)
    }

    /// OffsetDelete / expiry of a deleted topic: drop these partitions from every producer.
    pub(super) fn remove_partitions(&mut self, partitions: &[(String, i32)]) {
        for m in self.by_producer.values_mut() {
            for key in partitions {
                m.remove(key);
            }
        }
        self.by_producer.retain(|_, m| !m.is_empty());
    }

    fn iter(&self) -> impl Iterator<Item = (i64, &(String, i32), &PendingOffset)> {
        self.by_producer
            .iter()
            .flat_map(|(pid, m)| m.iter().map(move |(k, p)| (*pid, k, p)))
    }
}

/// Counts `end_txn_offsets` calls per (group, producer id), in a fixed number of stripes
/// (a collision only costs a repeated verification). Read before a TxnOffsetCommit is
/// verified and compared under the lock before its offsets are written.
#[derive(Debug)]
pub(super) struct EndCounters(Vec<u64>);

const END_STRIPES: usize = 256;

impl Default for EndCounters {
    fn default() -> Self {
        EndCounters(vec![0; END_STRIPES])
    }
}

impl EndCounters {
    fn stripe(group: &str, producer_id: i64) -> usize {
        let mut h = DefaultHasher::new();
        group.hash(&mut h);
        producer_id.hash(&mut h);
        (h.finish() % END_STRIPES as u64) as usize
    }
    fn get(&self, stripe: usize) -> u64 {
        self.0.get(stripe).copied().unwrap_or(0)
    }
    fn bump(&mut self, group: &str, producer_id: i64) {
        if let Some(c) = self.0.get_mut(Self::stripe(group, producer_id)) {
            *c = c.wrapping_add(1);
        }
    }
}

/// Replay / live apply of [`Record::TxnOffsets`]. Creates the group (Empty) if needed, as
/// Kafka does for a standalone or transactional commit to an unknown group.
pub(super) fn apply_pending(
    groups: &mut std::collections::HashMap<String, Group>,
    group: String,
    producer_id: i64,
    producer_epoch: i16,
    offsets: Vec<OffsetRecord>,
) {
    let g = groups
        .entry(group.clone())
        .or_insert_with(|| Group::new(&group));
    let seq = next_seq();
    let pending = g.txn.by_producer.entry(producer_id).or_default();
    for o in offsets {
        let (key, offset) = committed(o, seq);
        pending.insert(
            key,
            PendingOffset {
                offset,
                producer_epoch,
            },
        );
    }
}

/// Replay / live apply of [`Record::TxnOffsetsEnd`].
pub(super) fn apply_end(
    groups: &mut std::collections::HashMap<String, Group>,
    group: &str,
    producer_id: i64,
    commit: bool,
) {
    let Some(g) = groups.get_mut(group) else {
        return;
    };
    let Some(pending) = g.txn.by_producer.remove(&producer_id) else {
        return;
    };
    if !commit {
        return;
    }
    for (key, p) in pending {
        // The most recently written commit wins (see the module doc).
        let newer_exists = g.offsets.get(&key).is_some_and(|c| c.seq > p.offset.seq);
        if !newer_exists {
            g.offsets.insert(key, p.offset);
        }
    }
}

/// The group's committed and pending offsets as records, in sequence order (runs of the
/// same source share a record), for a compaction snapshot.
pub(super) fn snapshot_offsets(g: &Group, out: &mut Vec<Record>) {
    /// Committed (`None`) or pending for (producer id, epoch).
    type Source = Option<(i64, i16)>;
    type Run = Option<(Source, Vec<OffsetRecord>)>;
    type Entry<'a> = (u64, Source, &'a (String, i32), &'a CommittedOffset);
    let mut all: Vec<Entry> = g
        .offsets
        .iter()
        .map(|(k, o)| (o.seq, None, k, o))
        .chain(
            g.txn
                .iter()
                .map(|(pid, k, p)| (p.offset.seq, Some((pid, p.producer_epoch)), k, &p.offset)),
        )
        .collect();
    all.sort_by_key(|e| e.0);
    let mut run: Run = None;
    let flush = |run: Run, out: &mut Vec<Record>| {
        let Some((source, offsets)) = run else { return };
        out.push(match source {
            None => Record::Offsets {
                group: g.id.clone(),
                offsets,
            },
            Some((producer_id, producer_epoch)) => Record::TxnOffsets {
                group: g.id.clone(),
                producer_id,
                producer_epoch,
                offsets,
            },
        });
    };
    for (_, source, key, o) in all {
        match &mut run {
            Some((s, offsets)) if *s == source => offsets.push(to_record(key, o)),
            _ => {
                flush(run.take(), out);
                run = Some((source, vec![to_record(key, o)]));
            }
        }
    }
    flush(run, out);
}

/// One TxnOffsetCommit as the coordinator sees it (after ACLs and topic checks).
#[derive(Debug, Clone)]
pub struct TxnCommitRequest {
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// v3+ (KIP-447); -1, "" and `None` before, which skips the member check.
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<(String, Vec<CommitPartition>)>,
}

/// Per topic, per partition: the committed offset (or none) and an error (NONE, or
/// UNSTABLE_OFFSET_COMMIT with no offset).
pub type StableFetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>, Code)>)>;

fn all_partitions(req: &TxnCommitRequest, code: Code) -> PartitionErrors {
    req.topics
        .iter()
        .map(|(t, ps)| (t.clone(), ps.iter().map(|p| (p.partition, code)).collect()))
        .collect()
}

impl GroupCoordinator {
    /// TxnOffsetCommit: `verify` asks the transaction coordinator whether the producer's
    /// transaction is ongoing and includes this group (its error code goes to every
    /// partition). Accepted offsets are pending for (group, producer id), written to the
    /// store before this returns. One error per partition, in request order.
    pub fn commit_txn_offsets(
        self: &Arc<Self>,
        req: TxnCommitRequest,
        verify: impl Fn() -> Result<(), i16>,
    ) -> PartitionErrors {
        self.start_timer();
        let stripe = EndCounters::stripe(&req.group_id, req.producer_id);
        for _ in 0..MAX_VERIFY_ATTEMPTS {
            let ends_before = lock(&self.state).txn_ends.get(stripe);
            if let Err(code) = verify() {
                return all_partitions(&req, Code::from_wire(code));
            }
            let mut st = lock(&self.state);
            if st.txn_ends.get(stripe) != ends_before {
                // A transaction of this producer ended while we verified: the one we
                // verified may be it, so its offsets must not be written. Verify again.
                continue;
            }
            return self.commit_txn_locked(&mut st, &req);
        }
        all_partitions(&req, Code::ConcurrentTransactions)
    }

    fn commit_txn_locked(&self, st: &mut State, req: &TxnCommitRequest) -> PartitionErrors {
        if let Some(e) = validate_txn_commit(st, req) {
            return all_partitions(req, e);
        }
        let (records, mut out) = self.offset_records(&req.topics, None);
        if !records.is_empty() {
            let record = Record::TxnOffsets {
                group: req.group_id.clone(),
                producer_id: req.producer_id,
                producer_epoch: req.producer_epoch,
                offsets: records,
            };
            super::offsets::persist_offsets(st, &req.group_id, record, &mut out);
        }
        st.settle(&req.group_id);
        out
    }

    /// Completes the pending transactional offsets of `producer_id` in `group`: on commit
    /// they become the group's committed offsets (unless a plain commit written after them
    /// exists), on abort they are discarded. Persisted before it returns; idempotent
    /// (nothing pending: no-op, nothing written).
    pub fn end_txn_offsets(
        &self,
        group: &str,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), MetadataError> {
        let mut st = lock(&self.state);
        // Even with nothing pending: a TxnOffsetCommit verified against this transaction
        // may be about to write (see `commit_txn_offsets`).
        st.txn_ends.bump(group, producer_id);
        if !st
            .groups
            .get(group)
            .is_some_and(|g| g.txn.has_producer(producer_id))
        {
            return Ok(());
        }
        let record = Record::TxnOffsetsEnd {
            group: group.to_string(),
            producer_id,
            commit,
        };
        st.store.append(&record)?;
        apply_record(&mut st.groups, record);
        st.settle(group);
        tracing::debug!(
            group,
            producer_id,
            commit,
            "transactional offsets completed"
        );
        Ok(())
    }

    /// OffsetFetch with `require_stable` (KIP-447): like [`Self::fetch_offsets`], but with
    /// `require_stable` a partition that has a pending transactional offset answers
    /// UNSTABLE_OFFSET_COMMIT (offset -1) — for "all partitions", among those with a
    /// committed offset, as Kafka. Without it, pending offsets are simply invisible.
    pub fn fetch_offsets_stable(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> StableFetchedOffsets {
        let st = lock(&self.state);
        let group = st.groups.get(group_id);
        let fetched: FetchedOffsets = self.fetch_offsets_in(group, topics);
        fetched
            .into_iter()
            .map(|(topic, parts)| {
                let parts = parts
                    .into_iter()
                    .map(|(p, o)| {
                        let unstable = require_stable
                            && group.is_some_and(|g| self.has_live_pending(g, &topic, p));
                        if unstable {
                            (p, None, Code::UnstableOffsetCommit)
                        } else {
                            (p, o, Code::None)
                        }
                    })
                    .collect();
                (topic, parts)
            })
            .collect()
    }

    /// A pending offset for the partition that still belongs to the live topic.
    fn has_live_pending(&self, g: &Group, topic: &str, partition: i32) -> bool {
        g.txn.iter().any(|(_, (t, p), o)| {
            t == topic && *p == partition && self.offset_applies(topic, &o.offset)
        })
    }

    /// Pending offsets of deleted (or recreated) topics, for expiry to drop.
    pub(super) fn stale_txn_offsets(&self, g: &Group) -> Vec<(String, i32)> {
        let mut out: Vec<(String, i32)> = g
            .txn
            .iter()
            .filter(|(_, (t, _), o)| !self.offset_applies(t, &o.offset))
            .map(|(_, k, _)| k.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether `group` has offsets pending in an open transaction (diagnostics, tests).
    pub fn has_pending_txn_offsets(&self, group: &str) -> bool {
        lock(&self.state)
            .groups
            .get(group)
            .is_some_and(|g| !g.txn.is_empty())
    }
}

/// Kafka's `validateOffsetCommit` for a transactional commit: a group that does not exist
/// is created (generation -1) or ILLEGAL_GENERATION; generation -1 on an Empty group, or
/// no member information at all (v0-2), skips the member check; otherwise the member,
/// instance and generation must match. Unlike OffsetCommit there is no
/// REBALANCE_IN_PROGRESS and no heartbeat: a transactional producer is not the member.
fn validate_txn_commit(st: &mut State, req: &TxnCommitRequest) -> Option<Code> {
    let group = match st.groups.get(&req.group_id) {
        Some(g) => g,
        None if req.generation_id < 0 => {
            st.groups
                .insert(req.group_id.clone(), Group::new(&req.group_id));
            return None;
        }
        None => return Some(Code::IllegalGeneration),
    };
    if group.state == GroupState::Dead {
        return Some(Code::CoordinatorNotAvailable);
    }
    if req.generation_id < 0 && group.state == GroupState::Empty {
        return None;
    }
    if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
        if let Err(e) = group.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            return Some(e);
        }
        if req.generation_id != group.generation {
            return Some(Code::IllegalGeneration);
        }
    }
    None
}

#[cfg(test)]
#[path = "txn_offsets_tests.rs"]
mod tests;
