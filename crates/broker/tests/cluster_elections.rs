//! Partition leader elections by the active controller on an in-process 3-voter cluster
//! (three combined nodes, each on its own thread and runtime, as in `cluster_quorum.rs`):
//!
//! * CreateTopics with RF=3 places every partition on the three brokers, ISR = all three,
//!   preferred leaders striped (Metadata on any node shows it); RF above the live brokers is
//!   INVALID_REPLICATION_FACTOR.
//! * A broker that stops is fenced after `broker.session.timeout.ms`; then every partition
//!   it led gets a new leader from its ISR (leader epoch + 1), it leaves every ISR it was
//!   in (partition epoch + 1), and an RF=1 partition on it keeps it as its ISR with no
//!   leader (KIP-841).
//! * Restarted, it leads its RF=1 partition again (leader epoch + 1). ISR re-expansion of
//!   the RF=3 partitions is the leader's AlterPartition, not asserted here.
//! * ElectLeaders: ELECTION_NOT_NEEDED where the preferred replica leads; a PREFERRED
//!   election either commits (the preferred replica is back in the ISR) or answers
//!   PREFERRED_LEADER_NOT_AVAILABLE, and the image agrees with the answer.
//! * The active controller stops: the new one (elected by the quorum) fences it and moves
//!   its leaderships the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strait_broker::RunningBroker;
use support::client;
use support::cluster::{
    block_on, free_port, image_partitions as partitions, quorum_leader, spawn_node, started,
    wait_until,
};

const ELECTION_NOT_NEEDED: i16 = 84;
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
const INVALID_REPLICATION_FACTOR: i16 = 38;

/// CreateTopics through `b`: the error code (0 on success).
fn create(b: &RunningBroker, name: &str, partitions: i32, rf: i16) -> Option<i16> {
    block_on(async {
        let c = client(b).await;
        let created = c
            .create_topics(
                &[strait_client::admin::NewTopic::new(name, partitions, rf)],
                10_000,
                false,
            )
            .await
            .unwrap();
        created[0]
            .1
            .as_ref()
            .err()
            .map(|e| e.kafka_code().map_or(-2, |c| c.code()))
    })
}

/// ElectLeaders PREFERRED for `topic`-`partition` through `b`: the partition's error code.
fn elect_preferred(b: &RunningBroker, topic: &str, partition: i32) -> i16 {
    let req = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![partition])]));
    let resp = block_on(support::dispatch_call(&b.broker, 2, req));
    resp.replica_election_results[0].partition_result[0].error_code
}

