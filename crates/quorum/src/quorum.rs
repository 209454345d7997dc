//! [`Quorum`]: the API the broker uses — open a voter, propose records, read the image,
//! observe leadership (what Kafka's DescribeQuorum answers), shut down.
//!
//! Owns the node's identity file (`quorum.json`: cluster id and node id recorded on first
//! start, checked on every later one, as Kafka's `meta.properties`), the openraft instance
//! and the listener task.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::config::{ConfigError, QuorumConfig, VoterAddr};
use crate::forward::Forwarder;
use crate::fsutil::{at, write_atomic, PathError};
use crate::liveness::{spawn_watcher, Leadership};
use crate::log_store::disk::{DiskLog, LogError};
use crate::log_store::LogStore;
use crate::network::{serve, Contacts, Network, Refusals, ServerIdentity};
use crate::state_machine::{Image, Shared, SnapshotError, StateMachine};
use crate::types::{NodeId, Raft};

mod propose;

const IDENTITY_FILE: &str = "quorum.json";
const LOG_DIR: &str = "log";

/// Why a voter could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("invalid quorum configuration: {0}")]
    Config(#[from] ConfigError),
    /// Kafka's INCONSISTENT_CLUSTER_ID: the directory belongs to another cluster or node.
    #[error("{path} records cluster id '{found_cluster}' and node id {found_node}, but this node is configured as cluster '{cluster}' node {node}")]
    InconsistentIdentity {
        path: PathBuf,
        found_cluster: String,
        found_node: NodeId,
        cluster: String,
        node: NodeId,
    },
    #[error("quorum listener on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("corrupt {path}: {message}")]
    CorruptIdentity { path: PathBuf, message: String },
    #[error("raft engine: {0}")]
    Raft(String),
}

/// Why a proposal was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// This voter is not the leader; forward to `leader_id` (Kafka: NOT_CONTROLLER).
    /// [`Quorum::propose`] forwards by itself and no longer answers this; kept for callers
    /// that report a leader hint.
    #[error("node {node_id} is not the quorum leader (leader: {leader_id:?} at {leader_addr:?})")]
    NotLeader {
        node_id: NodeId,
        leader_id: Option<NodeId>,
        leader_addr: Option<VoterAddr>,
    },
    /// No acknowledgement within `propose_timeout` (Kafka: REQUEST_TIMED_OUT). The outcome
    /// is unknown: the record may still commit later, or be truncated if its leader lost its
    /// majority. Also the answer when a forwarded record's reply was lost (the duration is
    /// then the time spent), since resending it could commit it twice.
    #[error("record not committed within {0:?}; its outcome is unknown")]
    Timeout(Duration),
    /// Committed at `index`, but the image refused it (deterministically, on every voter).
    #[error("record at index {index} refused by the image: {message}")]
    Rejected { index: u64, message: String },
    /// The quorum is shutting down or its engine (or, for a forwarded record, the leader's)
    /// stopped; a record already handed over has an unknown outcome.
    #[error("quorum unavailable: {0}")]
    Unavailable(String),
}

impl ProposeError {
    /// The Kafka error code a broker answers with.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            ProposeError::NotLeader { .. } | ProposeError::Unavailable(_) => 41, // NOT_CONTROLLER
            ProposeError::Timeout(_) => 7,       // REQUEST_TIMED_OUT
            ProposeError::Rejected { .. } => 42, // INVALID_REQUEST
        }
    }
}

/// A committed and locally applied record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Its index (offset) in the metadata log.
    pub index: u64,
    /// The term (Kafka leader epoch) it was committed in.
    pub leader_epoch: u64,
    /// What the image's `apply` returned.
    pub reply: Vec<u8>,
}

/// One voter as DescribeQuorum reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterState {
    pub node_id: NodeId,
    /// Last index known replicated to it + 1; known on the leader only (and for itself).
    pub log_end_offset: Option<u64>,
}

/// What Kafka's DescribeQuorum answers, from this node's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    pub node_id: NodeId,
    pub leader_id: Option<NodeId>,
    /// The current raft term.
    pub leader_epoch: u64,
    /// Committed index + 1 (0 when nothing is committed).
    pub high_watermark: u64,
    pub is_leader: bool,
    pub last_applied: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// On the leader: milliseconds since a majority last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    pub voters: Vec<VoterState>,
    /// Connections refused in the handshake (other cluster id, unknown voter, other voter
    /// set), and the latest refusal with its Kafka error code.
    pub refused_connections: u64,
    pub last_refusal: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    cluster_id: String,
    node_id: NodeId,
}

