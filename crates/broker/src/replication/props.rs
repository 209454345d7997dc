//! Property tests: random operation sequences against the leader state machine and the
//! controller's partition changes, checking the invariants listed in the module doc.

use proptest::prelude::*;
use strait_protocol::ErrorCode;

use super::election::{build_change, elect_leaders, remove_broker, ElectionType};
use super::leader::LeaderPartitionState;
use super::{Election, PartitionRegistration, NO_LEADER};

const LAG: i64 = 100;

#[derive(Debug, Clone)]
enum Op {
    /// Follower (2 or 3) fetches at its log end plus `advance` (capped at the leader's).
    Fetch {
        follower: i32,
        advance: i64,
    },
    Append(i64),
    Tick(i64),
    Shrink,
    /// The controller answers the pending proposal: commit, transient or final failure.
    Answer(u8),
    Eligible {
        follower: i32,
        eligible: bool,
    },
    /// An `acks=all` produce for the next `n` records (admitted or refused).
    Produce(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (2..=3i32, 0..20i64).prop_map(|(follower, advance)| Op::Fetch { follower, advance }),
        3 => (1..10i64).prop_map(Op::Append),
        2 => (1..80i64).prop_map(Op::Tick),
        1 => Just(Op::Shrink),
        2 => (0..3u8).prop_map(Op::Answer),
        1 => (2..=3i32, any::<bool>()).prop_map(|(follower, eligible)| Op::Eligible { follower, eligible }),
        2 => (1..5i64).prop_map(Op::Produce),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn leader_invariants(ops in proptest::collection::vec(op(), 1..120), min_isr in 1usize..=3) {
        let reg = PartitionRegistration {
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 3,
            partition_epoch: 5,
        };
        let mut p = LeaderPartitionState::become_leader(1, &reg, 20, 10, LAG, 0).unwrap();
        // The model's follower logs: how many records each really has.
        let mut logs = [0i64, 0, 15, 20];
        let mut now = 0i64;
        let mut next_waiter = 0u64;
        let mut last_hw = p.high_watermark();
        for op in ops {
            match op {
                Op::Fetch { follower, advance } => {
                    let i = follower as usize;
                    let offset = (logs[i] + advance).min(p.log_end_offset());
                    p.on_follower_fetch(follower, offset, Some(3), now).unwrap();
                    logs[i] = offset;
                }
                Op::Append(n) => {
                    p.on_leader_append(p.log_end_offset() + n, now);
                }
                Op::Tick(ms) => now += ms,
                Op::Shrink => {
                    p.maybe_shrink_isr(now);
                }
                Op::Answer(kind) => {
                    if let Some(prop) = p.pending_proposal().cloned() {
                        match kind {
                            0 => {
                                p.on_alter_partition_committed(&prop.new_isr, prop.partition_epoch + 1, now);
                            }
                            1 => {
                                p.on_alter_partition_failed(ErrorCode::RequestTimedOut);
                            }
                            _ => {
                                p.on_alter_partition_failed(ErrorCode::InvalidUpdateVersion);
                            }
                        }
                    }
                }
                Op::Eligible { follower, eligible } => p.set_replica_eligible(follower, eligible),
                Op::Produce(n) => {
                    if p.check_acks_all(min_isr).is_ok() {
                        let end = p.log_end_offset() + n;
                        p.on_leader_append(end, now);
                        p.register_waiter(next_waiter, end);
                        next_waiter += 1;
                    } else {
                        prop_assert!(p.isr().len() < min_isr);
                    }
                }
            }
            logs[1] = p.log_end_offset();
            let hw = p.high_watermark();
            prop_assert!(hw >= last_hw, "HW went back from {} to {}", last_hw, hw);
            last_hw = hw;
            for r in p.maximal_isr() {
                prop_assert!(hw <= logs[r as usize], "HW {} above {}'s log end {}", hw, r, logs[r as usize]);
            }
            for &r in p.isr() {
                prop_assert!(hw <= logs[r as usize], "committed ISR member {} lacks HW {}", r, hw);
            }
            for (id, result) in p.poll_waiters(min_isr) {
                let _ = id;
                if result.is_ok() {
                    let maximal = p.maximal_isr();
                    prop_assert!(maximal.len() >= min_isr);
                    // Every member has every record below HW, which covers the waiter.
                    for r in maximal {
                        prop_assert!(logs[r as usize] >= hw);
                    }
                } else {
                    prop_assert_eq!(result, Err(ErrorCode::NotEnoughReplicasAfterAppend));
                    prop_assert!(p.maximal_isr().len() < min_isr);
                }
            }
        }
    }

    #[test]
    fn election_invariants(
        steps in proptest::collection::vec((0..4u8, 1..=4i32, proptest::collection::vec(any::<bool>(), 4), any::<bool>()), 1..60),
    ) {
        let mut reg = PartitionRegistration::new(vec![1, 2, 3, 4], |_| true);
        for (kind, broker, alive_bits, unclean) in steps {
            let alive = |r: i32| r == NO_LEADER || alive_bits[(r - 1) as usize];
            let before = reg.clone();
            let change = match kind {
                0 => remove_broker(&reg, broker, unclean, |r| r != broker && alive(r)),
                1 => super::election::on_broker_alive(&reg, unclean, alive),
                2 => build_change(&reg, &reg.isr.clone(), if unclean { Election::Unclean } else { Election::Online }, alive),
                _ => {
                    let ty = if unclean { ElectionType::Unclean } else { ElectionType::Preferred };
                    match elect_leaders(&reg, ty, alive) {
                        Ok(r) => super::election::PartitionChange { unclean: !reg.isr.contains(&r.leader), record: Some(r) },
                        Err(_) => super::election::PartitionChange { record: None, unclean: false },
                    }
                }
            };
            let Some(next) = change.record else { continue };
            prop_assert!(!next.isr.is_empty(), "empty ISR");
            prop_assert!(next.partition_epoch > before.partition_epoch);
            if next.leader != before.leader {
                prop_assert!(next.leader_epoch > before.leader_epoch, "leader change without epoch bump");
                if next.leader != NO_LEADER {
                    prop_assert!(alive(next.leader), "dead leader {}", next.leader);
                    if !before.isr.contains(&next.leader) {
                        // Only an unclean election may leave the ISR, and it resets the ISR.
                        prop_assert!(unclean && change.unclean, "leader {} outside ISR {:?}", next.leader, before.isr);
                        prop_assert_eq!(next.isr.clone(), vec![next.leader]);
                    }
                }
            } else {
                prop_assert_eq!(next.leader_epoch, before.leader_epoch);
            }
            reg = next;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random reassign / join-ISR / cancel steps keep the registration consistent.
    #[test]
    fn reassignment_invariants(
        steps in proptest::collection::vec(
            (0..3u8, proptest::sample::subsequence(vec![1, 2, 3, 4, 5], 1..=4).prop_shuffle(), 1..=5i32),
            1..40,
        ),
    ) {
        use super::reassign::{alter_reassignment, maybe_complete, ReassigningPartition};
        let mut p = ReassigningPartition {
            registration: PartitionRegistration::new(vec![1, 2, 3], |_| true),
            reassignment: None,
        };
        let any = |_: i32| true;
        let known = |b: i32| (1..=5).contains(&b);
        for (kind, target, joiner) in steps {
            let before = p.clone();
            let next = match kind {
                0 => alter_reassignment(&p, Some(&target), known, any).ok(),
                1 => alter_reassignment(&p, None, known, any).ok(),
                _ => {
                    // The leader's AlterPartition adds a replica that caught up.
                    let reg = &p.registration;
                    if reg.replicas.contains(&joiner) && !reg.isr.contains(&joiner) {
                        let mut isr = reg.isr.clone();
                        isr.push(joiner);
                        let mut q = p.clone();
                        q.registration.isr = isr;
                        q.registration.partition_epoch += 1;
                        Some(maybe_complete(&q, any))
                    } else {
                        None
                    }
                }
            };
            let Some(next) = next else { continue };
            let (b, n) = (&before.registration, &next.registration);
            prop_assert!(n.partition_epoch >= b.partition_epoch);
            prop_assert!(n.leader_epoch >= b.leader_epoch);
            if n.leader != b.leader {
                prop_assert!(n.leader_epoch > b.leader_epoch);
            }
            prop_assert!(!n.isr.is_empty());
            prop_assert!(n.isr.iter().all(|r| n.replicas.contains(r)), "ISR {:?} outside replicas {:?}", n.isr, n.replicas);
            prop_assert!(n.leader == NO_LEADER || n.isr.contains(&n.leader));
            if let Some(r) = &next.reassignment {
                prop_assert!(!r.adding.is_empty() || !r.removing.is_empty());
                prop_assert!(r.adding.iter().chain(&r.removing).all(|x| n.replicas.contains(x)));
            }
            if kind == 0 && next.reassignment.is_none() {
                prop_assert_eq!(&n.replicas, &target, "a completed move lands on its target");
            }
            p = next;
        }
    }
}
