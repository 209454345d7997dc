//! Kafka's error codes for bad input (and no harm done), and DescribeTransactions /
//! ListTransactions.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_kafka_codes_and_harms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &["transaction.max.timeout.ms=60000".into()]).await;
    // Timeouts outside 1..=transaction.max.timeout.ms.
    for t in [60_001, 0, -5] {
        let r = init(&conn, "bad", t, (-1, -1), 4).await;
        assert_eq!(
            r.error_code,
            code(ErrorCode::InvalidTransactionTimeout),
            "timeout {t}"
        );
    }
    assert_eq!(
        state_of(&conn, "bad").await.0,
        code(ErrorCode::TransactionalIdNotFound)
    );
    // Only one of producer id / epoch given.
    let r = init(&conn, "bad", 1000, (5, -1), 4).await;
    assert_eq!(r.error_code, code(ErrorCode::InvalidRequest));
    // Unknown id.
    assert_eq!(
        end_txn(&conn, "nobody", (1, 0), true).await,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        add_partitions(&conn, "nobody", (1, 0), &[(TOPIC, 0)]).await,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    let pe = init_ok(&conn, "good", 60_000).await;
    // EndTxn without a transaction.
    assert_eq!(
        end_txn(&conn, "good", pe, true).await,
        code(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        end_txn(&conn, "good", pe, false).await,
        code(ErrorCode::InvalidTxnState)
    );
    // Wrong producer id, wrong epoch.
    assert_eq!(
        end_txn(&conn, "good", (pe.0 + 1, pe.1), true).await,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        add_partitions(&conn, "good", (pe.0, pe.1 + 1), &[(TOPIC, 0)]).await,
        code(ErrorCode::ProducerFenced)
    );
    // An unknown topic or partition: nothing is added, the others are not attempted.
    let r = add_partitions_v(&conn, "good", pe, &[(TOPIC, 0), (TOPIC, 9), ("nope", 0)], 3).await;
    assert_eq!(
        r,
        vec![
            ("nope".into(), 0, code(ErrorCode::UnknownTopicOrPartition)),
            (TOPIC.into(), 0, code(ErrorCode::OperationNotAttempted)),
            (TOPIC.into(), 9, code(ErrorCode::UnknownTopicOrPartition)),
        ]
    );
    assert_eq!(
        state_of(&conn, "good").await.1,
        "Empty",
        "nothing was added"
    );
    // The state is intact: a valid transaction still works.
    assert_eq!(add_partitions(&conn, "good", pe, &[(TOPIC, 0)]).await, 0);
    assert_eq!(end_txn(&conn, "good", pe, true).await, 0);
    // Mismatched retry after completion.
    assert_eq!(
        end_txn(&conn, "good", pe, false).await,
        code(ErrorCode::InvalidTxnState)
    );
    let r = read(&c, 0, IsolationLevel::ReadUncommitted).await;
    assert_eq!(r.batches.len(), 1, "exactly one marker: {:?}", r.batches);
    assert_eq!(r.last_stable_offset, r.high_watermark);
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_list_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _c, conn) = setup(dir.path(), &[]).await;
    let a = init_ok(&conn, "list-a", 30_000).await;
    let bb = init_ok(&conn, "list-b", 30_000).await;
    assert_eq!(
        add_partitions(&conn, "list-a", a, &[(TOPIC, 1), (TOPIC, 0)]).await,
        0
    );
    let d = describe(&conn, &["list-a", "list-b", "missing"]).await;
    assert_eq!(d[0].error_code, 0);
    assert_eq!(d[0].transaction_state.as_str(), "Ongoing");
    assert_eq!((d[0].producer_id.0, d[0].producer_epoch), a);
    assert_eq!(d[0].transaction_timeout_ms, 30_000);
    assert!(d[0].transaction_start_time_ms > 0);
    assert_eq!(d[0].topics.len(), 1);
    assert_eq!(d[0].topics[0].topic.0.as_str(), TOPIC);
    assert_eq!(d[0].topics[0].partitions, vec![0, 1]);
    assert_eq!(d[1].transaction_state.as_str(), "Empty");
    assert_eq!(d[1].transaction_start_time_ms, -1);
    assert_eq!(d[2].error_code, code(ErrorCode::TransactionalIdNotFound));

    let list = |states: &[&str], pids: &[i64], v: i16| {
        let req = ListTransactionsRequest::default()
            .with_state_filters(states.iter().map(|x| s(x)).collect())
            .with_producer_id_filters(pids.iter().map(|p| ProducerId(*p)).collect())
            .with_duration_filter(-1);
        let conn = conn.clone();
        async move {
            let r: ListTransactionsResponse = conn.send(&req, v).await.unwrap();
            let mut ids: Vec<String> = r
                .transaction_states
                .iter()
                .map(|t| t.transactional_id.0.to_string())
                .collect();
            ids.sort();
            (
                ids,
                r.unknown_state_filters
                    .iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(list(&[], &[], 0).await.0, vec!["list-a", "list-b"]);
    assert_eq!(list(&["Ongoing"], &[], 1).await.0, vec!["list-a"]);
    assert_eq!(list(&[], &[bb.0], 1).await.0, vec!["list-b"]);
    let (ids, unknown) = list(&["Ongoing", "Bogus"], &[], 1).await;
    assert_eq!(
        (ids, unknown),
        (vec!["list-a".to_string()], vec!["Bogus".to_string()])
    );
    // v1 duration filter: nothing has been running for an hour.
    let req = ListTransactionsRequest::default().with_duration_filter(3_600_000);
    let r: ListTransactionsResponse = conn.send(&req, 1).await.unwrap();
    assert!(
        !r.transaction_states
            .iter()
            .any(|t| t.transactional_id.0.as_str() == "list-a"),
        "list-a started just now"
    );
    b.shutdown();
}
