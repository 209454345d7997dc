//! Partition reassignment (KIP-455, AlterPartitionReassignments /
//! ListPartitionReassignments) as Kafka's controller runs it, pure.
//!
//! While a reassignment runs, the registration's `replicas` is the union: the target
//! replicas first (in the order asked), then the ones being removed. `adding` = target −
//! original, `removing` = original − target. New replicas join the ISR through the
//! normal follower path. The reassignment completes (in the same partition change that
//! makes it possible, e.g. the AlterPartition adding the last new replica) when, with the
//! removed replicas taken out, the ISR is not empty and contains every adding replica:
//! `replicas` becomes the target, the ISR loses the removed replicas, a leader that was
//! removed is replaced by an online election over the new ISR, and — as Kafka does when
//! the replica set shrinks — the leader epoch is bumped even if the leader stays, so
//! removed replicas' fetches are fenced. Cancelling reverts to the original replicas.
//!
//! The state lives in the metadata image: a partition's `adding_replicas` /
//! `removing_replicas` ([`crate::metadata::PartitionRecord`], carried by PartitionRecord /
//! PartitionChangeRecord). [`from_image`] reads it into a [`ReassigningPartition`] and
//! [`change_record`] writes a computed next state back as one PartitionChangeRecord. The
//! handler starts and cancels (`handlers/alter_partition_reassignments.rs`); the active
//! controller completes (`controller/reassignments.rs`). Hosting is not modelled: every
//! node keeps a log directory for every partition, so a removed replica stops fetching but
//! its directory stays.

use std::collections::BTreeSet;

use strait_protocol::ErrorCode;

use super::election::{build_change, Election, PartitionRegistration};
use super::ReplicaId;
use crate::metadata;
use crate::metadata_log::records::PartitionChangeRecord;

/// A reassignment in progress for one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reassignment {
    pub adding: Vec<ReplicaId>,
    pub removing: Vec<ReplicaId>,
}

/// A partition with its reassignment state (what ListPartitionReassignments reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassigningPartition {
    pub registration: PartitionRegistration,
    pub reassignment: Option<Reassignment>,
}

/// A partition of the metadata image with its reassignment state (`None` when neither
/// list has members).
pub fn from_image(p: &metadata::PartitionRecord) -> ReassigningPartition {
    let reassigning = !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
    ReassigningPartition {
        registration: PartitionRegistration {
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
        },
        reassignment: reassigning.then(|| Reassignment {
            adding: p.adding_replicas.clone(),
            removing: p.removing_replicas.clone(),
        }),
    }
}

/// The PartitionChangeRecord moving partition `partition_id` of topic `topic_id` from
/// `current` to `next`: each field only when it moved (absent = unchanged), the epochs
/// always, and both reassignment lists whenever either moved (a finished or cancelled
/// reassignment writes them empty).
pub fn change_record(
    topic_id: &str,
    partition_id: i32,
    current: &ReassigningPartition,
    next: &ReassigningPartition,
) -> PartitionChangeRecord {
    let (c, n) = (&current.registration, &next.registration);
    let lists = |r: &Option<Reassignment>| {
        r.as_ref()
            .map(|r| (r.adding.clone(), r.removing.clone()))
            .unwrap_or_default()
    };
    let (old_lists, new_lists) = (lists(&current.reassignment), lists(&next.reassignment));
    let moved = old_lists != new_lists;
    PartitionChangeRecord {
        topic_id: topic_id.to_string(),
        partition_id,
        leader_epoch: n.leader_epoch,
        replicas: (n.replicas != c.replicas).then(|| n.replicas.clone()),
        isr: (n.isr != c.isr).then(|| n.isr.clone()),
        leader: (n.leader != c.leader).then_some(n.leader),
        partition_epoch: Some(n.partition_epoch),
        adding_replicas: moved.then_some(new_lists.0),
        removing_replicas: moved.then_some(new_lists.1),
    }
}

fn invalid(message: String) -> (ErrorCode, String) {
    (ErrorCode::InvalidReplicaAssignment, message)
}

