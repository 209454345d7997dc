//! The leader side of replication on an in-process 3-voter cluster (three combined nodes,
//! each on its own thread and runtime, as in `cluster_quorum.rs`): a topic with RF=3 led by
//! node 1, `min.insync.replicas=2`.
//!
//! * With a follower that does not fetch (node 3 stopped, still in the ISR: its session
//!   and `replica.lag.time.max.ms` have not run out), `acks=all` times out
//!   (REQUEST_TIMED_OUT) and the high watermark — what consumers see — stays put, while
//!   `acks=1` is acknowledged at once.
//! * Fetches with replica ids 2 and 3 (the test speaks for the followers) at the leader's
//!   log end move the high watermark: the parked `acks=all` produce is acknowledged, the
//!   follower's response carries the new high watermark and ListOffsets LATEST shows it.
//! * A replica fetch from a non-replica is NOT_LEADER_OR_FOLLOWER, so is a consumer's fetch
//!   of a partition this node follows.
//! * With the followers' own fetchers: `acks=all` is acknowledged and the followers' logs
//!   hold the record up to the high watermark; a stopped follower leaves the ISR after
//!   `replica.lag.time.max.ms` (the leader's AlterPartition through the metadata log), which
//!   lets `acks=all` succeed with the two left; restarted, it catches up and rejoins.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strait_broker::{Broker, RunningBroker};
use strait_records::record::BatchBuilder;
use support::cluster::{block_on, free_port, spawn_node, wait_until};

/// Long enough that a stopped node stays unfenced (and in the ISR) for the test; a test's
/// own overrides come after it.
const UNFENCED: &[&str] = &["broker.session.timeout.ms=60000"];
const NONE: i16 = 0;
const NOT_LEADER: i16 = 6;
const REQUEST_TIMED_OUT: i16 = 7;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn batch() -> Bytes {
    Bytes::from(
        BatchBuilder::new(0)
            .append(1_700_000_000_000, Some(b"k"), Some(b"v"))
            .build()
            .unwrap(),
    )
}

/// Produce one record to `topic`-0: (error code, base offset).
async fn produce(broker: &Broker, topic: &str, acks: i16, timeout_ms: i32) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch())),
            ])]);
    let resp = support::dispatch_call(broker, 9, req).await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A Fetch (v12, `replica_id` in the body) of `topic`-0 at `offset`: (error, high watermark,
/// record bytes).
async fn fetch_as(broker: &Broker, replica_id: i32, topic: &str, offset: i64) -> (i16, i64, usize) {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = support::dispatch_call(broker, 12, req).await;
    let p = &resp.responses[0].partitions[0];
    (
        p.error_code,
        p.high_watermark,
        p.records.as_ref().map_or(0, |r| r.len()),
    )
}

/// ListOffsets LATEST of `topic`-0 for a consumer.
async fn latest(broker: &Broker, topic: &str) -> i64 {
    list_offsets(broker, -1, topic, -1).await
}

/// ListOffsets of `topic`-0 at `timestamp` (-1 LATEST) as `replica_id`: the offset.
async fn list_offsets(broker: &Broker, replica_id: i32, topic: &str, timestamp: i64) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(timestamp),
            ])]);
    let resp = support::dispatch_call(broker, 7, req).await;
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    p.offset
}

fn start_cluster(
    dirs: &[tempfile::TempDir],
    ports: &[u16],
    extra: &[&str],
) -> Vec<Option<RunningBroker>> {
    let pending: Vec<_> = (1..=3)
        .map(|n| {
            let extra: Vec<&str> = UNFENCED.iter().chain(extra).copied().collect();
            spawn_node(dirs[n - 1].path(), n, ports, &extra)
        })
        .collect();
    pending
        .into_iter()
        .map(|rx| {
            Some(
                rx.recv_timeout(Duration::from_secs(60))
                    .expect("node start-up did not finish")
                    .unwrap(),
            )
        })
        .collect()
}

fn node(nodes: &[Option<RunningBroker>], i: usize) -> Arc<Broker> {
    nodes[i - 1].as_ref().unwrap().broker.clone()
}

