//! Several combined nodes run one metadata quorum: each serves it on its CONTROLLER
//! listener (ports picked free first), they agree on a leader, Metadata and DescribeCluster
//! on any node list every broker with the leader as controller, metadata written on the
//! leader reaches every node, the quorum survives losing its leader and a restarted node
//! rejoins. Bad set-ups (no --cluster-id on a fresh dir, a dir of another cluster, a node
//! of another cluster) are refused and leave the cluster working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use strait_broker::{BrokerConfig, RunningBroker};
use support::cluster::{spawn_with, started};
use support::{client, new_topic, topics};

const CLUSTER: &str = "MkU3OEVBNTcwNTJENDM2Qk";
const OTHER_CLUSTER: &str = "AAAAAAAAAAAAAAAAAAAAAA";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `controller.quorum.voters` for nodes 1..=n on `ports`.
fn voters(ports: &[u16]) -> String {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",")
}

fn node_config(
    dir: &Path,
    node: usize,
    ports: &[u16],
    cluster_id: Option<&str>,
) -> Result<BrokerConfig, String> {
    let overrides = vec![
        format!("node.id={node}"),
        "process.roles=broker,controller".to_string(),
        format!(
            "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{}",
            ports[node - 1]
        ),
        "controller.listener.names=CONTROLLER".to_string(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string(),
        format!("controller.quorum.voters={}", voters(ports)),
        "controller.quorum.fetch.timeout.ms=400".to_string(),
        "controller.quorum.election.timeout.ms=300".to_string(),
        "broker.session.timeout.ms=1500".to_string(),
        "broker.heartbeat.interval.ms=200".to_string(),
        // A stop here stands for a crash (the clean stop is `cluster_controlled_shutdown.rs`).
        "controlled.shutdown.enable=false".to_string(),
        format!("log.dirs={}", dir.display()),
    ];
    BrokerConfig::load(None, &overrides)
        .and_then(|c| c.with_cluster_id(cluster_id.map(str::to_string)))
        .map_err(|e| e.to_string())
}

/// Starts node `node` (start-up waits for the quorum, which needs its peers to start too).
fn spawn_node(
    dir: &Path,
    node: usize,
    ports: &[u16],
    cluster_id: Option<&str>,
) -> std::sync::mpsc::Receiver<Result<RunningBroker, String>> {
    spawn_with(node_config(dir, node, ports, cluster_id).unwrap())
}

/// Waits (deadline-bounded polling) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn leader_of(b: &RunningBroker) -> Option<u64> {
    b.broker
        .topics
        .quorum_description()
        .and_then(|d| d.leader_id)
}

/// The leader every node in `nodes` agrees on, other than `gone` (a stopped node the
/// others still name until their fetch timeout runs out).
fn agreed_leader(nodes: &[&RunningBroker], gone: Option<u64>) -> u64 {
    let mut leader = None;
    wait_until("one leader seen by every node", || {
        let seen: BTreeSet<Option<u64>> = nodes.iter().map(|b| leader_of(b)).collect();
        leader = seen.iter().next().copied().flatten();
        seen.len() == 1 && leader.is_some() && leader != gone
    });
    leader.unwrap()
}

/// Runs `f` on a fresh current-thread runtime (the client side of the test).
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// (broker ids, controller id) as Metadata on `b` reports them.
fn cluster_of(b: &RunningBroker) -> (Vec<i32>, Option<i32>) {
    block_on(async {
        let c = client(b).await;
        let m = c.refresh_all_metadata().await.unwrap();
        (m.brokers.keys().copied().collect(), m.controller_id)
    })
}

/// DescribeCluster (v1, over the wire) sent to node `b` itself, not any broker.
fn describe_cluster_on(b: &RunningBroker) -> strait_client::admin::ClusterDescription {
    block_on(async {
        let c = client(b).await;
        c.refresh_all_metadata().await.unwrap();
        let conn = c.broker(b.broker.node_id()).await.unwrap();
        conn.describe_cluster().await.unwrap()
    })
}

fn has_topic(b: &RunningBroker, name: &str) -> bool {
    block_on(async {
        let c = client(b).await;
        topics(&c).await.contains(name)
    })
}