#[test]
fn a_stopped_broker_loses_its_leaderships_to_the_isr_and_gets_its_rf1_partition_back() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let rxs: Vec<_> = (1..=3)
        .map(|n| spawn_node(dirs[n - 1].path(), n, &ports, &[]))
        .collect();
    let mut nodes: Vec<Option<RunningBroker>> =
        rxs.into_iter().map(|rx| Some(started(rx))).collect();
    let controller = {
        let mut leader = None;
        wait_until("one quorum leader seen by every node", || {
            let seen: BTreeSet<Option<u64>> = nodes.iter().flatten().map(quorum_leader).collect();
            leader = seen.iter().next().copied().flatten();
            seen.len() == 1 && leader.is_some()
        });
        leader.unwrap() as i32
    };
    let c = nodes[controller as usize - 1].as_ref().unwrap();
    wait_until("three registered, unfenced brokers", || {
        let log = c.broker.topics.metadata_log();
        let brokers = log.brokers();
        brokers.len() == 3 && brokers.keys().all(|id| !log.is_fenced(*id))
    });

    // RF 4 over 3 brokers: refused with Kafka's error; RF 3 and RF 1 are placed.
    assert_eq!(
        create(c, "too-many", 1, 4),
        Some(INVALID_REPLICATION_FACTOR)
    );
    assert_eq!(create(c, "rf3", 3, 3), None);
    assert_eq!(create(c, "rf1", 3, 1), None);
    for b in nodes.iter().flatten() {
        wait_until("both topics on every node", || {
            partitions(b, "rf3").len() == 3 && partitions(b, "rf1").len() == 3
        });
    }
    let before = partitions(c, "rf3");
    for p in &before {
        let replicas: BTreeSet<i32> = p.replicas.iter().copied().collect();
        assert_eq!(replicas, BTreeSet::from([1, 2, 3]), "{p:?}");
        assert_eq!(p.isr.len(), 3, "{p:?}");
        assert_eq!(p.leader, p.replicas[0], "the preferred replica leads");
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
    }
    let leaders: BTreeSet<i32> = before.iter().map(|p| p.leader).collect();
    assert_eq!(leaders, BTreeSet::from([1, 2, 3]), "leaders striped");
    // Metadata over the wire (on another node) says the same.
    let other = nodes
        .iter()
        .flatten()
        .find(|b| b.broker.node_id() != controller)
        .unwrap();
    let m = block_on(async {
        let cl = client(other).await;
        cl.refresh_metadata(&["rf3"]).await.unwrap()
    });
    for (i, p) in &m.topics["rf3"].partitions {
        let want = &before[*i as usize];
        assert_eq!(p.replicas, want.replicas);
        assert_eq!(p.isr.len(), 3);
        assert_eq!(p.leader_id, Some(want.leader));
    }
    // The preferred replicas lead: nothing to elect.
    assert_eq!(elect_preferred(c, "rf3", 0), ELECTION_NOT_NEEDED);

    // Stop a broker that is not the controller (the quorum and the controller stay put).
    let victim = (1..=3).find(|id| *id != controller).unwrap();
    let rf1_before = partitions(c, "rf1");
    let victims_rf1 = rf1_before
        .iter()
        .position(|p| p.replicas == vec![victim])
        .expect("an RF=1 partition on every broker") as i32;
    nodes[victim as usize - 1].take().unwrap().shutdown();
    let c = nodes[controller as usize - 1].as_ref().unwrap();
    wait_until("the stopped broker fenced", || {
        c.broker.topics.metadata_log().is_fenced(victim)
    });
    wait_until(
        "its partitions re-elected and its replicas out of the ISRs",
        || {
            partitions(c, "rf3")
                .iter()
                .all(|p| !p.isr.contains(&victim))
                && partitions(c, "rf1")[victims_rf1 as usize].leader == -1
        },
    );
    for b in nodes.iter().flatten() {
        wait_until("every survivor sees the elections", || {
            partitions(b, "rf3") == partitions(c, "rf3")
                && partitions(b, "rf1") == partitions(c, "rf1")
        });
    }
    let after = partitions(c, "rf3");
    for (old, new) in before.iter().zip(&after) {
        assert!(!new.isr.contains(&victim), "{new:?}");
        assert!(
            new.partition_epoch > old.partition_epoch,
            "{old:?} -> {new:?}"
        );
        if old.leader == victim {
            assert_ne!(new.leader, victim);
            assert!(
                old.isr.contains(&new.leader),
                "elected from the ISR: {new:?}"
            );
            assert_eq!(new.leader_epoch, old.leader_epoch + 1, "{new:?}");
        } else {
            assert_eq!(new.leader, old.leader, "{new:?}");
            assert_eq!(new.leader_epoch, old.leader_epoch, "{new:?}");
        }
    }
    let orphan = &partitions(c, "rf1")[victims_rf1 as usize];
    assert_eq!(orphan.isr, vec![victim], "the last ISR member stays");
    assert_eq!(
        orphan.leader_epoch,
        rf1_before[victims_rf1 as usize].leader_epoch + 1
    );
    for (i, p) in partitions(c, "rf1").iter().enumerate() {
        if i as i32 != victims_rf1 {
            assert_eq!(p, &rf1_before[i], "partitions elsewhere untouched");
        }
    }

    // Restarted: unfenced, it leads its RF=1 partition again.
    let again = started(spawn_node(
        dirs[victim as usize - 1].path(),
        victim as usize,
        &ports,
        &[],
    ));
    wait_until("the restarted broker leads its RF=1 partition", || {
        let p = &partitions(c, "rf1")[victims_rf1 as usize];
        p.leader == victim
    });
    let back = &partitions(c, "rf1")[victims_rf1 as usize];
    assert_eq!(
        back.leader_epoch,
        rf1_before[victims_rf1 as usize].leader_epoch + 2
    );
    assert_eq!(back.isr, vec![victim]);
    wait_until("the restarted node sees it too", || {
        partitions(&again, "rf1")[victims_rf1 as usize].leader == victim
    });

    // PREFERRED election of the partition the victim used to lead: committed only if the
    // victim is back in its ISR (the leader's AlterPartition), refused otherwise.
    let index = before.iter().position(|p| p.leader == victim).unwrap();
    let current = partitions(c, "rf3")[index].clone();
    let code = elect_preferred(c, "rf3", index as i32);
    let now = partitions(c, "rf3")[index].clone();
    if current.isr.contains(&victim) {
        assert_eq!(code, 0, "{current:?}");
        assert_eq!(now.leader, victim);
        assert_eq!(now.leader_epoch, current.leader_epoch + 1);
    } else if now.isr.contains(&victim) {
        // It rejoined the ISR between the two reads: either answer is right.
        assert!(
            code == 0 || code == PREFERRED_LEADER_NOT_AVAILABLE,
            "{code}"
        );
    } else {
        assert_eq!(code, PREFERRED_LEADER_NOT_AVAILABLE, "{now:?}");
        assert_eq!(now.leader, current.leader);
    }

    // The controller itself stops: the survivors elect a new quorum leader, whose
    // controller fences the old one and moves its leaderships to their ISRs.
    let rf3_before = partitions(c, "rf3");
    let rf1_before = partitions(c, "rf1");
    nodes[controller as usize - 1].take().unwrap().shutdown();
    let mut survivors: Vec<RunningBroker> = nodes.into_iter().flatten().collect();
    survivors.push(again);
    let mut next = None;
    wait_until("a new quorum leader among the survivors", || {
        let seen: BTreeSet<Option<u64>> = survivors.iter().map(quorum_leader).collect();
        next = seen.iter().next().copied().flatten();
        seen.len() == 1 && next.is_some_and(|l| l != controller as u64)
    });
    let nc = survivors
        .iter()
        .find(|b| Some(b.broker.node_id() as u64) == next)
        .unwrap();
    let old = controller;
    wait_until("the old controller's leaderships moved", || {
        nc.broker.topics.metadata_log().is_fenced(old)
            && partitions(nc, "rf3")
                .iter()
                .all(|p| p.leader != old && !p.isr.contains(&old))
            && partitions(nc, "rf1").iter().all(|p| p.leader != old)
    });
    for (was, now) in rf3_before.iter().zip(partitions(nc, "rf3")) {
        assert!(was.isr.contains(&now.leader), "{was:?} -> {now:?}");
        let moved = i32::from(was.leader != now.leader);
        assert_eq!(now.leader_epoch, was.leader_epoch + moved, "{now:?}");
    }
    let rf1_now = partitions(nc, "rf1");
    let on_old = rf1_before
        .iter()
        .position(|p| p.replicas == vec![old])
        .unwrap();
    assert_eq!(
        (rf1_now[on_old].leader, rf1_now[on_old].isr.clone()),
        (-1, vec![old])
    );

    for b in survivors {
        b.shutdown();
    }
}