/// One running voter of the metadata quorum.
pub struct Quorum<I: Image> {
    raft: Raft,
    shared: Arc<Shared<I>>,
    config: QuorumConfig,
    /// The peer listener's task; `None` for a lone voter opened without one. Behind a mutex
    /// so [`Quorum::close`] can stop it through a shared handle.
    server: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    local_addr: Option<SocketAddr>,
    refusals: Arc<Refusals>,
    /// A reader handle on the log raft owns, to flush held-back state at shutdown.
    log_store: LogStore,
    /// Connections a follower forwards proposals to the leader on.
    forwarder: Forwarder,
    /// When each peer last answered this node's replication (read on the leader).
    contacts: Arc<Contacts>,
    leadership: Arc<Leadership>,
    /// The leader as this node sees it; [`Quorum::subscribe_leader`] hands out receivers.
    leader_tx: tokio::sync::watch::Sender<Option<NodeId>>,
    /// The task feeding `leader_tx` and `leadership` from raft's metrics.
    watcher: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl<I: Image> Quorum<I> {
    /// Binds `config.listen_addr` and opens the voter (see [`Quorum::open_with_listener`]).
    pub async fn open(config: QuorumConfig, image: I) -> Result<Quorum<I>, QuorumError> {
        let addr = config.listen_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| QuorumError::Listen { addr, source })?;
        Self::open_with_listener(config, listener, image).await
    }

    /// Opens the voter in `config.dir` (recovering log and snapshot), starts raft and serves
    /// peers on `listener`; initialises the quorum by the rule in the crate docs.
    pub async fn open_with_listener(
        config: QuorumConfig,
        listener: TcpListener,
        image: I,
    ) -> Result<Quorum<I>, QuorumError> {
        Self::open_inner(config, Some(listener), image).await
    }

    /// Opens a quorum of one (this node the only voter) with no peer listener: nobody else
    /// can take part, so no port is bound (the broker's single-node mode, when
    /// `controller.quorum.voters` is not configured). `config.listen_addr` is ignored.
    pub async fn open_single(config: QuorumConfig, image: I) -> Result<Quorum<I>, QuorumError> {
        if config.voters.len() != 1 {
            return Err(QuorumError::Config(ConfigError(format!(
                "a quorum opened without a listener must have exactly one voter, not {}",
                config.voters.len()
            ))));
        }
        Self::open_inner(config, None, image).await
    }

    async fn open_inner(
        config: QuorumConfig,
        listener: Option<TcpListener>,
        image: I,
    ) -> Result<Quorum<I>, QuorumError> {
        config.validate()?;
        std::fs::create_dir_all(&config.dir).map_err(at(&config.dir))?;
        check_identity(&config)?;
        let log = DiskLog::open(&config.dir.join(LOG_DIR), config.segment_bytes)?;
        let fresh_log = log.state().vote.is_none() && log.last_log_id().is_none();
        let log_store = LogStore::new(log);
        let state_machine = StateMachine::open(&config.dir, image)?;
        let fresh = fresh_log && state_machine.shared.progress_is_empty();
        let shared = Arc::clone(&state_machine.shared);

        let raft_config = openraft::Config {
            cluster_name: config.cluster_id.clone(),
            heartbeat_interval: millis(config.heartbeat_interval),
            election_timeout_min: millis(config.election_timeout_min),
            election_timeout_max: millis(config.election_timeout_max),
            install_snapshot_timeout: millis(config.propose_timeout).max(1000),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.logs_kept_after_snapshot,
            purge_batch_size: 1,
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Config(ConfigError(e.to_string())))?;
        let voters = Arc::new(config.voters.clone());
        let contacts = Arc::new(Contacts::default());
        let network = Network {
            node_id: config.node_id,
            cluster_id: config.cluster_id.clone(),
            voters: Arc::clone(&voters),
            contacts: Arc::clone(&contacts),
        };
        let forwarder = Forwarder::new(
            config.node_id,
            config.cluster_id.clone(),
            Arc::clone(&voters),
        );
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network,
            log_store.clone(),
            state_machine,
        )
        .await
        .map_err(|e| QuorumError::Raft(e.to_string()))?;

        let local_addr = listener
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()
            .map_err(|source| QuorumError::Listen {
                addr: config.listen_addr,
                source,
            })?;
        let refusals = Arc::new(Refusals::default());
        let identity = ServerIdentity {
            node_id: config.node_id,
            cluster_id: config.cluster_id.clone(),
            voters,
            refusals: Arc::clone(&refusals),
        };
        let server = listener.map(|l| serve(l, raft.clone(), identity));

