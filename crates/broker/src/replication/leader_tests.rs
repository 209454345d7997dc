//! Unit tests of [`super::leader`]: fetch bookkeeping, the high watermark over the
//! maximal ISR, ISR shrink/expand, AlterPartition outcomes, `acks=all`.

use strait_protocol::ErrorCode;

use super::election::PartitionRegistration;
use super::leader::{AlterPartitionFailure, LeaderPartitionState};

const LAG: i64 = 30_000;

fn reg(replicas: &[i32], isr: &[i32], leader: i32, leader_epoch: i32) -> PartitionRegistration {
    PartitionRegistration {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch: 7,
    }
}

/// Leader 1 of replicas 1,2,3, all in ISR, epoch 5, log of 100 records, HW 90.
fn three() -> LeaderPartitionState {
    LeaderPartitionState::become_leader(1, &reg(&[1, 2, 3], &[1, 2, 3], 1, 5), 100, 90, LAG, 0)
        .unwrap()
}

#[test]
fn become_leader_requires_leadership() {
    let r = LeaderPartitionState::become_leader(2, &reg(&[1, 2], &[1, 2], 1, 0), 0, 0, LAG, 0);
    assert_eq!(r.err(), Some(ErrorCode::NotLeaderOrFollower));
}

#[test]
fn high_watermark_waits_for_every_isr_member() {
    let mut p = three();
    assert_eq!(p.high_watermark(), 90);
    // Only follower 2 fetched: follower 3's log end is unknown, HW holds.
    let o = p.on_follower_fetch(2, 100, Some(5), 10).unwrap();
    assert!(!o.high_watermark_advanced);
    assert_eq!(p.high_watermark(), 90);
    let o = p.on_follower_fetch(3, 95, Some(5), 11).unwrap();
    assert!(o.high_watermark_advanced);
    assert_eq!(p.high_watermark(), 95);
    p.on_follower_fetch(3, 100, Some(5), 12).unwrap();
    assert_eq!(p.high_watermark(), 100);
    // A leader append does not move HW while followers have not fetched it.
    assert!(!p.on_leader_append(120, 13));
    assert_eq!(p.high_watermark(), 100);
}

#[test]
fn leader_alone_in_isr_moves_hw_on_append() {
    let mut p =
        LeaderPartitionState::become_leader(1, &reg(&[1, 2], &[1], 1, 0), 10, 10, LAG, 0).unwrap();
    assert!(p.on_leader_append(15, 1));
    assert_eq!(p.high_watermark(), 15);
}

#[test]
fn fetch_epoch_and_offset_errors() {
    let mut p = three();
    assert_eq!(
        p.on_follower_fetch(2, 100, Some(4), 1),
        Err(ErrorCode::FencedLeaderEpoch)
    );
    assert_eq!(
        p.on_follower_fetch(2, 100, Some(6), 1),
        Err(ErrorCode::UnknownLeaderEpoch)
    );
    assert_eq!(
        p.on_follower_fetch(9, 100, Some(5), 1),
        Err(ErrorCode::NotLeaderOrFollower)
    );
    assert_eq!(
        p.on_follower_fetch(2, 101, Some(5), 1),
        Err(ErrorCode::OffsetOutOfRange)
    );
    assert_eq!(
        p.follower(2).unwrap().log_end_offset,
        -1,
        "errors change nothing"
    );
    // No epoch in the request (old Fetch versions): accepted.
    assert!(p.on_follower_fetch(2, 100, None, 1).is_ok());
}

#[test]
fn last_caught_up_time_follows_kafka() {
    let mut p = three();
    p.on_follower_fetch(2, 100, Some(5), 1_000).unwrap();
    assert_eq!(p.follower(2).unwrap().last_caught_up_time_ms, Some(1_000));
    p.on_leader_append(110, 1_500);
    // Behind the current LEO (110) but at the LEO of the previous fetch (100): caught up as
    // of the previous fetch.
    p.on_follower_fetch(2, 105, Some(5), 2_000).unwrap();
    assert_eq!(p.follower(2).unwrap().last_caught_up_time_ms, Some(1_000));
    // Behind the LEO of the previous fetch (110): unchanged.
    p.on_follower_fetch(2, 108, Some(5), 3_000).unwrap();
    assert_eq!(p.follower(2).unwrap().last_caught_up_time_ms, Some(1_000));
    p.on_follower_fetch(2, 110, Some(5), 4_000).unwrap();
    assert_eq!(p.follower(2).unwrap().last_caught_up_time_ms, Some(4_000));
}

