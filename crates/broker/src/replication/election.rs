//! The controller's changes to one partition's registration, as Kafka's
//! `PartitionChangeBuilder` / `ReplicationControlManager` make them (pre-KIP-966, no ELR).
//!
//! * A replica is an *acceptable* leader when its broker is alive: registered, not fenced
//!   and not in controlled shutdown (KIP-841). A *valid* new leader is also in the ISR.
//! * Online election keeps the current leader while it is valid; otherwise it takes the
//!   first valid replica in assignment order; otherwise, only with
//!   `unclean.leader.election.enable`, the first acceptable replica in assignment order,
//!   and the ISR becomes just it; otherwise there is no leader ([`NO_LEADER`]).
//! * Preferred election (ElectLeaders PREFERRED) moves leadership to the first assigned
//!   replica when it is valid: ELECTION_NOT_NEEDED if it already leads,
//!   PREFERRED_LEADER_NOT_AVAILABLE (nothing changes) if it is not valid.
//! * Every leader change bumps the leader epoch and the partition epoch; an ISR-only
//!   change bumps the partition epoch only; no change bumps nothing.
//! * The ISR is never empty: removing its last member (fencing, controlled shutdown)
//!   keeps it there and leaves the partition without a leader, so a clean election can
//!   pick it when it returns.

use strait_protocol::ErrorCode;

use super::{ReplicaId, NO_LEADER};

/// A partition as the metadata log records it (Kafka's `PartitionRegistration`, the
/// fields replication needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRegistration {
    /// Assignment order; the first is the preferred leader.
    pub replicas: Vec<ReplicaId>,
    pub isr: Vec<ReplicaId>,
    pub leader: ReplicaId,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

impl PartitionRegistration {
    /// A new partition (CreateTopics): the first alive replica leads, every replica is in
    /// the ISR, epochs start at 0.
    pub fn new(replicas: Vec<ReplicaId>, alive: impl Fn(ReplicaId) -> bool) -> Self {
        let leader = replicas
            .iter()
            .copied()
            .find(|&r| alive(r))
            .unwrap_or(NO_LEADER);
        PartitionRegistration {
            isr: replicas.clone(),
            replicas,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    pub fn preferred_leader(&self) -> Option<ReplicaId> {
        self.replicas.first().copied()
    }

    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }
}

/// How to pick a leader when one is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// Only from the ISR.
    Online,
    /// From the ISR, else any alive replica (`unclean.leader.election.enable`).
    Unclean,
    /// The preferred replica if valid, else as [`Election::Online`].
    Preferred,
}

/// A computed change; `record` is the new registration when anything changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionChange {
    pub record: Option<PartitionRegistration>,
    /// The new leader came from outside the ISR.
    pub unclean: bool,
}

fn valid(reg_isr: &[ReplicaId], r: ReplicaId, alive: &impl Fn(ReplicaId) -> bool) -> bool {
    r != NO_LEADER && reg_isr.contains(&r) && alive(r)
}

/// Applies `target_isr` (the ISR wanted) and elects a leader if the current one is no
/// longer valid (or `election` is Preferred), bumping epochs as Kafka does.
pub fn build_change(
    current: &PartitionRegistration,
    target_isr: &[ReplicaId],
    election: Election,
    alive: impl Fn(ReplicaId) -> bool,
) -> PartitionChange {
    let mut isr: Vec<ReplicaId> = current
        .replicas
        .iter()
        .copied()
        .filter(|r| target_isr.contains(r))
        .collect();
    if isr.is_empty() {
        // Never empty: keep the last member(s) so a clean election can find them later.
        isr = current.isr.clone();
    }
    let first_valid = |skip: usize| {
        current
            .replicas
            .iter()
            .skip(skip)
            .copied()
            .find(|&r| valid(&isr, r, &alive))
    };
    let mut unclean = false;
    let leader = match election {
        Election::Preferred
            if current
                .preferred_leader()
                .is_some_and(|p| valid(&isr, p, &alive)) =>
        {
            current.replicas[0]
        }
        _ if valid(&isr, current.leader, &alive) => current.leader,
        _ => match first_valid(0) {
            Some(r) => r,
            None if election == Election::Unclean => {
                match current.replicas.iter().copied().find(|&r| alive(r)) {
                    Some(r) => {
                        unclean = true;
                        r
                    }
                    None => NO_LEADER,
                }
            }
            None => NO_LEADER,
        },
    };
    if unclean {
        isr = vec![leader];
    }
    let leader_changed = leader != current.leader;
    let as_set = |v: &[ReplicaId]| v.iter().copied().collect::<std::collections::BTreeSet<_>>();
    let isr_changed = as_set(&isr) != as_set(&current.isr);
    if !leader_changed && !isr_changed {
        return PartitionChange {
            record: None,
            unclean: false,
        };
    }
    PartitionChange {
        record: Some(PartitionRegistration {
            replicas: current.replicas.clone(),
            isr,
            leader,
            leader_epoch: current.leader_epoch + i32::from(leader_changed),
            partition_epoch: current.partition_epoch + 1,
        }),
        unclean,
    }
}