/// AlterPartitionReassignments for one partition: `target` to move to, or `None` to
/// cancel. `registered(broker)` says whether a broker id exists in the cluster. Errors
/// carry Kafka's code and a one-line message.
pub fn alter_reassignment(
    current: &ReassigningPartition,
    target: Option<&[ReplicaId]>,
    registered: impl Fn(ReplicaId) -> bool,
    alive: impl Fn(ReplicaId) -> bool + Copy,
) -> Result<ReassigningPartition, (ErrorCode, String)> {
    let Some(target) = target else {
        return cancel(current, alive);
    };
    if target.is_empty() {
        return Err(invalid("the target replica list is empty".into()));
    }
    let unique: BTreeSet<ReplicaId> = target.iter().copied().collect();
    if unique.len() != target.len() {
        return Err(invalid(format!(
            "the target replica list {target:?} has duplicates"
        )));
    }
    if let Some(b) = target.iter().find(|&&b| !registered(b)) {
        return Err(invalid(format!(
            "the target replica list includes broker {b}, but no broker with that id is registered"
        )));
    }
    // A new target replaces a running reassignment: start from the original replicas.
    let base = match cancel(current, alive) {
        Ok(reverted) => reverted,
        Err(_) => current.clone(),
    };
    let original = &base.registration.replicas;
    if original.as_slice() == target {
        return Ok(base);
    }
    let adding: Vec<ReplicaId> = target
        .iter()
        .copied()
        .filter(|r| !original.contains(r))
        .collect();
    let removing: Vec<ReplicaId> = original
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    let mut replicas = target.to_vec();
    replicas.extend(&removing);
    let mut registration = base.registration.clone();
    registration.replicas = replicas;
    registration.partition_epoch += 1;
    let started = ReassigningPartition {
        registration,
        reassignment: Some(Reassignment { adding, removing }),
    };
    // Nothing to add (only removals or a reorder): it may complete at once.
    Ok(maybe_complete(&started, alive))
}

/// Cancels a running reassignment: back to the original replicas (`replicas` − adding,
/// in their original order), the added replicas leave the ISR.
fn cancel(
    current: &ReassigningPartition,
    alive: impl Fn(ReplicaId) -> bool,
) -> Result<ReassigningPartition, (ErrorCode, String)> {
    let Some(r) = &current.reassignment else {
        return Err((
            ErrorCode::NoReassignmentInProgress,
            "no reassignment is in progress for the partition".into(),
        ));
    };
    let reg = &current.registration;
    let target: Vec<ReplicaId> = reg
        .replicas
        .iter()
        .copied()
        .filter(|x| !r.adding.contains(x))
        .collect();
    let mut original = reg.clone();
    // Original order: the removed replicas were appended after the target ones; Kafka
    // keeps the union's order minus the added replicas.
    original.replicas = target;
    let isr: Vec<ReplicaId> = reg
        .isr
        .iter()
        .copied()
        .filter(|x| !r.adding.contains(x))
        .collect();
    let change = build_change(&original, &isr, Election::Online, alive);
    let mut registration = change.record.unwrap_or(original);
    registration.partition_epoch = reg.partition_epoch + 1;
    // A leader change bumps the leader epoch once; dropping the added replicas (the
    // replica set shrinks) bumps it too, fencing their fetches.
    if registration.leader != reg.leader || !r.adding.is_empty() {
        registration.leader_epoch = reg.leader_epoch + 1;
    }
    Ok(ReassigningPartition {
        registration,
        reassignment: None,
    })
}

