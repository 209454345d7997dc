//! openraft's RPCs (append entries, vote, install snapshot) over TCP between voters.
//!
//! Wire: every message is `len: u32 BE | postcard body`, Kafka's length-prefix convention.
//! A connection starts with a `Hello` naming the cluster id, both node ids and the dialler's
//! voter ids; the listener answers before anything else flows, and refuses (Kafka's
//! INCONSISTENT_CLUSTER_ID or INCONSISTENT_VOTER_SET) a peer of another cluster, an unknown
//! voter, a peer configured with another voter set, or a connection meant for another node —
//! logged, counted, closed, nothing handed to raft. After the handshake the dialler sends
//! requests and reads one reply each, in order. Besides raft's RPCs a request may be a
//! `ClientWrite`: a follower forwarding a proposal to the leader (see [`crate::forward`]),
//! always on a connection of its own.
//!
//! Liveness: every AppendEntries or InstallSnapshot reply a peer sends back is recorded in
//! [`Contacts`] with the term it answered, which is what the leader's
//! `Quorum::voter_contact` reports (openraft 0.9's metrics have no per-peer heartbeat time).
//!
//! Dialling uses this node's own `controller.quorum.voters` addresses (as Kafka does), not
//! the addresses inside the membership: each node decides how it reaches its peers. A failed
//! or timed-out RPC drops the connection and reports `Unreachable`, so openraft backs off
//! (exponentially, 50 ms doubling to 800 ms) before the next attempt redials.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::config::VoterAddr;
use crate::forward::{handle_client_write, ForwardReply};
use crate::types::{NodeId, QuorumTypes, Raft, Record};

/// Bounds one frame; snapshot chunks (openraft's 3 MiB default) are the largest messages.
const MAX_FRAME: usize = 64 * 1024 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const PROTOCOL: &str = "strait-quorum/1";

/// Kafka's error codes for the refusals the handshake can give.
pub const INCONSISTENT_CLUSTER_ID: i16 = 104;
pub const INCONSISTENT_VOTER_SET: i16 = 94;

#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    protocol: String,
    cluster_id: String,
    from: NodeId,
    to: NodeId,
    /// The dialler's `controller.quorum.voters` ids: voters configured with different sets
    /// would initialise different memberships (split brain), so they must not talk.
    voters: Vec<NodeId>,
}

/// Handshake refusals seen by this node's listener.
#[derive(Default)]
pub(crate) struct Refusals {
    count: AtomicU64,
    last: Mutex<Option<String>>,
}