/// A broker was fenced or began controlled shutdown (KIP-841): remove it from the ISR
/// (unless it is the last member) and move leadership off it. `alive` must already say
/// `false` for it.
pub fn remove_broker(
    current: &PartitionRegistration,
    broker: ReplicaId,
    unclean_leader_election_enable: bool,
    alive: impl Fn(ReplicaId) -> bool,
) -> PartitionChange {
    let target: Vec<ReplicaId> = current
        .isr
        .iter()
        .copied()
        .filter(|&r| r != broker)
        .collect();
    let election = if unclean_leader_election_enable {
        Election::Unclean
    } else {
        Election::Online
    };
    build_change(current, &target, election, alive)
}

/// A broker came back (unfenced): a partition without a leader may elect one.
pub fn on_broker_alive(
    current: &PartitionRegistration,
    unclean_leader_election_enable: bool,
    alive: impl Fn(ReplicaId) -> bool,
) -> PartitionChange {
    if current.has_leader() {
        return PartitionChange {
            record: None,
            unclean: false,
        };
    }
    let election = if unclean_leader_election_enable {
        Election::Unclean
    } else {
        Election::Online
    };
    build_change(current, &current.isr.clone(), election, alive)
}

/// The ElectLeaders API's election types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// ElectLeaders for one partition: the new registration, or the partition's error code.
pub fn elect_leaders(
    current: &PartitionRegistration,
    election_type: ElectionType,
    alive: impl Fn(ReplicaId) -> bool,
) -> Result<PartitionRegistration, ErrorCode> {
    match election_type {
        ElectionType::Preferred => {
            let Some(preferred) = current.preferred_leader() else {
                return Err(ErrorCode::PreferredLeaderNotAvailable);
            };
            if current.leader == preferred {
                return Err(ErrorCode::ElectionNotNeeded);
            }
            let change = build_change(current, &current.isr, Election::Preferred, alive);
            match change.record {
                Some(r) if r.leader == preferred => Ok(r),
                _ => Err(ErrorCode::PreferredLeaderNotAvailable),
            }
        }
        ElectionType::Unclean => {
            if current.has_leader() {
                return Err(ErrorCode::ElectionNotNeeded);
            }
            let change = build_change(current, &current.isr, Election::Unclean, alive);
            match change.record {
                Some(r) if r.has_leader() => Ok(r),
                _ => Err(ErrorCode::EligibleLeadersNotAvailable),
            }
        }
    }
}

/// The controller's handling of one partition of an AlterPartition request from its
/// leader (KIP-497, KIP-841 eligibility). On success the new registration (partition
/// epoch bumped, leader unchanged).
pub fn alter_partition(
    current: &PartitionRegistration,
    leader_id: ReplicaId,
    leader_epoch: i32,
    partition_epoch: i32,
    new_isr: &[ReplicaId],
    eligible: impl Fn(ReplicaId) -> bool,
) -> Result<PartitionRegistration, ErrorCode> {
    if leader_id != current.leader {
        return Err(ErrorCode::InvalidRequest);
    }
    if leader_epoch < current.leader_epoch {
        return Err(ErrorCode::FencedLeaderEpoch);
    }
    if leader_epoch > current.leader_epoch {
        return Err(ErrorCode::InvalidRequest);
    }
    if partition_epoch != current.partition_epoch {
        return Err(ErrorCode::InvalidUpdateVersion);
    }
    if !new_isr.contains(&leader_id) || new_isr.iter().any(|r| !current.replicas.contains(r)) {
        return Err(ErrorCode::InvalidRequest);
    }
    if new_isr
        .iter()
        .any(|r| !current.isr.contains(r) && !eligible(*r))
    {
        return Err(ErrorCode::IneligibleReplica);
    }
    let isr: Vec<ReplicaId> = current
        .replicas
        .iter()
        .copied()
        .filter(|r| new_isr.contains(r))
        .collect();
    Ok(PartitionRegistration {
        isr,
        partition_epoch: current.partition_epoch + 1,
        ..current.clone()
    })
}

#[cfg(test)]
#[path = "election_tests.rs"]
mod tests;
