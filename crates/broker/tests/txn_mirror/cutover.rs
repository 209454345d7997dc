//! Cutover with open mirrored transactions (issue 9, item 5): promote and failover abort
//! them with markers at the old log end, once, even when the cutover runs again.

use super::*;

/// A source partition with a committed transaction, then P1's second transaction and P2's
/// first left open (P1 already had a marker, coordinator epoch 3; P2 none), around plain
/// records. Returns the brokers, clients and the mirrored log end (where the markers go).
async fn open_txn_scenario(
    sd: &Path,
    dd: &Path,
    topic: &str,
) -> (RunningBroker, RunningBroker, Client, i64) {
    let source = start_with(sd, &[]).await;
    let dest = start_with(dd, &[]).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    src.create_topics(
        &[strait_client::admin::NewTopic::new(topic, 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    let mut m = Model::new();
    m.plain(&["p-0"]);
    m.txn("C", P1, 0, &["c-0", "c-1"], Compression::None);
    m.end(P1, true);
    m.txn("O1", P1, 0, &["o1-0"], Compression::None);
    m.txn("O2", P2, 0, &["o2-0", "o2-1"], Compression::Lz4);
    m.plain(&["p-1"]);
    append_to_source(&source, topic, &m.take());
    let leo = m.high_watermark();
    create_link(&dst, &addr(&source), topic).await;
    wait_mirrored(&dst, topic, leo).await;
    // Mirrored with the transactions still open: read_committed is stuck at O1's start.
    assert_eq!(
        with_log(&dest, topic, |l| l.ongoing_transactions().len()),
        2
    );
    assert!(with_log(&dest, topic, |l| l.last_stable_offset()) < leo);
    (source, dest, dst, leo)
}

/// After a cutover at `leo` that aborted P1's and P2's open transactions: two ABORT markers
/// at the old log end, LSO == HW, read_committed sees every committed record and none of the
/// open ones, and describe reports 2 aborted transactions for partition 0.
async fn check_aborted_at_cutover(dest: &RunningBroker, dst: &Client, topic: &str, leo: i64) {
    let (ongoing, lso, hw, index) = with_log(dest, topic, |l| {
        (
            l.ongoing_transactions(),
            l.last_stable_offset(),
            l.high_watermark(),
            l.aborted_transactions(),
        )
    });
    assert!(ongoing.is_empty(), "{ongoing:?}");
    assert_eq!(hw, leo + 2, "two markers after the mirrored log end");
    assert_eq!(lso, hw);
    let mut entries: Vec<(i64, i64)> = index
        .iter()
        .map(|a| (a.producer_id, a.last_offset))
        .collect();
    entries.sort();
    let mut marker_offsets: Vec<i64> = entries.iter().map(|e| e.1).collect();
    marker_offsets.sort();
    assert_eq!(marker_offsets, vec![leo, leo + 1]);
    assert_eq!(
        entries.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![P1, P2]
    );
    // The markers themselves: ABORT control batches of the producers' id and epoch.
    let raw = raw_log(dst, topic, 0).await;
    let markers: Vec<(i64, i64, i16)> = BatchIter::new(&raw)
        .map(|b| b.unwrap())
        .filter(|b| b.base_offset() >= leo)
        .map(|b| {
            assert_eq!(
                control_record_type(&b).unwrap(),
                Some(ControlRecordType::Abort)
            );
            assert!(b.is_transactional());
            (b.base_offset(), b.producer_id(), b.producer_epoch())
        })
        .collect();
    assert_eq!(markers.len(), 2, "{markers:?}");
    assert!(markers.iter().all(|m| m.2 == 0));
    let committed = consume(dst, topic, IsolationLevel::ReadCommitted).await;
    let values: Vec<&str> = committed.records.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(values, vec!["p-0", "c-0", "c-1", "p-1"]);
    assert_eq!(
        list_latest(dst, topic, IsolationLevel::ReadCommitted).await,
        hw
    );
    let d = mirror(dst, topic).await.unwrap();
    assert_eq!(d.state, "STOPPED");
    assert_eq!(d.partitions[0].aborted_transactions, Some(2));
}

/// A new produce on the promoted topic lands after the markers and is readable committed;
/// a repeated promote (request and direct) writes no second marker.
async fn check_writable_and_idempotent(dest: &RunningBroker, dst: &Client, topic: &str, leo: i64) {
    let batch = BatchBuilder::new(0)
        .append(now_ms(), Some(b"k".as_slice()), Some(b"after".as_slice()))
        .build()
        .unwrap();
    let produced = dst
        .produce_raw(topic, 0, Bytes::from(batch), -1)
        .await
        .unwrap();
    assert_eq!(produced.base_offset, leo + 2);
    let committed = consume(dst, topic, IsolationLevel::ReadCommitted).await;
    assert_eq!(committed.records.last().unwrap().1, "after");

    // A client transaction open on the promoted topic is not the cutover's to abort.
    let client_pid = with_log(dest, topic, |l| l.max_producer_id().unwrap()) + 1_000_000;
    let open = BatchBuilder::new(leo + 3)
        .leader_epoch(i32::MAX / 2)
        .producer(client_pid, 0, 0)
        .transactional(true)
        .append(now_ms(), None, Some(b"client-open".as_slice()))
        .build()
        .unwrap();
    dest.broker
        .topics
        .get(topic)
        .unwrap()
        .partition(0)
        .unwrap()
        .with_log_mut(|l| l.append_mirrored(&open, now_ms()))
        .unwrap()
        .unwrap();
    let before = with_log(dest, topic, |l| {
        (l.log_end_offset(), l.aborted_transactions())
    });

    let r = alter_mirror(dst, MirrorOp::Promote, topic).await;
    assert_ne!(r.results[0].error_code, 0, "already stopped");
    // The broker's own cutover entry point is a no-op on a STOPPED topic.
    assert_eq!(dest.broker.topics.promote(topic).unwrap(), vec![2]);
    let after = with_log(dest, topic, |l| {
        (
            (l.log_end_offset(), l.aborted_transactions()),
            l.ongoing_transactions(),
        )
    });
    assert_eq!(after.0, before, "no second marker");
    assert_eq!(after.1, vec![(client_pid, leo + 3)]);
    assert_eq!(
        mirror(dst, topic).await.unwrap().partitions[0].aborted_transactions,
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_aborts_open_mirrored_transactions() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let topic = "txn-promote";
    let (_source, dest, dst, leo) = open_txn_scenario(sd.path(), dd.path(), topic).await;
    let r = alter_mirror(&dst, MirrorOp::Promote, topic).await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    // Promote is asynchronous: its counts arrive with STOPPED, in describe.
    assert!(r.results[0].aborted_transactions.is_empty());
    wait_for("the promotion", || {
        let dst = dst.clone();
        async move {
            mirror(&dst, topic)
                .await
                .is_some_and(|m| m.state == "STOPPED")
        }
    })
    .await;
    check_aborted_at_cutover(&dest, &dst, topic, leo).await;
    check_writable_and_idempotent(&dest, &dst, topic, leo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_aborts_open_mirrored_transactions() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let topic = "txn-failover";
    let (source, dest, dst, leo) = open_txn_scenario(sd.path(), dd.path(), topic).await;
    // The source is gone: failover is the only way out.
    drop(source);
    let r = alter_mirror(&dst, MirrorOp::Failover, topic).await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    assert_eq!(
        r.results[0].aborted_transactions,
        vec![PartitionCount {
            partition: 0,
            count: 2
        }]
    );
    check_aborted_at_cutover(&dest, &dst, topic, leo).await;
    check_writable_and_idempotent(&dest, &dst, topic, leo).await;
}

/// A crash after the markers but before the metadata write: the cutover runs again, finds
/// nothing open and writes no second marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_rerun_after_markers_writes_no_second_marker() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let topic = "txn-rerun";
    let (_source, dest, dst, leo) = open_txn_scenario(sd.path(), dd.path(), topic).await;
    let r = alter_mirror(&dst, MirrorOp::Pause, topic).await;
    assert_eq!(r.results[0].error_code, 0);
    // The first attempt's markers (what a crashed cutover leaves behind).
    let written = dest
        .broker
        .topics
        .get(topic)
        .unwrap()
        .partition(0)
        .unwrap()
        .with_log_mut(|l| l.abort_ongoing_transactions(1, now_ms()))
        .unwrap()
        .unwrap();
    assert_eq!(written.len(), 2);
    let r = alter_mirror(&dst, MirrorOp::Failover, topic).await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(r.results[0].aborted_transactions[0].count, 0);
    let (leo_now, entries, lso, hw) = with_log(&dest, topic, |l| {
        (
            l.log_end_offset(),
            l.aborted_transactions().len(),
            l.last_stable_offset(),
            l.high_watermark(),
        )
    });
    assert_eq!((leo_now, entries), (leo + 2, 2));
    assert_eq!(lso, hw);
}