#[test]
fn three_voters_share_metadata_survive_their_leader_and_rejoin() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let rxs: Vec<_> = (1..=3)
        .map(|n| spawn_node(dirs[n - 1].path(), n, &ports, Some(CLUSTER)))
        .collect();
    let mut nodes: Vec<Option<RunningBroker>> =
        rxs.into_iter().map(|rx| Some(started(rx))).collect();
    for b in nodes.iter().flatten() {
        assert_eq!(b.broker.cluster_id(), CLUSTER);
        assert_eq!(
            b.listeners.len(),
            1,
            "the controller listener is not a client listener"
        );
        assert_eq!(b.listeners[0].name, "PLAINTEXT");
    }
    let all: Vec<&RunningBroker> = nodes.iter().flatten().collect();
    let leader = agreed_leader(&all, None);
    // Every broker registers itself; every node lists all three, the controller is the
    // quorum's leader.
    for b in &all {
        wait_until("three registered brokers", || {
            cluster_of(b) == (vec![1, 2, 3], Some(leader as i32))
        });
    }
    let follower = nodes
        .iter()
        .flatten()
        .find(|b| i64::from(b.broker.node_id()) != leader as i64)
        .unwrap();
    // DescribeCluster on a follower: the three brokers at their client listeners, the
    // quorum's leader as the controller.
    let dc = describe_cluster_on(follower);
    assert_eq!(dc.cluster_id.as_deref(), Some(CLUSTER));
    assert_eq!(dc.controller_id, Some(leader as i32));
    let mut listed: Vec<(i32, String, i32)> = dc
        .brokers
        .iter()
        .map(|b| (b.id, b.host.clone(), b.port))
        .collect();
    listed.sort();
    let expected: Vec<(i32, String, i32)> = all
        .iter()
        .map(|b| {
            let port = i32::from(b.listeners[0].port);
            (b.broker.node_id(), "127.0.0.1".to_string(), port)
        })
        .collect();
    assert_eq!(listed, expected);

    // Written on the leader, visible on every node.
    let l = nodes[leader as usize - 1].as_ref().unwrap();
    block_on(async { new_topic(&client(l).await, "shared", 1).await });
    for b in nodes.iter().flatten() {
        wait_until("the topic on every node", || has_topic(b, "shared"));
    }
    // Written on a follower (proposed there, forwarded to the leader), visible everywhere.
    block_on(async { new_topic(&client(follower).await, "from-follower", 1).await });
    for b in nodes.iter().flatten() {
        wait_until("the follower's topic on every node", || {
            has_topic(b, "from-follower")
        });
    }

    // The leader stops: the two others elect one of themselves and keep accepting writes.
    nodes[leader as usize - 1].take().unwrap().shutdown();
    let survivors: Vec<&RunningBroker> = nodes.iter().flatten().collect();
    let next = agreed_leader(&survivors, Some(leader));
    assert_ne!(next, leader);
    // The new controller fences the stopped broker after broker.session.timeout.ms.
    let alive: Vec<i32> = (1..=3).filter(|id| *id != leader as i32).collect();
    for b in &survivors {
        wait_until("the stopped broker fenced", || {
            cluster_of(b) == (alive.clone(), Some(next as i32))
        });
    }
    let nl = nodes[next as usize - 1].as_ref().unwrap();
    block_on(async { new_topic(&client(nl).await, "after", 1).await });
    for b in nodes.iter().flatten() {
        wait_until("the new topic on the survivors", || has_topic(b, "after"));
    }

    // The old leader restarts on its formatted dir (no --cluster-id needed) and catches up.
    let again = started(spawn_node(
        dirs[leader as usize - 1].path(),
        leader as usize,
        &ports,
        None,
    ));
    wait_until("the restarted node to catch up", || {
        has_topic(&again, "after") && leader_of(&again) == Some(next)
    });
    // Back in contact: unfenced, listed again everywhere.
    for b in nodes.iter().flatten().chain([&again]) {
        wait_until("the restarted broker unfenced", || {
            cluster_of(b) == (vec![1, 2, 3], Some(next as i32))
        });
    }
    again.shutdown();
    for b in nodes.into_iter().flatten() {
        b.shutdown();
    }
}

#[test]
fn a_fresh_voter_needs_the_cluster_id_and_a_dir_keeps_its_cluster() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(dir.path(), 1, &ports, None).unwrap();
    let e = block_on(RunningBroker::start(config))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--cluster-id") && e.contains("3 voters"), "{e}");

    // A single node formats its dir with --cluster-id too; another id is then refused,
    // naming both.
    let single = vec![
        "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
        format!("log.dirs={}", dir.path().display()),
    ];
    let with = |id: &str| {
        BrokerConfig::load(None, &single)
            .unwrap()
            .with_cluster_id(Some(id.to_string()))
            .unwrap()
    };
    let b = block_on(RunningBroker::start(with(CLUSTER))).unwrap();
    assert_eq!(b.broker.cluster_id(), CLUSTER);
    b.shutdown();
    let e = block_on(RunningBroker::start(with(OTHER_CLUSTER)))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains(CLUSTER) && e.contains(OTHER_CLUSTER), "{e}");

    // Not a Kafka cluster id; voters without this node (Kafka's message).
    let e = BrokerConfig::load(None, &single)
        .unwrap()
        .with_cluster_id(Some("short".into()))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("22 characters"), "{e}");
    let e = BrokerConfig::load(
        None,
        &[
            "node.id=4".into(),
            format!("controller.quorum.voters={}", voters(&ports)),
        ],
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(e.contains("the node id 4 must be included"), "{e}");
    let e = BrokerConfig::load(
        None,
        &["controller.quorum.voters=1@127.0.0.1:1,1@127.0.0.1:2".into()],
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(e.contains("duplicate voter id 1"), "{e}");
}

#[test]
fn a_node_of_another_cluster_is_refused_and_the_cluster_keeps_working() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let one = spawn_node(dirs[0].path(), 1, &ports, Some(CLUSTER));
    let two = spawn_node(dirs[1].path(), 2, &ports, Some(CLUSTER));
    // Node 3 belongs to another cluster: the handshake refuses it (INCONSISTENT_CLUSTER_ID),
    // so it never sees a leader and its start-up keeps waiting (its thread is left behind).
    let stranger = spawn_node(dirs[2].path(), 3, &ports, Some(OTHER_CLUSTER));
    let (one, two) = (started(one), started(two));
    let leader = agreed_leader(&[&one, &two], None);
    let l = if leader == 1 { &one } else { &two };
    // Start-up does not wait for its broker registration to commit: a topic needs a
    // registered, unfenced broker to be placed on.
    wait_until("both members registered", || {
        cluster_of(l) == (vec![1, 2], Some(leader as i32))
    });
    block_on(async { new_topic(&client(l).await, "kept", 1).await });
    wait_until("the topic on both members", || {
        has_topic(&one, "kept") && has_topic(&two, "kept")
    });
    wait_until("a refused connection", || {
        [&one, &two].iter().any(|b| {
            b.broker
                .topics
                .quorum_description()
                .is_some_and(|d| d.refused_connections > 0)
        })
    });
    assert!(
        stranger.try_recv().is_err(),
        "a node of another cluster must not finish starting"
    );
    one.shutdown();
    two.shutdown();
}
