//! Three voters on loopback serving a multi-node cluster: proposals from followers forwarded
//! to the leader and read back locally, failover while proposing, a returning node catching
//! up, a minority that cannot commit, the leader's view of voter liveness, and the
//! leadership watch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use strait_quorum::{NodeId, ProposeError, Quorum, QuorumConfig};
use support::{Cluster, Recorder, WAIT};
use tokio::time::Instant;

const ALL: [u64; 3] = [1, 2, 3];

fn others(all: &[NodeId], not: NodeId) -> Vec<NodeId> {
    all.iter().copied().filter(|id| *id != not).collect()
}

/// Polls `cond` (every 20 ms) until it holds or `WAIT` passes; returns whether it held.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// Drives every future at once (the proposals must be in flight together) and collects
/// their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, fut) in out.iter_mut().zip(futures.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

fn same_images(cluster: &Cluster) -> Recorder {
    let images = cluster.images();
    let first = images.values().next().unwrap().clone();
    for (id, image) in &images {
        assert_eq!(image, &first, "node {id} diverged");
    }
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_proposal_is_committed_and_read_back_locally() {
    let cluster = Cluster::start(3, |_| {}).await;
    let leader = cluster.leader_among(&ALL).await;
    let follower = others(&ALL, leader)[0];
    let node = &cluster.nodes[&follower];

    let applied = node.propose(b"via follower".to_vec()).await.unwrap();
    assert_eq!(
        applied.reply,
        format!("applied {}", applied.index).into_bytes()
    );
    // Read-your-write on the follower itself, with no waiting.
    assert!(node.read(|img| img
        .records
        .contains(&(applied.index, b"via follower".to_vec()))));
    assert!(node.describe().await.last_applied >= Some(applied.index));

    // The image's refusal reaches a forwarding follower as it reaches the leader.
    let err = node.propose(b"reject me".to_vec()).await.unwrap_err();
    let ProposeError::Rejected { index, message } = &err else {
        panic!("{err:?}")
    };
    assert!(
        *index > applied.index && message.contains("refusing"),
        "{err:?}"
    );
    assert!(node.describe().await.last_applied >= Some(*index));

    // Concurrent proposals from both followers: every one commits once, at its own index.
    let followers = others(&ALL, leader);
    let pending: Vec<_> = (0..12u32)
        .map(|i| {
            let id = followers[i as usize % 2];
            cluster.nodes[&id].propose(format!("concurrent-{i}").into_bytes())
        })
        .collect();
    let mut indexes = Vec::new();
    for applied in join_all(pending).await {
        let applied = applied.unwrap();
        assert!(applied.leader_epoch > 0);
        indexes.push(applied.index);
    }
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), 12, "distinct indexes: {indexes:?}");

    cluster.wait_applied(*indexes.last().unwrap()).await;
    let image = same_images(&cluster);
    assert_eq!(image.records.len(), 13, "{:?}", image.payloads());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_while_proposing_and_the_old_leader_catches_up() {
    let mut cluster = Cluster::start(3, |_| {}).await;
    let first = cluster.propose(&ALL, b"before").await;
    let old = cluster.leader_among(&ALL).await;
    let rest = others(&ALL, old);

    let mut watches: BTreeMap<NodeId, _> = rest
        .iter()
        .map(|id| (*id, cluster.nodes[id].subscribe_leader()))
        .collect();
    for rx in watches.values() {
        assert_eq!(*rx.borrow(), Some(old));
    }
    cluster.stop(old).await;

    // Proposed straight away, while the survivors still think `old` leads: the follower
    // retries until a new leader is elected and answers.
    let during = cluster.nodes[&rest[0]]
        .propose(b"during failover".to_vec())
        .await
        .unwrap();
    assert!(during.leader_epoch > first.leader_epoch, "{during:?}");

    // The leadership watch moved to the new leader on both survivors.
    let new = cluster.leader_among(&rest).await;
    for (id, rx) in &mut watches {
        let seen = tokio::time::timeout(WAIT, rx.wait_for(|l| *l == Some(new))).await;
        assert!(
            seen.is_ok_and(|r| r.is_ok()),
            "node {id} watch: {:?}",
            *rx.borrow()
        );
    }
    assert!(cluster.nodes[&new].is_leader());

    // Both survivors propose, leader and follower alike.
    let mut last = during.index;
    for (i, id) in rest.iter().enumerate() {
        let applied = cluster.nodes[id]
            .propose(format!("after-{i}").into_bytes())
            .await
            .unwrap();
        assert!(applied.index > last);
        last = applied.index;
    }

    cluster.restart(old).await;
    cluster.wait_applied(last).await;
    let image = same_images(&cluster);
    assert_eq!(
        image.payloads(),
        vec![
            b"before".to_vec(),
            b"during failover".to_vec(),
            b"after-0".to_vec(),
            b"after-1".to_vec()
        ]
    );
    // The returning node can propose too (forwarded to the leader).
    let back = cluster.nodes[&old].propose(b"old is back".to_vec()).await;
    assert!(back.is_ok(), "{back:?}");
    cluster.shutdown().await;
}

