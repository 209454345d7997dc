//! Shared test fixtures: a recording image, a TCP proxy the test can cut, and a loopback
//! cluster of voters whose every connection (from → to) runs through its own proxy.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod proxy;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use strait_quorum::{ApplyError, Image, NodeId, ProposeError, Quorum, QuorumConfig, VoterAddr};
use tokio::net::TcpListener;

use proxy::Proxy;

/// Records every applied record with its index; refuses records starting with `reject`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorder {
    pub records: Vec<(u64, Vec<u8>)>,
}

impl Image for Recorder {
    fn apply(&mut self, index: u64, record: &[u8]) -> Result<Vec<u8>, ApplyError> {
        if record.starts_with(b"reject") {
            return Err(ApplyError(format!(
                "refusing {}",
                String::from_utf8_lossy(record)
            )));
        }
        self.records.push((index, record.to_vec()));
        Ok(format!("applied {index}").into_bytes())
    }
    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&self.records).unwrap()
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), ApplyError> {
        self.records = serde_json::from_slice(snapshot).map_err(|e| ApplyError(e.to_string()))?;
        Ok(())
    }
}

impl Recorder {
    pub fn payloads(&self) -> Vec<Vec<u8>> {
        self.records.iter().map(|(_, r)| r.clone()).collect()
    }
}

pub const WAIT: Duration = Duration::from_secs(20);

pub fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Test-speed timings: short elections so failover tests stay quick.
pub fn tune(config: &mut QuorumConfig) {
    config.heartbeat_interval = Duration::from_millis(50);
    config.election_timeout_min = Duration::from_millis(300);
    config.election_timeout_max = Duration::from_millis(600);
    config.propose_timeout = Duration::from_secs(5);
}

/// `RUST_LOG=openraft=debug,strait_quorum=debug cargo test ...` shows what raft did.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn single(dir: &std::path::Path, tweak: impl Fn(&mut QuorumConfig)) -> Quorum<Recorder> {
    logs();
    let listener = TcpListener::bind(local()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let voters = BTreeMap::from([(1, VoterAddr::from(addr))]);
    let mut config = QuorumConfig::new(1, "test-cluster", voters, dir, addr);
    tune(&mut config);
    tweak(&mut config);
    let quorum = Quorum::open_with_listener(config, listener, Recorder::default())
        .await
        .unwrap();
    assert!(
        quorum.wait_until(WAIT, |d| d.is_leader).await,
        "single voter never became leader"
    );
    quorum
}

/// A loopback cluster: node ids 1..=n, proxies[(from, to)] carries from's connections to `to`.
pub struct Cluster {
    pub dirs: BTreeMap<NodeId, PathBuf>,
    pub nodes: BTreeMap<NodeId, Quorum<Recorder>>,
    pub proxies: BTreeMap<(NodeId, NodeId), Proxy>,
    pub tweak: fn(&mut QuorumConfig),
    _root: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(n: u64, tweak: fn(&mut QuorumConfig)) -> Cluster {
        let all: Vec<NodeId> = (1..=n).collect();
        Self::start_some(n, tweak, &all).await
    }

    /// Like `start`, but only the voters in `running` are started; `restart` starts the others.
    pub async fn start_some(n: u64, tweak: fn(&mut QuorumConfig), running: &[NodeId]) -> Cluster {
        logs();
        let root = tempfile::tempdir().unwrap();
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            let l = TcpListener::bind(local()).await.unwrap();
            listeners.insert(id, l);
        }
        let mut proxies = BTreeMap::new();
        for from in 1..=n {
            for to in 1..=n {
                if from != to {
                    let target = listeners[&to].local_addr().unwrap();
                    proxies.insert((from, to), Proxy::start(target).await);
                }
            }
        }
        let mut cluster = Cluster {
            dirs: (1..=n)
                .map(|id| (id, root.path().join(format!("node-{id}"))))
                .collect(),
            nodes: BTreeMap::new(),
            proxies,
            tweak,
            _root: root,
        };
        for (id, listener) in listeners {
            if running.contains(&id) {
                cluster.open_node(id, listener).await;
            }
        }
        cluster
    }

    fn config_for(&self, id: NodeId, listen: SocketAddr) -> QuorumConfig {
        let voters = self
            .dirs
            .keys()
            .map(|&peer| {
                let addr = if peer == id {
                    listen
                } else {
                    self.proxies[&(id, peer)].addr
                };
                (peer, VoterAddr::from(addr))
            })
            .collect();
        let mut config = QuorumConfig::new(id, "test-cluster", voters, &self.dirs[&id], listen);
        tune(&mut config);
        (self.tweak)(&mut config);
        config
    }

    async fn open_node(&mut self, id: NodeId, listener: TcpListener) {
        let listen = listener.local_addr().unwrap();
        for ((_, to), proxy) in &self.proxies {
            if *to == id {
                proxy.set_target(listen);
            }
        }
        let config = self.config_for(id, listen);
        let quorum = Quorum::open_with_listener(config, listener, Recorder::default())
            .await
            .unwrap();
        self.nodes.insert(id, quorum);
    }

    pub async fn stop(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).unwrap();
        node.shutdown().await.unwrap();
    }

    pub async fn restart(&mut self, id: NodeId) {
        let listener = TcpListener::bind(local()).await.unwrap();
        self.open_node(id, listener).await;
    }

    /// Cuts (or restores) every connection to and from `id`.
    pub fn isolate(&self, id: NodeId, cut: bool) {
        for ((from, to), proxy) in &self.proxies {
            if *from == id || *to == id {
                proxy.set_blocked(cut);
            }
        }
    }

    /// Waits until every running node agrees on one leader among `among`; returns it.
    pub async fn leader_among(&self, among: &[NodeId]) -> NodeId {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            for &id in among {
                let Some(node) = self.nodes.get(&id) else {
                    continue;
                };
                if node.describe().await.is_leader {
                    let mut agreed = true;
                    for &other in among {
                        if let Some(n) = self.nodes.get(&other) {
                            agreed &= n.describe().await.leader_id == Some(id);
                        }
                    }
                    if agreed {
                        return id;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no agreed leader among {among:?}"
            );
            let any = among.iter().find_map(|id| self.nodes.get(id)).unwrap();
            any.wait_until(Duration::from_millis(100), |_| false).await;
        }
    }

    /// Proposes through whichever of `among` leads, retrying across leader changes.
    pub async fn propose(&self, among: &[NodeId], record: &[u8]) -> strait_quorum::Applied {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let leader = self.leader_among(among).await;
            match self.nodes[&leader].propose(record.to_vec()).await {
                Ok(applied) => return applied,
                Err(ProposeError::NotLeader { .. } | ProposeError::Timeout(_)) => {}
                Err(e) => panic!("propose failed: {e}"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "could not commit {record:?}"
            );
        }
    }

    /// Waits until every running node has applied `index`.
    pub async fn wait_applied(&self, index: u64) {
        for (id, node) in &self.nodes {
            let ok = node
                .wait_until(WAIT, |d| d.last_applied.is_some_and(|a| a >= index))
                .await;
            assert!(
                ok,
                "node {id} did not apply index {index}: {:?}",
                node.describe().await
            );
        }
    }

    pub fn images(&self) -> BTreeMap<NodeId, Recorder> {
        self.nodes
            .iter()
            .map(|(id, n)| (*id, n.read(|img| img.clone())))
            .collect()
    }

    pub async fn shutdown(self) {
        for (_, node) in self.nodes {
            node.shutdown().await.unwrap();
        }
    }
}