        if fresh {
            // Every pristine voter writes this entry at the same log id, so its bytes must be
            // the same everywhere: ids only. Addresses come from each node's own voters
            // config when dialling, and may legitimately differ between nodes (NAT, proxies).
            let members: BTreeMap<NodeId, BasicNode> = config
                .voters
                .keys()
                .map(|id| (*id, BasicNode::default()))
                .collect();
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => {
                    if let Some(s) = &server {
                        s.abort();
                    }
                    let _ = raft.shutdown().await;
                    return Err(QuorumError::Raft(format!("initialize: {e}")));
                }
            }
        }
        let leadership = Arc::new(Leadership::default());
        let (leader_tx, _) = tokio::sync::watch::channel(None);
        let watcher = spawn_watcher(
            &raft,
            config.node_id,
            Arc::clone(&leadership),
            leader_tx.clone(),
        );
        Ok(Quorum {
            raft,
            shared,
            config,
            server: std::sync::Mutex::new(server),
            local_addr,
            refusals,
            log_store,
            forwarder,
            contacts,
            leadership,
            leader_tx,
            watcher: std::sync::Mutex::new(Some(watcher)),
        })
    }

    /// Reads the image (a consistent view: no apply runs while `f` does).
    pub fn read<T>(&self, f: impl FnOnce(&I) -> T) -> T {
        f(&self.shared.read())
    }

    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// The address peers reach this voter's listener on (useful with port 0); `None` when
    /// opened without a listener ([`Quorum::open_single`]).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Waits until this node leads and its image has applied every entry committed before
    /// (openraft's linearizable-read barrier), so reads see everything acknowledged before a
    /// restart. A lone voter is asked to campaign at once: openraft restores a leader whose
    /// vote was committed, but would otherwise sit out an election timeout first.
    /// `false` when `timeout` passed first (a multi-voter quorum without a majority).
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let alone = self.config.voters.len() == 1;
        loop {
            if alone && !self.is_leader() {
                // Already campaigning or leading is fine: the trigger is a no-op then.
                let _ = self.raft.trigger().elect().await;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !self.wait_until(left, |d| d.is_leader).await {
                return false;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.raft.ensure_linearizable()).await {
                Ok(Ok(_)) => return true,
                // Lost leadership meanwhile: wait for the next leader.
                Ok(Err(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    /// The leader as this node last saw it, with its configured address.
    pub fn leader(&self) -> Option<(NodeId, Option<VoterAddr>)> {
        let leader = self.raft.metrics().borrow().current_leader;
        leader.map(|id| (id, self.config.voters.get(&id).cloned()))
    }

    /// Whether this node currently holds leadership (its own view; a partitioned leader may
    /// still think so until it hears a higher term — it cannot commit either way).
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Watches the leader as this node sees it: `Some(own id)` while this node leads,
    /// `Some(other)` once it heard from another leader, `None` while no leader is known (an
    /// election, or after shutdown). The broker starts its controller when the value becomes
    /// its own id and stops it when it changes away. Fires on change only.
    pub fn subscribe_leader(&self) -> tokio::sync::watch::Receiver<Option<NodeId>> {
        self.leader_tx.subscribe()
    }

    /// On the leader: for every voter, the time since it last answered this leader's
    /// replication (AppendEntries, heartbeats included, or InstallSnapshot), counted from no
    /// earlier than when this node became leader (a new leader gives every voter a fresh
    /// session, as Kafka's newly active controller does); this node itself is `ZERO`. Empty
    /// on a follower or candidate (and for the moment between winning an election and the
    /// leadership watcher noting it). What the controller compares with
    /// `broker.session.timeout.ms` to fence a broker whose node stopped answering.
    pub fn voter_contact(&self) -> BTreeMap<NodeId, Duration> {
        let leading_term = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.state == ServerState::Leader).then_some(m.current_term)
        };
        crate::liveness::voter_contact(
            self.config.node_id,
            self.config.voters.keys().copied(),
            leading_term,
            &self.leadership,
            &self.contacts,
        )
    }

    /// What Kafka's DescribeQuorum reports, from this node's metrics.
    pub async fn describe(&self) -> QuorumDescription {
        let committed = self
            .raft
            .with_raft_state(|st| st.committed.map(|c| c.index))
            .await
            .ok()
            .flatten();
        let m = self.raft.metrics().borrow().clone();
        let voters = self
            .config
            .voters
            .keys()
            .map(|&node_id| {
                let log_end_offset = if node_id == self.config.node_id {
                    m.last_log_index.map(|i| i + 1)
                } else {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&node_id))
                        .and_then(|matched| matched.map(|l| l.index + 1))
                };
                VoterState {
                    node_id,
                    log_end_offset,
                }
            })
            .collect();
        QuorumDescription {
            node_id: self.config.node_id,
            leader_id: m.current_leader,
            leader_epoch: m.current_term,
            high_watermark: committed.map_or(0, |c| c + 1),
            is_leader: m.state == ServerState::Leader,
            last_applied: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            voters,
            refused_connections: self.refusals.count(),
            last_refusal: self.refusals.last(),
        }
    }

    /// Waits until this node's metrics satisfy `pred` (leader known, index applied, ...);
    /// `false` when `timeout` passed first.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        pred: impl Fn(&QuorumDescription) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut metrics = self.raft.metrics();
        loop {
            if pred(&self.describe().await) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            // Metrics change on every raft event; the refused counter does not notify, so
            // re-check at least every 50 ms.
            let step = tokio::time::Instant::now() + Duration::from_millis(50);
            match tokio::time::timeout_at(deadline.min(step), metrics.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return false,
                Err(_) => {}
            }
        }
    }

    /// Asks raft to take a snapshot now (normally the `snapshot_every` policy does).
    pub async fn trigger_snapshot(&self) -> Result<(), QuorumError> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))
    }

    /// Stops raft and the listener; the directory can be reopened afterwards.
    pub async fn shutdown(self) -> Result<(), QuorumError> {
        self.close().await
    }

    /// [`Quorum::shutdown`] through a shared handle: later proposals answer `Unavailable`.
    pub async fn close(&self) -> Result<(), QuorumError> {
        let server = self.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(server) = server {
            server.abort();
            // Wait for the listener and its connections to be gone before raft stops, so no
            // peer request reaches a stopping engine and the port is free for a restart.
            let _ = server.await;
        }
        self.forwarder.clear();
        let result = self
            .raft
            .shutdown()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()));
        // The watcher ends by itself once raft's metrics close; abort in case they did not.
        let watcher = self
            .watcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(w) = watcher {
            w.abort();
        }
        self.leader_tx.send_replace(None);
        result?;
        self.log_store.flush()?;
        Ok(())
    }
}