impl Refusals {
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    pub(crate) fn last(&self) -> Option<String> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    fn record(&self, what: String) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(what);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum HelloReply {
    Accepted,
    Refused { error_code: i16, message: String },
}

// New variants go last: postcard numbers variants by position.
#[derive(Serialize, Deserialize)]
pub(crate) enum Request {
    AppendEntries(AppendEntriesRequest<QuorumTypes>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<QuorumTypes>),
    /// A follower's forwarded proposal; the leader works on it at most `ttl_ms`.
    ClientWrite {
        record: Record,
        ttl_ms: u64,
    },
}

type AppendReply = Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>;
type VoteReply = Result<VoteResponse<NodeId>, RaftError<NodeId>>;
type SnapshotReply =
    Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>;

#[derive(Serialize, Deserialize)]
pub(crate) enum Response {
    AppendEntries(AppendReply),
    Vote(VoteReply),
    InstallSnapshot(SnapshotReply),
    ClientWrite(ForwardReply),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("undecodable frame: {0}")]
    Decode(#[from] postcard::Error),
    #[error("refused by node {node} (error code {error_code}): {message}")]
    Refused {
        node: NodeId,
        error_code: i16,
        message: String,
    },
    #[error("unexpected reply kind")]
    Mismatch,
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

pub(crate) async fn write_frame<T: Serialize>(
    stream: &mut TcpStream,
    value: &T,
) -> Result<(), WireError> {
    let body = postcard::to_stdvec(value)?;
    if body.len() > MAX_FRAME {
        return Err(WireError::TooLarge(body.len()));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    stream.write_all(&buf).await?;
    Ok(())
}

pub(crate) async fn read_frame<T: DeserializeOwned>(
    stream: &mut TcpStream,
) -> Result<T, WireError> {
    let len = stream.read_u32().await? as usize;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(postcard::from_bytes(&body)?)
}

/// What the listener checks a dialler against.
#[derive(Clone)]
pub(crate) struct ServerIdentity {
    pub node_id: NodeId,
    pub cluster_id: String,
    pub voters: Arc<BTreeMap<NodeId, VoterAddr>>,
    pub refusals: Arc<Refusals>,
}

impl ServerIdentity {
    fn check(&self, hello: &Hello) -> Result<(), (i16, String)> {
        if hello.protocol != PROTOCOL {
            return Err((
                INCONSISTENT_VOTER_SET,
                format!("protocol '{}', expected '{PROTOCOL}'", hello.protocol),
            ));
        }
        if hello.cluster_id != self.cluster_id {
            return Err((
                INCONSISTENT_CLUSTER_ID,
                format!(
                    "cluster id '{}' is not this cluster's '{}'",
                    hello.cluster_id, self.cluster_id
                ),
            ));
        }
        if hello.to != self.node_id {
            return Err((
                INCONSISTENT_VOTER_SET,
                format!(
                    "connection for node {} reached node {}",
                    hello.to, self.node_id
                ),
            ));
        }
        if !self.voters.contains_key(&hello.from) {
            return Err((
                INCONSISTENT_VOTER_SET,
                format!("node {} is not among the voters", hello.from),
            ));
        }
        let ours: Vec<NodeId> = self.voters.keys().copied().collect();
        if hello.voters != ours {
            return Err((
                INCONSISTENT_VOTER_SET,
                format!(
                    "node {} has voters {:?}, this node has {ours:?}",
                    hello.from, hello.voters
                ),
            ));
        }
        Ok(())
    }
}

/// Accepts voter connections until the returned task is aborted (which aborts every
/// connection task with it).
pub(crate) fn serve(
    listener: TcpListener,
    raft: Raft,
    identity: ServerIdentity,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let raft = raft.clone();
                        let identity = identity.clone();
                        connections.spawn(async move {
                            if let Err(e) = serve_connection(stream, raft, &identity).await {
                                tracing::debug!(%peer, node = identity.node_id, "quorum connection closed: {e}");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(node = identity.node_id, "quorum listener accept failed: {e}"),
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

async fn serve_connection(
    mut stream: TcpStream,
    raft: Raft,
    identity: &ServerIdentity,
) -> Result<(), WireError> {
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr()?;
    let hello: Hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut stream))
        .await
        .map_err(|_| WireError::Timeout(HANDSHAKE_TIMEOUT))??;
    if let Err((error_code, message)) = identity.check(&hello) {
        identity.refusals.record(format!(
            "error code {error_code} for node {} from {peer}: {message}",
            hello.from
        ));
        tracing::warn!(%peer, node = identity.node_id, from = hello.from, error_code, "refused quorum connection: {message}");
        let _ = write_frame(
            &mut stream,
            &HelloReply::Refused {
                error_code,
                message,
            },
        )
        .await;
        return Ok(());
    }
    write_frame(&mut stream, &HelloReply::Accepted).await?;
    loop {
        let request: Request = read_frame(&mut stream).await?;
        let response = match request {
            Request::AppendEntries(rpc) => Response::AppendEntries(raft.append_entries(rpc).await),
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::InstallSnapshot(rpc) => {
                Response::InstallSnapshot(raft.install_snapshot(rpc).await)
            }
            Request::ClientWrite { record, ttl_ms } => {
                Response::ClientWrite(handle_client_write(&raft, record, ttl_ms).await)
            }
        };
        write_frame(&mut stream, &response).await?;
    }
}

/// openraft's network factory: one [`PeerClient`] per target voter.
pub(crate) struct Network {
    pub node_id: NodeId,
    pub cluster_id: String,
    pub voters: Arc<BTreeMap<NodeId, VoterAddr>>,
    pub contacts: Arc<Contacts>,
}

impl RaftNetworkFactory<QuorumTypes> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        let addr = self
            .voters
            .get(&target)
            .map(VoterAddr::to_string)
            .unwrap_or_else(|| node.addr.clone());
        PeerClient {
            from: self.node_id,
            target,
            addr,
            cluster_id: self.cluster_id.clone(),
            voters: self.voters.keys().copied().collect(),
            stream: None,
            contacts: Arc::clone(&self.contacts),
        }
    }
}

/// One dialled connection to a peer voter, redialled after a failure.
pub(crate) struct PeerClient {
    from: NodeId,
    target: NodeId,
    addr: String,
    cluster_id: String,
    voters: Vec<NodeId>,
    stream: Option<TcpStream>,
    contacts: Arc<Contacts>,
}

/// When each peer last answered this node's AppendEntries or InstallSnapshot, and in which
/// term (the sender's vote): a reply to an older leadership says nothing about this one.
#[derive(Default)]
pub(crate) struct Contacts {
    last: Mutex<BTreeMap<NodeId, (u64, std::time::Instant)>>,
}

impl Contacts {
    fn record(&self, peer: NodeId, term: u64) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.insert(peer, (term, std::time::Instant::now()));
    }

    /// The last contact with `peer` made in `term`, if any.
    pub(crate) fn in_term(&self, peer: NodeId, term: u64) -> Option<std::time::Instant> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.get(&peer)
            .filter(|(t, _)| *t == term)
            .map(|(_, at)| *at)
    }
}

/// Dials `addr` and runs the handshake as node `from` reaching node `to`.
pub(crate) async fn dial(
    addr: &str,
    from: NodeId,
    to: NodeId,
    cluster_id: &str,
    voters: Vec<NodeId>,
) -> Result<TcpStream, WireError> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let hello = Hello {
        protocol: PROTOCOL.to_string(),
        cluster_id: cluster_id.to_string(),
        from,
        to,
        voters,
    };
    write_frame(&mut stream, &hello).await?;
    match read_frame(&mut stream).await? {
        HelloReply::Accepted => Ok(stream),
        HelloReply::Refused {
            error_code,
            message,
        } => {
            tracing::error!(node = from, target = to, %addr, error_code, "quorum peer refused us: {message}");
            Err(WireError::Refused {
                node: to,
                error_code,
                message,
            })
        }
    }
}

