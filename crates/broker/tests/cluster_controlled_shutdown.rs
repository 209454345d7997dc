//! Controlled shutdown (`controlled.shutdown.enable`, KIP-841) on an in-process 3-voter
//! cluster: a broker that stops cleanly hands its leaderships to other ISR members and
//! leaves the ISRs *before* it stops — long before `broker.session.timeout.ms` (here 60 s)
//! could have fenced it — and, restarted, it registers again, is eligible again and gets
//! back into the ISRs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strait_broker::RunningBroker;
use support::cluster::{
    free_port, image_partitions as partitions, quorum_leader, spawn_node, started, wait_until,
};

/// Controlled shutdown on, and a session timeout no part of this test waits for.
const CLEAN_STOP: &[&str] = &[
    "controlled.shutdown.enable=true",
    "broker.session.timeout.ms=60000",
    "replica.lag.time.max.ms=3000",
    "replica.fetch.backoff.ms=100",
];

fn create_rf3(b: &RunningBroker, name: &str, partitions: i32) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(3)]);
    let resp = support::cluster::block_on(support::dispatch_call(&b.broker, 5, req));
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0]);
}

#[test]
fn a_clean_stop_moves_leaderships_before_the_broker_goes() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let rxs: Vec<_> = (1..=3)
        .map(|n| spawn_node(dirs[n - 1].path(), n, &ports, CLEAN_STOP))
        .collect();
    let mut nodes: Vec<Option<RunningBroker>> =
        rxs.into_iter().map(|rx| Some(started(rx))).collect();
    let mut controller = 0;
    wait_until("one quorum leader seen by every node", || {
        let seen: BTreeSet<Option<u64>> = nodes.iter().flatten().map(quorum_leader).collect();
        controller = seen.iter().next().copied().flatten().unwrap_or(0) as i32;
        seen.len() == 1 && controller != 0
    });
    let ci = controller as usize - 1;
    let c = nodes[ci].as_ref().unwrap();
    wait_until("three registered brokers", || {
        c.broker.topics.metadata_log().brokers().len() == 3
    });
    create_rf3(c, "orders", 3);
    wait_until("every replica in every ISR on every node", || {
        nodes.iter().flatten().all(|b| {
            let ps = partitions(b, "orders");
            ps.len() == 3 && ps.iter().all(|p| p.isr.len() == 3 && p.leader >= 0)
        })
    });
    // A broker that is not the controller leads a partition: it stops cleanly.
    let victim = (1..=3).find(|id| *id != controller).unwrap();
    let led: Vec<usize> = partitions(c, "orders")
        .iter()
        .enumerate()
        .filter(|(_, p)| p.leader == victim)
        .map(|(i, _)| i)
        .collect();
    assert!(
        !led.is_empty(),
        "striped placement gives every broker a leadership"
    );
    let before = partitions(c, "orders");
    let stopping = Instant::now();
    nodes[victim as usize - 1].take().unwrap().shutdown();
    let took = stopping.elapsed();
    let c = nodes[ci].as_ref().unwrap();
    // Read at once: the controller did this during the stop, not after a fencing.
    let log = c.broker.topics.metadata_log();
    assert!(!log.is_fenced(victim), "not fenced: it stopped cleanly");
    assert!(log.is_shutting_down(victim));
    let after = partitions(c, "orders");
    for (i, (old, new)) in before.iter().zip(&after).enumerate() {
        assert!(!new.isr.contains(&victim), "partition {i}: {new:?}");
        assert_ne!(new.leader, victim, "partition {i}: {new:?}");
        if led.contains(&i) {
            assert!(
                old.isr.contains(&new.leader),
                "elected from the ISR: {new:?}"
            );
            assert!(new.leader_epoch > old.leader_epoch, "{old:?} -> {new:?}");
        }
    }
    assert!(
        took < Duration::from_secs(30),
        "the stop waited {took:?}, as long as a fencing would"
    );

    // Restarted: registered again, eligible, back in every ISR.
    let back = started(spawn_node(
        dirs[victim as usize - 1].path(),
        victim as usize,
        &ports,
        CLEAN_STOP,
    ));
    wait_until(
        "the restarted broker registered and out of controlled shutdown",
        || log.is_eligible(victim),
    );
    wait_until("the restarted broker back in every ISR", || {
        partitions(c, "orders")
            .iter()
            .all(|p| p.isr.contains(&victim))
    });
    // The last broker of the cluster has nobody to hand over to: it stops at once, without
    // the quorum its controlled shutdown would need.
    back.shutdown();
    for n in nodes.iter_mut().filter_map(Option::take) {
        n.shutdown();
    }
}
