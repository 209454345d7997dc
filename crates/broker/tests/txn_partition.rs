#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! The partition side of transactions over a real socket: transactional Produce verified
//! with the coordinator (KIP-890), DescribeProducers (what `kafka-transactions
//! describe-producers` / `find-hanging` read) and WriteTxnMarkers (what
//! `kafka-transactions abort` / `Admin.abortTransaction` send) closing a transaction left
//! open so `read_committed` reaches the high watermark; and their bad input: unverified
//! transactional writes, unknown partitions, stale epochs, a read-only mirror topic, a
//! session without CLUSTER_ACTION / READ.

mod support;

use bytes::Bytes;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::PartitionResponse;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, ProduceRequest, ProducerId, TopicName, TransactionalId,
    WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;
use strait_client::admin::NewTopic;
use strait_client::fetch::{FetchParams, FetchPartitionSpec, IsolationLevel};
use strait_client::Client;
use strait_records::BatchBuilder;
use support::*;

const TS: i64 = 1_700_000_000_000;

// Kafka error codes asserted below.
const INVALID_REQUEST: i16 = 42;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

async fn create_topic(c: &Client, topic: &str) {
    let r = c
        .create_topics(&[NewTopic::new(topic, 1, 1)], 10_000, false)
        .await
        .unwrap();
    r[0].1.as_ref().unwrap();
}

/// A client batch of `n` records from (`pid`, `epoch`) starting at sequence `seq`.
fn batch(pid: i64, epoch: i16, seq: i32, n: usize, txn: bool, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(0)
        .producer(pid, epoch, seq)
        .transactional(txn);
    for i in 0..n {
        b = b.append(ts, Some(format!("k{i}").as_bytes()), Some(b"v"));
    }
    Bytes::from(b.build().unwrap())
}

/// One Produce (v11: what a Java 3.x transactional producer without TV2 sends).
async fn produce(
    c: &Client,
    topic: &str,
    partition: i32,
    transactional_id: Option<&str>,
    records: Bytes,
) -> PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_transactional_id(
            transactional_id.map(|t| TransactionalId(StrBytes::from_string(t.into()))),
        )
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let resp = c.any_broker().await.unwrap().send(&req, 11).await.unwrap();
    resp.responses[0].partition_responses[0].clone()
}

async fn describe_producers(
    c: &Client,
    topic: &str,
    partitions: Vec<i32>,
) -> Vec<PartitionResponse> {
    let req = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(name(topic))
        .with_partition_indexes(partitions)]);
    let resp = c.any_broker().await.unwrap().send(&req, 0).await.unwrap();
    resp.topics[0].partitions.clone()
}

/// WriteTxnMarkers with one marker for `partitions` of `topic`; the per-partition codes.
async fn write_marker(
    c: &Client,
    topic: &str,
    partitions: Vec<i32>,
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> Vec<i16> {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_coordinator_epoch(coordinator_epoch)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(name(topic))
            .with_partition_indexes(partitions)])]);
    let resp = c.any_broker().await.unwrap().send(&req, 1).await.unwrap();
    assert_eq!(resp.markers[0].producer_id, ProducerId(pid));
    resp.markers[0].topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// read_committed fetch from offset 0: (HW, LSO, aborted producer ids with first offsets).