impl PeerClient {
    async fn connect(&self) -> Result<TcpStream, WireError> {
        dial(
            &self.addr,
            self.from,
            self.target,
            &self.cluster_id,
            self.voters.clone(),
        )
        .await
    }

    async fn call(&mut self, request: Request, ttl: Duration) -> Result<Response, WireError> {
        let attempt = async {
            let mut stream = match self.stream.take() {
                Some(s) => s,
                None => self.connect().await?,
            };
            write_frame(&mut stream, &request).await?;
            let response: Response = read_frame(&mut stream).await?;
            Ok::<_, WireError>((stream, response))
        };
        // A timed-out or failed exchange leaves the stream in an unknown position: drop it.
        let (stream, response) = tokio::time::timeout(ttl, attempt)
            .await
            .map_err(|_| WireError::Timeout(ttl))??;
        self.stream = Some(stream);
        Ok(response)
    }
}

fn rpc_error<E: std::error::Error>(e: WireError) -> RPCError<NodeId, BasicNode, E> {
    match e {
        WireError::Timeout(_)
        | WireError::Mismatch
        | WireError::Decode(_)
        | WireError::TooLarge(_) => RPCError::Network(NetworkError::new(&e)),
        WireError::Io(_) | WireError::Refused { .. } => RPCError::Unreachable(Unreachable::new(&e)),
    }
}

fn remote<T, E: std::error::Error>(
    target: NodeId,
    reply: Result<T, RaftError<NodeId, E>>,
) -> Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
    reply.map_err(|e| RPCError::RemoteError(openraft::error::RemoteError::new(target, e)))
}

impl RaftNetwork<QuorumTypes> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<QuorumTypes>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let term = rpc.vote.leader_id.term;
        match self
            .call(Request::AppendEntries(rpc), option.hard_ttl())
            .await
            .map_err(rpc_error)?
        {
            Response::AppendEntries(reply) => {
                // Any answer but "I have a higher vote" acknowledges this leadership.
                if matches!(&reply, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
                    self.contacts.record(self.target, term);
                }
                remote(self.target, reply)
            }
            _ => Err(rpc_error(WireError::Mismatch)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<QuorumTypes>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let term = rpc.vote.leader_id.term;
        match self
            .call(Request::InstallSnapshot(rpc), option.hard_ttl())
            .await
            .map_err(rpc_error)?
        {
            Response::InstallSnapshot(reply) => {
                if matches!(&reply, Ok(r) if r.vote.leader_id.term <= term) {
                    self.contacts.record(self.target, term);
                }
                remote(self.target, reply)
            }
            _ => Err(rpc_error(WireError::Mismatch)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .call(Request::Vote(rpc), option.hard_ttl())
            .await
            .map_err(rpc_error)?
        {
            Response::Vote(reply) => remote(self.target, reply),
            _ => Err(rpc_error(WireError::Mismatch)),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new((0..).map(|attempt: u32| {
            Duration::from_millis(50u64 << attempt.min(4)).min(Duration::from_secs(1))
        }))
    }
}
