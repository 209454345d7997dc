//! Three voters on loopback, every connection through a proxy the test controls: ordered
//! replication, leader failover with nothing committed lost, catch-up of a returning node
//! through a snapshot, a cut-off leader that cannot commit, and a node of another cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use strait_quorum::{ProposeError, Quorum, QuorumConfig, VoterAddr};
use support::{Cluster, Recorder, WAIT};

const ALL: [u64; 3] = [1, 2, 3];

fn assert_same_images(cluster: &Cluster) -> Recorder {
    let images = cluster.images();
    let first = images.values().next().unwrap().clone();
    for (id, image) in &images {
        assert_eq!(image, &first, "node {id} diverged");
    }
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_every_image_in_order() {
    let cluster = Cluster::start(3, |_| {}).await;
    let mut acked = Vec::new();
    for i in 0..30u32 {
        let record = format!("r{i}").into_bytes();
        let applied = cluster.propose(&ALL, &record).await;
        acked.push((applied.index, record));
    }
    cluster.wait_applied(acked.last().unwrap().0).await;
    let image = assert_same_images(&cluster);
    assert_eq!(image.records, acked);

    let leader = cluster.leader_among(&ALL).await;
    let d = cluster.nodes[&leader].describe().await;
    assert_eq!(d.leader_id, Some(leader));
    assert_eq!(d.voters.len(), 3);
    let hw = d.high_watermark;
    assert!(hw > acked.last().unwrap().0, "{d:?}");
    assert!(d.voters.iter().all(|v| v.log_end_offset.is_some()), "{d:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_majority_of_pristine_voters_forms_the_quorum() {
    // Node 1 (the lowest id) is absent at first start: 2 and 3 initialise and elect alone.
    let mut cluster = Cluster::start_some(3, |_| {}, &[2, 3]).await;
    let applied = cluster.propose(&[2, 3], b"without node 1").await;
    cluster.restart(1).await;
    cluster.wait_applied(applied.index).await;
    assert_eq!(
        assert_same_images(&cluster).payloads(),
        vec![b"without node 1".to_vec()]
    );
    cluster.shutdown().await;
}

fn snapshot_often(c: &mut QuorumConfig) {
    c.snapshot_every = 5;
    c.logs_kept_after_snapshot = 0;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_loses_nothing_and_the_old_leader_catches_up_by_snapshot() {
    let mut cluster = Cluster::start(3, snapshot_often).await;
    let mut acked = Vec::new();
    for i in 0..8u32 {
        let record = format!("before-{i}").into_bytes();
        acked.push((cluster.propose(&ALL, &record).await.index, record));
    }
    let old = cluster.leader_among(&ALL).await;
    let old_epoch = cluster.nodes[&old].describe().await.leader_epoch;
    let old_last = cluster.nodes[&old]
        .describe()
        .await
        .voters
        .iter()
        .find(|v| v.node_id == old)
        .unwrap()
        .log_end_offset
        .unwrap();
    cluster.stop(old).await;

    let rest: Vec<u64> = ALL.iter().copied().filter(|id| *id != old).collect();
    let new = cluster.leader_among(&rest).await;
    assert_ne!(new, old);
    for i in 0..20u32 {
        let record = format!("after-{i}").into_bytes();
        let applied = cluster.propose(&rest, &record).await;
        assert!(
            applied.leader_epoch > old_epoch,
            "new leader epoch {} vs {old_epoch}",
            applied.leader_epoch
        );
        acked.push((applied.index, record));
    }
    let last = acked.last().unwrap().0;
    // The survivors purged what the old leader lacks, so only a snapshot can catch it up.
    let purged = cluster.nodes[&new]
        .wait_until(WAIT, |d| d.purged_index.is_some_and(|p| p >= old_last))
        .await;
    assert!(purged, "{:?}", cluster.nodes[&new].describe().await);

    cluster.restart(old).await;
    cluster.wait_applied(last).await;
    let image = assert_same_images(&cluster);
    assert_eq!(
        image.records, acked,
        "every acknowledged record, in order, nothing else"
    );
    let d = cluster.nodes[&old].describe().await;
    assert!(
        d.snapshot_index.is_some_and(|s| s >= old_last),
        "old leader has no installed snapshot: {d:?}"
    );

    // And the rejoined node serves as a voter again: a proposal through anyone commits.
    let applied = cluster.propose(&ALL, b"all three again").await;
    cluster.wait_applied(applied.index).await;
    assert_same_images(&cluster);
    cluster.shutdown().await;
}

fn quick_timeout(c: &mut QuorumConfig) {
    c.propose_timeout = std::time::Duration::from_millis(1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_cannot_commit() {
    let cluster = Cluster::start(3, quick_timeout).await;
    let first = cluster.propose(&ALL, b"shared").await;
    cluster.wait_applied(first.index).await;
    let cut = cluster.leader_among(&ALL).await;
    cluster.isolate(cut, true);

    let err = cluster.nodes[&cut]
        .propose(b"minority".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProposeError::Timeout(_) | ProposeError::NotLeader { .. }
        ),
        "{err:?}"
    );

    let rest: Vec<u64> = ALL.iter().copied().filter(|id| *id != cut).collect();
    let majority = cluster.propose(&rest, b"majority").await;
    assert!(
        !cluster.nodes[&cut].read(|img| img.payloads().contains(&b"majority".to_vec())),
        "the cut-off node cannot have seen the majority's record"
    );

    cluster.isolate(cut, false);
    cluster.wait_applied(majority.index).await;
    let image = assert_same_images(&cluster);
    assert_eq!(
        image.payloads(),
        vec![b"shared".to_vec(), b"majority".to_vec()]
    );
    assert!(!image.payloads().contains(&b"minority".to_vec()));
    cluster.shutdown().await;
}

/// Slow elections, so the unchanged-epoch check below cannot trip over a stall of a loaded
/// machine: only the intruder could bump the epoch here.
fn steady(c: &mut QuorumConfig) {
    c.heartbeat_interval = std::time::Duration::from_millis(100);
    c.election_timeout_min = std::time::Duration::from_millis(1500);
    c.election_timeout_max = std::time::Duration::from_millis(3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_cluster_or_voter_set_is_refused() {
    let cluster = Cluster::start(3, steady).await;
    let before = cluster.propose(&ALL, b"before").await;
    let leader = cluster.leader_among(&ALL).await;
    let epoch = cluster.nodes[&leader].describe().await.leader_epoch;
    let target = cluster.nodes[&1].local_addr().unwrap();

    // Each intruder lists node 1's real listener as a peer; with an empty directory it
    // initialises and campaigns against node 1 straight away.
    let intruders = [
        // Another cluster id: Kafka's INCONSISTENT_CLUSTER_ID.
        (0u64, "intruder", vec![0u64, 1], "error code 104"),
        // This cluster, but a node configured with a wrong voter list: INCONSISTENT_VOTER_SET.
        (3, "test-cluster", vec![1, 3], "error code 94"),
    ];
    for (round, (id, cluster_id, ids, code)) in intruders.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind(support::local())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let voters: BTreeMap<u64, VoterAddr> = ids
            .iter()
            .map(|&v| (v, VoterAddr::from(if v == id { addr } else { target })))
            .collect();
        let mut config = QuorumConfig::new(id, cluster_id, voters, dir.path(), addr);
        support::tune(&mut config);
        let intruder = Quorum::open_with_listener(config, listener, Recorder::default())
            .await
            .unwrap();
        let refused = cluster.nodes[&1]
            .wait_until(WAIT, |d| {
                d.refused_connections > round as u64
                    && d.last_refusal.as_ref().is_some_and(|r| r.contains(code))
            })
            .await;
        assert!(
            refused,
            "{cluster_id} node {id}: {:?}",
            cluster.nodes[&1].describe().await
        );
        assert!(
            !intruder.describe().await.is_leader,
            "the intruder cannot win alone"
        );
        intruder.shutdown().await.unwrap();
    }

    // The cluster is unharmed: same leader, same epoch, and it still commits.
    let after = cluster.propose(&ALL, b"after").await;
    assert_eq!(after.leader_epoch, epoch);
    assert!(after.index > before.index);
    assert_eq!(cluster.leader_among(&ALL).await, leader);
    cluster.wait_applied(after.index).await;
    assert_eq!(
        assert_same_images(&cluster).payloads(),
        vec![b"before".to_vec(), b"after".to_vec()]
    );
    cluster.shutdown().await;
}
