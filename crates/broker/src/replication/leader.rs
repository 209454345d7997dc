//! The leader's view of one partition (Kafka's `Partition` + `ReplicaState` on the leader).
//!
//! # ISR states (KIP-497 AlterPartition)
//! The committed ISR is what the metadata log says. While an AlterPartition proposal is in
//! flight (at most one at a time) the leader keeps the committed ISR and remembers the
//! proposal:
//! * **High watermark** uses the *maximal* ISR = committed ISR ∪ proposed additions. A
//!   proposed removal still holds the high watermark back until the controller commits it
//!   (the removed follower may yet be elected if the proposal is lost), and a proposed
//!   addition already holds it back (if the controller commits it, the new member must have
//!   everything below the high watermark). So the high watermark is safe for both outcomes.
//! * **`acks=all` admission** ([`LeaderPartitionState::check_acks_all`]) counts the
//!   *committed* ISR, never "committed minus proposed removals" and never the additions:
//!   only what the controller has accepted may admit a write.
//! * **Delayed-produce completion** ([`LeaderPartitionState::poll_waiters`]) is Kafka's
//!   `checkEnoughReplicasReachOffset`: a waiter for offset X is done once the high
//!   watermark ≥ X; it then succeeds if the maximal ISR has ≥ `min.insync.replicas` members
//!   and fails with NOT_ENOUGH_REPLICAS_AFTER_APPEND otherwise. The ISR shrinking below
//!   `min.insync.replicas` does not fail a waiter early: it waits for the high watermark
//!   (which a shrink often lets advance) and otherwise times out (REQUEST_TIMED_OUT, the
//!   caller's timer); losing leadership fails it with NOT_LEADER_OR_FOLLOWER.
//!
//! # Follower state
//! `last_caught_up_time_ms` is Kafka's: a fetch at offset ≥ the leader's log end offset
//! at the time of that fetch makes the follower caught up as of that fetch; a fetch at
//! offset ≥ the leader's log end offset at the *previous* fetch makes it caught up as of
//! the previous fetch. A follower is caught up if its log end offset equals the leader's or
//! it was caught up within `replica.lag.time.max.ms`; ISR members that are not are removed
//! by [`LeaderPartitionState::maybe_shrink_isr`]. A non-ISR follower is proposed for the
//! ISR when its log end offset reaches the high watermark and the leader epoch's start
//! offset, and it is ISR-eligible (KIP-841: not fenced, not shutting down).
//!
//! As in Kafka, a caught-up, eligible follower outside the ISR also holds the high
//! watermark back, so it joins without the high watermark jumping past it.

use std::collections::{BTreeMap, BTreeSet};

use strait_protocol::ErrorCode;

use super::acks::DelayedProduces;
pub use super::acks::NotEnoughReplicas;
use super::election::PartitionRegistration;
use super::ReplicaId;

/// One follower as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's log end offset (its last fetch offset); `-1` before its first fetch
    /// under this leader.
    pub log_end_offset: i64,
    pub last_fetch_time_ms: Option<i64>,
    /// The leader's log end offset when the last fetch was served.
    pub last_fetch_leader_log_end_offset: i64,
    pub last_caught_up_time_ms: Option<i64>,
    /// ISR-eligible (KIP-841): not fenced and not in controlled shutdown.
    pub eligible: bool,
}

impl FollowerState {
    fn new(last_caught_up_time_ms: Option<i64>) -> Self {
        FollowerState {
            log_end_offset: -1,
            last_fetch_time_ms: None,
            last_fetch_leader_log_end_offset: -1,
            last_caught_up_time_ms,
            eligible: true,
        }
    }

    fn is_caught_up(&self, leader_log_end_offset: i64, now_ms: i64, lag_max_ms: i64) -> bool {
        self.log_end_offset == leader_log_end_offset
            || self
                .last_caught_up_time_ms
                .is_some_and(|t| now_ms - t <= lag_max_ms)
    }
}

/// An AlterPartition request the leader wants sent (one partition of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionProposal {
    pub leader_id: ReplicaId,
    pub leader_epoch: i32,
    /// The partition epoch the proposal is based on (Kafka's `partitionEpoch`; the
    /// controller answers INVALID_UPDATE_VERSION when it moved on).
    pub partition_epoch: i32,
    /// Sorted, includes the leader.
    pub new_isr: Vec<ReplicaId>,
}

