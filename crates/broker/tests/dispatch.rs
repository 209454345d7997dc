#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! In-process broker tests: requests encoded exactly as a client would, handed to
//! `dispatch::handle`, responses decoded. Each test uses its own temporary log directory;
//! "restart" means dropping the broker state and opening the same directory again.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use strait_broker::{dispatch, Broker};
use strait_records::record::BatchBuilder;
use strait_records::BatchIter;

mod support;

use support::request_frame as frame;
use support::{dispatch_call as call, open_broker as open};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

async fn create_topic(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> i16 {
    let t = create_topics_request::CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.to_string()))
                        .with_value(Some(StrBytes::from_string(v.to_string())))
                })
                .collect(),
        );
    let resp = call(
        broker,
        7,
        CreateTopicsRequest::default()
            .with_topics(vec![t])
            .with_timeout_ms(1000),
    )
    .await;
    resp.topics[0].error_code
}

fn batch(values: &[&str]) -> Vec<u8> {
    let mut b = BatchBuilder::new(0);
    for (i, v) in values.iter().enumerate() {
        b = b.append(1_700_000_000_000 + i as i64, Some(b"k"), Some(v.as_bytes()));
    }
    b.build().unwrap()
}

async fn produce(
    broker: &Broker,
    topic: &str,
    partition: i32,
    records: Vec<u8>,
    acks: i16,
) -> Option<produce_response::PartitionProduceResponse> {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(Bytes::from(records))),
            ])]);
    if acks == 0 {
        assert!(dispatch::handle(broker, frame(9, &req))
            .await
            .unwrap()
            .is_none());
        return None;
    }
    let resp = call(broker, 9, req).await;
    Some(resp.responses[0].partition_responses[0].clone())
}

fn fetch_request(
    topic: &str,
    partitions: &[(i32, i64)],
    max_wait_ms: i32,
    session: (i32, i32),
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_id(session.0)
        .with_session_epoch(session.1)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(p, o)| {
                        fetch_request::FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(o)
                            .with_partition_max_bytes(1 << 20)
                            .with_current_leader_epoch(-1)
                            .with_last_fetched_epoch(-1)
                    })
                    .collect(),
            )])
}

#[tokio::test]
async fn api_versions_table_and_too_new_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path(), &[]);
    let resp = call(&broker, 3, ApiVersionsRequest::default()).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(
        resp.api_keys.len(),
        strait_protocol::versions::SUPPORTED_APIS.len()
    );
    // v99: answered in v0 format with UNSUPPORTED_VERSION.
    let mut out = dispatch::handle(
        &broker,
        frame(3, &ApiVersionsRequest::default())
            .slice(..)
            .to_vec()
            .into_iter()
            .enumerate()
            .map(|(i, b)| if i == 3 { 99 } else { b })
            .collect::<Vec<u8>>()
            .into(),
    )
    .await
    .unwrap()
    .unwrap();
    let _ = bytes::Buf::get_i32(&mut out);
    assert_eq!(bytes::Buf::get_i32(&mut out), 7);
    let v0 = ApiVersionsResponse::decode(&mut out, 0).unwrap();
    assert_eq!(v0.error_code, 35);
}

#[tokio::test]
async fn unknown_key_and_version_close_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path(), &[]);
    let mut bad = BytesMut::new();
    bad.put_i16(999);
    bad.put_i16(0);
    bad.put_i32(1);
    bad.put_i16(-1);
    assert!(dispatch::handle(&broker, bad.freeze()).await.is_err());
    let mut f = frame(12, &MetadataRequest::default()).to_vec();
    f[3] = 99;
    assert!(dispatch::handle(&broker, f.into()).await.is_err());
    // Truncated body of a known request.
    let f = frame(
        9,
        &ProduceRequest::default().with_acks(1).with_topic_data(vec![
            produce_request::TopicProduceData::default().with_name(name("t")),
        ]),
    );
    assert!(dispatch::handle(&broker, f.slice(..f.len() - 3))
        .await
        .is_err());
}

