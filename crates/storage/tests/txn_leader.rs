//! Client (leader-path) transactions on the partition log: verified transactional appends
//! open a transaction that pins the last stable offset, markers close it (commit → LSO =
//! HW; abort → an aborted-transaction entry), the open transaction survives a restart,
//! fenced epochs, unverified and stale-verified writes are refused, retries are
//! deduplicated, and DescribeProducers' per-producer state is reported.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use strait_records::{BatchBuilder, BatchIter};
use strait_storage::{
    AbortedTxn, AppendError, FetchIsolation, LogConfig, PartitionLog, ProducerSummary,
    TxnVerification, VerificationGuard,
};

const NOW: i64 = 1_700_000_000_000;

fn open(dir: &Path) -> PartitionLog {
    let config = LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 64,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    };
    PartitionLog::open(dir, config, NOW).unwrap()
}

/// A client batch of `n` records from producer `pid` (epoch, base sequence), transactional
/// or not; `pid` < 0 makes a plain batch.
fn batch(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(0);
    if pid >= 0 {
        b = b.producer(pid, epoch, seq).transactional(txn);
    }
    for i in 0..n {
        b = b.append(ts, Some(format!("k{i}").as_bytes()), Some(b"v"));
    }
    b.build().unwrap()
}

/// Verifies (as the produce path does after the coordinator said yes) and appends.
fn txn_append(log: &mut PartitionLog, records: &[u8], pid: i64, epoch: i16) -> i64 {
    let guard = match log.start_txn_verification(pid, epoch, NOW) {
        TxnVerification::Ongoing => VerificationGuard::NONE,
        TxnVerification::Required(g) => g,
    };
    log.append_leader(records, 1, NOW, guard)
        .unwrap()
        .base_offset
}

fn aborted(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
        last_offset: last,
        last_stable_offset: lso,
    }
}

#[test]
fn commit_moves_the_lso_to_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let none = VerificationGuard::NONE;
    log.append_leader(&batch(-1, 0, 0, 2, false, NOW), 1, NOW, none)
        .unwrap();
    // Opens producer 7's transaction at offset 2: the LSO stops there.
    assert_eq!(txn_append(&mut log, &batch(7, 0, 0, 3, true, NOW), 7, 0), 2);
    assert_eq!(log.high_watermark(), 5);
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(log.ongoing_transactions(), vec![(7, 2)]);
    // A later batch of the same transaction needs no new verification.
    assert_eq!(
        log.start_txn_verification(7, 0, NOW),
        TxnVerification::Ongoing
    );
    assert_eq!(
        log.append_leader(&batch(7, 0, 3, 1, true, NOW), 1, NOW, none)
            .unwrap()
            .base_offset,
        5
    );
    // Plain data after the transaction's start stays invisible to read_committed.
    log.append_leader(&batch(-1, 0, 0, 1, false, NOW), 1, NOW, none)
        .unwrap();
    assert_eq!(log.last_stable_offset(), 2);
    let r = log
        .read_isolated(0, 1 << 20, FetchIsolation::TxnCommitted, true)
        .unwrap();
    let last = BatchIter::new(&r.records)
        .map(|b| b.unwrap().last_offset())
        .last();
    assert_eq!(last, Some(1));
    assert_eq!(r.last_stable_offset, 2);

    let at = log.append_control_marker(7, 0, 0, true, 1, NOW).unwrap();
    assert_eq!(at, 7);
    assert_eq!(log.last_stable_offset(), log.high_watermark());
    assert_eq!(log.high_watermark(), 8);
    assert!(log.ongoing_transactions().is_empty());
    assert!(log.aborted_transactions().is_empty());
}

#[test]
fn abort_is_collected_for_read_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    txn_append(&mut log, &batch(3, 2, 0, 2, true, NOW), 3, 2);
    let at = log.append_control_marker(3, 2, 4, false, 1, NOW).unwrap();
    assert_eq!(at, 2);
    assert_eq!(log.last_stable_offset(), 3);
    assert_eq!(
        log.collect_aborted_transactions(0, 3),
        vec![aborted(3, 0, 2, 3)]
    );
    // The next transaction of the same producer needs a new verification.
    assert!(matches!(
        log.start_txn_verification(3, 2, NOW),
        TxnVerification::Required(_)
    ));
}

