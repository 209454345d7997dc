#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Partitions in a multi-broker metadata image, driven on one node: brokers 1, 2 and 3
//! registered in node 1's metadata log, a topic placed over them with
//! `ClusterView::place` (Kafka's striping), then what node 1 answers for the partitions it
//! does not lead (NOT_LEADER_OR_FOLLOWER on the data APIs) and how the cluster view reports
//! them. Each test has its own temporary log directory.

mod support;

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strait_broker::cluster_view::{BrokerView, ClusterView};
use strait_broker::metadata_log::records::{BrokerEndpoint, RegisterBrokerRecord};
use strait_broker::Broker;
use strait_protocol::ErrorCode;
use strait_records::record::BatchBuilder;

const NOT_LEADER: i16 = 6; // NOT_LEADER_OR_FOLLOWER

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn broker_view(id: i32) -> BrokerView {
    BrokerView {
        id,
        host: "127.0.0.1".into(),
        port: 9092,
        rack: None,
        listener: "PLAINTEXT".into(),
    }
}

/// Node 1 with brokers 1, 2, 3 registered in its metadata log.
fn three_broker_node(dir: &std::path::Path) -> (Broker, ClusterView) {
    let broker = support::open_broker(dir, &[]);
    for id in 1..=3 {
        broker
            .topics
            .metadata_log()
            .register_broker(RegisterBrokerRecord {
                broker_id: id,
                endpoints: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092,
                    security_protocol: "PLAINTEXT".into(),
                }],
                rack: None,
            })
            .unwrap();
    }
    let view = ClusterView::from_brokers(1, (1..=3).map(broker_view).collect());
    (broker, view)
}

fn batch() -> Bytes {
    Bytes::from(
        BatchBuilder::new(0)
            .append(1_700_000_000_000, Some(b"k"), Some(b"v"))
            .build()
            .unwrap(),
    )
}

async fn produce(broker: &Broker, topic: &str, partition: i32) -> i16 {
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch())),
            ])]);
    let resp = support::dispatch_call(broker, 9, req).await;
    resp.responses[0].partition_responses[0].error_code
}

async fn list_offsets(broker: &Broker, topic: &str, partition: i32) -> i16 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(-1),
            ])]);
    let resp = support::dispatch_call(broker, 7, req).await;
    resp.topics[0].partitions[0].error_code
}

async fn fetch(broker: &Broker, topic: &str, partition: i32) -> i16 {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = support::dispatch_call(broker, 12, req).await;
    resp.responses[0].partitions[0].error_code
}

#[tokio::test]
async fn a_topic_striped_over_three_brokers_is_led_here_only_where_placed() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, view) = three_broker_node(dir.path());
    view.check_replication_factor(1).unwrap();
    let placement: Vec<Vec<i32>> = (0..3).map(|i| view.place(i, 1)).collect();
    assert_eq!(
        placement,
        vec![vec![1], vec![2], vec![3]],
        "Kafka's striping"
    );
    let topic = broker
        .topics
        .create_topic_placed("orders", placement, BTreeMap::new(), false)
        .unwrap();

    let parts = view.partitions(&topic);
    let leaders: Vec<i32> = parts.iter().map(|p| p.leader).collect();
    assert_eq!(leaders, vec![1, 2, 3]);
    for p in &parts {
        assert_eq!(p.replicas, vec![p.leader]);
        assert_eq!(p.isr, vec![p.leader]);
        assert!(p.offline_replicas.is_empty());
    }

    // Node 1 leads partition 0 only.
    assert_eq!(produce(&broker, "orders", 0).await, 0);
    assert_eq!(produce(&broker, "orders", 1).await, NOT_LEADER);
    assert_eq!(produce(&broker, "orders", 2).await, NOT_LEADER);
    assert_eq!(list_offsets(&broker, "orders", 0).await, 0);
    assert_eq!(list_offsets(&broker, "orders", 2).await, NOT_LEADER);
    assert_eq!(fetch(&broker, "orders", 0).await, 0);
    assert_eq!(fetch(&broker, "orders", 1).await, NOT_LEADER);

    // The placement is the image's, so it survives a restart.
    drop(topic);
    drop(broker);
    let broker = support::open_broker(dir.path(), &[]);
    let topic = broker.topics.get("orders").unwrap();
    let leaders: Vec<i32> = view.partitions(&topic).iter().map(|p| p.leader).collect();
    assert_eq!(leaders, vec![1, 2, 3]);
    assert_eq!(produce(&broker, "orders", 1).await, NOT_LEADER);
    assert_eq!(produce(&broker, "orders", 0).await, 0);
}

#[tokio::test]
async fn a_fenced_leader_reports_no_leader_and_an_offline_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = three_broker_node(dir.path());
    let topic = broker
        .topics
        .create_topic_placed("t", vec![vec![2], vec![1]], BTreeMap::new(), false)
        .unwrap();
    // Broker 2 fenced: it is no longer in the live set the view is built from.
    let view = ClusterView::from_brokers(1, vec![broker_view(1), broker_view(3)]);
    let p = view.partitions(&topic);
    assert_eq!(
        p[0].leader, -1,
        "RF=1 with its only replica fenced: offline"
    );
    assert_eq!(p[0].replicas, vec![2]);
    assert_eq!(p[0].offline_replicas, vec![2]);
    assert_eq!(p[1].leader, 1);
    assert_eq!(produce(&broker, "t", 0).await, NOT_LEADER);
    assert_eq!(produce(&broker, "t", 1).await, 0);
}

#[tokio::test]
async fn create_partitions_places_the_new_partitions_and_refuses_unregistered_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, view) = three_broker_node(dir.path());
    let topic = broker
        .topics
        .create_topic_placed("t", vec![vec![1]], BTreeMap::new(), false)
        .unwrap();
    let added: Vec<Vec<i32>> = (1..3).map(|i| view.place(i, 1)).collect();
    broker
        .topics
        .create_partitions_placed("t", added, false)
        .unwrap();
    let leaders: Vec<i32> = view.partitions(&topic).iter().map(|p| p.leader).collect();
    assert_eq!(leaders, vec![1, 2, 3]);

    // Only registered brokers can host a partition (Kafka's INVALID_REPLICA_ASSIGNMENT).
    let err = broker
        .topics
        .create_partitions_placed("t", vec![vec![9]], false)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidReplicaAssignment);
    assert!(
        err.message
            .as_deref()
            .unwrap_or_default()
            .contains("broker 9, but no such broker is registered"),
        "{err:?}"
    );
    assert_eq!(topic.partition_count(), 3, "a refused change adds nothing");
}

#[tokio::test]
async fn a_single_node_still_leads_everything_it_creates() {
    let dir = tempfile::tempdir().unwrap();
    let broker = support::open_broker(dir.path(), &[]);
    let topic = broker
        .topics
        .create_topic("solo", 2, BTreeMap::new(), false)
        .unwrap();
    for p in topic.partitions() {
        let r = p.registration().unwrap();
        assert_eq!((r.replicas, r.isr, r.leader), (vec![1], vec![1], 1));
        p.ensure_leader(1).unwrap();
    }
    assert_eq!(produce(&broker, "solo", 1).await, 0);
}