#[tokio::test]
async fn topics_configs_and_producer_ids_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (topic_id, cluster_id, pid) = {
        let broker = open(dir.path(), &[]);
        assert_eq!(
            create_topic(&broker, "orders", 3, &[("retention.ms", "3600000")]).await,
            0
        );
        assert_eq!(create_topic(&broker, "orders", 3, &[]).await, 36); // TOPIC_ALREADY_EXISTS
        assert_eq!(
            create_topic(&broker, "bad", 1, &[("retention.ms", "soon")]).await,
            40
        ); // INVALID_CONFIG
        assert_eq!(create_topic(&broker, "bad/name", 1, &[]).await, 17); // INVALID_TOPIC_EXCEPTION
        assert_eq!(create_topic(&broker, "rf", 1, &[]).await, 0);
        let md = call(&broker, 12, MetadataRequest::default().with_topics(None)).await;
        let t = md
            .topics
            .iter()
            .find(|t| t.name.as_ref().unwrap().0.as_str() == "orders")
            .unwrap();
        assert_eq!(t.partitions.len(), 3);
        let pid = call(
            &broker,
            4,
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await;
        assert_eq!(pid.error_code, 0);
        broker.topics.close_all();
        (
            t.topic_id,
            md.cluster_id.unwrap().to_string(),
            pid.producer_id.0,
        )
    };
    let broker = open(dir.path(), &[]);
    let md = call(&broker, 12, MetadataRequest::default().with_topics(None)).await;
    assert_eq!(md.cluster_id.unwrap().to_string(), cluster_id);
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().unwrap().0.as_str() == "orders")
        .unwrap();
    assert_eq!(t.topic_id, topic_id);
    assert_eq!(t.partitions.len(), 3);
    let described = call(
        &broker,
        4,
        DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("orders"))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")])),
        ]),
    )
    .await;
    let c = &described.results[0].configs[0];
    assert_eq!(c.value.as_ref().unwrap().as_str(), "3600000");
    assert_eq!(c.config_source, 1);
    let pid2 = call(
        &broker,
        4,
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
    .await;
    assert!(
        pid2.producer_id.0 > pid,
        "producer ids must not be reused after restart"
    );
}

#[tokio::test]
async fn produce_then_fetch_returns_the_batches_with_assigned_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path(), &[]);
    assert_eq!(create_topic(&broker, "t", 1, &[]).await, 0);
    let first = produce(&broker, "t", 0, batch(&["a", "b", "c"]), -1)
        .await
        .unwrap();
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    assert!(produce(&broker, "t", 0, batch(&["d"]), 0).await.is_none());
    let third = produce(&broker, "t", 0, batch(&["e", "f"]), 1)
        .await
        .unwrap();
    assert_eq!(third.base_offset, 4);
    let unknown = produce(&broker, "nope", 0, batch(&["x"]), 1).await.unwrap();
    assert_eq!(unknown.error_code, 3);
    let mut corrupt = batch(&["x"]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let rejected = produce(&broker, "t", 0, corrupt, 1).await.unwrap();
    assert_eq!(rejected.error_code, 2); // CORRUPT_MESSAGE
    assert!(rejected.error_message.is_some());

    let resp = call(&broker, 12, fetch_request("t", &[(0, 1)], 0, (0, -1))).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(
        (p.error_code, p.high_watermark, p.last_stable_offset),
        (0, 6, 6)
    );
    let records = p.records.clone().unwrap();
    let offsets: Vec<(i64, i64)> = BatchIter::new(&records)
        .map(|b| b.unwrap())
        .map(|b| (b.base_offset(), b.last_offset()))
        .collect();
    // The batch holding offset 1 starts at 0: whole batches, the client skips.
    assert_eq!(offsets, vec![(0, 2), (3, 3), (4, 5)]);

    let out_of_range = call(&broker, 12, fetch_request("t", &[(0, 99)], 0, (0, -1))).await;
    assert_eq!(out_of_range.responses[0].partitions[0].error_code, 1);
}