#[test]
fn unverified_and_stale_verifications_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let none = VerificationGuard::NONE;
    let b = batch(5, 0, 0, 1, true, NOW);
    // Not verified at all (Kafka: "Record was not part of an ongoing transaction").
    assert!(matches!(
        log.append_leader(&b, 1, NOW, none),
        Err(AppendError::InvalidTxnState(_))
    ));
    // Verified, but a marker (the transaction ended) landed before the append.
    let TxnVerification::Required(guard) = log.start_txn_verification(5, 0, NOW) else {
        panic!("no transaction is open yet");
    };
    log.append_control_marker(5, 0, 0, false, 1, NOW).unwrap();
    assert!(matches!(
        log.append_leader(&b, 1, NOW, guard),
        Err(AppendError::InvalidTxnState(_))
    ));
    // A guard is for one producer and epoch.
    let TxnVerification::Required(guard) = log.start_txn_verification(5, 0, NOW) else {
        panic!("no transaction is open");
    };
    assert!(matches!(
        log.append_leader(&batch(6, 0, 0, 1, true, NOW), 1, NOW, guard),
        Err(AppendError::InvalidTxnState(_))
    ));
    assert!(matches!(
        log.append_leader(&batch(5, 1, 0, 1, true, NOW), 1, NOW, guard),
        Err(AppendError::InvalidTxnState(_))
    ));
    // Requests in flight together share the guard (a producer pipelines up to five):
    // the first append spends it, the next continues the transaction it opened.
    assert_eq!(
        log.start_txn_verification(5, 0, NOW),
        TxnVerification::Required(guard)
    );
    assert_eq!(log.log_end_offset(), 1, "only the marker was written");
    assert_eq!(log.append_leader(&b, 1, NOW, guard).unwrap().base_offset, 1);
    let next = batch(5, 0, 1, 1, true, NOW);
    assert_eq!(
        log.append_leader(&next, 1, NOW, guard).unwrap().base_offset,
        2
    );
    // Spent: the open transaction is the proof now.
    assert_eq!(
        log.start_txn_verification(5, 0, NOW),
        TxnVerification::Ongoing
    );
    // A guard taken for another epoch replaces the old one.
    log.append_control_marker(5, 0, 0, true, 1, NOW).unwrap();
    let TxnVerification::Required(old) = log.start_txn_verification(5, 0, NOW) else {
        panic!("the transaction was committed");
    };
    let TxnVerification::Required(newer) = log.start_txn_verification(5, 1, NOW) else {
        panic!("the transaction was committed");
    };
    assert_ne!(old, newer);
    assert!(matches!(
        log.append_leader(&batch(5, 0, 2, 1, true, NOW), 1, NOW, old),
        Err(AppendError::InvalidTxnState(_))
    ));
    assert_eq!(
        log.append_leader(&batch(5, 1, 0, 1, true, NOW), 1, NOW, newer)
            .unwrap()
            .base_offset,
        4
    );
}

