//! The coordinator over a real broker state (no sockets): marker failures and retries,
//! the fence path of InitProducerId, persistence across a reopen.

use std::collections::BTreeMap;

use super::state::TxnState;
use super::*;
use crate::broker::Broker;

fn open(dir: &std::path::Path, extra: &[&str]) -> Broker {
    let mut overrides = vec![format!("log.dirs={}", dir.display())];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let b = Broker::open(BrokerConfig::load(None, &overrides).unwrap()).unwrap();
    if b.topics.get("t").is_none() {
        b.topics
            .create_topic("t", 2, BTreeMap::new(), false)
            .unwrap();
    }
    b
}

/// (log end offset, last stable offset) of t-`p`.
fn ends(b: &Broker, p: i32) -> (i64, i64) {
    b.topics
        .get("t")
        .unwrap()
        .partition(p)
        .unwrap()
        .with_log(|l| (l.log_end_offset(), l.last_stable_offset()))
        .unwrap()
}

fn parts() -> Vec<(String, i32)> {
    vec![("t".into(), 0), ("t".into(), 1)]
}

#[test]
fn a_failed_marker_leaves_the_decision_durable_and_the_timer_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    let txn = &b.txn;
    let pe = txn.init_producer_id("r", 60_000, None).unwrap();
    txn.add_partitions("r", pe.0, pe.1, &parts()).unwrap();
    txn.fail_markers
        .store(1, std::sync::atomic::Ordering::Release);
    // EndTxn answers success: the commit is decided (PREPARE_COMMIT is durable).
    txn.end_txn("r", pe.0, pe.1, true).unwrap();
    assert_eq!(txn.describe("r").unwrap().state, TxnState::PrepareCommit);
    // One partition got its marker, the other not; requests meanwhile are CONCURRENT.
    assert_eq!((ends(&b, 0).0 + ends(&b, 1).0), 1);
    assert_eq!(
        txn.add_partitions("r", pe.0, pe.1, &parts())
            .unwrap_err()
            .code,
        ErrorCode::ConcurrentTransactions
    );
    assert_eq!(
        txn.end_txn("r", pe.0, pe.1, true).unwrap_err().code,
        ErrorCode::ConcurrentTransactions
    );
    assert_eq!(
        txn.init_producer_id("r", 60_000, None).unwrap_err().code,
        ErrorCode::ConcurrentTransactions
    );
    // The timer's retry writes the markers (the one written twice is harmless) and
    // completes.
    txn.tick();
    assert_eq!(txn.describe("r").unwrap().state, TxnState::CompleteCommit);
    for p in [0, 1] {
        let (leo, lso) = ends(&b, p);
        assert!(leo >= 1);
        assert_eq!(lso, leo);
    }
    txn.end_txn("r", pe.0, pe.1, true).unwrap();
}

#[test]
fn state_survives_a_reopen_and_the_coordinator_epoch_grows() {
    let dir = tempfile::tempdir().unwrap();
    let (pe, epoch) = {
        let b = open(dir.path(), &[]);
        let pe = b.txn.init_producer_id("keep", 60_000, None).unwrap();
        b.txn.add_partitions("keep", pe.0, pe.1, &parts()).unwrap();
        b.txn.add_offsets("keep", pe.0, pe.1, "g").unwrap();
        (pe, b.txn.coordinator_epoch())
    };
    let b = open(dir.path(), &[]);
    assert_eq!(b.txn.coordinator_epoch(), epoch + 1);
    let md = b.txn.describe("keep").unwrap();
    assert_eq!(md.state, TxnState::Ongoing);
    assert_eq!((md.producer_id, md.producer_epoch), pe);
    assert_eq!(md.partitions.len(), 2);
    assert!(md.groups.contains("g"));
    b.txn.verify_partition("keep", pe.0, pe.1, "t", 1).unwrap();
    assert_eq!(
        b.txn
            .verify_partition("keep", pe.0, pe.1 - 1, "t", 1)
            .unwrap_err()
            .code,
        ErrorCode::InvalidProducerEpoch
    );
    assert_eq!(
        b.txn
            .verify_partition("keep", pe.0 + 1, pe.1, "t", 1)
            .unwrap_err()
            .code,
        ErrorCode::InvalidProducerIdMapping
    );
    b.txn.end_txn("keep", pe.0, pe.1, false).unwrap();
    assert_eq!(
        b.txn
            .verify_partition("keep", pe.0, pe.1, "t", 1)
            .unwrap_err()
            .code,
        ErrorCode::InvalidTxnState
    );
    assert_eq!(
        b.txn
            .verify_group("keep", pe.0, pe.1 + 1, "g")
            .unwrap_err()
            .code,
        ErrorCode::ProducerFenced
    );
}

#[test]
fn fence_whose_abort_cannot_complete_answers_concurrent_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    let txn = &b.txn;
    let pe = txn.init_producer_id("f", 60_000, None).unwrap();
    txn.add_partitions("f", pe.0, pe.1, &parts()).unwrap();
    txn.fail_markers
        .store(1, std::sync::atomic::Ordering::Release);
    assert_eq!(
        txn.init_producer_id("f", 60_000, None).unwrap_err().code,
        ErrorCode::ConcurrentTransactions
    );
    let md = txn.describe("f").unwrap();
    assert_eq!(
        (md.state, md.producer_epoch),
        (TxnState::PrepareAbort, pe.1 + 1)
    );
    // The client's retry completes the abort first, then gets the next epoch.
    txn.tick();
    assert_eq!(
        txn.init_producer_id("f", 60_000, None).unwrap(),
        (pe.0, pe.1 + 2)
    );
}
