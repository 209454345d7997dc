//! The replica role of one partition on this node (Kafka's `Partition` leader/follower
//! state): [`ReplicaState`], owned by [`crate::topics::Partition`] (`Partition::replica`).
//!
//! # What this module owns
//! * The role: [`Role::Unreplicated`] (a single-voter broker: the log's high watermark is
//!   its log end offset), [`Role::Leader`] (a [`LeaderPartitionState`] and the `acks=all`
//!   produces waiting on it) or [`Role::Follower`] (whom this node fetches from, and in
//!   which leader epoch; [`NO_LEADER`] when the partition has none or this node is not one
//!   of its replicas).
//! * The leader's high watermark reaching the log: every move of the leader state's high
//!   watermark is pushed to the log (`maybe_increment_high_watermark`) *while the replica
//!   lock is held*, so whoever sees the leader state's high watermark at X under the lock
//!   also finds the log's at X — an `acks=all` produce is never answered before a consumer
//!   can read it.
//! * The `acks=all` waiters: a `tokio::sync::oneshot` per parked produce, completed by
//!   [`ReplicaInner::poll`] (success / NOT_ENOUGH_REPLICAS_AFTER_APPEND), failed with
//!   NOT_LEADER_OR_FOLLOWER by every role change away from this leader state, or
//!   cancelled by the produce's own timeout (REQUEST_TIMED_OUT).
//!
//! # Invariants
//! * Lock order: the replica lock BEFORE the log lock. Nothing here takes the replica lock
//!   while holding the log lock, and callers (the follower fetcher, appends) must not
//!   either.
//! * A waiter completes exactly once (the oneshot is consumed), and only in the leader
//!   state it was registered in: a new leader epoch starts with no waiters.
//! * Waiter ids are unique per partition for the life of the process (a timed-out produce
//!   can never cancel a later produce's waiter).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use strait_protocol::ErrorCode;
use tokio::sync::oneshot;

use super::leader::AlterPartitionFailure;
use super::{
    AlterPartitionProposal, FetchOutcome, LeaderPartitionState, NotEnoughReplicas,
    PartitionRegistration, ReplicaId, NO_LEADER,
};
use crate::topics::Partition;

/// What a parked `acks=all` produce learns.
pub type AcksResult = Result<(), ErrorCode>;

/// One partition led by this node: its replication state and parked produces.
#[derive(Debug)]
pub struct LeaderReplica {
    pub state: LeaderPartitionState,
    waiters: HashMap<u64, oneshot::Sender<AcksResult>>,
}

/// This node's role for one partition.
#[derive(Debug, Default)]
pub enum Role {
    /// A single-voter broker (or a partition not published yet): no replication.
    #[default]
    Unreplicated,
    Leader(Box<LeaderReplica>),
    /// Fetching from `leader_id` in `leader_epoch` ([`NO_LEADER`]: fetching from no one).
    Follower {
        leader_id: ReplicaId,
        leader_epoch: i32,
    },
}

/// A parked `acks=all` produce: await `rx`; on timeout, [`ReplicaInner::cancel`] `id`.
#[derive(Debug)]
pub struct AcksWaiter {
    pub id: u64,
    pub rx: oneshot::Receiver<AcksResult>,
}

/// What a role transition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Already in that role at that epoch (possibly with a newer registration applied).
    Unchanged,
    /// The role or its epoch changed.
    Changed,
}

/// The partition's replica role behind its lock (see the module docs for the order).
#[derive(Debug, Default)]
pub struct ReplicaState {
    inner: Mutex<ReplicaInner>,
}

/// The locked role; every method expects the caller to hold [`ReplicaState::lock`].
#[derive(Debug, Default)]
pub struct ReplicaInner {
    role: Role,
    next_waiter_id: u64,
}

impl ReplicaState {
    pub fn lock(&self) -> MutexGuard<'_, ReplicaInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this partition is replicated (leader or follower), not a single replica.
    pub fn is_replicated(&self) -> bool {
        !matches!(self.lock().role, Role::Unreplicated)
    }
}

impl ReplicaInner {
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The leader state, when this node leads the partition.
    pub fn leader(&self) -> Option<&LeaderPartitionState> {
        match &self.role {
            Role::Leader(l) => Some(&l.state),
            _ => None,
        }
    }

    fn leader_mut(&mut self) -> Result<&mut LeaderReplica, ErrorCode> {
        match &mut self.role {
            Role::Leader(l) => Ok(l),
            _ => Err(ErrorCode::NotLeaderOrFollower),
        }
    }