/// Completes the reassignment if the ISR allows it (call after every ISR change of a
/// reassigning partition).
pub fn maybe_complete(
    current: &ReassigningPartition,
    alive: impl Fn(ReplicaId) -> bool,
) -> ReassigningPartition {
    let Some(r) = &current.reassignment else {
        return current.clone();
    };
    let reg = &current.registration;
    let isr: Vec<ReplicaId> = reg
        .isr
        .iter()
        .copied()
        .filter(|x| !r.removing.contains(x))
        .collect();
    let replicas: Vec<ReplicaId> = reg
        .replicas
        .iter()
        .copied()
        .filter(|x| !r.removing.contains(x))
        .collect();
    if isr.is_empty() || replicas.is_empty() || r.adding.iter().any(|a| !isr.contains(a)) {
        return current.clone();
    }
    let mut target = reg.clone();
    target.replicas = replicas;
    let change = build_change(&target, &isr, Election::Online, alive);
    let mut registration = change.record.unwrap_or(target);
    registration.partition_epoch = reg.partition_epoch + 1;
    // A leader change bumps the leader epoch once; a shrinking replica set bumps it too.
    let shrank = !r.removing.is_empty();
    if registration.leader != reg.leader || shrank {
        registration.leader_epoch = reg.leader_epoch + 1;
    }
    ReassigningPartition {
        registration,
        reassignment: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(replicas: &[i32], isr: &[i32], leader: i32) -> ReassigningPartition {
        ReassigningPartition {
            registration: PartitionRegistration {
                replicas: replicas.to_vec(),
                isr: isr.to_vec(),
                leader,
                leader_epoch: 2,
                partition_epoch: 5,
            },
            reassignment: None,
        }
    }
    fn any(_: i32) -> bool {
        true
    }
    fn known(b: i32) -> bool {
        (1..=5).contains(&b)
    }

    #[test]
    fn move_then_complete_when_new_replicas_join_the_isr() {
        let p = part(&[1, 2, 3], &[1, 2, 3], 1);
        let moving = alter_reassignment(&p, Some(&[4, 2, 3]), known, any).unwrap();
        assert_eq!(moving.registration.replicas, vec![4, 2, 3, 1]);
        assert_eq!(
            moving.reassignment,
            Some(Reassignment {
                adding: vec![4],
                removing: vec![1]
            })
        );
        assert_eq!(moving.registration.partition_epoch, 6);
        assert_eq!(moving.registration.leader_epoch, 2);
        // 4 not in the ISR yet: nothing completes.
        assert_eq!(maybe_complete(&moving, any), moving);
        // The leader's AlterPartition adds 4.
        let mut joined = moving.clone();
        joined.registration.isr = vec![1, 2, 3, 4];
        joined.registration.partition_epoch = 7;
        let done = maybe_complete(&joined, any);
        assert_eq!(done.reassignment, None);
        let r = done.registration;
        assert_eq!(r.replicas, vec![4, 2, 3]);
        assert_eq!(r.isr, vec![4, 2, 3]);
        assert_eq!(
            r.leader, 4,
            "the removed leader is replaced, preferred first"
        );
        assert_eq!((r.leader_epoch, r.partition_epoch), (3, 8));
    }

    #[test]
    fn removal_only_completes_at_once_and_fences() {
        let p = part(&[1, 2, 3], &[1, 2, 3], 1);
        let done = alter_reassignment(&p, Some(&[1, 2]), known, any).unwrap();
        assert_eq!(done.reassignment, None);
        assert_eq!(done.registration.replicas, vec![1, 2]);
        assert_eq!(done.registration.leader, 1);
        assert_eq!(
            done.registration.leader_epoch, 3,
            "shrinking bumps the epoch"
        );
    }

    #[test]
    fn cancel_and_errors() {
        let p = part(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            alter_reassignment(&p, None, known, any).unwrap_err().0,
            ErrorCode::NoReassignmentInProgress
        );
        let moving = alter_reassignment(&p, Some(&[4, 5, 3]), known, any).unwrap();
        let back = alter_reassignment(&moving, None, known, any).unwrap();
        assert_eq!(back.reassignment, None);
        assert_eq!(back.registration.replicas, vec![3, 1, 2]);
        assert_eq!(back.registration.isr, vec![1, 2, 3]);
        assert_eq!(back.registration.leader, 1);
        for (target, msg) in [
            (&[][..], "the target replica list is empty"),
            (&[1, 1][..], "the target replica list [1, 1] has duplicates"),
            (
                &[1, 9][..],
                "the target replica list includes broker 9, but no broker with that id is registered",
            ),
        ] {
            let err = alter_reassignment(&p, Some(target), known, any).unwrap_err();
            assert_eq!(err, (ErrorCode::InvalidReplicaAssignment, msg.to_string()));
        }
    }
}
