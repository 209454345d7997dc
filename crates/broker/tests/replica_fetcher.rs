//! The follower side of replication on an in-process 3-voter cluster (three combined
//! nodes, each on its own thread and runtime, as in `cluster_quorum.rs`): a topic with
//! RF=3 led by node 1, `min.insync.replicas=3`, so an `acks=all` produce is acknowledged
//! only once both followers' replica fetchers have it.
//!
//! * Records produced to the leader appear on both followers byte for byte (same offsets,
//!   same batch bytes, same epoch cache), and their high watermarks follow the leader's.
//! * The leader dies with a tail no follower fetched; another replica is elected in a new
//!   epoch and writes its own records there; the old leader, restarted, follows it,
//!   truncates that tail by OffsetForLeaderEpoch (its epoch ended at 9 on the new leader)
//!   and catches up byte for byte, epoch cache included.
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
use strait_storage::{LogConfig, PartitionLog};
use support::cluster::{block_on, free_port, spawn_node, started, wait_until};

/// Failed replication fetches retry quickly.
const FETCHER: &[&str] = &["replica.fetch.backoff.ms=100"];
const NOW: i64 = 1_700_000_000_000;

/// Produces one batch of `n` records to `topic`-0 with `acks`: (error code, base offset).
async fn produce(broker: &Broker, topic: &str, acks: i16, n: usize, tag: &str) -> (i16, i64) {
    let mut b = BatchBuilder::new(0);
    for i in 0..n {
        b = b.append(NOW, Some(format!("{tag}-{i}").as_bytes()), Some(b"v"));
    }
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(20_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(b.build().unwrap()))),
            ])]);
    let resp = support::dispatch_call(broker, 9, req).await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A partition's log as the test compares it: (log start, HW, LEO, epoch cache, bytes).
type LogView = (i64, i64, i64, Vec<(i32, i64)>, Vec<u8>);

fn view(b: &Broker, topic: &str) -> Option<LogView> {
    let p = b.topics.get(topic)?.partition(0)?;
    p.with_log(|l| {
        // Reads stop at a segment end: read on until the log end.
        let mut bytes = Vec::new();
        let mut at = l.log_start_offset();
        while at < l.log_end_offset() {
            let Ok(r) = l.read(at, 64 << 20, i64::MAX, true) else {
                break;
            };
            let Some(last) = strait_records::BatchIter::new(&r.records)
                .filter_map(Result::ok)
                .last()
                .map(|b| b.next_offset())
            else {
                break;
            };
            bytes.extend_from_slice(&r.records);
            at = last;
        }
        (
            l.log_start_offset(),
            l.high_watermark(),
            l.log_end_offset(),
            l.epoch_entries(),
            bytes,
        )
    })
    .ok()
}

fn follows(b: &Broker, topic: &str, leader: i32) -> bool {
    b.topics
        .get(topic)
        .and_then(|t| t.partition(0))
        .is_some_and(|p| {
            p.replica()
                .lock()
                .following()
                .is_some_and(|(l, _)| l == leader)
        })
}

