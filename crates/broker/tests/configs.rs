#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Config keys that act on requests, end to end through `dispatch::handle` (issue 8):
//! `compression.type` recompression, `min.insync.replicas`, topic key validation,
//! DescribeConfigs of the registry's broker keys, `broker.rack`, and
//! `num.recovery.threads.per.data.dir`.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strait_broker::Broker;
use strait_records::record::{decode_records, BatchBuilder};
use strait_records::{BatchIter, Compression};

mod support;

use support::{dispatch_call as call, open_broker as open};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn create_topic(
    broker: &Broker,
    topic: &str,
    configs: &[(&str, &str)],
) -> create_topics_response::CreatableTopicResult {
    let t = create_topics_request::CreatableTopic::default()
        .with_name(TopicName(s(topic)))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(s(k))
                        .with_value(Some(s(v)))
                })
                .collect(),
        );
    let req = CreateTopicsRequest::default()
        .with_topics(vec![t])
        .with_timeout_ms(1000);
    call(broker, 7, req).await.topics.remove(0)
}

async fn produce(
    broker: &Broker,
    topic: &str,
    records: Vec<u8>,
    acks: i16,
) -> produce_response::PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(records))),
            ])]);
    call(broker, 9, req).await.responses[0].partition_responses[0].clone()
}

async fn fetch_all(broker: &Broker, topic: &str) -> Bytes {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)])]);
    let resp = call(broker, 12, req).await;
    resp.responses[0].partitions[0].records.clone().unwrap()
}

fn lz4_batch(producer: Option<(i64, i32)>) -> Vec<u8> {
    let mut b = BatchBuilder::new(0).compression(Compression::Lz4);
    if let Some((pid, seq)) = producer {
        b = b.producer(pid, 0, seq);
    }
    b.append_with_headers(
        1_700_000_000_000,
        Some(b"k1"),
        Some(b"v1"),
        vec![("h".into(), Some(Bytes::from_static(b"x")))],
    )
    .append(1_700_000_000_003, None, Some(b"v2"))
    .build()
    .unwrap()
}

#[tokio::test]
async fn compression_type_recompresses_produced_batches() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path(), &[]);
    assert_eq!(
        create_topic(&broker, "z", &[("compression.type", "zstd")])
            .await
            .error_code,
        0
    );
    let pid = call(
        &broker,
        4,
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_transaction_timeout_ms(60_000),
    )
    .await
    .producer_id
    .0;
    assert!(pid >= 0);
    let sent = lz4_batch(Some((pid, 0)));
    let first = produce(&broker, "z", sent.clone(), -1).await;
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    // An idempotent retry of the same (lz4) batch is still recognised as a duplicate.
    let retry = produce(&broker, "z", sent.clone(), -1).await;
    assert_eq!((retry.error_code, retry.base_offset), (0, 0));

    let data = fetch_all(&broker, "z").await;
    let batches: Vec<_> = BatchIter::new(&data).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 1, "the retry was deduplicated");
    let stored = &batches[0];
    stored.validate_crc().unwrap();
    assert_eq!(stored.compression().unwrap(), Compression::Zstd);
    assert_eq!((stored.producer_id(), stored.base_sequence()), (pid, 0));
    let original = strait_records::RecordBatch::new(&sent).unwrap();
    assert_eq!(stored.base_timestamp(), original.base_timestamp());
    assert_eq!(
        decode_records(stored).unwrap(),
        decode_records(&original).unwrap()
    );

    // `producer` keeps the producer's codec.
    create_topic(&broker, "p", &[]).await;
    produce(&broker, "p", lz4_batch(None), 1).await;
    let data = fetch_all(&broker, "p").await;
    let b = BatchIter::new(&data).next().unwrap().unwrap();
    assert_eq!(b.compression().unwrap(), Compression::Lz4);
}

#[tokio::test]
async fn min_insync_replicas_refuses_acks_all_only() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path(), &[]);
    // Allowed at creation even above the replication factor, as in Kafka.
    let created = create_topic(&broker, "isr", &[("min.insync.replicas", "2")]).await;
    assert_eq!(created.error_code, 0);
    let all = produce(&broker, "isr", lz4_batch(None), -1).await;
    assert_eq!(all.error_code, 19, "NOT_ENOUGH_REPLICAS");
    assert!(all
        .error_message
        .unwrap()
        .contains("min.isr requirement of 2"));
    let one = produce(&broker, "isr", lz4_batch(None), 1).await;
    assert_eq!((one.error_code, one.base_offset), (0, 0));
    // The broker-level default applies to topics without an override.
    let dir2 = tempfile::tempdir().unwrap();
    let strict = open(dir2.path(), &["min.insync.replicas=3"]);
    create_topic(&strict, "t", &[]).await;
    assert_eq!(
        produce(&strict, "t", lz4_batch(None), -1).await.error_code,
        19
    );
}