#[test]
fn shrink_then_commit_releases_the_high_watermark() {
    let mut p = three();
    p.on_follower_fetch(2, 100, Some(5), 1).unwrap();
    p.on_follower_fetch(3, 90, Some(5), 1).unwrap();
    p.on_leader_append(100, 2);
    // Within the lag: nothing to shrink (the ISR grace period from becoming leader).
    assert_eq!(p.maybe_shrink_isr(LAG), None);
    let proposal = p.maybe_shrink_isr(LAG + 1).expect("3 lags");
    assert_eq!(proposal.new_isr, vec![1, 2]);
    assert_eq!(proposal.partition_epoch, 7);
    assert_eq!(proposal.leader_epoch, 5);
    // Pending shrink: 3 still holds HW back and still counts for acks=all admission.
    assert_eq!(p.high_watermark(), 90);
    assert_eq!(p.maximal_isr(), vec![1, 2, 3]);
    assert!(p.check_acks_all(3).is_ok());
    assert_eq!(p.maybe_shrink_isr(LAG + 2), None, "one proposal in flight");
    assert!(p.on_alter_partition_committed(&[1, 2], 8, LAG + 3));
    assert_eq!(p.high_watermark(), 100);
    assert_eq!(p.isr(), &[1, 2]);
    let err = p.check_acks_all(3).unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::NotEnoughReplicas);
    assert_eq!(
        err.to_string(),
        "the in-sync replica set has 2 members, below min.insync.replicas=3"
    );
}

#[test]
fn expansion_uses_the_maximal_isr_for_hw_but_not_for_admission() {
    let mut p =
        LeaderPartitionState::become_leader(1, &reg(&[1, 2], &[1], 1, 3), 50, 50, LAG, 0).unwrap();
    // Below HW: not in sync yet.
    let o = p.on_follower_fetch(2, 40, Some(3), 1).unwrap();
    assert_eq!(o.isr_proposal, None);
    // The follower, outside the ISR and not caught up, does not hold HW back.
    assert!(p.on_leader_append(60, 2));
    assert_eq!(p.high_watermark(), 60);
    let o = p.on_follower_fetch(2, 60, Some(3), 3).unwrap();
    let proposal = o.isr_proposal.expect("caught up to HW");
    assert_eq!(proposal.new_isr, vec![1, 2]);
    // Pending expansion: the new member holds HW back, admission still counts 1.
    assert!(!p.on_leader_append(70, 4));
    assert_eq!(p.high_watermark(), 60);
    assert!(p.check_acks_all(2).is_err());
    // A waiter counts the maximal ISR (2 members) once HW reaches it.
    p.register_waiter(1, 70);
    assert!(p.poll_waiters(2).is_empty());
    p.on_follower_fetch(2, 70, Some(3), 5).unwrap();
    assert_eq!(p.poll_waiters(2), vec![(1, Ok(()))]);
    assert!(
        !p.on_alter_partition_committed(&[1, 2], 8, 6),
        "HW already there"
    );
    assert_eq!(p.high_watermark(), 70);
    assert!(p.check_acks_all(2).is_ok());
}

#[test]
fn expansion_needs_the_leader_epoch_start_offset_and_eligibility() {
    // HW 30 but the epoch started at 50: a follower at 40 is not in sync.
    let mut p =
        LeaderPartitionState::become_leader(1, &reg(&[1, 2], &[1], 1, 3), 50, 30, LAG, 0).unwrap();
    assert_eq!(p.high_watermark(), 30);
    assert_eq!(
        p.on_follower_fetch(2, 40, Some(3), 1).unwrap().isr_proposal,
        None
    );
    p.set_replica_eligible(2, false);
    assert_eq!(
        p.on_follower_fetch(2, 50, Some(3), 2).unwrap().isr_proposal,
        None
    );
    p.set_replica_eligible(2, true);
    assert!(p
        .on_follower_fetch(2, 50, Some(3), 3)
        .unwrap()
        .isr_proposal
        .is_some());
}

