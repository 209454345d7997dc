//! Unit tests of the controller-side partition changes.

use strait_protocol::ErrorCode;

use super::*;

fn reg(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionRegistration {
    PartitionRegistration {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 4,
        partition_epoch: 10,
    }
}

fn alive_except(dead: &'static [i32]) -> impl Fn(i32) -> bool {
    move |r| !dead.contains(&r)
}

#[test]
fn new_partition_leader_is_first_alive() {
    let r = PartitionRegistration::new(vec![3, 1, 2], alive_except(&[3]));
    assert_eq!((r.leader, r.leader_epoch, r.partition_epoch), (1, 0, 0));
    assert_eq!(r.isr, vec![3, 1, 2]);
}

#[test]
fn leader_failure_elects_first_isr_member_in_assignment_order() {
    let cur = reg(&[1, 2, 3], &[1, 3, 2], 1);
    let c = remove_broker(&cur, 1, false, alive_except(&[1]));
    let r = c.record.unwrap();
    assert_eq!(r.leader, 2, "assignment order, not ISR order");
    assert_eq!(r.isr, vec![2, 3]);
    assert_eq!((r.leader_epoch, r.partition_epoch), (5, 11));
    assert!(!c.unclean);
}

#[test]
fn follower_removal_bumps_only_the_partition_epoch() {
    let cur = reg(&[1, 2, 3], &[1, 2, 3], 1);
    let r = remove_broker(&cur, 3, false, alive_except(&[3]))
        .record
        .unwrap();
    assert_eq!((r.leader, r.leader_epoch, r.partition_epoch), (1, 4, 11));
    assert_eq!(r.isr, vec![1, 2]);
    // Nothing to change: no record, no bump.
    let c = build_change(&cur, &[3, 2, 1], Election::Online, alive_except(&[]));
    assert_eq!(c.record, None);
}

#[test]
fn last_isr_member_stays_and_the_partition_goes_offline() {
    let cur = reg(&[1, 2], &[1], 1);
    let r = remove_broker(&cur, 1, false, alive_except(&[1]))
        .record
        .unwrap();
    assert_eq!(r.leader, NO_LEADER);
    assert_eq!(r.isr, vec![1], "the ISR never empties");
    assert_eq!(r.leader_epoch, 5);
    // 2 is alive but out of sync: no clean election. When 1 returns it leads again.
    assert_eq!(on_broker_alive(&r, false, alive_except(&[1])).record, None);
    let back = on_broker_alive(&r, false, alive_except(&[]))
        .record
        .unwrap();
    assert_eq!((back.leader, back.leader_epoch), (1, 6));
}

#[test]
fn unclean_election_only_when_enabled() {
    let cur = reg(&[1, 2, 3], &[1], 1);
    let r = remove_broker(&cur, 1, true, alive_except(&[1]))
        .record
        .unwrap();
    assert_eq!(r.leader, 2);
    assert_eq!(r.isr, vec![2], "unclean: the ISR becomes the new leader");
    let c = remove_broker(&cur, 1, true, alive_except(&[1, 2, 3]));
    assert_eq!(c.record.unwrap().leader, NO_LEADER);
    // A clean choice is always preferred over an unclean one.
    let cur = reg(&[1, 2, 3], &[1, 3], 1);
    let c = remove_broker(&cur, 1, true, alive_except(&[1]));
    assert_eq!(c.record.unwrap().leader, 3);
    assert!(!c.unclean);
}

#[test]
fn elect_leaders_preferred() {
    let cur = reg(&[1, 2, 3], &[1, 2, 3], 2);
    let r = elect_leaders(&cur, ElectionType::Preferred, alive_except(&[])).unwrap();
    assert_eq!((r.leader, r.leader_epoch, r.partition_epoch), (1, 5, 11));
    assert_eq!(
        elect_leaders(&r, ElectionType::Preferred, alive_except(&[])),
        Err(ErrorCode::ElectionNotNeeded)
    );
    let out_of_isr = reg(&[1, 2, 3], &[2, 3], 2);
    assert_eq!(
        elect_leaders(&out_of_isr, ElectionType::Preferred, alive_except(&[])),
        Err(ErrorCode::PreferredLeaderNotAvailable)
    );
    assert_eq!(
        elect_leaders(&cur, ElectionType::Preferred, alive_except(&[1])),
        Err(ErrorCode::PreferredLeaderNotAvailable)
    );
}

#[test]
fn elect_leaders_unclean() {
    let cur = reg(&[1, 2], &[1], 1);
    assert_eq!(
        elect_leaders(&cur, ElectionType::Unclean, alive_except(&[])),
        Err(ErrorCode::ElectionNotNeeded)
    );
    let offline = reg(&[1, 2], &[1], NO_LEADER);
    let r = elect_leaders(&offline, ElectionType::Unclean, alive_except(&[1])).unwrap();
    assert_eq!((r.leader, r.isr.clone()), (2, vec![2]));
    assert_eq!(
        elect_leaders(&offline, ElectionType::Unclean, alive_except(&[1, 2])),
        Err(ErrorCode::EligibleLeadersNotAvailable)
    );
}

#[test]
fn alter_partition_validation() {
    let cur = reg(&[1, 2, 3], &[1, 2], 1);
    let ok = alter_partition(&cur, 1, 4, 10, &[3, 1, 2], alive_except(&[])).unwrap();
    assert_eq!(ok.isr, vec![1, 2, 3]);
    assert_eq!((ok.leader_epoch, ok.partition_epoch), (4, 11));
    let err = |leader, le, pe, isr: &[i32], dead: &'static [i32]| {
        alter_partition(&cur, leader, le, pe, isr, alive_except(dead)).unwrap_err()
    };
    assert_eq!(err(1, 3, 10, &[1, 2], &[]), ErrorCode::FencedLeaderEpoch);
    assert_eq!(err(1, 4, 9, &[1], &[]), ErrorCode::InvalidUpdateVersion);
    assert_eq!(err(2, 4, 10, &[1, 2], &[]), ErrorCode::InvalidRequest);
    assert_eq!(err(1, 4, 10, &[2], &[]), ErrorCode::InvalidRequest);
    assert_eq!(err(1, 4, 10, &[1, 9], &[]), ErrorCode::InvalidRequest);
    // KIP-841: a fenced / shutting-down replica may not join.
    assert_eq!(
        err(1, 4, 10, &[1, 2, 3], &[3]),
        ErrorCode::IneligibleReplica
    );
}
