//! Unit tests of [`super`]: role transitions, the `acks=all` waiters and the leader's high
//! watermark reaching a real partition log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use strait_protocol::ErrorCode;
use strait_records::BatchBuilder;
use strait_storage::{LogConfig, PartitionLog, VerificationGuard};
use tokio::sync::oneshot::error::TryRecvError;

use super::*;
use crate::replication::PartitionRegistration;
use crate::topics::Partition;

const LAG: i64 = 30_000;

fn reg(
    replicas: &[i32],
    isr: &[i32],
    leader: i32,
    leader_epoch: i32,
    pe: i32,
) -> PartitionRegistration {
    PartitionRegistration {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch: pe,
    }
}

/// A replicated partition log in a temp dir with `records` single-record batches.
fn partition(dir: &std::path::Path, records: usize) -> Arc<Partition> {
    let mut log = PartitionLog::open(dir.join("t-0"), LogConfig::default(), 0).unwrap();
    log.set_replicated(true);
    for _ in 0..records {
        append(&mut log);
    }
    Arc::new(Partition::new("t", 0, log, 0))
}

fn append(log: &mut PartitionLog) -> i64 {
    let b = BatchBuilder::new(0)
        .append(1, None, Some(b"v"))
        .build()
        .unwrap();
    log.append_leader(&b, 0, 1, VerificationGuard::NONE)
        .unwrap();
    log.log_end_offset()
}

fn log_hw(p: &Partition) -> i64 {
    p.with_log(|l| l.high_watermark()).unwrap()
}

/// Node 1 leads replicas 1,2,3 (all in sync) in epoch 0.
fn lead(p: &Partition) {
    let (leo, hw) = p
        .with_log(|l| (l.log_end_offset(), l.high_watermark()))
        .unwrap();
    let t = p
        .replica()
        .lock()
        .become_leader(1, &reg(&[1, 2, 3], &[1, 2, 3], 1, 0, 0), leo, hw, LAG, 0)
        .unwrap();
    assert_eq!(t, Transition::Changed);
}

#[test]
fn acks_all_waits_for_every_isr_member_and_the_log_hw_moves_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 0);
    lead(&p);
    let leo = p.with_log_mut(append).unwrap();
    assert_eq!(leo, 1);
    let mut waiter = after_leader_append(&p, leo, Some(leo), 2, 1)
        .unwrap()
        .expect("acks=all parks");
    assert_eq!(log_hw(&p), 0, "no follower has the record");
    assert_eq!(
        account_follower_fetch(&p, 2, 1, Some(0), 2, 2).unwrap(),
        None
    );
    assert!(matches!(waiter.rx.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(log_hw(&p), 0, "follower 3 has not fetched: HW holds");
    account_follower_fetch(&p, 3, 1, Some(0), 2, 3).unwrap();
    // The waiter is answered only after the log's HW moved (same replica-lock section).
    assert_eq!(log_hw(&p), 1);
    assert_eq!(waiter.rx.try_recv().unwrap(), Ok(()));
    assert_eq!(p.replica().lock().leader().unwrap().high_watermark(), 1);
}

#[test]
fn acks_one_does_not_park_and_unreplicated_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 1);
    assert!(after_leader_append(&p, 1, Some(1), 1, 0).unwrap().is_none());
    lead(&p);
    assert!(after_leader_append(&p, 1, None, 1, 0).unwrap().is_none());
}

#[test]
fn becoming_follower_fails_parked_produces() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 0);
    lead(&p);
    let leo = p.with_log_mut(append).unwrap();
    let mut w = after_leader_append(&p, leo, Some(leo), 1, 1)
        .unwrap()
        .unwrap();
    let t = p.replica().lock().become_follower(2, 1);
    assert_eq!(t, Transition::Changed);
    assert_eq!(
        w.rx.try_recv().unwrap(),
        Err(ErrorCode::NotLeaderOrFollower)
    );
    assert_eq!(p.replica().lock().following(), Some((2, 1)));
    // Idempotent: the same leader and epoch change nothing.
    assert_eq!(
        p.replica().lock().become_follower(2, 1),
        Transition::Unchanged
    );
    // A follower refuses follower fetches and parks nothing.
    let mut r = p.replica().lock();
    assert_eq!(
        r.on_follower_fetch(3, 0, None, 2).unwrap_err(),
        ErrorCode::NotLeaderOrFollower
    );
    assert_eq!(
        r.wait_acks_all(1).unwrap_err(),
        ErrorCode::NotLeaderOrFollower
    );
    assert_eq!(r.check_acks_all(1), Err(AcksRefusal::NotLeader));
}