/// What a follower fetch changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOutcome {
    pub high_watermark_advanced: bool,
    /// An ISR expansion to send (the follower caught up).
    pub isr_proposal: Option<AlterPartitionProposal>,
}

/// What to do after a failed AlterPartition (Kafka's `handleAlterPartitionError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterPartitionFailure {
    /// The controller refused it for good: the pending change is dropped and the leader
    /// waits for the metadata log to tell it the partition's state.
    Reverted,
    /// A transient failure: send the same proposal again.
    Retry(AlterPartitionProposal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    proposal: AlterPartitionProposal,
    /// In the proposal, not in the committed ISR.
    additions: Vec<ReplicaId>,
}

/// One partition on its leader.
#[derive(Debug, Clone)]
pub struct LeaderPartitionState {
    local_id: ReplicaId,
    replicas: Vec<ReplicaId>,
    /// Committed ISR, sorted, includes the leader.
    isr: Vec<ReplicaId>,
    pending: Option<Pending>,
    followers: BTreeMap<ReplicaId, FollowerState>,
    leader_epoch: i32,
    partition_epoch: i32,
    /// The leader's log end offset when it took this epoch.
    leader_epoch_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    replica_lag_time_max_ms: i64,
    waiters: DelayedProduces,
}

fn sorted(ids: &[ReplicaId]) -> Vec<ReplicaId> {
    ids.iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl LeaderPartitionState {
    /// Becoming leader (Kafka's `makeLeader`): `registration` names this broker leader,
    /// the local log ends at `log_end_offset` and has `high_watermark` checkpointed. Like
    /// Kafka, ISR members start caught up as of `now_ms` (a grace period before a shrink),
    /// the others never; every follower's log end offset is unknown until it fetches, so
    /// the high watermark waits for each ISR member's first fetch.
    pub fn become_leader(
        local_id: ReplicaId,
        registration: &PartitionRegistration,
        log_end_offset: i64,
        high_watermark: i64,
        replica_lag_time_max_ms: i64,
        now_ms: i64,
    ) -> Result<Self, ErrorCode> {
        if registration.leader != local_id {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let isr = sorted(&registration.isr);
        let followers = registration
            .replicas
            .iter()
            .filter(|&&r| r != local_id)
            .map(|&r| {
                let caught_up = isr.contains(&r).then_some(now_ms);
                (r, FollowerState::new(caught_up))
            })
            .collect();
        Ok(LeaderPartitionState {
            local_id,
            replicas: registration.replicas.clone(),
            isr,
            pending: None,
            followers,
            leader_epoch: registration.leader_epoch,
            partition_epoch: registration.partition_epoch,
            leader_epoch_start_offset: log_end_offset,
            log_end_offset,
            high_watermark: high_watermark.min(log_end_offset),
            replica_lag_time_max_ms,
            waiters: DelayedProduces::default(),
        })
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }
    pub fn leader_epoch_start_offset(&self) -> i64 {
        self.leader_epoch_start_offset
    }
    /// The committed ISR (sorted).
    pub fn isr(&self) -> &[ReplicaId] {
        &self.isr
    }
    pub fn follower(&self, id: ReplicaId) -> Option<&FollowerState> {
        self.followers.get(&id)
    }
    /// The in-flight AlterPartition, if any.
    pub fn pending_proposal(&self) -> Option<&AlterPartitionProposal> {
        self.pending.as_ref().map(|p| &p.proposal)
    }

    /// Committed ISR ∪ proposed additions (sorted): what the high watermark waits for.
    pub fn maximal_isr(&self) -> Vec<ReplicaId> {
        let mut m = self.isr.clone();
        if let Some(p) = &self.pending {
            m.extend(&p.additions);
        }
        sorted(&m)
    }

    /// KIP-841: the metadata log says `id` is fenced or shutting down (`false`) or back.
    pub fn set_replica_eligible(&mut self, id: ReplicaId, eligible: bool) {
        if let Some(f) = self.followers.get_mut(&id) {
            f.eligible = eligible;
        }
    }

    /// A Fetch from follower `replica_id` at `fetch_offset` carrying `current_leader_epoch`
    /// (`None` for Fetch versions without it). Errors are the partition's error code in
    /// the Fetch response; nothing changes then.
    pub fn on_follower_fetch(
        &mut self,
        replica_id: ReplicaId,
        fetch_offset: i64,
        current_leader_epoch: Option<i32>,
        now_ms: i64,
    ) -> Result<FetchOutcome, ErrorCode> {
        // Kafka's order: a non-replica is refused first, then the leader epoch is checked.
        if !self.followers.contains_key(&replica_id) {
            // Kafka: "received fetch request from non-replica".
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if let Some(epoch) = current_leader_epoch.filter(|&e| e >= 0) {
            if epoch < self.leader_epoch {
                return Err(ErrorCode::FencedLeaderEpoch);
            }
            if epoch > self.leader_epoch {
                return Err(ErrorCode::UnknownLeaderEpoch);
            }
        }
        let leo = self.log_end_offset;
        let Some(f) = self.followers.get_mut(&replica_id) else {
            return Err(ErrorCode::NotLeaderOrFollower);
        };
        if fetch_offset < 0 || fetch_offset > leo {
            return Err(ErrorCode::OffsetOutOfRange);
        }
        let caught_up_at = if fetch_offset >= leo {
            Some(now_ms)
        } else if f.last_fetch_time_ms.is_some()
            && fetch_offset >= f.last_fetch_leader_log_end_offset
        {
            f.last_fetch_time_ms
        } else {
            None
        };
        if let Some(t) = caught_up_at {
            f.last_caught_up_time_ms = Some(f.last_caught_up_time_ms.map_or(t, |c| c.max(t)));
        }
        f.log_end_offset = fetch_offset;
        f.last_fetch_time_ms = Some(now_ms);
        f.last_fetch_leader_log_end_offset = leo;
        let isr_proposal = self.maybe_expand_isr(replica_id);
        let high_watermark_advanced = self.maybe_increment_high_watermark(now_ms);
        Ok(FetchOutcome {
            high_watermark_advanced,
            isr_proposal,
        })
    }

    fn maybe_expand_isr(&mut self, id: ReplicaId) -> Option<AlterPartitionProposal> {
        let f = self.followers.get(&id)?;
        let in_sync = f.eligible
            && f.log_end_offset >= self.high_watermark
            && f.log_end_offset >= self.leader_epoch_start_offset;
        if self.pending.is_some() || self.isr.contains(&id) || !in_sync {
            return None;
        }
        let mut new_isr = self.isr.clone();
        new_isr.push(id);
        Some(self.propose(sorted(&new_isr), vec![id]))
    }

    fn propose(
        &mut self,
        new_isr: Vec<ReplicaId>,
        additions: Vec<ReplicaId>,
    ) -> AlterPartitionProposal {
        let proposal = AlterPartitionProposal {
            leader_id: self.local_id,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr,
        };
        self.pending = Some(Pending {
            proposal: proposal.clone(),
            additions,
        });
        proposal
    }

    /// The local log grew to `new_log_end_offset` (a produce was appended). The high
    /// watermark follows only when no other replica holds it back (ISR = the leader).
    pub fn on_leader_append(&mut self, new_log_end_offset: i64, now_ms: i64) -> bool {
        self.log_end_offset = self.log_end_offset.max(new_log_end_offset);
        self.maybe_increment_high_watermark(now_ms)
    }

    /// The largest offset every maximal-ISR member (and every caught-up, eligible
    /// follower) has, capped by the leader's log end offset.
    fn candidate_high_watermark(&self, now_ms: i64) -> i64 {
        let maximal = self.maximal_isr();
        let lag = self.replica_lag_time_max_ms;
        self.followers
            .iter()
            .filter(|(id, f)| {
                maximal.contains(id)
                    || (f.eligible && f.is_caught_up(self.log_end_offset, now_ms, lag))
            })
            .map(|(_, f)| f.log_end_offset)
            .fold(self.log_end_offset, i64::min)
    }

    fn maybe_increment_high_watermark(&mut self, now_ms: i64) -> bool {
        let candidate = self.candidate_high_watermark(now_ms);
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            true
        } else {
            false
        }
    }

    /// ISR members (other than the leader) not caught up within `replica.lag.time.max.ms`
    /// are proposed for removal. Nothing while another proposal is in flight.
    pub fn maybe_shrink_isr(&mut self, now_ms: i64) -> Option<AlterPartitionProposal> {
        if self.pending.is_some() {
            return None;
        }
        let lag = self.replica_lag_time_max_ms;
        let out_of_sync: Vec<ReplicaId> = self
            .isr
            .iter()
            .copied()
            .filter(|&id| {
                self.followers
                    .get(&id)
                    .is_some_and(|f| !f.is_caught_up(self.log_end_offset, now_ms, lag))
            })
            .collect();
        if out_of_sync.is_empty() {
            return None;
        }
        let new_isr = self
            .isr
            .iter()
            .copied()
            .filter(|id| !out_of_sync.contains(id))
            .collect();
        Some(self.propose(new_isr, Vec::new()))
    }

    /// The controller committed an ISR for this partition at `partition_epoch` (the
    /// AlterPartition answer). Stale answers (older partition epoch) are ignored. Returns
    /// whether the high watermark advanced.
    pub fn on_alter_partition_committed(
        &mut self,
        new_isr: &[ReplicaId],
        partition_epoch: i32,
        now_ms: i64,
    ) -> bool {
        if partition_epoch < self.partition_epoch {
            return false;
        }
        self.isr = sorted(new_isr);
        if !self.isr.contains(&self.local_id) {
            // The controller never commits an ISR without its leader; keep the leader's
            // own log in the count rather than trust such an answer.
            self.isr.push(self.local_id);
            self.isr.sort_unstable();
        }
        self.partition_epoch = partition_epoch;
        self.pending = None;
        self.maybe_increment_high_watermark(now_ms)
    }

    /// The AlterPartition failed with `error` for this partition.
    pub fn on_alter_partition_failed(&mut self, error: ErrorCode) -> AlterPartitionFailure {
        let Some(pending) = &self.pending else {
            return AlterPartitionFailure::Reverted;
        };
        match error {
            ErrorCode::OperationNotAttempted
            | ErrorCode::IneligibleReplica
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::InvalidUpdateVersion
            | ErrorCode::InvalidRequest
            | ErrorCode::NewLeaderElected
            | ErrorCode::NotLeaderOrFollower => {
                self.pending = None;
                AlterPartitionFailure::Reverted
            }
            _ => AlterPartitionFailure::Retry(pending.proposal.clone()),
        }
    }

    /// The metadata log changed the partition without a leader change (same leader and
    /// leader epoch, newer partition epoch): e.g. the controller removed a fenced broker
    /// from the ISR. `Err(NotLeaderOrFollower)` means leadership moved: drop this state
    /// and fail its waiters.
    pub fn apply_registration(
        &mut self,
        registration: &PartitionRegistration,
        now_ms: i64,
    ) -> Result<bool, ErrorCode> {
        if registration.leader != self.local_id || registration.leader_epoch != self.leader_epoch {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if registration.partition_epoch <= self.partition_epoch {
            return Ok(false);
        }
        self.replicas = registration.replicas.clone();
        self.followers
            .retain(|id, _| registration.replicas.contains(id));
        for &r in &registration.replicas {
            if r != self.local_id {
                self.followers
                    .entry(r)
                    .or_insert_with(|| FollowerState::new(None));
            }
        }
        Ok(self.on_alter_partition_committed(
            &registration.isr,
            registration.partition_epoch,
            now_ms,
        ))
    }

    pub fn replicas(&self) -> &[ReplicaId] {
        &self.replicas
    }

    /// Kafka's check before appending an `acks=all` produce: the committed ISR must have at
    /// least `min.insync.replicas` members.
    pub fn check_acks_all(&self, min_insync_replicas: usize) -> Result<(), NotEnoughReplicas> {
        if self.isr.len() < min_insync_replicas {
            return Err(NotEnoughReplicas {
                isr_size: self.isr.len(),
                min_insync_replicas,
            });
        }
        Ok(())
    }

    /// Park an `acks=all` produce until the high watermark reaches `required_offset`
    /// (the offset after its last record). Call [`Self::poll_waiters`] after every
    /// operation that may advance the high watermark.
    pub fn register_waiter(&mut self, id: u64, required_offset: i64) {
        self.waiters.register(id, required_offset);
    }

    /// The caller's timeout fired (REQUEST_TIMED_OUT): forget the waiter.
    pub fn cancel_waiter(&mut self, id: u64) -> bool {
        self.waiters.cancel(id)
    }

    /// Waiters that are done, with their result (`checkEnoughReplicasReachOffset`).
    pub fn poll_waiters(
        &mut self,
        min_insync_replicas: usize,
    ) -> Vec<(u64, Result<(), ErrorCode>)> {
        let maximal = self.maximal_isr().len();
        self.waiters
            .complete(self.high_watermark, maximal, min_insync_replicas)
    }

    /// Leadership lost: every waiter fails with NOT_LEADER_OR_FOLLOWER.
    pub fn fail_all_waiters(&mut self) -> Vec<(u64, ErrorCode)> {
        self.waiters.fail_all()
    }
}