fn quick_timeout(c: &mut QuorumConfig) {
    c.propose_timeout = Duration::from_millis(1500);
}

async fn assert_minority_cannot_commit(cluster: &Cluster, survivor: NodeId) {
    let node = &cluster.nodes[&survivor];
    let before = node.read(|img| img.clone());
    let applied_before = node.describe().await.last_applied;
    let started = Instant::now();
    let err = node.propose(b"minority".to_vec()).await.unwrap_err();
    assert!(matches!(err, ProposeError::Timeout(_)), "{err:?}");
    assert_eq!(err.kafka_error_code(), 7);
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "gave up after {:?}, before the propose timeout",
        started.elapsed()
    );
    assert_eq!(node.read(|img| img.clone()), before, "nothing applied");
    assert_eq!(node.describe().await.last_applied, applied_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_cannot_commit() {
    // The lone survivor is the leader: its own commit never gathers a majority.
    let mut cluster = Cluster::start(3, quick_timeout).await;
    cluster.propose(&ALL, b"shared").await;
    let leader = cluster.leader_among(&ALL).await;
    for id in others(&ALL, leader) {
        cluster.stop(id).await;
    }
    assert_minority_cannot_commit(&cluster, leader).await;
    cluster.shutdown().await;

    // The lone survivor is a follower: no leader answers its forwarding.
    let mut cluster = Cluster::start(3, quick_timeout).await;
    cluster.propose(&ALL, b"shared").await;
    let leader = cluster.leader_among(&ALL).await;
    let survivor = others(&ALL, leader)[0];
    for id in others(&ALL, survivor) {
        cluster.stop(id).await;
    }
    assert_minority_cannot_commit(&cluster, survivor).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_sees_a_stopped_voter_go_quiet() {
    let mut cluster = Cluster::start(3, |_| {}).await;
    cluster.propose(&ALL, b"warm up").await;
    let leader = cluster.leader_among(&ALL).await;
    let [live, stopped] = <[NodeId; 2]>::try_from(others(&ALL, leader)).unwrap();
    let fresh = Duration::from_millis(750);

    let all_fresh = eventually(|| {
        let c = cluster.nodes[&leader].voter_contact();
        c.len() == 3 && c.values().all(|d| *d < fresh)
    })
    .await;
    assert!(all_fresh, "{:?}", cluster.nodes[&leader].voter_contact());
    assert_eq!(
        cluster.nodes[&leader].voter_contact()[&leader],
        Duration::ZERO
    );
    assert!(
        cluster.nodes[&live].voter_contact().is_empty(),
        "a follower reports no contacts"
    );

    cluster.stop(stopped).await;
    let quiet = Duration::from_millis(1500);
    let mut seen = BTreeMap::new();
    let went_quiet = eventually(|| {
        seen = cluster.nodes[&leader].voter_contact();
        seen.get(&stopped).is_some_and(|d| *d > quiet)
    })
    .await;
    assert!(went_quiet, "{seen:?}");
    // Sampled together: the live voter is still answering heartbeats.
    assert!(seen[&live] < fresh, "{seen:?}");
    assert_eq!(seen[&leader], Duration::ZERO);

    // Back again: its contact age drops once it answers the leader.
    cluster.restart(stopped).await;
    let back = eventually(|| {
        cluster.nodes[&leader]
            .voter_contact()
            .get(&stopped)
            .is_some_and(|d| *d < fresh)
    })
    .await;
    assert!(back, "{:?}", cluster.nodes[&leader].voter_contact());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leadership_watch_follows_elections() {
    let cluster = Cluster::start(3, |_| {}).await;
    let leader = cluster.leader_among(&ALL).await;
    for (id, node) in &cluster.nodes {
        let mut rx = node.subscribe_leader();
        let seen = tokio::time::timeout(WAIT, rx.wait_for(|l| *l == Some(leader))).await;
        assert!(
            seen.is_ok_and(|r| r.is_ok()),
            "node {id}: {:?}",
            *rx.borrow()
        );
        assert_eq!(node.is_leader(), *id == leader);
        assert_eq!(node.leader().map(|(l, _)| l), Some(leader));
    }

    // Closing the leader: its own watch drops to None, the others move to a new leader.
    let mut own = cluster.nodes[&leader].subscribe_leader();
    cluster.nodes[&leader].close().await.unwrap();
    let cleared = tokio::time::timeout(WAIT, own.wait_for(|l| l.is_none())).await;
    assert!(cleared.is_ok_and(|r| r.is_ok()), "{:?}", *own.borrow());
    assert!(cluster.nodes[&leader].voter_contact().is_empty());

    let rest = others(&ALL, leader);
    for id in &rest {
        let mut rx = cluster.nodes[id].subscribe_leader();
        let moved =
            tokio::time::timeout(WAIT, rx.wait_for(|l| l.is_some_and(|l| l != leader))).await;
        assert!(
            moved.is_ok_and(|r| r.is_ok()),
            "node {id}: {:?}",
            *rx.borrow()
        );
    }
    let new = cluster.leader_among(&rest).await;
    assert_ne!(new, leader);
    cluster.shutdown().await;
}

/// A quorum opened alone still leads itself and publishes that.
#[tokio::test]
async fn a_single_voter_publishes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let quorum: Quorum<Recorder> = support::single(dir.path(), |_| {}).await;
    let mut rx = quorum.subscribe_leader();
    let seen = tokio::time::timeout(WAIT, rx.wait_for(|l| *l == Some(1))).await;
    assert!(seen.is_ok_and(|r| r.is_ok()));
    assert_eq!(
        quorum.voter_contact(),
        BTreeMap::from([(1, Duration::ZERO)])
    );
    quorum.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cut_off_from_its_leader_reaches_the_new_one() {
    let cluster = Cluster::start(3, |_| {}).await;
    let first = cluster.propose(&ALL, b"shared").await;
    let cut = cluster.leader_among(&ALL).await;
    let rest = others(&ALL, cut);
    cluster.isolate(cut, true);

    // Dials to the cut-off leader fail before anything is sent, so the follower keeps
    // retrying until the majority elects a leader of its own, then commits through it.
    let applied = cluster.nodes[&rest[0]]
        .propose(b"around the partition".to_vec())
        .await
        .unwrap();
    assert!(applied.leader_epoch > first.leader_epoch, "{applied:?}");
    assert!(
        !cluster.nodes[&cut].read(|img| img.payloads().contains(&b"around the partition".to_vec()))
    );

    cluster.isolate(cut, false);
    cluster.wait_applied(applied.index).await;
    assert_eq!(
        same_images(&cluster).payloads(),
        vec![b"shared".to_vec(), b"around the partition".to_vec()]
    );
    cluster.shutdown().await;
}