#[test]
fn acks_all_admission_counts_the_committed_isr() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 0);
    let mut r = p.replica().lock();
    r.become_leader(1, &reg(&[1, 2, 3], &[1, 2], 1, 0, 0), 0, 0, LAG, 0)
        .unwrap();
    assert_eq!(r.check_acks_all(2), Ok(()));
    match r.check_acks_all(3) {
        Err(AcksRefusal::NotEnoughReplicas(n)) => {
            assert_eq!((n.isr_size, n.min_insync_replicas), (2, 3))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn isr_shrink_below_min_isr_answers_not_enough_replicas_after_append() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 0);
    lead(&p);
    let leo = p.with_log_mut(append).unwrap();
    let mut w = after_leader_append(&p, leo, Some(leo), 2, 1)
        .unwrap()
        .unwrap();
    // The controller removes 2 and 3 (same leader epoch, newer partition epoch) once they
    // lag for longer than replica.lag.time.max.ms (until then, caught-up followers still
    // hold the HW): the leader alone holds the record, HW reaches it, but the ISR is
    // below min.insync=2.
    let mut r = p.replica().lock();
    let t = r
        .become_leader(1, &reg(&[1, 2, 3], &[1], 1, 0, 1), leo, 0, LAG, 2 * LAG)
        .unwrap();
    assert_eq!(
        t,
        Transition::Unchanged,
        "same epoch: the registration is applied"
    );
    assert_eq!(r.leader().unwrap().isr(), &[1]);
    assert_eq!(r.leader().unwrap().high_watermark(), 1);
    assert_eq!(r.poll(2), 1);
    assert_eq!(
        w.rx.try_recv().unwrap(),
        Err(ErrorCode::NotEnoughReplicasAfterAppend)
    );
}

#[test]
fn a_new_leader_epoch_fails_old_waiters_and_ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 0);
    lead(&p);
    let leo = p.with_log_mut(append).unwrap();
    let mut old = after_leader_append(&p, leo, Some(leo), 1, 1)
        .unwrap()
        .unwrap();
    let mut r = p.replica().lock();
    let t = r
        .become_leader(1, &reg(&[1, 2, 3], &[1, 2, 3], 1, 1, 1), leo, 0, LAG, 2)
        .unwrap();
    assert_eq!(t, Transition::Changed);
    assert_eq!(
        old.rx.try_recv().unwrap(),
        Err(ErrorCode::NotLeaderOrFollower)
    );
    let mut new = r.wait_acks_all(leo).unwrap();
    assert_ne!(new.id, old.id);
    // Cancelling the old (timed-out) id leaves the new waiter parked.
    r.cancel(old.id);
    assert!(matches!(new.rx.try_recv(), Err(TryRecvError::Empty)));
    r.cancel(new.id);
    assert_eq!(r.poll(1), 0);
    assert!(matches!(new.rx.try_recv(), Err(TryRecvError::Closed)));
}

#[test]
fn become_leader_refuses_a_registration_naming_another_leader() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 0);
    let mut r = p.replica().lock();
    assert_eq!(
        r.become_leader(1, &reg(&[1, 2], &[1, 2], 2, 0, 0), 0, 0, LAG, 0)
            .unwrap_err(),
        ErrorCode::NotLeaderOrFollower
    );
    assert!(matches!(r.role(), Role::Unreplicated));
}

#[test]
fn alter_partition_outcomes_reach_the_leader_state() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 0);
    let mut r = p.replica().lock();
    r.become_leader(1, &reg(&[1, 2], &[1], 1, 3, 4), 0, 0, LAG, 0)
        .unwrap();
    // Follower 2 catches up: an expansion is proposed from partition epoch 4.
    let proposal = r
        .on_follower_fetch(2, 0, Some(3), 1)
        .unwrap()
        .isr_proposal
        .unwrap();
    assert_eq!(
        (proposal.partition_epoch, proposal.new_isr.clone()),
        (4, vec![1, 2])
    );
    // Refused (another change overtook it): dropped, not retried.
    assert_eq!(
        r.on_alter_partition_failed(&proposal, ErrorCode::InvalidUpdateVersion),
        Some(AlterPartitionFailure::Reverted)
    );
    assert!(r.leader().unwrap().pending_proposal().is_none());
    // The next fetch proposes again; unavailable → retry; committed → the ISR moves.
    let proposal = r
        .on_follower_fetch(2, 0, Some(3), 2)
        .unwrap()
        .isr_proposal
        .unwrap();
    assert!(matches!(
        r.on_alter_partition_failed(&proposal, ErrorCode::NotController),
        Some(AlterPartitionFailure::Retry(_))
    ));
    // A stale leader epoch's answer is ignored.
    assert_eq!(r.on_alter_partition_committed(2, &[1, 2], 5, 3), None);
    assert_eq!(r.leader().unwrap().isr(), &[1]);
    r.on_alter_partition_committed(3, &[1, 2], 5, 3);
    assert_eq!(r.leader().unwrap().isr(), &[1, 2]);
    assert_eq!(r.leader().unwrap().partition_epoch(), 5);
}
