//! The active controller's partition reconciliation: from the metadata image and the
//! brokers' liveness, the change each partition's registration needs — fenced ISR members
//! removed (KIP-841: never the last one; the ISR keeps it and the partition goes leaderless),
//! a leader that is fenced, unregistered or absent replaced from the live ISR, an unclean
//! leader only where `unclean.leader.election.enable` holds — and the
//! PartitionChangeRecord that says so. The decisions are
//! [`crate::replication::election`]'s; this module only applies them to the image.
//!
//! Invariants: a change always bumps the partition epoch (so the image refuses it if
//! another change of the same partition committed first) and bumps the leader epoch exactly
//! when the leader changes; reconciling an image whose partitions need nothing yields
//! nothing (so repeating it every tick is idempotent).

use std::collections::BTreeSet;

use crate::metadata::{self, MetadataImage};
use crate::metadata_log::records::PartitionChangeRecord;
use crate::replication::election::{build_change, elect_leaders, Election, ElectionType};
use crate::replication::{PartitionRegistration, ReplicaId};
use crate::topic_config::TopicDefaults;

/// Which brokers may lead or stay in an ISR: registered and not fenced.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    pub registered: BTreeSet<ReplicaId>,
    pub fenced: BTreeSet<ReplicaId>,
}

impl Liveness {
    pub fn is_alive(&self, id: ReplicaId) -> bool {
        self.registered.contains(&id) && !self.fenced.contains(&id)
    }
}

/// A partition's registration as the election logic reads it.
pub fn registration(p: &metadata::PartitionRecord) -> PartitionRegistration {
    PartitionRegistration {
        replicas: p.replicas.clone(),
        isr: p.isr.clone(),
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
    }
}

/// The registration `current` should move to, or `None` when it needs nothing: dead ISR
/// members out (the last one stays), and a new leader when the current one is not a live
/// ISR member (from outside the ISR only when `unclean`).
pub fn reconcile(
    current: &PartitionRegistration,
    unclean: bool,
    alive: impl Fn(ReplicaId) -> bool,
) -> Option<PartitionRegistration> {
    let live_isr: Vec<ReplicaId> = current.isr.iter().copied().filter(|&r| alive(r)).collect();
    let election = if unclean {
        Election::Unclean
    } else {
        Election::Online
    };
    build_change(current, &live_isr, election, alive).record
}

/// The PartitionChangeRecord moving partition `partition_id` of topic `topic_id` from
/// `current` to `next`: the leader and ISR only when they moved, the epochs always.
pub fn change_record(
    topic_id: &str,
    partition_id: i32,
    current: &PartitionRegistration,
    next: &PartitionRegistration,
) -> PartitionChangeRecord {
    PartitionChangeRecord {
        topic_id: topic_id.to_string(),
        partition_id,
        leader_epoch: next.leader_epoch,
        replicas: (next.replicas != current.replicas).then(|| next.replicas.clone()),
        isr: (next.isr != current.isr).then(|| next.isr.clone()),
        leader: (next.leader != current.leader).then_some(next.leader),
        partition_epoch: Some(next.partition_epoch),
        adding_replicas: None,
        removing_replicas: None,
    }
}

/// Whether unclean leader election is enabled for a topic with `configs` overrides (the
/// topic key, else the broker default).
pub fn unclean_enabled(
    defaults: &TopicDefaults,
    configs: &std::collections::BTreeMap<String, String>,
) -> bool {
    defaults
        .resolve("unclean.leader.election.enable", configs)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// One change reconciliation wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    pub topic: String,
    pub partition: i32,
    pub current: PartitionRegistration,
    pub next: PartitionRegistration,
    pub record: PartitionChangeRecord,
}

/// Every partition of `image` that needs a change, in topic then partition order.
pub fn plan(
    image: &MetadataImage,
    live: &Liveness,
    defaults: &TopicDefaults,
) -> Vec<PlannedChange> {
    let mut out = Vec::new();
    for t in &image.topics {
        let unclean = unclean_enabled(defaults, &t.configs);
        for (i, p) in t.partitions.iter().enumerate() {
            // The image resolves the pre-placement form when it applies it; a partition
            // still without replicas has nothing to elect from.
            if p.is_legacy() {
                continue;
            }
            let Ok(partition) = i32::try_from(i) else {
                continue;
            };
            let current = registration(p);
            if let Some(next) = reconcile(&current, unclean, |r| live.is_alive(r)) {
                let record = change_record(&t.topic_id, partition, &current, &next);
                out.push(PlannedChange {
                    topic: t.name.clone(),
                    partition,
                    current,
                    next,
                    record,
                });
            }
        }
    }
    out
}

/// Automatic preferred leader election (`auto.leader.rebalance.enable`): every partition
/// whose preferred replica does not lead it but is alive and in the ISR, moved to it
/// (leader epoch + 1, partition epoch + 1). Partitions whose preferred replica cannot take
/// over are left as they are.
pub fn balance(image: &MetadataImage, live: &Liveness) -> Vec<PlannedChange> {
    let mut out = Vec::new();
    for t in &image.topics {
        for (i, p) in t.partitions.iter().enumerate() {
            let Ok(partition) = i32::try_from(i) else {
                continue;
            };
            if p.is_legacy() {
                continue;
            }
            let current = registration(p);
            if let Ok(next) = elect_leaders(&current, ElectionType::Preferred, |r| live.is_alive(r))
            {
                let record = change_record(&t.topic_id, partition, &current, &next);
                out.push(PlannedChange {
                    topic: t.name.clone(),
                    partition,
                    current,
                    next,
                    record,
                });
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "elections_tests.rs"]
mod tests;
