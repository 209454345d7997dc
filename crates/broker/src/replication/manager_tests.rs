//! [`super::ReplicaManager`] against a real metadata log and partition logs (one node, two
//! registered brokers, a partition on 1 and 2): role transitions from published
//! registrations, the fetcher calls they make, an ISR expansion proposed through the
//! AlterPartition thread, a stale partition change refused as INVALID_UPDATE_VERSION, and
//! leadership moving away failing a parked produce.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strait_protocol::ErrorCode;
use strait_records::BatchBuilder;
use strait_storage::VerificationGuard;

use super::*;
use crate::metadata_log::records::{BrokerEndpoint, RegisterBrokerRecord};
use crate::replication::replica::{account_follower_fetch, after_leader_append, Role};
use crate::topic_config::TopicDefaults;

#[derive(Default)]
struct Recorded(Mutex<Vec<String>>);

impl FollowerFetchers for Recorded {
    fn follow(&self, p: Arc<Partition>, leader_id: i32, leader_epoch: i32) {
        self.0.lock().unwrap().push(format!(
            "follow {}-{} {leader_id} {leader_epoch}",
            p.topic, p.index
        ));
    }
    fn unfollow(&self, topic: &str, partition: i32) {
        self.0
            .lock()
            .unwrap()
            .push(format!("unfollow {topic}-{partition}"));
    }
    fn shutdown(&self) {}
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn change(topic: &Topic, isr: &[i32], leader: Option<i32>, le: i32, pe: i32) -> MetadataRecord {
    MetadataRecord::PartitionChange(PartitionChangeRecord {
        topic_id: topic.topic_id.to_string(),
        partition_id: 0,
        leader_epoch: le,
        replicas: None,
        isr: Some(isr.to_vec()),
        leader,
        partition_epoch: Some(pe),
        adding_replicas: None,
        removing_replicas: None,
    })
}

#[test]
fn transitions_alter_partition_and_leadership_loss() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Arc::new(TopicManager::open(dir.path(), 1, TopicDefaults::default()).unwrap());
    for id in 1..=2 {
        topics
            .metadata_log()
            .register_broker(RegisterBrokerRecord {
                broker_id: id,
                endpoints: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9000 + id as u16,
                    security_protocol: "PLAINTEXT".into(),
                }],
                rack: None,
            })
            .unwrap();
    }
    assert_eq!(
        leader_endpoint(&topics, "PLAINTEXT", 2),
        Some(("127.0.0.1".into(), 9002))
    );
    // Only the inter-broker listener's endpoint, never another one.
    assert_eq!(leader_endpoint(&topics, "INTERNAL", 2), None);
    let topic = topics
        .create_topic_placed("t", vec![vec![1, 2]], BTreeMap::new(), false)
        .unwrap();
    // RF=1 with a high watermark behind its log end (as after a crash): becoming leader
    // commits the whole log at once.
    let solo = topics
        .create_topic_placed("solo", vec![vec![1]], BTreeMap::new(), false)
        .unwrap()
        .partition(0)
        .unwrap();
    let one = BatchBuilder::new(0)
        .append(1, None, Some(b"v"))
        .build()
        .unwrap();
    solo.with_log_mut(|l| {
        l.set_replicated(true);
        l.append_leader(&one, 0, 1, VerificationGuard::NONE)
            .unwrap();
        assert_eq!((l.high_watermark(), l.log_end_offset()), (0, 1));
    })
    .unwrap();
    let fetchers = Arc::new(Recorded::default());
    let m = ReplicaManager::start(
        1,
        ReplicaManagerConfig::default(),
        &topics,
        fetchers.clone(),
    )
    .unwrap();
    topics.set_replica_role_listener(m.clone());
    m.sweep();
    let p = topic.partition(0).unwrap();
    assert!(p.with_log(|l| l.is_replicated()).unwrap());
    assert_eq!(p.replica().lock().leader().unwrap().isr(), &[1, 2]);
    assert_eq!(solo.with_log(|l| l.high_watermark()).unwrap(), 1);
    let mut calls = fetchers.0.lock().unwrap().clone();
    calls.sort();
    assert_eq!(calls, ["unfollow solo-0", "unfollow t-0"]);

    // An ISR change another node commits reaches the leader state through the publisher.
    let log = topics.metadata_log();
    log.propose_records(&[change(&topic, &[1], None, 0, 1)])
        .unwrap();
    assert_eq!(p.replica().lock().leader().unwrap().isr(), &[1]);
    assert_eq!(p.replica().lock().leader().unwrap().partition_epoch(), 1);
    // Both partitions are led here; t-0 (replicas 1, 2, ISR 1) is under-replicated.
    let mut metrics = String::new();
    super::render_metrics(&m, &topics, &mut metrics);
    for want in [
        "strait_replica_manager_leader_partitions 2\n",
        "strait_replica_manager_under_replicated_partitions 1\n",
        "strait_replica_manager_under_min_isr_partitions 0\n",
    ] {
        assert!(metrics.contains(want), "{want} in {metrics}");
    }
    // A change computed from a partition epoch that moved on is refused, distinctly.
    let e = log
        .propose_records(&[change(&topic, &[1, 2], None, 0, 1)])
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidUpdateVersion);

    // Follower 2 catches up (log end 0): the expansion goes through the AlterPartition
    // thread and commits at partition epoch 2.
    let proposal = account_follower_fetch(&p, 2, 0, Some(0), 1, crate::topics::now_ms())
        .unwrap()
        .expect("an ISR expansion");
    m.propose(topic.clone(), p.clone(), proposal);
    wait_until("the expansion committed", || {
        p.registration().is_some_and(|r| r.isr == vec![1, 2])
            && p.replica()
                .lock()
                .leader()
                .is_some_and(|l| l.isr() == [1, 2] && l.pending_proposal().is_none())
    });
    assert_eq!(p.partition_epoch(), 2);

    // A parked acks=all produce fails when leadership moves to broker 2.
    let b = BatchBuilder::new(0)
        .append(1, None, Some(b"v"))
        .build()
        .unwrap();
    let leo = p
        .with_log_mut(|l| {
            l.append_leader(&b, 0, 1, VerificationGuard::NONE).unwrap();
            l.log_end_offset()
        })
        .unwrap();
    let mut w = after_leader_append(&p, leo, Some(leo), 1, 1)
        .unwrap()
        .unwrap();
    log.propose_records(&[change(&topic, &[1, 2], Some(2), 1, 3)])
        .unwrap();
    assert_eq!(
        w.rx.try_recv().unwrap(),
        Err(ErrorCode::NotLeaderOrFollower)
    );
    assert!(matches!(
        p.replica().lock().role(),
        Role::Follower {
            leader_id: 2,
            leader_epoch: 1
        }
    ));
    assert_eq!(
        fetchers.0.lock().unwrap().last().map(String::as_str),
        Some("follow t-0 2 1")
    );
    m.shutdown();
    topics.close_all();
}