#[tokio::test]
async fn long_poll_wakes_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let broker = std::sync::Arc::new(open(dir.path(), &[]));
    assert_eq!(create_topic(&broker, "t", 1, &[]).await, 0);
    let b = broker.clone();
    // A 60 s wait: the test only finishes in time if the append wakes the fetch.
    let fetch =
        tokio::spawn(
            async move { call(&b, 12, fetch_request("t", &[(0, 0)], 60_000, (0, -1))).await },
        );
    // Produce only once the fetch is registered on the partition it waits on.
    let p = broker.topics.get("t").unwrap().partition(0).unwrap();
    let parked = std::time::Instant::now() + Duration::from_secs(30);
    while p.watch().registered() == 0 {
        assert!(std::time::Instant::now() < parked, "the fetch never parked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    produce(&broker, "t", 0, batch(&["wake"]), 1).await.unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), fetch)
        .await
        .expect("fetch woke")
        .unwrap();
    let records = resp.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(BatchIter::new(&records).count(), 1);
}

#[tokio::test]
async fn incremental_fetch_sessions_answer_only_partitions_with_news() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path(), &[]);
    assert_eq!(create_topic(&broker, "s", 2, &[]).await, 0);
    produce(&broker, "s", 0, batch(&["a"]), 1).await.unwrap();
    let full = call(
        &broker,
        12,
        fetch_request("s", &[(0, 0), (1, 0)], 0, (0, 0)),
    )
    .await;
    assert!(full.session_id > 0);
    assert_eq!(full.responses[0].partitions.len(), 2);
    // Nothing new: an incremental fetch (no partitions listed) answers none.
    let empty = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_id(full.session_id)
        .with_session_epoch(1);
    let inc = call(&broker, 12, empty.clone()).await;
    assert_eq!(inc.error_code, 0);
    assert!(inc.responses.iter().all(|t| t.partitions.is_empty()));
    // New data on partition 1 only.
    produce(&broker, "s", 1, batch(&["b"]), 1).await.unwrap();
    let inc = call(&broker, 12, empty.clone().with_session_epoch(2)).await;
    let parts: Vec<i32> = inc
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
        .collect();
    assert_eq!(parts, vec![1]);
    // Wrong epoch.
    let bad = call(&broker, 12, empty.with_session_epoch(9)).await;
    assert_eq!(bad.error_code, 71); // INVALID_FETCH_SESSION_EPOCH
}

#[tokio::test]
async fn incremental_alter_configs_and_broker_defaults() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = open(dir.path(), &[]);
        assert_eq!(create_topic(&broker, "c", 1, &[]).await, 0);
        let alter = |rt: i8, rn: &'static str, k: &'static str, v: &'static str, op: i8| {
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(rt)
                    .with_resource_name(StrBytes::from_static_str(rn))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_static_str(k))
                            .with_config_operation(op)
                            .with_value(Some(StrBytes::from_static_str(v))),
                    ]),
            ])
        };
        let ok = call(&broker, 1, alter(2, "c", "cleanup.policy", "compact", 2)).await;
        assert_eq!(ok.responses[0].error_code, 0);
        let bad = call(&broker, 1, alter(2, "c", "segment.bytes", "-5", 0)).await;
        assert_eq!(bad.responses[0].error_code, 40);
        assert!(bad.responses[0]
            .error_message
            .as_ref()
            .unwrap()
            .contains("segment.bytes"));
        let unknown = call(&broker, 1, alter(2, "c", "no.such.config", "1", 0)).await;
        assert_eq!(unknown.responses[0].error_code, 40);
        let ro = call(&broker, 1, alter(4, "1", "listeners", "PLAINTEXT://x:1", 0)).await;
        assert_eq!(ro.responses[0].error_code, 42); // INVALID_REQUEST
        let dynamic = call(&broker, 1, alter(4, "", "log.retention.ms", "1234", 0)).await;
        assert_eq!(dynamic.responses[0].error_code, 0);
        broker.topics.close_all();
    }
    let broker = open(dir.path(), &[]);
    let d = call(
        &broker,
        4,
        DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("c"))
                .with_configuration_keys(None),
        ]),
    )
    .await;
    let get = |n: &str| {
        d.results[0]
            .configs
            .iter()
            .find(|c| c.name.as_str() == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        get("cleanup.policy").value.unwrap().as_str(),
        "delete,compact"
    );
    assert_eq!(get("retention.ms").value.unwrap().as_str(), "1234");
    assert_eq!(get("retention.ms").config_source, 3); // DYNAMIC_DEFAULT_BROKER_CONFIG
}
