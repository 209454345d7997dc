//! An in-process multi-voter cluster: combined nodes (broker + controller), each on its own
//! thread and tokio runtime, with controller ports picked free and the KRaft keys set as a
//! 3-node test needs them (short quorum and session timeouts, so a stopped node is fenced in
//! about 1.5 s, and `controlled.shutdown.enable=false`, so a stop is like a crash). Extra overrides are applied last, so a test can change any of them.

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use strait_broker::metadata::PartitionRecord;
use strait_broker::{BrokerConfig, RunningBroker};

/// The cluster id every node is formatted with.
pub const CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qk";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Node `node` (1-based) of a cluster whose voters listen on `ports`.
pub fn node_config(dir: &Path, node: usize, ports: &[u16], extra: &[&str]) -> BrokerConfig {
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mut overrides = vec![
        format!("node.id={node}"),
        "process.roles=broker,controller".to_string(),
        format!(
            "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{}",
            ports[node - 1]
        ),
        "controller.listener.names=CONTROLLER".to_string(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string(),
        format!("controller.quorum.voters={voters}"),
        "controller.quorum.fetch.timeout.ms=400".to_string(),
        "controller.quorum.election.timeout.ms=300".to_string(),
        "broker.session.timeout.ms=1500".to_string(),
        "broker.heartbeat.interval.ms=200".to_string(),
        // `RunningBroker::shutdown` stands for a crash in these tests; a test of the
        // clean stop turns it back on.
        "controlled.shutdown.enable=false".to_string(),
        format!("log.dirs={}", dir.display()),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    BrokerConfig::load(None, &overrides)
        .and_then(|c| c.with_cluster_id(Some(CLUSTER_ID.to_string())))
        .unwrap()
}

/// Starts node `node` on its own thread and runtime (start-up waits for the quorum, so
/// the nodes of one cluster are spawned before any is awaited).
pub fn spawn_node(
    dir: &Path,
    node: usize,
    ports: &[u16],
    extra: &[&str],
) -> Receiver<Result<RunningBroker, String>> {
    spawn_with(node_config(dir, node, ports, extra))
}

/// Starts a node of `config` on its own thread and runtime; it serves until the test
/// shuts it down.
pub fn spawn_with(config: BrokerConfig) -> Receiver<Result<RunningBroker, String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let started = rt.block_on(RunningBroker::start(config));
        let ok = started.is_ok();
        let _ = tx.send(started.map_err(|e| e.to_string()));
        if ok {
            rt.block_on(std::future::pending::<()>());
        }
    });
    rx
}

/// The node [`spawn_node`] started (within a minute).
pub fn started(rx: Receiver<Result<RunningBroker, String>>) -> RunningBroker {
    rx.recv_timeout(Duration::from_secs(60))
        .expect("node start-up did not finish")
        .unwrap()
}

/// Waits (deadline-bounded polling, one minute) until `cond` holds.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `f` on a fresh current-thread runtime (the nodes' runtimes are their own).
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The metadata quorum's leader as `b` sees it.
pub fn quorum_leader(b: &RunningBroker) -> Option<u64> {
    b.broker
        .topics
        .quorum_description()
        .and_then(|d| d.leader_id)
}

/// The partitions of `topic` in `b`'s applied metadata image.
pub fn image_partitions(b: &RunningBroker, topic: &str) -> Vec<PartitionRecord> {
    b.broker
        .topics
        .metadata_log()
        .image()
        .topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| t.partitions)
        .unwrap_or_default()
}
