//! Partition reassignment (KIP-455) on an in-process 3-voter cluster (three combined
//! nodes, each on its own thread and runtime, as in `cluster_elections.rs`):
//!
//! * An RF=1 partition on broker 1 holding records is reassigned to [2, 3]: the start
//!   commits replicas [2, 3, 1] with adding [2, 3] / removing [1] (what
//!   ListPartitionReassignments reports while it runs); the new replicas fetch from the
//!   leader, join the ISR, and the active controller completes it: replicas [2, 3], ISR
//!   [2, 3], a leader among them (leader epoch + 1), lists cleared, on every node — and the
//!   records read from the new leader are byte-identical to what broker 1 held.
//! * A target naming an unregistered broker is INVALID_REPLICA_ASSIGNMENT, nothing changes.
//! * Cancelling (null replicas) right after a start reverts to the original replicas; if
//!   the reassignment already completed, the answer is NO_REASSIGNMENT_IN_PROGRESS and the
//!   image holds the target (both checked against the image).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strait_broker::metadata::PartitionRecord;
use strait_broker::RunningBroker;
use support::client;
use support::cluster::{
    block_on, free_port, image_partitions as partitions, quorum_leader, spawn_node, started,
    wait_until,
};

const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// AlterPartitionReassignments of `topic`-0 through `b` (`None` cancels): the partition's
/// error code and message.
fn reassign(b: &RunningBroker, topic: &str, target: Option<&[i32]>) -> (i16, Option<String>) {
    let req = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(
                    target.map(|t| t.iter().copied().map(BrokerId).collect()),
                )])]);
    let resp = block_on(support::dispatch_call(&b.broker, 0, req));
    assert_eq!(resp.error_code, 0);
    let p = &resp.responses[0].partitions[0];
    (
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// ListPartitionReassignments of `topic`-0 through `b`: (replicas, adding, removing) when
/// one is in flight.
fn listed(b: &RunningBroker, topic: &str) -> Option<(Vec<i32>, Vec<i32>, Vec<i32>)> {
    let req = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(Some(vec![ListPartitionReassignmentsTopics::default()
            .with_name(name(topic))
            .with_partition_indexes(vec![0])]));
    let resp = block_on(support::dispatch_call(&b.broker, 0, req));
    assert_eq!(resp.error_code, 0);
    let ids = |l: &[BrokerId]| l.iter().map(|b| b.0).collect::<Vec<_>>();
    resp.topics.first().map(|t| {
        let p = &t.partitions[0];
        (
            ids(&p.replicas),
            ids(&p.adding_replicas),
            ids(&p.removing_replicas),
        )
    })
}

fn settled(p: &PartitionRecord) -> bool {
    p.adding_replicas.is_empty() && p.removing_replicas.is_empty()
}

#[test]
fn an_rf1_partition_moves_to_two_new_brokers_with_its_records() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let rxs: Vec<_> = (1..=3)
        .map(|n| spawn_node(dirs[n - 1].path(), n, &ports, &[]))
        .collect();
    let nodes: Vec<RunningBroker> = rxs.into_iter().map(started).collect();
    let controller = {
        let mut leader = None;
        wait_until("one quorum leader seen by every node", || {
            let seen: BTreeSet<Option<u64>> = nodes.iter().map(quorum_leader).collect();
            leader = seen.iter().next().copied().flatten();
            seen.len() == 1 && leader.is_some()
        });
        leader.unwrap() as usize
    };
    let c = &nodes[controller - 1];
    wait_until("three registered, unfenced brokers", || {
        let log = c.broker.topics.metadata_log();
        let brokers = log.brokers();
        brokers.len() == 3 && brokers.keys().all(|id| !log.is_fenced(*id))
    });

    // An RF=1 partition on broker 1 with records.
    c.broker
        .topics
        .create_topic_placed("moved", vec![vec![1]], Default::default(), false)
        .unwrap();
    wait_until("the topic on every node, led by 1", || {
        nodes.iter().all(|n| {
            partitions(n, "moved")
                .first()
                .is_some_and(|p| p.leader == 1)
        })
    });
    let before = block_on(async {
        let c1 = client(&nodes[0]).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        for i in 0..3 {
            // Node 1's topic registry (what Metadata answers) may trail its image by a
            // publish: retry until it serves the partition.
            loop {
                c1.refresh_metadata(&["moved"]).await.unwrap();
                let batch = support::batch(&format!("b{i}"), 5);
                match c1.produce_raw("moved", 0, batch, -1).await {
                    Ok(_) => break,
                    Err(e) => assert!(Instant::now() < deadline, "produce: {e:?}"),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        support::raw_log(&c1, "moved", 0).await
    });
    assert!(!before.is_empty());
    let original = partitions(c, "moved")[0].clone();

    // Unknown broker: refused as before, nothing committed.
    let (code, message) = reassign(c, "moved", Some(&[2, 9]));
    assert_eq!(code, INVALID_REPLICA_ASSIGNMENT, "{message:?}");
    assert!(message.unwrap().contains("broker 9"));
    assert_eq!(partitions(c, "moved")[0], original);
    // Nothing in flight: a cancel is NO_REASSIGNMENT_IN_PROGRESS.
    assert_eq!(reassign(c, "moved", None).0, NO_REASSIGNMENT_IN_PROGRESS);
    // The current replicas as target: success, nothing changes.
    assert_eq!(reassign(c, "moved", Some(&[1])).0, 0);
    assert_eq!(partitions(c, "moved")[0], original);

    // The move.
    assert_eq!(reassign(c, "moved", Some(&[2, 3])).0, 0);
    // Listed first, then the image: the state only moves from in flight to done, so a
    // listing that is empty must be matched by a completed image.
    let listing = listed(c, "moved");
    let started_reg = partitions(c, "moved")[0].clone();
    match listing {
        Some(l) => assert_eq!(l, (vec![2, 3, 1], vec![2, 3], vec![1])),
        None => assert!(
            settled(&started_reg),
            "in flight but not listed: {started_reg:?}"
        ),
    }
    if settled(&started_reg) {
        // Already completed by the controller (its tick beat this read).
        assert_eq!(started_reg.replicas, vec![2, 3]);
    } else {
        assert_eq!(started_reg.replicas, vec![2, 3, 1]);
        assert_eq!(started_reg.adding_replicas, vec![2, 3]);
        assert_eq!(started_reg.removing_replicas, vec![1]);
        assert_eq!(started_reg.partition_epoch, original.partition_epoch + 1);
        assert_eq!(started_reg.leader, 1);
    }
    wait_until("the reassignment completed on every node", || {
        nodes.iter().all(|n| {
            let p = &partitions(n, "moved")[0];
            let mut isr = p.isr.clone();
            isr.sort_unstable();
            settled(p)
                && p.replicas == vec![2, 3]
                && isr == vec![2, 3]
                && [2, 3].contains(&p.leader)
        })
    });
    let done = partitions(c, "moved")[0].clone();
    assert!(done.leader_epoch > original.leader_epoch);
    assert_eq!(listed(c, "moved"), None);
    // The records, read from the new leader, are the bytes broker 1 held.
    let leader_node = &nodes[done.leader as usize - 1];
    let after = block_on(async {
        let cl = client(leader_node).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // The new leader's metadata may trail the image by a publish.
            let bytes = support::raw_log(&cl, "moved", 0).await;
            if bytes == before || Instant::now() > deadline {
                return bytes;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert_eq!(after, before, "the moved partition's bytes differ");

    // Cancel: a second RF=1 partition on 1 moved to [3], cancelled at once.
    c.broker
        .topics
        .create_topic_placed("cancelled", vec![vec![1]], Default::default(), false)
        .unwrap();
    wait_until("the second topic led by 1", || {
        partitions(c, "cancelled")
            .first()
            .is_some_and(|p| p.leader == 1)
    });
    assert_eq!(reassign(c, "cancelled", Some(&[3])).0, 0);
    match reassign(c, "cancelled", None).0 {
        0 => {
            let p = partitions(c, "cancelled")[0].clone();
            assert!(settled(&p));
            assert_eq!((p.replicas, p.isr, p.leader), (vec![1], vec![1], 1));
            assert_eq!(listed(c, "cancelled"), None);
        }
        NO_REASSIGNMENT_IN_PROGRESS => {
            let p = partitions(c, "cancelled")[0].clone();
            assert!(settled(&p));
            assert_eq!(p.replicas, vec![3]);
        }
        other => panic!("cancel answered {other}"),
    }
    for n in nodes {
        n.shutdown();
    }
}
