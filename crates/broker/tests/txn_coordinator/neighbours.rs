//! The coordinator against its neighbours: AddOffsetsToTxn joins the consumer group, a
//! read-only mirror topic cannot join a transaction, and transactional-id ACLs are enforced.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_offsets_to_txn_joins_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _c, conn) = setup(dir.path(), &[]).await;
    let pe = init_ok(&conn, "eos", 60_000).await;
    let add = |epoch: i16| {
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s("eos")))
            .with_producer_id(ProducerId(pe.0))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s("g1")));
        let conn = conn.clone();
        async move {
            let r: AddOffsetsToTxnResponse = conn.send(&req, 3).await.unwrap();
            r.error_code
        }
    };
    assert_eq!(add(pe.1 + 1).await, code(ErrorCode::ProducerFenced));
    assert_eq!(add(pe.1).await, 0);
    assert_eq!(state_of(&conn, "eos").await.1, "Ongoing");
    assert!(b.broker.txn.verify_group("eos", pe.0, pe.1, "g1").is_ok());
    assert!(b.broker.txn.verify_group("eos", pe.0, pe.1, "g2").is_err());
    assert_eq!(end_txn(&conn, "eos", pe, true).await, 0);
    assert!(b.broker.txn.verify_group("eos", pe.0, pe.1, "g1").is_err());
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_mirror_cannot_join_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _c, conn) = setup(dir.path(), &[]).await;
    let mirror =
        strait_broker::metadata::MirrorRecord::new("no-such-link", "src", "PAUSED", now_ms());
    b.broker
        .topics
        .create_mirror_topic("mirror-t", 1, Default::default(), mirror)
        .unwrap();
    let pe = init_ok(&conn, "m", 60_000).await;
    let r = add_partitions_v(&conn, "m", pe, &[("mirror-t", 0), (TOPIC, 0)], 3).await;
    assert_eq!(
        r,
        vec![
            ("mirror-t".into(), 0, code(ErrorCode::InvalidRequest)),
            (TOPIC.into(), 0, code(ErrorCode::OperationNotAttempted)),
        ]
    );
    assert_eq!(state_of(&conn, "m").await.1, "Empty");
    b.shutdown();
}

/// With an authorizer and no ACLs, an anonymous client is denied TRANSACTIONAL_ID WRITE
/// (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn) and DESCRIBE
/// (DescribeTransactions; ListTransactions lists nothing), and the state is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_id_acls_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_with(
        dir.path(),
        &[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
            "allow.everyone.if.no.acl.found=false".into(),
        ],
    )
    .await;
    b.broker
        .topics
        .create_topic(TOPIC, 1, Default::default(), false)
        .unwrap();
    let pe = b
        .broker
        .txn
        .init_producer_id("secured", 60_000, None)
        .unwrap();
    let c = client(&b).await;
    let conn = c.any_broker().await.unwrap();
    let denied = code(ErrorCode::TransactionalIdAuthorizationFailed);
    assert_eq!(
        init(&conn, "secured", 60_000, (-1, -1), 4).await.error_code,
        denied
    );
    assert_eq!(
        add_partitions(&conn, "secured", pe, &[(TOPIC, 0)]).await,
        denied
    );
    let req = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s("secured")))
        .with_producer_id(ProducerId(pe.0))
        .with_producer_epoch(pe.1)
        .with_group_id(GroupId(s("g")));
    let r: AddOffsetsToTxnResponse = conn.send(&req, 3).await.unwrap();
    assert_eq!(r.error_code, denied);
    assert_eq!(end_txn(&conn, "secured", pe, true).await, denied);
    assert_eq!(describe(&conn, &["secured"]).await[0].error_code, denied);
    let r: ListTransactionsResponse = conn
        .send(
            &ListTransactionsRequest::default().with_duration_filter(-1),
            1,
        )
        .await
        .unwrap();
    assert!(r.transaction_states.is_empty());
    let md = b.broker.txn.describe("secured").unwrap();
    assert_eq!(
        (md.producer_id, md.producer_epoch, md.state.name()),
        (pe.0, pe.1, "Empty")
    );
    b.shutdown();
}