impl<I: Image> Drop for Quorum<I> {
    fn drop(&mut self) {
        // Dropped without `shutdown`: at least stop serving peers; the raft core stops once
        // its last handle (held by the listener's connections) is gone.
        let server = self.server.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = server {
            s.abort();
        }
        let watcher = self.watcher.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = watcher {
            w.abort();
        }
    }
}

/// Whether `dir` holds any quorum state (a vote, log entries or a snapshot) — what a start-up
/// safety check asks before deciding a directory is fresh. The identity file alone is not
/// state: it is written before the first vote.
pub fn holds_state(dir: &std::path::Path) -> bool {
    let log = dir.join(LOG_DIR);
    let has_segment = std::fs::read_dir(&log).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            e.file_name().to_string_lossy().ends_with(".seg")
                && e.metadata().is_ok_and(|m| m.len() > 0)
        })
    });
    has_segment
        || log.join("state.json").exists()
        || dir.join("snapshot").join("current.snap").exists()
}

/// The cluster id and node id recorded in `dir` on its first open, if any.
pub fn read_identity(dir: &std::path::Path) -> Result<Option<(String, NodeId)>, QuorumError> {
    let path = dir.join(IDENTITY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let found: Identity =
                serde_json::from_slice(&bytes).map_err(|e| QuorumError::CorruptIdentity {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            Ok(Some((found.cluster_id, found.node_id)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(at(&path)(e).into()),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn check_identity(config: &QuorumConfig) -> Result<(), QuorumError> {
    let path = config.dir.join(IDENTITY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let found: Identity =
                serde_json::from_slice(&bytes).map_err(|e| QuorumError::CorruptIdentity {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            if found.cluster_id != config.cluster_id || found.node_id != config.node_id {
                return Err(QuorumError::InconsistentIdentity {
                    path,
                    found_cluster: found.cluster_id,
                    found_node: found.node_id,
                    cluster: config.cluster_id.clone(),
                    node: config.node_id,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = Identity {
                cluster_id: config.cluster_id.clone(),
                node_id: config.node_id,
            };
            let bytes =
                serde_json::to_vec(&identity).map_err(|e| QuorumError::CorruptIdentity {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            write_atomic(&path, &bytes)?;
            Ok(())
        }
        Err(e) => Err(at(&path)(e).into()),
    }
}