#[test]
fn followers_replicate_byte_for_byte_and_truncate_a_diverged_tail() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let pending: Vec<_> = (1..=3)
        .map(|n| spawn_node(dirs[n - 1].path(), n, &ports, FETCHER))
        .collect();
    let mut nodes: Vec<Option<RunningBroker>> =
        pending.into_iter().map(|rx| Some(started(rx))).collect();
    let node = |nodes: &[Option<RunningBroker>], i: usize| -> Arc<Broker> {
        nodes[i - 1].as_ref().unwrap().broker.clone()
    };
    let b1 = node(&nodes, 1);
    wait_until("every broker registered and unfenced", || {
        let meta = b1.topics.metadata_log();
        meta.brokers().len() == 3 && (1..=3).all(|id| !meta.is_fenced(id))
    });
    wait_until("a metadata quorum leader", || {
        (1..=3).any(|i| node(&nodes, i).topics.metadata_log().is_leader())
    });
    let controller = (1..=3)
        .find(|&i| node(&nodes, i).topics.metadata_log().is_leader())
        .unwrap();
    let configs = BTreeMap::from([("min.insync.replicas".to_string(), "3".to_string())]);
    node(&nodes, controller)
        .topics
        .create_topic_placed("r", vec![vec![1, 2, 3]], configs, false)
        .unwrap();
    wait_until("node 1 leads r-0", || {
        b1.topics
            .get("r")
            .and_then(|t| t.partition(0))
            .is_some_and(|p| p.replica().lock().leader().is_some())
    });
    wait_until("nodes 2 and 3 follow node 1", || {
        follows(&node(&nodes, 2), "r", 1) && follows(&node(&nodes, 3), "r", 1)
    });

    // acks=all with min.insync.replicas=3: acknowledged only once both followers' fetchers
    // appended the batch and fetched again past it.
    for (i, n) in [3usize, 1, 5].into_iter().enumerate() {
        let (code, _) = block_on(produce(&b1, "r", -1, n, &format!("a{i}")));
        assert_eq!(code, 0, "acks=all produce {i}");
    }
    let leader_view = view(&b1, "r").unwrap();
    assert_eq!(leader_view.2, 9);
    assert_eq!(leader_view.1, 9, "the leader's high watermark");
    for f in [2, 3] {
        let b = node(&nodes, f);
        wait_until("the follower caught up, high watermark included", || {
            view(&b, "r").as_ref() == Some(&leader_view)
        });
    }

    // The leader (node 1) dies. As the old leader in epoch `e0` it had written a tail
    // that no follower fetched: appended to its log while it is down (above its high
    // watermark, 9, which its checkpoint keeps).
    let e0 = b1
        .topics
        .get("r")
        .unwrap()
        .partition(0)
        .unwrap()
        .leader_epoch();
    nodes[0].take().unwrap().shutdown();
    drop(b1);
    let dir1 = dirs[0].path().join("r-0");
    {
        let mut log = PartitionLog::open(&dir1, LogConfig::default(), NOW).unwrap();
        log.set_replicated(true);
        assert_eq!((log.high_watermark(), log.log_end_offset()), (9, 9));
        let mut tail = BatchBuilder::new(9).leader_epoch(e0);
        for i in 0..6 {
            tail = tail.append(NOW, Some(format!("diverged-{i}").as_bytes()), Some(b"x"));
        }
        log.append_mirrored(&tail.build().unwrap(), NOW).unwrap();
        assert_eq!(log.log_end_offset(), 15);
        log.close().unwrap();
    }
    // Fenced, node 1 leaves the ISR; the controller elects node 2 or 3 in a new epoch.
    let mut new_leader = 0;
    wait_until("a new leader for r-0", || {
        let l = node(&nodes, 2)
            .topics
            .get("r")
            .and_then(|t| t.partition(0))
            .and_then(|p| p.registration())
            .map_or(-1, |r| r.leader);
        new_leader = l;
        (l == 2 || l == 3)
            && node(&nodes, l as usize)
                .topics
                .get("r")
                .and_then(|t| t.partition(0))
                .is_some_and(|p| p.replica().lock().leader().is_some())
    });
    let bl = node(&nodes, new_leader as usize);
    let e1 = bl
        .topics
        .get("r")
        .unwrap()
        .partition(0)
        .unwrap()
        .leader_epoch();
    assert!(e1 > e0, "a leader change bumps the leader epoch");
    // The new leader writes its own records at 9.. in its epoch (acks=1: the ISR is
    // down to two, below min.insync.replicas).
    let (code, base) = block_on(produce(&bl, "r", 1, 4, "b"));
    assert_eq!((code, base), (0, 9));
    // Node 1 comes back as a follower: OffsetForLeaderEpoch(e0) answers where e0 ended on
    // the new leader (9), so the diverged tail 9..15 goes, then it fetches e1's records.
    nodes[0] = Some(started(spawn_node(dirs[0].path(), 1, &ports, FETCHER)));
    let b1 = node(&nodes, 1);
    wait_until("node 1 follows the new leader", || {
        follows(&b1, "r", new_leader)
    });
    let (code, _) = block_on(produce(&bl, "r", 1, 2, "c"));
    assert_eq!(code, 0);
    let log_of = |b: &Broker| view(b, "r").map(|v| (v.2, v.3, v.4));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let leader = log_of(&bl);
        let ours = log_of(&b1);
        if leader.as_ref().is_some_and(|l| l.0 == 15) && ours == leader {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 1 did not truncate its tail and catch up: leader {:?}, node 1 {:?}",
            leader.map(|l| (l.0, l.1, l.2.len())),
            ours.map(|l| (l.0, l.1, l.2.len()))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let v1 = view(&b1, "r").unwrap();
    assert_eq!(
        v1.3,
        vec![(e0, 0), (e1, 9)],
        "the epoch cache is the leader's"
    );
    assert!(!v1.4.windows(8).any(|w| w == b"diverged"));
    // Every replica's high watermark reaches the log end (the leader's, followed).
    wait_until("every replica's high watermark at the log end", || {
        (1..=3).all(|i| view(&node(&nodes, i), "r").is_some_and(|v| v.1 == 15 && v.2 == 15))
    });

    for n in nodes.into_iter().flatten() {
        n.shutdown();
    }
}