#[test]
fn mixed_or_foreign_batches_in_one_append_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let TxnVerification::Required(guard) = log.start_txn_verification(1, 0, NOW) else {
        panic!("no transaction is open");
    };
    let mut mixed = batch(1, 0, 0, 1, true, NOW);
    mixed.extend(batch(1, 0, 1, 1, false, NOW));
    assert!(matches!(
        log.append_leader(&mixed, 1, NOW, guard),
        Err(AppendError::InvalidRecord(_))
    ));
    let mut two = batch(1, 0, 0, 1, true, NOW);
    two.extend(batch(2, 0, 0, 1, true, NOW));
    assert!(matches!(
        log.append_leader(&two, 1, NOW, guard),
        Err(AppendError::InvalidRecord(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
    // Two batches of one producer's transaction in one append are fine.
    let mut same = batch(1, 0, 0, 2, true, NOW);
    same.extend(batch(1, 0, 2, 1, true, NOW));
    assert_eq!(
        log.append_leader(&same, 1, NOW, guard).unwrap().last_offset,
        2
    );
    // Its idempotent (non-transactional) write while the transaction is open: refused.
    assert!(matches!(
        log.append_leader(
            &batch(1, 0, 3, 1, false, NOW),
            1,
            NOW,
            VerificationGuard::NONE
        ),
        Err(AppendError::InvalidTxnState(_))
    ));
}

#[test]
fn fenced_epoch_and_sequence_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    txn_append(&mut log, &batch(9, 0, 0, 1, true, NOW), 9, 0);
    // The coordinator fenced epoch 0 (InitProducerId bumped it): its abort marker carries
    // epoch 1.
    log.append_control_marker(9, 1, 0, false, 1, NOW).unwrap();
    let TxnVerification::Required(guard) = log.start_txn_verification(9, 0, NOW) else {
        panic!("the transaction was aborted");
    };
    assert!(matches!(
        log.append_leader(&batch(9, 0, 1, 1, true, NOW), 1, NOW, guard),
        Err(AppendError::InvalidProducerEpoch {
            current_epoch: 1,
            ..
        })
    ));
    // A new epoch must start at sequence 0.
    let TxnVerification::Required(guard) = log.start_txn_verification(9, 2, NOW) else {
        panic!("no transaction is open");
    };
    assert!(matches!(
        log.append_leader(&batch(9, 2, 4, 1, true, NOW), 1, NOW, guard),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
    assert_eq!(
        log.append_leader(&batch(9, 2, 0, 1, true, NOW), 1, NOW, guard)
            .unwrap()
            .base_offset,
        2
    );
    // Within the epoch sequences must follow.
    assert!(matches!(
        log.append_leader(
            &batch(9, 2, 5, 1, true, NOW),
            1,
            NOW,
            VerificationGuard::NONE
        ),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn transactional_retries_are_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let first = batch(4, 0, 0, 3, true, NOW);
    txn_append(&mut log, &first, 4, 0);
    let retry = log
        .append_leader(&first, 1, NOW, VerificationGuard::NONE)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (0, 2));
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(log.ongoing_transactions(), vec![(4, 0)]);
}

#[test]
fn open_transaction_and_producer_state_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append_leader(
        &batch(-1, 0, 0, 1, false, NOW),
        1,
        NOW,
        VerificationGuard::NONE,
    )
    .unwrap();
    txn_append(&mut log, &batch(8, 3, 0, 2, true, NOW - 50), 8, 3);
    log.append_leader(
        &batch(2, 0, 0, 4, false, NOW - 10),
        1,
        NOW,
        VerificationGuard::NONE,
    )
    .unwrap();
    let before = log.active_producers();
    assert_eq!(
        before,
        vec![
            ProducerSummary {
                producer_id: 2,
                producer_epoch: 0,
                last_sequence: 3,
                last_timestamp: NOW - 10,
                coordinator_epoch: -1,
                current_txn_start_offset: -1,
            },
            ProducerSummary {
                producer_id: 8,
                producer_epoch: 3,
                last_sequence: 1,
                last_timestamp: NOW - 50,
                coordinator_epoch: -1,
                current_txn_start_offset: 1,
            },
        ]
    );
    log.close().unwrap();

    // Clean restart: from the snapshot.
    let mut log = open(dir.path());
    assert_eq!(log.last_stable_offset(), 1);
    assert_eq!(log.ongoing_transactions(), vec![(8, 1)]);
    assert_eq!(log.active_producers(), before);
    // The open transaction continues without a new verification.
    assert_eq!(
        log.start_txn_verification(8, 3, NOW),
        TxnVerification::Ongoing
    );
    txn_append(&mut log, &batch(8, 3, 2, 1, true, NOW), 8, 3);
    drop(log);

    // Unclean restart (no snapshot): rebuilt from the batches.
    let mut log = open(dir.path());
    assert_eq!(log.last_stable_offset(), 1);
    assert_eq!(log.ongoing_transactions(), vec![(8, 1)]);
    let p8 = log
        .active_producers()
        .into_iter()
        .find(|p| p.producer_id == 8)
        .unwrap();
    assert_eq!((p8.last_sequence, p8.last_timestamp), (2, NOW));
    log.append_control_marker(8, 3, 1, true, 1, NOW + 5)
        .unwrap();
    assert_eq!(log.last_stable_offset(), log.high_watermark());
    let p8 = log
        .active_producers()
        .into_iter()
        .find(|p| p.producer_id == 8)
        .unwrap();
    assert_eq!(p8.coordinator_epoch, 1);
    assert_eq!(p8.current_txn_start_offset, -1);
    assert_eq!(p8.last_timestamp, NOW + 5);
}