/// Waits for every broker, then creates topic `r` (one partition on 1,2,3, led by node 1,
/// `min.insync.replicas=2`) on the node leading the metadata quorum.
fn create_replicated_topic(nodes: &[Option<RunningBroker>]) {
    let b1 = node(nodes, 1);
    wait_until("every broker registered and unfenced", || {
        let meta = b1.topics.metadata_log();
        meta.brokers().len() == 3 && (1..=3).all(|id| !meta.is_fenced(id))
    });
    let mut controller = None;
    wait_until("a metadata quorum leader", || {
        controller = (1..=3).find(|&i| node(nodes, i).topics.metadata_log().is_leader());
        controller.is_some()
    });
    let configs = BTreeMap::from([("min.insync.replicas".to_string(), "2".to_string())]);
    node(nodes, controller.unwrap())
        .topics
        .create_topic_placed("r", vec![vec![1, 2, 3]], configs, false)
        .unwrap();
}

fn partition(b: &Broker) -> Option<Arc<strait_broker::topics::Partition>> {
    b.topics.get("r").and_then(|t| t.partition(0))
}

#[test]
fn acks_all_waits_for_the_isr_and_follower_fetches_move_the_high_watermark() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = start_cluster(&dirs, &ports, &[]);
    let (b1, b2) = (node(&nodes, 1), node(&nodes, 2));
    create_replicated_topic(&nodes);
    let p1 = || partition(&b1);
    wait_until("node 1 leads r-0", || {
        p1().is_some_and(|p| p.replica().lock().leader().is_some())
    });
    wait_until("node 2 follows node 1 for r-0", || {
        b2.topics
            .get("r")
            .and_then(|t| t.partition(0))
            .is_some_and(|p| p.replica().lock().following().is_some_and(|(l, _)| l == 1))
    });
    let p = p1().unwrap();
    assert_eq!(p.replica().lock().leader().unwrap().isr(), &[1, 2, 3]);
    assert!(p.with_log(|l| l.is_replicated()).unwrap());

    // Node 3 stops: it stays in the ISR, so nothing is committed past what it has.
    nodes[2].take().unwrap().shutdown();
    let (code, _) = block_on(produce(&b1, "r", -1, 300));
    assert_eq!(
        code, REQUEST_TIMED_OUT,
        "acks=all with a follower not fetching"
    );
    let (code, base) = block_on(produce(&b1, "r", 1, 300));
    assert_eq!((code, base), (NONE, 1), "acks=1 does not wait");
    assert_eq!(
        block_on(latest(&b1, "r")),
        0,
        "consumers see only the high watermark"
    );
    const TS: i64 = 1_700_000_000_000;
    assert_eq!(
        block_on(list_offsets(&b1, -1, "r", TS)),
        -1,
        "a timestamp lookup does not report an uncommitted record"
    );
    assert_eq!(
        block_on(list_offsets(&b1, 2, "r", -1)),
        2,
        "a replica's LATEST is the log end"
    );
    assert_eq!(p.with_log(|l| l.high_watermark()).unwrap(), 0);

    // Replica fetches: a non-replica is refused; a consumer fetch on a follower too.
    assert_eq!(block_on(fetch_as(&b1, 9, "r", 0)).0, NOT_LEADER);
    assert_eq!(block_on(fetch_as(&b2, -1, "r", 0)).0, NOT_LEADER);

    // An acks=all produce parks; followers 2 and 3 then fetch at the leader's log end.
    block_on(async {
        let leader = b1.clone();
        let parked = tokio::spawn(async move { produce(&leader, "r", -1, 30_000).await });
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.with_log(|l| l.log_end_offset()).unwrap() < 3 {
            assert!(
                Instant::now() < deadline,
                "the parked produce was not appended"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A follower behind the log end gets the records to the log end.
        let (code, _, bytes) = fetch_as(&b1, 3, "r", 0).await;
        assert_eq!(code, NONE);
        assert!(bytes > 0, "a follower reads above the high watermark");
        let (code, _, _) = fetch_as(&b1, 3, "r", 3).await;
        assert_eq!(code, NONE);
        let (code, hw, _) = fetch_as(&b1, 2, "r", 3).await;
        assert_eq!(code, NONE);
        assert_eq!(
            hw, 3,
            "the fetch that completes the ISR carries the new high watermark"
        );
        let (code, base) = tokio::time::timeout(Duration::from_secs(30), parked)
            .await
            .expect("the parked produce was answered")
            .unwrap();
        assert_eq!(
            (code, base),
            (NONE, 2),
            "acks=all acknowledged once replicated"
        );
        assert_eq!(latest(&b1, "r").await, 3);
        assert_eq!(list_offsets(&b1, -1, "r", TS).await, 0, "committed now");
    });
    assert_eq!(p.with_log(|l| l.high_watermark()).unwrap(), 3);

    for n in nodes.into_iter().flatten() {
        n.shutdown();
    }
}

#[test]
fn followers_replicate_and_a_stopped_follower_leaves_and_rejoins_the_isr() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    // A short lag time so the stopped follower leaves the ISR within the test.
    let extra = ["replica.lag.time.max.ms=1500"];
    let mut nodes = start_cluster(&dirs, &ports, &extra);
    create_replicated_topic(&nodes);
    let b1 = node(&nodes, 1);
    wait_until("node 1 leads r-0", || {
        partition(&b1).is_some_and(|p| p.replica().lock().leader().is_some())
    });
    let p = partition(&b1).unwrap();

    let (code, base) = block_on(produce(&b1, "r", -1, 30_000));
    assert_eq!(
        (code, base),
        (NONE, 0),
        "acknowledged by the replicating followers"
    );
    assert_eq!(p.with_log(|l| l.high_watermark()).unwrap(), 1);
    for i in [2, 3] {
        let b = node(&nodes, i);
        wait_until(
            "the follower holds the record up to the high watermark",
            || {
                partition(&b).is_some_and(|f| {
                    f.with_log(|l| (l.log_end_offset(), l.high_watermark()))
                        .unwrap()
                        == (1, 1)
                })
            },
        );
    }

    // Node 3 stops: after replica.lag.time.max.ms the leader shrinks the ISR through the
    // metadata log, and acks=all succeeds with min.insync.replicas=2.
    let epoch_before = p.partition_epoch();
    nodes[2].take().unwrap().shutdown();
    let (code, base) = block_on(produce(&b1, "r", -1, 30_000));
    assert_eq!((code, base), (NONE, 1), "acks=all once the ISR is 1,2");
    wait_until("the shrunk ISR in the image", || {
        p.registration().is_some_and(|r| r.isr == vec![1, 2])
    });
    assert!(p.partition_epoch() > epoch_before);
    assert_eq!(p.replica().lock().leader().unwrap().isr(), &[1, 2]);

    // Restarted, node 3 catches up and the leader expands the ISR again.
    let back = spawn_node(
        dirs[2].path(),
        3,
        &ports,
        &UNFENCED.iter().chain(&extra).copied().collect::<Vec<_>>(),
    )
    .recv_timeout(Duration::from_secs(60))
    .expect("node 3 restart did not finish")
    .unwrap();
    wait_until("node 3 back in the ISR", || {
        p.registration().is_some_and(|r| r.isr == vec![1, 2, 3])
    });
    let b3 = back.broker.clone();
    wait_until("node 3 caught up", || {
        partition(&b3).is_some_and(|f| f.with_log(|l| l.log_end_offset()).unwrap() == 2)
    });
    back.shutdown();
    for n in nodes.into_iter().flatten() {
        n.shutdown();
    }
}