    /// Becoming (or staying) leader for `registration` (Kafka's `makeLeader`), with the
    /// log's end offset and high watermark read under the log lock *after* the
    /// registration and leader epoch were published on the partition (so no stale
    /// follower append can land after that read). Already leader in this leader epoch:
    /// the registration is applied (ISR / replicas at a newer partition epoch) instead.
    #[allow(clippy::too_many_arguments)]
    pub fn become_leader(
        &mut self,
        local_id: ReplicaId,
        registration: &PartitionRegistration,
        log_end_offset: i64,
        high_watermark: i64,
        replica_lag_time_max_ms: i64,
        now_ms: i64,
    ) -> Result<Transition, ErrorCode> {
        if let Role::Leader(l) = &mut self.role {
            if l.state.leader_epoch() == registration.leader_epoch {
                l.state.apply_registration(registration, now_ms)?;
                return Ok(Transition::Unchanged);
            }
        }
        let state = LeaderPartitionState::become_leader(
            local_id,
            registration,
            log_end_offset,
            high_watermark,
            replica_lag_time_max_ms,
            now_ms,
        )?;
        self.fail_waiters();
        self.role = Role::Leader(Box::new(LeaderReplica {
            state,
            waiters: HashMap::new(),
        }));
        Ok(Transition::Changed)
    }

    /// Following `leader_id` in `leader_epoch` (Kafka's `makeFollower`); [`NO_LEADER`] to
    /// follow no one. Parked produces fail with NOT_LEADER_OR_FOLLOWER.
    pub fn become_follower(&mut self, leader_id: ReplicaId, leader_epoch: i32) -> Transition {
        if let Role::Follower {
            leader_id: l,
            leader_epoch: e,
        } = self.role
        {
            if l == leader_id && e == leader_epoch {
                return Transition::Unchanged;
            }
        }
        self.fail_waiters();
        self.role = Role::Follower {
            leader_id,
            leader_epoch,
        };
        Transition::Changed
    }

    /// Back to a single replica (the partition left replication): waiters fail.
    pub fn become_unreplicated(&mut self) {
        self.fail_waiters();
        self.role = Role::Unreplicated;
    }

    /// Whom this node follows, if it is a follower with a leader.
    pub fn following(&self) -> Option<(ReplicaId, i32)> {
        match self.role {
            Role::Follower {
                leader_id,
                leader_epoch,
            } if leader_id != NO_LEADER => Some((leader_id, leader_epoch)),
            _ => None,
        }
    }

    fn fail_waiters(&mut self) {
        if let Role::Leader(l) = &mut self.role {
            l.state.fail_all_waiters();
            for (_, tx) in l.waiters.drain() {
                let _ = tx.send(Err(ErrorCode::NotLeaderOrFollower));
            }
        }
    }

    /// Kafka's admission of an `acks=all` produce: NOT_ENOUGH_REPLICAS when the committed
    /// ISR is below `min.insync.replicas`, NOT_LEADER_OR_FOLLOWER when not leading.
    pub fn check_acks_all(&self, min_insync_replicas: usize) -> Result<(), AcksRefusal> {
        match self.leader() {
            None => Err(AcksRefusal::NotLeader),
            Some(l) => l
                .check_acks_all(min_insync_replicas)
                .map_err(AcksRefusal::NotEnoughReplicas),
        }
    }

    /// The log grew to `new_log_end_offset` on the leader. Returns the high watermark to
    /// push to the log when it moved (see [`push_high_watermark`]).
    pub fn on_leader_append(&mut self, new_log_end_offset: i64, now_ms: i64) -> Option<i64> {
        let l = self.leader_mut().ok()?;
        l.state
            .on_leader_append(new_log_end_offset, now_ms)
            .then(|| l.state.high_watermark())
    }

    /// A follower's fetch (see [`LeaderPartitionState::on_follower_fetch`]); errors are
    /// the partition's error in the Fetch response.
    pub fn on_follower_fetch(
        &mut self,
        replica_id: ReplicaId,
        fetch_offset: i64,
        current_leader_epoch: Option<i32>,
        now_ms: i64,
    ) -> Result<FetchOutcome, ErrorCode> {
        self.leader_mut()?.state.on_follower_fetch(
            replica_id,
            fetch_offset,
            current_leader_epoch,
            now_ms,
        )
    }

    /// Parks an `acks=all` produce until the high watermark reaches `required_offset`
    /// (the offset after its last record). Call [`Self::poll`] afterwards: the high
    /// watermark may already be there.
    pub fn wait_acks_all(&mut self, required_offset: i64) -> Result<AcksWaiter, ErrorCode> {
        let id = self.next_waiter_id;
        let l = self.leader_mut()?;
        let (tx, rx) = oneshot::channel();
        l.state.register_waiter(id, required_offset);
        l.waiters.insert(id, tx);
        self.next_waiter_id += 1;
        Ok(AcksWaiter { id, rx })
    }

    /// The produce's timeout fired: forget its waiter (no-op if it already completed or
    /// the leader state it was parked in is gone).
    pub fn cancel(&mut self, id: u64) {
        if let Ok(l) = self.leader_mut() {
            l.state.cancel_waiter(id);
            l.waiters.remove(&id);
        }
    }

    /// Completes the waiters the high watermark has reached. Returns how many.
    pub fn poll(&mut self, min_insync_replicas: usize) -> usize {
        let Ok(l) = self.leader_mut() else {
            return 0;
        };
        let done = l.state.poll_waiters(min_insync_replicas);
        let n = done.len();
        for (id, result) in done {
            if let Some(tx) = l.waiters.remove(&id) {
                let _ = tx.send(result);
            }
        }
        n
    }

