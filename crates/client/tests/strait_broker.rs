//! strait-client against an in-process Strait broker (port 0, temporary log directory):
//! topic admin, raw produce, raw fetch byte-identity, ListOffsets, DescribeConfigs,
//! DescribeCluster.

// Test harness code: a failed unwrap is a failed test (clippy.toml only covers #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use strait_broker::{BrokerConfig, RunningBroker};
use strait_client::admin::{ConfigResource, NewTopic};
use strait_client::fetch::{FetchParams, FetchPartitionSpec};
use strait_client::offsets::OffsetSpec;
use strait_client::{Client, ClientConfig, ErrorCode};
use strait_records::{BatchBuilder, BatchIter, Compression};

async fn start_broker(dir: &std::path::Path) -> RunningBroker {
    let config = BrokerConfig::load(
        None,
        &[
            "listeners=PLAINTEXT://127.0.0.1:0".into(),
            format!("log.dirs={}", dir.display()),
        ],
    )
    .unwrap();
    RunningBroker::start(config).await.unwrap()
}

/// Bytes of a batch outside the CRC that a leader append may rewrite.
fn without_offset_and_epoch(batch: &[u8]) -> Vec<u8> {
    let mut copy = batch.to_vec();
    copy[0..8].fill(0); // baseOffset
    copy[12..16].fill(0); // partitionLeaderEpoch
    copy
}

#[tokio::test]
async fn strait_broker_admin_produce_fetch_offsets_configs() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let port = broker.listeners[0].port;
    let mut config = ClientConfig::plaintext(&format!("127.0.0.1:{port}"));
    config.request_timeout = Duration::from_secs(10);
    let client = Client::connect(&config).await.unwrap();
    assert_eq!(client.metadata().brokers.len(), 1);

    // CreateTopics, and TOPIC_ALREADY_EXISTS as a per-item Kafka error.
    let topic = NewTopic::new("client-it", 2, 1).with_config("cleanup.policy", "delete");
    let created = client
        .create_topics(std::slice::from_ref(&topic), 10_000, false)
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    let again = client.create_topics(&[topic], 10_000, false).await.unwrap();
    assert_eq!(
        again[0].1.as_ref().unwrap_err().kafka_code(),
        Some(ErrorCode::TopicAlreadyExists)
    );

    // Produce two batches built with BatchBuilder; the broker assigns offsets.
    let first = BatchBuilder::new(0)
        .compression(Compression::Lz4)
        .append(1_700_000_000_000, Some(b"k1"), Some(b"one"))
        .append(1_700_000_000_001, None, Some(b"two"))
        .build()
        .unwrap();
    let second = BatchBuilder::new(0)
        .append(1_700_000_000_002, Some(b"k3"), Some(b"three"))
        .build()
        .unwrap();
    let r1 = client
        .produce_raw("client-it", 1, Bytes::from(first.clone()), -1)
        .await
        .unwrap();
    let r2 = client
        .produce_raw("client-it", 1, Bytes::from(second.clone()), -1)
        .await
        .unwrap();
    assert_eq!((r1.base_offset, r2.base_offset), (0, 2));

    // Fetch them back: byte-identical except baseOffset and partitionLeaderEpoch.
    let (leader, epoch) = client.find_leader_and_epoch("client-it", 1).await.unwrap();
    let mut spec = FetchPartitionSpec::new("client-it", 1, 0);
    spec.current_leader_epoch = epoch;
    let params = FetchParams {
        max_wait_ms: 100,
        partitions: vec![spec],
        ..FetchParams::default()
    };
    let result = client.fetch_raw(leader, &params).await.unwrap();
    assert_eq!(result.version, 12);
    let fetched = &result.partitions[0];
    assert_eq!(fetched.error, None);
    assert_eq!(fetched.high_watermark, 3);
    let batches: Vec<_> = BatchIter::new(&fetched.records)
        .map(|b| b.unwrap())
        .collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].base_offset(), 0);
    assert_eq!(batches[1].base_offset(), 2);
    assert_eq!(
        without_offset_and_epoch(batches[0].as_bytes()),
        without_offset_and_epoch(&first)
    );
    assert_eq!(
        without_offset_and_epoch(batches[1].as_bytes()),
        without_offset_and_epoch(&second)
    );
    batches[0].validate_crc().unwrap();

    // ListOffsets.
    let listed = client
        .list_offsets(
            leader,
            [
                ("client-it", 1, OffsetSpec::Earliest),
                ("client-it", 1, OffsetSpec::Latest),
                ("client-it", 1, OffsetSpec::Timestamp(1_700_000_000_002)),
            ],
        )
        .await
        .unwrap();
    let offsets: Vec<i64> = listed.iter().map(|l| l.offset).collect();
    assert!(listed.iter().all(|l| l.error.is_none()), "{listed:?}");
    assert!(
        offsets.contains(&0) && offsets.contains(&3) && offsets.contains(&2),
        "{listed:?}"
    );

    // DescribeConfigs: the override is reported as a dynamic topic config.
    let described = client
        .describe_configs(&[ConfigResource::topic("client-it")], None, false)
        .await
        .unwrap();
    let entries = described[0].1.as_ref().unwrap();
    let cleanup = entries.iter().find(|e| e.name == "cleanup.policy").unwrap();
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert!(cleanup.source.is_topic_override(), "{cleanup:?}");

    // DescribeCluster matches Metadata's cluster id.
    let cluster = client.describe_cluster().await.unwrap();
    assert_eq!(cluster.cluster_id, client.metadata().cluster_id);
    assert_eq!(cluster.brokers.len(), 1);

    broker.shutdown();
}