async fn read_committed(c: &Client, topic: &str) -> (i64, i64, Vec<(i64, i64)>) {
    let params = FetchParams {
        max_wait_ms: 0,
        min_bytes: 0,
        isolation_level: IsolationLevel::ReadCommitted,
        partitions: vec![FetchPartitionSpec::new(topic, 0, 0)],
        ..FetchParams::default()
    };
    let r = c
        .any_broker()
        .await
        .unwrap()
        .fetch_raw(&params)
        .await
        .unwrap();
    let p = &r.partitions[0];
    assert_eq!(p.error, None);
    (
        p.high_watermark,
        p.last_stable_offset,
        p.aborted_transactions
            .iter()
            .map(|a| (a.producer_id, a.first_offset))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_produce_describe_producers_and_abort_of_a_hanging_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let c = client(&b).await;
    create_topic(&c, "t").await;

    // An idempotent producer: offsets 0-1.
    let r = produce(&c, "t", 0, None, batch(1000, 0, 0, 2, false, TS)).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));

    // Transactional records the coordinator never heard of are refused, with or without
    // a transactional id (Kafka: INVALID_TXN_STATE), and nothing is written.
    let r = produce(&c, "t", 0, None, batch(4242, 0, 0, 1, true, TS)).await;
    assert_eq!(r.error_code, INVALID_TXN_STATE, "{:?}", r.error_message);
    let (pid, epoch) = begin_transaction(&c, "tx-1", "t").await;
    let r = produce(
        &c,
        "t",
        0,
        Some("tx-1"),
        batch(pid, epoch + 1, 0, 1, true, TS),
    )
    .await;
    assert_eq!(
        r.error_code, INVALID_PRODUCER_EPOCH,
        "{:?}",
        r.error_message
    );

    // The verified transaction: offsets 2-4, then a continuation at 5.
    let r = produce(
        &c,
        "t",
        0,
        Some("tx-1"),
        batch(pid, epoch, 0, 3, true, TS + 1),
    )
    .await;
    assert_eq!(
        (r.error_code, r.base_offset),
        (0, 2),
        "{:?}",
        r.error_message
    );
    let r = produce(
        &c,
        "t",
        0,
        Some("tx-1"),
        batch(pid, epoch, 3, 1, true, TS + 2),
    )
    .await;
    assert_eq!(
        (r.error_code, r.base_offset),
        (0, 5),
        "{:?}",
        r.error_message
    );
    // A retry of the first batch is answered with its original offset.
    let r = produce(
        &c,
        "t",
        0,
        Some("tx-1"),
        batch(pid, epoch, 0, 3, true, TS + 1),
    )
    .await;
    assert_eq!((r.error_code, r.base_offset), (0, 2));
    // Plain data behind the open transaction.
    let r = produce(&c, "t", 0, None, batch(1000, 0, 2, 1, false, TS + 3)).await;
    assert_eq!((r.error_code, r.base_offset), (0, 6));
    assert_eq!(read_committed(&c, "t").await, (7, 2, vec![]));

    // DescribeProducers: both producers, the open transaction's start offset.
    let parts = describe_producers(&c, "t", vec![0]).await;
    assert_eq!(parts[0].error_code, 0);
    let mut producers: Vec<_> = parts[0]
        .active_producers
        .iter()
        .map(|p| {
            (
                p.producer_id.0,
                p.producer_epoch,
                p.last_sequence,
                p.last_timestamp,
                p.coordinator_epoch,
                p.current_txn_start_offset,
            )
        })
        .collect();
    producers.sort_unstable();
    let mut expected = vec![
        (1000, 0, 2, TS + 3, -1, -1),
        (pid, i32::from(epoch), 3, TS + 2, -1, 2),
    ];
    expected.sort_unstable();
    assert_eq!(producers, expected);

    // `kafka-transactions abort`: the marker as DescribeProducers described the producer.
    assert_eq!(
        write_marker(&c, "t", vec![0], pid, epoch, -1, false).await,
        vec![0]
    );
    assert_eq!(read_committed(&c, "t").await, (8, 8, vec![(pid, 2)]));
    let parts = describe_producers(&c, "t", vec![0]).await;
    let p = parts[0]
        .active_producers
        .iter()
        .find(|p| p.producer_id.0 == pid)
        .unwrap();
    assert_eq!(p.current_txn_start_offset, -1);

    // Stale producer epoch, then a fenced coordinator epoch.
    assert_eq!(
        write_marker(&c, "t", vec![0], pid, epoch + 1, 5, false).await,
        vec![0]
    );
    assert_eq!(
        write_marker(&c, "t", vec![0], pid, epoch, 5, false).await,
        vec![INVALID_PRODUCER_EPOCH]
    );
    assert_eq!(
        write_marker(&c, "t", vec![0], pid, epoch + 1, 4, true).await,
        vec![TRANSACTION_COORDINATOR_FENCED]
    );
    // Unknown partitions and topics, per partition.
    assert_eq!(
        write_marker(&c, "t", vec![0, 7], pid, epoch + 1, 5, false).await,
        vec![0, UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        write_marker(&c, "nope", vec![0], pid, epoch + 1, 5, false).await,
        vec![UNKNOWN_TOPIC_OR_PARTITION]
    );
    let parts = describe_producers(&c, "t", vec![3]).await;
    assert_eq!(parts[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let parts = describe_producers(&c, "nope", vec![0]).await;
    assert_eq!(parts[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);

    // The producer's data after the markers: the epoch they carried (epoch + 1) is current.
    // The coordinator still believes in its transaction, the partition saw the fence.
    let r = produce(&c, "t", 0, Some("tx-1"), batch(pid, epoch, 4, 1, true, TS)).await;
    assert_eq!(
        r.error_code, INVALID_PRODUCER_EPOCH,
        "{:?}",
        r.error_message
    );
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_are_refused_on_a_mirror_and_without_cluster_action() {
    // A read-only mirror (auto-created by a link to a second broker).
    let src_dir = tempfile::tempdir().unwrap();
    let dst_dir = tempfile::tempdir().unwrap();
    let src = start(src_dir.path()).await;
    let dst = start(dst_dir.path()).await;
    let sc = client(&src).await;
    let dc = client(&dst).await;
    create_topic(&sc, "m").await;
    let r = produce(&sc, "m", 0, None, batch(77, 0, 0, 2, false, TS)).await;
    assert_eq!(r.error_code, 0);
    let filters =
        r#"{"topicFilters":[{"name":"m","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;
    create_link_with(
        &dc,
        "l",
        &[
            ("bootstrap.servers", &addr(&src)),
            ("metadata.max.age.ms", "500"),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", filters),
        ],
    )
    .await;
    wait_for("mirror m caught up", || {
        let dc = dc.clone();
        async move {
            mirror(&dc, "m")
                .await
                .is_some_and(|m| m.partitions.first().is_some_and(|p| p.log_end_offset == 2))
        }
    })
    .await;
    assert_eq!(
        write_marker(&dc, "m", vec![0], 77, 0, 0, false).await,
        vec![INVALID_REQUEST]
    );
    // Described like any topic: the mirrored producer's state.
    let parts = describe_producers(&dc, "m", vec![0]).await;
    assert_eq!(parts[0].error_code, 0);
    assert_eq!(parts[0].active_producers[0].producer_id.0, 77);
    assert_eq!(parts[0].active_producers[0].last_sequence, 1);
    dst.shutdown();
    src.shutdown();

    // An enforcing authorizer with no ACLs: the anonymous session has neither
    // CLUSTER_ACTION nor READ.
    let dir = tempfile::tempdir().unwrap();
    let b = start_with(
        dir.path(),
        &["authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into()],
    )
    .await;
    let c = client(&b).await;
    assert_eq!(
        write_marker(&c, "t", vec![0, 1], 1, 0, 0, false).await,
        vec![CLUSTER_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED]
    );
    let parts = describe_producers(&c, "t", vec![0]).await;
    assert_eq!(parts[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    b.shutdown();
}
