//! Every transition of the state machine, good and bad input alike.

use super::*;

const ID: &str = "tx";

fn pids(start: i64) -> impl FnMut() -> Result<i64, ApiError> {
    let mut next = start;
    move || {
        next += 1;
        Ok(next - 1)
    }
}

fn ready(step: Result<InitStep, ApiError>) -> TxnMetadata {
    match step.unwrap() {
        InitStep::Ready(m) => m,
        other => panic!("expected Ready, got {other:?}"),
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, ApiError>) -> ErrorCode {
    r.unwrap_err().code
}

/// A fresh id after InitProducerId: producer 100, epoch 0, EMPTY.
fn fresh() -> TxnMetadata {
    ready(init_producer_id(None, ID, 60_000, None, 10, &mut pids(100)))
}

fn ongoing() -> TxnMetadata {
    add_partitions(Some(&fresh()), ID, 100, 0, &[("t".into(), 0)], 20)
        .unwrap()
        .unwrap()
}

#[test]
fn state_names_round_trip_as_kafka_spells_them() {
    for s in TxnState::ALL {
        assert_eq!(TxnState::from_name(s.name()), Some(s));
    }
    assert_eq!(TxnState::CompleteCommit.name(), "CompleteCommit");
    assert_eq!(TxnState::from_name("ongoing"), None);
}

#[test]
fn init_new_id_gets_a_fresh_producer_with_epoch_zero() {
    let m = fresh();
    assert_eq!((m.producer_id, m.producer_epoch), (100, 0));
    assert_eq!(m.state, TxnState::Empty);
    assert_eq!(m.txn_timeout_ms, 60_000);
    assert_eq!(m.txn_start_timestamp, -1);
    // KIP-360 migration: an idempotent producer's id and epoch on a new transactional id.
    let m = ready(init_producer_id(
        None,
        ID,
        1000,
        Some((7, 3)),
        10,
        &mut pids(100),
    ));
    assert_eq!((m.producer_id, m.producer_epoch), (100, 0));
}

#[test]
fn init_existing_idle_id_bumps_the_epoch_and_takes_the_new_timeout() {
    let m = fresh();
    let m2 = ready(init_producer_id(
        Some(&m),
        ID,
        5000,
        None,
        30,
        &mut pids(500),
    ));
    assert_eq!((m2.producer_id, m2.producer_epoch), (100, 1));
    assert_eq!(m2.last_producer_epoch, -1);
    assert_eq!(m2.txn_timeout_ms, 5000);
    // After a commit too.
    let done = complete(
        &match end_txn(Some(&ongoing()), ID, 100, 0, true, 30).unwrap() {
            EndStep::Prepare(m) => m,
            other => panic!("{other:?}"),
        },
        40,
    )
    .unwrap();
    assert_eq!(done.state, TxnState::CompleteCommit);
    assert!(done.partitions.is_empty());
    let m3 = ready(init_producer_id(
        Some(&done),
        ID,
        5000,
        None,
        50,
        &mut pids(500),
    ));
    assert_eq!(
        (m3.producer_id, m3.producer_epoch, m3.state),
        (100, 1, TxnState::Empty)
    );
}

#[test]
fn init_kip360_bump_retry_and_fencing() {
    let m = fresh();
    // The current producer asks for a bump.
    let b = ready(init_producer_id(
        Some(&m),
        ID,
        1000,
        Some((100, 0)),
        30,
        &mut pids(500),
    ));
    assert_eq!(
        (b.producer_id, b.producer_epoch, b.last_producer_epoch),
        (100, 1, 0)
    );
    // Its retry (the answer was lost) gets the same answer.
    let r = ready(init_producer_id(
        Some(&b),
        ID,
        1000,
        Some((100, 0)),
        31,
        &mut pids(500),
    ));
    assert_eq!((r.producer_id, r.producer_epoch), (100, 1));
    // An older epoch is fenced; so is another producer id.
    let b2 = ready(init_producer_id(
        Some(&b),
        ID,
        1000,
        Some((100, 1)),
        32,
        &mut pids(500),
    ));
    assert_eq!(b2.producer_epoch, 2);
    assert_eq!(
        code(init_producer_id(
            Some(&b2),
            ID,
            1000,
            Some((100, 0)),
            33,
            &mut pids(500)
        )),
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        code(init_producer_id(
            Some(&b2),
            ID,
            1000,
            Some((99, 2)),
            33,
            &mut pids(500)
        )),
        ErrorCode::ProducerFenced
    );
}

#[test]
fn init_epoch_exhaustion_rotates_the_producer_id() {
    let mut m = fresh();
    m.producer_epoch = i16::MAX - 1;
    let r = ready(init_producer_id(
        Some(&m),
        ID,
        1000,
        None,
        30,
        &mut pids(500),
    ));
    assert_eq!((r.producer_id, r.producer_epoch), (500, 0));
    assert_eq!((r.last_producer_id, r.last_producer_epoch), (100, -1));
    // With KIP-360: the old epoch is remembered, and a retry with the old id is accepted.
    let r = ready(init_producer_id(
        Some(&m),
        ID,
        1000,
        Some((100, i16::MAX - 1)),
        30,
        &mut pids(500),
    ));
    assert_eq!((r.producer_id, r.producer_epoch), (500, 0));
    assert_eq!(
        (r.last_producer_id, r.last_producer_epoch),
        (100, i16::MAX - 1)
    );
    let again = ready(init_producer_id(
        Some(&r),
        ID,
        1000,
        Some((100, i16::MAX - 1)),
        31,
        &mut pids(900),
    ));
    assert_eq!((again.producer_id, again.producer_epoch), (500, 0));
}

#[test]
fn init_on_ongoing_fences_and_aborts_with_a_bumped_epoch() {
    let m = ongoing();
    let step = init_producer_id(Some(&m), ID, 1000, None, 30, &mut pids(500)).unwrap();
    let InitStep::FenceAndAbort(f) = step else {
        panic!("{step:?}")
    };
    assert_eq!(
        (f.state, f.producer_id, f.producer_epoch),
        (TxnState::PrepareAbort, 100, 1)
    );
    assert_eq!(
        f.partitions, m.partitions,
        "the abort covers the transaction's partitions"
    );
    let done = complete(&f, 31).unwrap();
    assert_eq!(done.state, TxnState::CompleteAbort);
    let r = ready(init_producer_id(
        Some(&done),
        ID,
        1000,
        None,
        32,
        &mut pids(500),
    ));
    assert_eq!((r.producer_id, r.producer_epoch), (100, 2));
}

#[test]
fn init_while_prepared_is_concurrent() {
    for commit in [true, false] {
        let EndStep::Prepare(p) = end_txn(Some(&ongoing()), ID, 100, 0, commit, 30).unwrap() else {
            panic!()
        };
        assert_eq!(
            code(init_producer_id(
                Some(&p),
                ID,
                1000,
                None,
                31,
                &mut pids(500)
            )),
            ErrorCode::ConcurrentTransactions
        );
    }
}

#[test]
fn add_partitions_checks_and_transitions() {
    let m = fresh();
    assert_eq!(
        code(add_partitions(None, ID, 100, 0, &[("t".into(), 0)], 20)),
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        code(add_partitions(Some(&m), ID, 101, 0, &[("t".into(), 0)], 20)),
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        code(add_partitions(Some(&m), ID, 100, 1, &[("t".into(), 0)], 20)),
        ErrorCode::ProducerFenced
    );
    let o = add_partitions(Some(&m), ID, 100, 0, &[("t".into(), 0)], 20)
        .unwrap()
        .unwrap();
    assert_eq!((o.state, o.txn_start_timestamp), (TxnState::Ongoing, 20));
    // Again: nothing to persist. More: added, start time kept.
    assert_eq!(
        add_partitions(Some(&o), ID, 100, 0, &[("t".into(), 0)], 25).unwrap(),
        None
    );
    let o2 = add_partitions(Some(&o), ID, 100, 0, &[("t".into(), 1)], 25)
        .unwrap()
        .unwrap();
    assert_eq!(o2.partitions.len(), 2);
    assert_eq!(o2.txn_start_timestamp, 20);
    let EndStep::Prepare(p) = end_txn(Some(&o2), ID, 100, 0, true, 30).unwrap() else {
        panic!()
    };
    assert_eq!(
        code(add_partitions(Some(&p), ID, 100, 0, &[("t".into(), 2)], 31)),
        ErrorCode::ConcurrentTransactions
    );
    // After completion a new transaction starts (Kafka: AddPartitions after commit is the
    // start of the next transaction).
    let c = complete(&p, 32).unwrap();
    let n = add_partitions(Some(&c), ID, 100, 0, &[("t".into(), 2)], 40)
        .unwrap()
        .unwrap();
    assert_eq!(n.partitions.len(), 1);
    assert_eq!(n.txn_start_timestamp, 40);
}

#[test]
fn add_group_like_partitions() {
    let m = fresh();
    let o = add_group(Some(&m), ID, 100, 0, "g", 20).unwrap().unwrap();
    assert_eq!(o.state, TxnState::Ongoing);
    assert!(o.groups.contains("g"));
    assert_eq!(add_group(Some(&o), ID, 100, 0, "g", 21).unwrap(), None);
    assert_eq!(
        code(add_group(Some(&o), ID, 100, 3, "g", 21)),
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        code(add_group(None, ID, 100, 0, "g", 21)),
        ErrorCode::InvalidProducerIdMapping
    );
}

#[test]
fn end_txn_checks_retries_and_bad_states() {
    let m = fresh();
    assert_eq!(
        code(end_txn(None, ID, 100, 0, true, 30)),
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        code(end_txn(Some(&m), ID, 100, 0, true, 30)),
        ErrorCode::InvalidTxnState
    );
    assert_eq!(
        code(end_txn(Some(&m), ID, 100, 0, false, 30)),
        ErrorCode::InvalidTxnState
    );
    let o = ongoing();
    assert_eq!(
        code(end_txn(Some(&o), ID, 7, 0, true, 30)),
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        code(end_txn(Some(&o), ID, 100, 1, true, 30)),
        ErrorCode::ProducerFenced
    );
    for commit in [true, false] {
        let EndStep::Prepare(p) = end_txn(Some(&o), ID, 100, 0, commit, 30).unwrap() else {
            panic!()
        };
        let want = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        assert_eq!(p.state, want);
        assert_eq!(
            code(end_txn(Some(&p), ID, 100, 0, commit, 31)),
            ErrorCode::ConcurrentTransactions
        );
        assert_eq!(
            code(end_txn(Some(&p), ID, 100, 0, !commit, 31)),
            ErrorCode::InvalidTxnState
        );
        let c = complete(&p, 32).unwrap();
        assert_eq!(
            end_txn(Some(&c), ID, 100, 0, commit, 33).unwrap(),
            EndStep::AlreadyDone
        );
        assert_eq!(
            code(end_txn(Some(&c), ID, 100, 0, !commit, 33)),
            ErrorCode::InvalidTxnState
        );
        assert_eq!(complete(&c, 34), None, "only PREPARE_* completes");
    }
}

#[test]
fn timeout_abort_bumps_the_epoch_only_after_the_timeout() {
    let o = ongoing(); // started at 20 with a 60 s timeout
    assert_eq!(abort_timed_out(&o, 20 + 59_999), None);
    let a = abort_timed_out(&o, 20 + 60_000).unwrap();
    assert_eq!((a.state, a.producer_epoch), (TxnState::PrepareAbort, 1));
    assert_eq!(abort_timed_out(&fresh(), i64::MAX), None);
    // The old producer is fenced afterwards.
    let c = complete(&a, 70_000).unwrap();
    assert_eq!(
        code(add_partitions(
            Some(&c),
            ID,
            100,
            0,
            &[("t".into(), 0)],
            70_001
        )),
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        code(end_txn(Some(&c), ID, 100, 0, false, 70_001)),
        ErrorCode::ProducerFenced
    );
}

#[test]
fn expiry_only_of_idle_ids() {
    let m = fresh(); // last update at 10
    assert!(!expired(&m, 10 + 999, 1000));
    assert!(expired(&m, 10 + 1000, 1000));
    let o = ongoing();
    assert!(!expired(&o, i64::MAX, 1000));
}

#[test]
fn bad_input_leaves_the_input_untouched() {
    let o = ongoing();
    let before = o.clone();
    let _ = end_txn(Some(&o), ID, 100, 9, true, 30);
    let _ = add_partitions(Some(&o), ID, 5, 0, &[("x".into(), 1)], 30);
    let _ = init_producer_id(Some(&o), ID, 1000, Some((5, 5)), 30, &mut pids(1));
    assert_eq!(o, before);
}
