//! The coordinator's own decisions: a second InitProducerId fences the zombie, a timed-out
//! transaction is aborted, a PREPARE_COMMIT left by a crash completes at start, and idle
//! transactional ids expire.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_init_fences_the_zombie_and_aborts_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &[]).await;
    let old = init_ok(&conn, "z", 60_000).await;
    assert_eq!(add_partitions(&conn, "z", old, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "z", old, 0, 0, &["zombie"]).await;
    let new = init_ok(&conn, "z", 60_000).await;
    assert_eq!(new.0, old.0, "same producer id");
    assert_eq!(
        new.1,
        old.1 + 2,
        "one bump fences and aborts, one for the new producer"
    );
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.aborted, vec![(old.0, 0)]);
    let marker = r.batches.last().unwrap();
    assert_eq!(marker.control, Some(ControlRecordType::Abort));
    assert_eq!(
        marker.epoch,
        old.1 + 1,
        "the abort carries the fencing epoch"
    );
    assert_eq!(r.last_stable_offset, r.high_watermark);
    // The zombie is fenced everywhere.
    assert_eq!(
        add_partitions(&conn, "z", old, &[(TOPIC, 0)]).await,
        code(ErrorCode::ProducerFenced)
    );
    let v1 = add_partitions_v(&conn, "z", old, &[(TOPIC, 0)], 1).await;
    assert_eq!(
        v1[0].2,
        code(ErrorCode::InvalidProducerEpoch),
        "v1 spelling"
    );
    assert_eq!(
        end_txn(&conn, "z", old, true).await,
        code(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        end_txn_v(&conn, "z", old, true, 1).await,
        code(ErrorCode::InvalidProducerEpoch)
    );
    let (pc, _) = produce_txn(&conn, "z", old, 0, 1, &["late"]).await;
    assert_ne!(pc, 0, "a fenced producer's produce is refused");
    // The new producer works.
    assert_eq!(add_partitions(&conn, "z", new, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "z", new, 0, 0, &["fresh"]).await;
    assert_eq!(end_txn(&conn, "z", new, true).await, 0);
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    let committed: Vec<&str> = r
        .batches
        .iter()
        .filter(|b| b.pid == new.0 && b.epoch == new.1 && b.control.is_none())
        .flat_map(|b| b.values.iter().map(String::as_str))
        .collect();
    assert_eq!(committed, vec!["fresh"]);
    // KIP-360: InitProducerId v3+ with the current id and epoch bumps; a stale one is fenced
    // (INVALID_PRODUCER_EPOCH below v4).
    let bumped = init(&conn, "z", 60_000, new, 4).await;
    assert_eq!((bumped.error_code, bumped.producer_epoch), (0, new.1 + 1));
    let retry = init(&conn, "z", 60_000, new, 4).await;
    assert_eq!(
        (retry.error_code, retry.producer_epoch),
        (0, new.1 + 1),
        "a retried bump"
    );
    let stale = init(&conn, "z", 60_000, old, 4).await;
    assert_eq!(stale.error_code, code(ErrorCode::ProducerFenced));
    let stale3 = init(&conn, "z", 60_000, old, 3).await;
    assert_eq!(stale3.error_code, code(ErrorCode::InvalidProducerEpoch));
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_transaction_is_aborted_and_the_lso_reaches_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(
        dir.path(),
        &["transaction.abort.timed.out.transaction.cleanup.interval.ms=100".into()],
    )
    .await;
    let pe = init_ok(&conn, "slow", 500).await;
    assert_eq!(add_partitions(&conn, "slow", pe, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "slow", pe, 0, 0, &["never"]).await;
    assert_eq!(latest(&c, 0, IsolationLevel::ReadCommitted).await, 0);
    wait_for("the timeout abort", || async {
        latest(&c, 0, IsolationLevel::ReadCommitted).await == 2
    })
    .await;
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.aborted, vec![(pe.0, 0)]);
    assert_eq!(
        r.batches.last().unwrap().epoch,
        pe.1 + 1,
        "aborted with a bumped epoch"
    );
    assert_eq!(
        state_of(&conn, "slow").await,
        (0, "CompleteAbort".into(), pe.1 + 1)
    );
    // The timed-out producer is fenced.
    assert_eq!(
        end_txn(&conn, "slow", pe, true).await,
        code(ErrorCode::ProducerFenced)
    );
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_commit_left_by_a_crash_completes_at_start_and_ongoing_times_out() {
    use strait_broker::txn::state::TxnState;
    use strait_broker::txn::store::{TxnRecord, TxnStore};
    let dir = tempfile::tempdir().unwrap();
    let overrides = ["transaction.abort.timed.out.transaction.cleanup.interval.ms=100".to_string()];
    let (b, c, conn) = setup(dir.path(), &overrides).await;
    let epoch_before = b.broker.txn.coordinator_epoch();
    let prep = init_ok(&conn, "prep", 60_000).await;
    assert_eq!(add_partitions(&conn, "prep", prep, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "prep", prep, 0, 0, &["p1", "p2"]).await;
    let open = init_ok(&conn, "open", 2_000).await;
    assert_eq!(add_partitions(&conn, "open", open, &[(TOPIC, 1)]).await, 0);
    produce_txn_ok(&conn, "open", open, 1, 0, &["o1"]).await;
    drop(conn);
    drop(c);
    b.shutdown();

    // The crash: PREPARE_COMMIT of "prep" is durable, its markers never were written.
    {
        let (mut store, loaded) = TxnStore::open(dir.path()).unwrap();
        let mut md = loaded.txns["prep"].clone();
        assert_eq!(md.state, TxnState::Ongoing);
        md.state = TxnState::PrepareCommit;
        store.append(&TxnRecord::Txn(md)).unwrap();
    }

    let b = start_with(dir.path(), &overrides).await;
    assert!(b.broker.txn.coordinator_epoch() > epoch_before);
    let c = client(&b).await;
    c.refresh_metadata(&[TOPIC]).await.unwrap();
    let conn = c.any_broker().await.unwrap();
    // Completed during start-up: no wait.
    assert_eq!(state_of(&conn, "prep").await.1, "CompleteCommit");
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.batches.len(), 2);
    assert_eq!(r.batches[0].values, vec!["p1", "p2"]);
    assert_eq!(r.batches[1].control, Some(ControlRecordType::Commit));
    assert_eq!(
        r.batches[1].coordinator_epoch,
        Some(b.broker.txn.coordinator_epoch())
    );
    assert_eq!(r.last_stable_offset, 3);
    // The ongoing one is aborted once its 2 s timeout passes.
    wait_for("the ongoing transaction's timeout abort", || async {
        latest(&c, 1, IsolationLevel::ReadCommitted).await == 2
    })
    .await;
    let r1 = read(&c, 1, IsolationLevel::ReadCommitted).await;
    assert_eq!(r1.aborted, vec![(open.0, 0)]);
    assert_eq!(
        state_of(&conn, "open").await,
        (0, "CompleteAbort".into(), open.1 + 1)
    );
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_transactional_ids_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _c, conn) = setup(
        dir.path(),
        &[
            "transactional.id.expiration.ms=300".into(),
            "transaction.remove.expired.transaction.cleanup.interval.ms=100".into(),
        ],
    )
    .await;
    let pe = init_ok(&conn, "idle", 60_000).await;
    let busy = init_ok(&conn, "busy", 60_000).await;
    assert_eq!(add_partitions(&conn, "busy", busy, &[(TOPIC, 0)]).await, 0);
    wait_for("the idle id to expire", || async {
        state_of(&conn, "idle").await.0 == code(ErrorCode::TransactionalIdNotFound)
    })
    .await;
    // An ongoing transaction does not expire; an expired id starts afresh.
    assert_eq!(state_of(&conn, "busy").await.1, "Ongoing");
    assert_eq!(
        end_txn(&conn, "idle", pe, true).await,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    let again = init_ok(&conn, "idle", 60_000).await;
    assert_eq!(again.1, 0);
    assert_ne!(again.0, pe.0);
    b.shutdown();
}
