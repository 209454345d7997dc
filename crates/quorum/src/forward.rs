//! Forwarding a proposal from a follower to the quorum leader (Kafka's forwarding of a
//! metadata change to the active controller).
//!
//! Owns the wire form of a forwarded write ([`ForwardReply`]), the leader's side of it
//! ([`handle_client_write`]) and the follower's connection pool ([`Forwarder`]).
//!
//! Invariants:
//! - A forwarded write travels on its own connections (never on a raft RPC connection): the
//!   peer protocol is strictly one request, one reply, in order, so a write waiting for its
//!   commit must not hold up AppendEntries or votes. Each connection carries one write at a
//!   time; [`MAX_FORWARDS_IN_FLIGHT`] bounds how many a node has outstanding, and at most
//!   [`MAX_IDLE_PER_PEER`] idle connections per leader are kept for reuse.
//! - Only a voter that passed the handshake can forward (same listener, same check).
//! - A write is retried only when it certainly was not appended: the dial or handshake
//!   failed (nothing was sent), or the receiver answered "not the leader". Once the request
//!   bytes may have reached a leader, a lost reply is reported as outcome unknown
//!   ([`Forwarded::Unknown`]) and never resent: resending could commit the record twice.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::config::VoterAddr;
use crate::network::{dial, read_frame, write_frame, Request, Response, WireError};
use crate::types::{NodeId, Raft, Record};

/// Forwarded writes a node has outstanding at once; more wait for a slot (within their own
/// propose timeout).
pub const MAX_FORWARDS_IN_FLIGHT: usize = 32;
/// Idle forwarding connections kept per leader.
pub const MAX_IDLE_PER_PEER: usize = 4;
/// The longest a leader works on one forwarded write, whatever the forwarder asked.
const MAX_FORWARD_TTL: Duration = Duration::from_secs(120);

/// What the leader answers a forwarded write with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ForwardReply {
    /// Committed at `index` in `term`; `reply` is what the leader's image answered.
    Written {
        index: u64,
        term: u64,
        reply: Result<Vec<u8>, String>,
    },
    /// The receiver is not the leader and did not append the record.
    NotLeader { leader_id: Option<NodeId> },
    /// Appended (maybe) but not committed within the forwarder's time: outcome unknown.
    Timeout,
    /// The receiver's engine failed or is stopping; outcome unknown.
    Unavailable(String),
}

/// The leader's side: commit `record` as a local proposal would, within `ttl`.
pub(crate) async fn handle_client_write(raft: &Raft, record: Record, ttl_ms: u64) -> ForwardReply {
    let ttl = Duration::from_millis(ttl_ms).min(MAX_FORWARD_TTL);
    match tokio::time::timeout(ttl, raft.client_write(record)).await {
        Err(_) => ForwardReply::Timeout,
        Ok(Ok(response)) => ForwardReply::Written {
            index: response.log_id.index,
            term: response.log_id.leader_id.term,
            reply: response.data.0,
        },
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            ForwardReply::NotLeader {
                leader_id: f.leader_id,
            }
        }
        Ok(Err(e)) => ForwardReply::Unavailable(e.to_string()),
    }
}

/// How one forwarding attempt ended, from the forwarder's side.
#[derive(Debug)]
pub(crate) enum Forwarded {
    /// The receiver answered.
    Replied(ForwardReply),
    /// Nothing reached the receiver (dial or handshake failed): safe to retry.
    NotSent(String),
    /// The request may have reached it but no reply came back: outcome unknown.
    Unknown(String),
}

/// A follower's pool of forwarding connections, one set per peer.
pub(crate) struct Forwarder {
    node_id: NodeId,
    cluster_id: String,
    voters: Arc<BTreeMap<NodeId, VoterAddr>>,
    idle: Mutex<BTreeMap<NodeId, Vec<TcpStream>>>,
    slots: Semaphore,
}

impl Forwarder {
    pub(crate) fn new(
        node_id: NodeId,
        cluster_id: String,
        voters: Arc<BTreeMap<NodeId, VoterAddr>>,
    ) -> Forwarder {
        Forwarder {
            node_id,
            cluster_id,
            voters,
            idle: Mutex::new(BTreeMap::new()),
            slots: Semaphore::new(MAX_FORWARDS_IN_FLIGHT),
        }
    }

    /// Drops every idle connection (at shutdown, so the peers' handlers end).
    pub(crate) fn clear(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// An idle connection to `target` that still looks open, if any.
    fn take_idle(&self, target: NodeId) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let streams = idle.get_mut(&target)?;
        while let Some(stream) = streams.pop() {
            // A peer that closed the connection (restart, shutdown) makes it readable with
            // EOF or an error; only a connection with nothing to read is still usable. This
            // narrows, but cannot close, the window in which a write goes out on a dead
            // connection and comes back as "outcome unknown".
            let mut probe = [0u8; 1];
            if let Err(e) = stream.try_read(&mut probe) {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    return Some(stream);
                }
            }
        }
        None
    }

    fn put_idle(&self, target: NodeId, stream: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let streams = idle.entry(target).or_default();
        if streams.len() < MAX_IDLE_PER_PEER {
            streams.push(stream);
        }
    }

    /// Sends `record` to `target` and waits for its reply, all within `ttl`.
    pub(crate) async fn forward(&self, target: NodeId, record: &[u8], ttl: Duration) -> Forwarded {
        let Some(addr) = self.voters.get(&target).map(VoterAddr::to_string) else {
            return Forwarded::NotSent(format!("node {target} is not among the voters"));
        };
        let started = tokio::time::Instant::now();
        let Ok(Ok(_slot)) = tokio::time::timeout(ttl, self.slots.acquire()).await else {
            return Forwarded::NotSent(format!(
                "all {MAX_FORWARDS_IN_FLIGHT} forwarding slots busy"
            ));
        };
        let left = ttl.saturating_sub(started.elapsed());
        let mut stream = match self.take_idle(target) {
            Some(s) => s,
            None => {
                let voters: Vec<NodeId> = self.voters.keys().copied().collect();
                let dialled = tokio::time::timeout(
                    left,
                    dial(&addr, self.node_id, target, &self.cluster_id, voters),
                )
                .await;
                match dialled {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Forwarded::NotSent(e.to_string()),
                    Err(_) => return Forwarded::NotSent(format!("no connection within {left:?}")),
                }
            }
        };
        let left = ttl.saturating_sub(started.elapsed());
        let request = Request::ClientWrite {
            record: Record(record.to_vec()),
            ttl_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
        };
        // Allow the leader its whole `ttl` plus a little for the reply to travel, so its own
        // Timeout answer arrives rather than our cut-off.
        let exchange = async {
            write_frame(&mut stream, &request).await?;
            read_frame::<Response>(&mut stream).await
        };
        let grace = Duration::from_millis(200);
        match tokio::time::timeout(left + grace, exchange).await {
            Ok(Ok(Response::ClientWrite(reply))) => {
                self.put_idle(target, stream);
                Forwarded::Replied(reply)
            }
            Ok(Ok(_)) => Forwarded::Unknown(WireError::Mismatch.to_string()),
            Ok(Err(e)) => Forwarded::Unknown(e.to_string()),
            Err(_) => Forwarded::Unknown(format!("no reply within {:?}", left + grace)),
        }
    }
}