#[tokio::test]
async fn topic_keys_strait_does_not_honour_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path(), &[]);
    for (configs, key) in [
        (
            vec![("compression.zstd.level", "3")],
            "compression.zstd.level",
        ),
        (
            vec![("message.downconversion.enable", "true")],
            "message.downconversion.enable",
        ),
        (vec![("cleanup.policy", "archive")], "cleanup.policy"),
        (vec![("segment.jitter.ms", "-1")], "segment.jitter.ms"),
        (
            vec![
                ("min.compaction.lag.ms", "10"),
                ("max.compaction.lag.ms", "5"),
            ],
            "min.compaction.lag.ms",
        ),
    ] {
        let r = create_topic(&broker, "bad", &configs).await;
        assert_eq!(r.error_code, 40, "INVALID_CONFIG for {key}");
        assert!(r.error_message.unwrap().contains(key));
    }
    // IncrementalAlterConfigs refuses them too.
    create_topic(
        &broker,
        "good",
        &[("unclean.leader.election.enable", "true")],
    )
    .await;
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("good"))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s("local.retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s("1000"))),
            ]),
    ]);
    let r = call(&broker, 1, req).await;
    assert_eq!(r.responses[0].error_code, 40);
    assert!(r.responses[0]
        .error_message
        .clone()
        .unwrap()
        .contains("local.retention.ms"));

    // unclean.leader.election.enable is stored and described.
    let described = describe(
        &broker,
        2,
        "good",
        Some(&["unclean.leader.election.enable"]),
    )
    .await;
    assert_eq!(described[0].value.as_deref(), Some("true"));
    assert_eq!(described[0].config_source, 1);
}

async fn describe(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
) -> Vec<describe_configs_response::DescribeConfigsResourceResult> {
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configuration_keys(keys.map(|k| k.iter().map(|k| s(k)).collect())),
        ]);
    let mut r = call(broker, 4, req).await;
    assert_eq!(r.results[0].error_code, 0);
    r.results.remove(0).configs
}

#[tokio::test]
async fn broker_describe_configs_come_from_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(
        dir.path(),
        &[
            "broker.rack=rack-a",
            "num.io.threads=4",
            "strait.scram.credentials=SCRAM-SHA-512=[name=alice,password=alice-secret]",
            "process.roles=broker,controller",
        ],
    );
    let all = describe(&broker, 4, "1", None).await;
    let get = |n: &str| all.iter().find(|c| c.name.as_str() == n);
    let io = get("num.io.threads").unwrap();
    assert_eq!(io.value.as_deref(), Some("4"));
    assert_eq!((io.config_source, io.read_only), (4, true));
    let net = get("num.network.threads").unwrap();
    assert_eq!((net.value.as_deref(), net.config_source), (Some("3"), 5));
    assert!(get("log.cleaner.dedupe.buffer.size").is_some());
    assert!(get("socket.send.buffer.bytes").is_some());
    // Secrets are hidden, refused keys are not offered.
    let scram = get("strait.scram.credentials").unwrap();
    assert!(scram.is_sensitive && scram.value.is_none());
    assert!(get("zookeeper.connect").is_none());
    // Topic defaults stay dynamic.
    let retention = get("log.retention.ms").unwrap();
    assert!(!retention.read_only);

    // broker.rack reaches Metadata and DescribeCluster.
    let md = call(
        &broker,
        9,
        MetadataRequest::default().with_topics(Some(vec![])),
    )
    .await;
    assert_eq!(md.brokers[0].rack.as_deref(), Some("rack-a"));
    let dc = call(&broker, 0, DescribeClusterRequest::default()).await;
    assert_eq!(dc.brokers[0].rack.as_deref(), Some("rack-a"));
}

#[tokio::test]
async fn recovery_threads_open_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = open(dir.path(), &[]);
        for t in ["a", "b", "c", "d", "e"] {
            create_topic(&broker, t, &[]).await;
            assert_eq!(produce(&broker, t, lz4_batch(None), 1).await.error_code, 0);
        }
        broker.topics.close_all();
    }
    let broker = open(dir.path(), &["num.recovery.threads.per.data.dir=3"]);
    assert_eq!(broker.config.num_recovery_threads_per_data_dir, 3);
    for t in ["a", "b", "c", "d", "e"] {
        let data = fetch_all(&broker, t).await;
        assert_eq!(BatchIter::new(&data).count(), 1, "{t}");
    }
}