    /// The ISR expiration check (Kafka's `maybeShrinkIsr`): a removal to propose.
    pub fn maybe_shrink_isr(&mut self, now_ms: i64) -> Option<AlterPartitionProposal> {
        self.leader_mut().ok()?.state.maybe_shrink_isr(now_ms)
    }

    /// The controller committed `new_isr` at `partition_epoch`. Returns the high watermark
    /// to push when it moved. Ignored unless leading in `leader_epoch`.
    pub fn on_alter_partition_committed(
        &mut self,
        leader_epoch: i32,
        new_isr: &[ReplicaId],
        partition_epoch: i32,
        now_ms: i64,
    ) -> Option<i64> {
        let l = self.leader_mut().ok()?;
        if l.state.leader_epoch() != leader_epoch {
            return None;
        }
        l.state
            .on_alter_partition_committed(new_isr, partition_epoch, now_ms)
            .then(|| l.state.high_watermark())
    }

    /// The AlterPartition for `proposal` failed with `error`: `Some(Retry)` to send it
    /// again, `Some(Reverted)` / `None` (no longer pending here) to drop it.
    pub fn on_alter_partition_failed(
        &mut self,
        proposal: &AlterPartitionProposal,
        error: ErrorCode,
    ) -> Option<AlterPartitionFailure> {
        let l = self.leader_mut().ok()?;
        if l.state.pending_proposal() != Some(proposal) {
            return None;
        }
        Some(l.state.on_alter_partition_failed(error))
    }

    /// KIP-841: follower `id` is fenced / shutting down (`false`) or back.
    pub fn set_replica_eligible(&mut self, id: ReplicaId, eligible: bool) {
        if let Ok(l) = self.leader_mut() {
            l.state.set_replica_eligible(id, eligible);
        }
    }
}

/// Why an `acks=all` produce is refused before its append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcksRefusal {
    NotLeader,
    NotEnoughReplicas(NotEnoughReplicas),
}

/// Moves the log's high watermark to the leader state's `high_watermark`. Call it with
/// the replica lock held (the lock order allows it: replica, then log) so the two move
/// together. A failure (the log went offline or was deleted) is logged: the log's own
/// state already answers requests with the right error.
pub fn push_high_watermark(partition: &Partition, high_watermark: i64) {
    let pushed = partition.with_log_mut(|log| log.maybe_increment_high_watermark(high_watermark));
    match pushed {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(topic = %partition.topic, partition = partition.index, error = %e, "cannot move the high watermark")
        }
        Err(e) => {
            tracing::debug!(topic = %partition.topic, partition = partition.index, error = %e, "high watermark not moved")
        }
    }
}

/// After the leader's log grew to `new_log_end_offset`: the leader state follows, the
/// high watermark is pushed when it moved, and an `acks=all` produce (`required_offset`)
/// is parked. Runs on an I/O thread, the log lock released. `Ok(None)` when nothing
/// waits (acks 0/1, or an unreplicated partition).
pub fn after_leader_append(
    partition: &Partition,
    new_log_end_offset: i64,
    acks_all_required_offset: Option<i64>,
    min_insync_replicas: usize,
    now_ms: i64,
) -> Result<Option<AcksWaiter>, ErrorCode> {
    let mut r = partition.replica().lock();
    if matches!(r.role, Role::Unreplicated) {
        return Ok(None);
    }
    if let Some(hw) = r.on_leader_append(new_log_end_offset, now_ms) {
        push_high_watermark(partition, hw);
    }
    let waiter = match acks_all_required_offset {
        Some(required) => Some(r.wait_acks_all(required)?),
        None => None,
    };
    r.poll(min_insync_replicas);
    Ok(waiter)
}

/// A follower's fetch of `partition` at `fetch_offset`: the leader state follows, the
/// high watermark is pushed when it moved and the produces it reached complete. Runs on
/// an I/O thread (the push may wait for the log lock). Returns the ISR expansion to
/// propose, if the fetch caught the follower up.
pub fn account_follower_fetch(
    partition: &Partition,
    replica_id: ReplicaId,
    fetch_offset: i64,
    current_leader_epoch: Option<i32>,
    min_insync_replicas: usize,
    now_ms: i64,
) -> Result<Option<AlterPartitionProposal>, ErrorCode> {
    let mut r = partition.replica().lock();
    // A produce's append publishes the log end before `after_leader_append` tells the
    // leader state; a follower that already read those records must not be answered
    // OFFSET_OUT_OF_RANGE in that window, so the state first catches up with the log.
    let published_log_end = partition.watch().positions().log_end_offset;
    let mut advanced = r.on_leader_append(published_log_end, now_ms).is_some();
    let outcome = r.on_follower_fetch(replica_id, fetch_offset, current_leader_epoch, now_ms)?;
    advanced |= outcome.high_watermark_advanced;
    if advanced {
        if let Some(hw) = r.leader().map(|l| l.high_watermark()) {
            push_high_watermark(partition, hw);
        }
        r.poll(min_insync_replicas);
    }
    Ok(outcome.isr_proposal)
}

#[cfg(test)]
#[path = "replica_tests.rs"]
mod tests;