#[test]
fn alter_partition_failures() {
    let mut p = three();
    p.on_follower_fetch(2, 100, Some(5), 1).unwrap();
    let proposal = p.maybe_shrink_isr(LAG + 1).unwrap();
    assert_eq!(
        p.on_alter_partition_failed(ErrorCode::RequestTimedOut),
        AlterPartitionFailure::Retry(proposal)
    );
    assert!(p.pending_proposal().is_some());
    assert_eq!(
        p.on_alter_partition_failed(ErrorCode::InvalidUpdateVersion),
        AlterPartitionFailure::Reverted
    );
    assert!(p.pending_proposal().is_none());
    assert_eq!(p.isr(), &[1, 2, 3]);
    // A stale commit (older partition epoch) is ignored.
    assert!(!p.on_alter_partition_committed(&[1], 6, LAG + 2));
    assert_eq!(p.isr(), &[1, 2, 3]);
}

#[test]
fn waiter_fails_after_append_when_isr_below_min() {
    let mut p = three();
    p.on_follower_fetch(2, 100, Some(5), 1).unwrap();
    p.on_follower_fetch(3, 100, Some(5), 1).unwrap();
    p.on_leader_append(120, 2);
    assert!(p.check_acks_all(3).is_ok());
    p.register_waiter(7, 120);
    p.register_waiter(8, 100);
    assert_eq!(p.poll_waiters(3), vec![(8, Ok(()))]);
    p.on_follower_fetch(2, 120, Some(5), 3).unwrap();
    // 3 stops fetching; the ISR shrinks to {1,2}: HW reaches 120 but min.insync=3 fails.
    p.maybe_shrink_isr(LAG + 10).unwrap();
    assert!(
        p.poll_waiters(3).is_empty(),
        "pending shrink: 3 still holds HW"
    );
    p.on_alter_partition_committed(&[1, 2], 8, LAG + 11);
    assert_eq!(
        p.poll_waiters(3),
        vec![(7, Err(ErrorCode::NotEnoughReplicasAfterAppend))]
    );
    p.register_waiter(9, 500);
    assert!(p.cancel_waiter(9));
    p.register_waiter(10, 500);
    assert_eq!(
        p.fail_all_waiters(),
        vec![(10, ErrorCode::NotLeaderOrFollower)]
    );
}

#[test]
fn registration_updates_and_leadership_loss() {
    let mut p = three();
    p.on_follower_fetch(2, 100, Some(5), 1).unwrap();
    // The controller fenced 3 and removed it from the ISR.
    p.set_replica_eligible(3, false);
    let mut r = reg(&[1, 2, 3], &[1, 2], 1, 5);
    r.partition_epoch = 9;
    assert!(p.apply_registration(&r, 2).unwrap());
    assert_eq!(p.high_watermark(), 100);
    assert_eq!(p.partition_epoch(), 9);
    // Same partition epoch again: nothing.
    assert!(!p.apply_registration(&r, 3).unwrap());
    r.leader = 2;
    r.leader_epoch = 6;
    assert_eq!(
        p.apply_registration(&r, 4),
        Err(ErrorCode::NotLeaderOrFollower)
    );
}

#[test]
fn caught_up_follower_outside_the_isr_holds_the_high_watermark() {
    // Kafka also waits for an eligible follower that is caught up but not (yet) in the
    // ISR, so it can join without the high watermark passing it.
    let mut p =
        LeaderPartitionState::become_leader(1, &reg(&[1, 2, 3], &[1], 1, 0), 10, 10, LAG, 0)
            .unwrap();
    assert!(p
        .on_follower_fetch(2, 10, Some(0), 1)
        .unwrap()
        .isr_proposal
        .is_some());
    // 3 is caught up too, but one proposal at a time: no proposal for it.
    assert_eq!(
        p.on_follower_fetch(3, 10, Some(0), 1).unwrap().isr_proposal,
        None
    );
    assert!(!p.on_leader_append(20, 2));
    p.on_follower_fetch(2, 20, Some(0), 3).unwrap();
    assert_eq!(p.high_watermark(), 10, "3 holds it back while caught up");
    // Once 3 is no longer caught up (lag exceeded) it stops holding the high watermark.
    p.on_follower_fetch(2, 20, Some(0), LAG + 5).unwrap();
    assert_eq!(p.high_watermark(), 20);
    // Ineligible (fenced) followers never hold it back: 3 is caught up as of its fetch
    // at 20, but once fenced only 2 (pending addition) bounds the high watermark.
    p.on_follower_fetch(3, 20, Some(0), LAG + 6).unwrap();
    p.set_replica_eligible(3, false);
    p.on_leader_append(25, LAG + 7);
    p.on_follower_fetch(2, 25, Some(0), LAG + 8).unwrap();
    assert_eq!(p.high_watermark(), 25);
}
