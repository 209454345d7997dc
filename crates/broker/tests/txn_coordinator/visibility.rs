//! What a `read_committed` reader sees after a commit, an abort and a transaction without
//! data: records, COMMIT/ABORT markers at the expected offsets, aborted transactions, LSO.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_is_visible_read_committed_with_the_marker_after_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &[]).await;
    let pe = init_ok(&conn, "app-1", 60_000).await;
    assert_eq!(pe.1, 0);
    assert_eq!(add_partitions(&conn, "app-1", pe, &[(TOPIC, 0)]).await, 0);
    let base = produce_txn_ok(&conn, "app-1", pe, 0, 0, &["a", "b", "c"]).await;
    assert_eq!(base, 0);
    // Open: read_committed sees nothing, the LSO is the transaction's first offset.
    assert_eq!(latest(&c, 0, IsolationLevel::ReadCommitted).await, 0);
    assert_eq!(latest(&c, 0, IsolationLevel::ReadUncommitted).await, 3);
    assert_eq!(state_of(&conn, "app-1").await.1, "Ongoing");

    assert_eq!(end_txn(&conn, "app-1", pe, true).await, 0);
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.high_watermark, 4);
    assert_eq!(r.last_stable_offset, 4);
    assert!(r.aborted.is_empty());
    assert_eq!(r.batches.len(), 2, "{:?}", r.batches);
    assert_eq!(r.batches[0].values, vec!["a", "b", "c"]);
    let marker = &r.batches[1];
    assert_eq!((marker.base, marker.last), (3, 3));
    assert_eq!(marker.control, Some(ControlRecordType::Commit));
    assert_eq!((marker.pid, marker.epoch), pe);
    assert_eq!(
        marker.coordinator_epoch,
        Some(b.broker.txn.coordinator_epoch())
    );
    assert_eq!(latest(&c, 0, IsolationLevel::ReadCommitted).await, 4);
    // A retried EndTxn(commit) succeeds; the transaction is complete.
    assert_eq!(end_txn(&conn, "app-1", pe, true).await, 0);
    assert_eq!(state_of(&conn, "app-1").await.1, "CompleteCommit");
    // A second transaction on the same producer (AddPartitions after commit starts it).
    assert_eq!(
        add_partitions(&conn, "app-1", pe, &[(TOPIC, 0), (TOPIC, 1)]).await,
        0
    );
    assert_eq!(produce_txn_ok(&conn, "app-1", pe, 0, 3, &["d"]).await, 4);
    assert_eq!(produce_txn_ok(&conn, "app-1", pe, 1, 0, &["e"]).await, 0);
    assert_eq!(end_txn(&conn, "app-1", pe, true).await, 0);
    let r1 = read(&c, 1, IsolationLevel::ReadCommitted).await;
    assert_eq!(r1.batches.len(), 2);
    assert_eq!(r1.batches[1].control, Some(ControlRecordType::Commit));
    assert_eq!(r1.last_stable_offset, 2);
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_is_listed_in_aborted_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &[]).await;
    let pe = init_ok(&conn, "ab", 60_000).await;
    assert_eq!(add_partitions(&conn, "ab", pe, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "ab", pe, 0, 0, &["x", "y"]).await;
    assert_eq!(end_txn(&conn, "ab", pe, false).await, 0);
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.aborted, vec![(pe.0, 0)]);
    assert_eq!(r.last_stable_offset, 3);
    assert_eq!(
        r.batches.last().unwrap().control,
        Some(ControlRecordType::Abort)
    );
    assert_eq!(r.batches.last().unwrap().base, 2);
    assert_eq!(state_of(&conn, "ab").await.1, "CompleteAbort");
    // Retried abort: success; commit now: INVALID_TXN_STATE.
    assert_eq!(end_txn(&conn, "ab", pe, false).await, 0);
    assert_eq!(
        end_txn(&conn, "ab", pe, true).await,
        code(ErrorCode::InvalidTxnState)
    );
    b.shutdown();
}

/// Markers alone (a transaction with partitions but no data) work without the produce
/// path: the marker lands and the LSO stays at the high watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_without_data_writes_markers_only() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &[]).await;
    let pe = init_ok(&conn, "empty", 60_000).await;
    assert_eq!(
        add_partitions(&conn, "empty", pe, &[(TOPIC, 0), (TOPIC, 1)]).await,
        0
    );
    assert_eq!(end_txn(&conn, "empty", pe, true).await, 0);
    for p in [0, 1] {
        let r = read(&c, p, IsolationLevel::ReadUncommitted).await;
        assert_eq!(r.batches.len(), 1);
        assert_eq!(r.batches[0].control, Some(ControlRecordType::Commit));
        assert_eq!((r.batches[0].pid, r.batches[0].epoch), pe);
        assert_eq!(r.last_stable_offset, 1);
    }
    b.shutdown();
}