/// A follower's Fetch needs CLUSTER_ACTION on the cluster when an authorizer is on (topic
/// READ is not what counts); allowed, a single node still serves no follower.
#[tokio::test]
async fn a_follower_fetch_needs_cluster_action() {
    const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
    let dir = tempfile::tempdir().unwrap();
    let b = support::open_broker(
        dir.path(),
        &[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=true",
        ],
    );
    b.topics
        .create_topic("r", 1, BTreeMap::new(), false)
        .unwrap();
    assert_eq!(fetch_as(&b, 2, "r", 0).await.0, NOT_LEADER);
    let deny = CreateAclsRequest::default().with_creations(vec![
        create_acls_request::AclCreation::default()
            .with_resource_type(4) // CLUSTER
            .with_resource_name(StrBytes::from_static_str("kafka-cluster"))
            .with_resource_pattern_type(3) // LITERAL
            .with_principal(StrBytes::from_static_str("User:ANONYMOUS"))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(9) // CLUSTER_ACTION
            .with_permission_type(2), // DENY
    ]);
    let resp = support::dispatch_call(&b, 2, deny).await;
    assert_eq!(resp.results[0].error_code, NONE);
    assert_eq!(fetch_as(&b, 2, "r", 0).await.0, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        fetch_as(&b, -1, "r", 0).await.0,
        NONE,
        "consumers need READ only"
    );
}
