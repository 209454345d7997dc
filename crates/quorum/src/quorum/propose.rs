//! [`Quorum::propose`]: commit one record from any voter — directly on the leader, forwarded
//! to it from a follower (Kafka's forwarding to the active controller).
//!
//! Invariants:
//! - `propose` returns `Ok` only once the record is committed and applied to *this* node's
//!   image, so the caller reads its own write locally, whichever node led.
//! - A record is handed to a leader at most once per call: attempts are repeated only when
//!   the record certainly was not appended (no leader known, dial or handshake failed, or
//!   the receiver said it is not the leader). A hand-over whose reply is lost ends the call
//!   with `Timeout` (outcome unknown), never a second copy of the record.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::metrics::WaitError;
use openraft::ServerState;
use tokio::time::Instant;

use super::{Applied, ProposeError, Quorum};
use crate::forward::{ForwardReply, Forwarded};
use crate::state_machine::Image;
use crate::types::{NodeId, Record};

/// Pause before retrying attempt `attempt` (cut short when the leader changes).
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(20u64 << attempt.min(5)).min(Duration::from_millis(500))
}

fn outcome(index: u64, term: u64, reply: Result<Vec<u8>, String>) -> Result<Applied, ProposeError> {
    match reply {
        Ok(reply) => Ok(Applied {
            index,
            leader_epoch: term,
            reply,
        }),
        Err(message) => Err(ProposeError::Rejected { index, message }),
    }
}

impl<I: Image> Quorum<I> {
    /// Proposes one record from any voter; resolves once it is committed by a majority and
    /// applied to this node's image.
    ///
    /// On the leader the record goes to raft directly; on a follower it is forwarded to the
    /// leader (the one this node knows, or the one a "not the leader" answer names) and the
    /// call then waits until this node has applied the returned index. Without a reachable
    /// leader it retries with backoff until `propose_timeout`. Results: `Ok`, `Rejected` (the
    /// image's deterministic refusal, the same on every voter), or `Timeout`/`Unavailable`
    /// with the outcome unknown.
    pub async fn propose(&self, record: Vec<u8>) -> Result<Applied, ProposeError> {
        let timeout = self.config.propose_timeout;
        let deadline = Instant::now() + timeout;
        let me = self.config.node_id;
        let mut leader_rx = self.leader_tx.subscribe();
        let mut hint: Option<NodeId> = None;
        let mut attempt = 0u32;
        let mut last_failure = String::from("no leader known");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::debug!(node = me, "proposal timed out: {last_failure}");
                return Err(ProposeError::Timeout(timeout));
            }
            let target = {
                let m = self.raft.metrics();
                let m = m.borrow();
                if let Err(e) = &m.running_state {
                    return Err(ProposeError::Unavailable(e.to_string()));
                }
                if m.state == ServerState::Leader {
                    Some(me)
                } else {
                    hint.take()
                        .filter(|h| *h != me)
                        .or(m.current_leader.filter(|l| *l != me))
                }
            };
            match target {
                Some(leader) if leader == me => {
                    let written =
                        tokio::time::timeout(left, self.raft.client_write(Record(record.clone())))
                            .await
                            .map_err(|_| ProposeError::Timeout(timeout))?;
                    match written {
                        Ok(r) => return outcome(r.log_id.index, r.log_id.leader_id.term, r.data.0),
                        // Not appended: leadership moved on before the record got in.
                        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                            hint = f.leader_id;
                            last_failure =
                                format!("lost leadership (new leader {:?})", f.leader_id);
                        }
                        Err(e) => return Err(ProposeError::Unavailable(e.to_string())),
                    }
                }
                Some(leader) => match self.forwarder.forward(leader, &record, left).await {
                    Forwarded::Replied(ForwardReply::Written { index, term, reply }) => {
                        self.wait_applied_here(index, deadline, timeout).await?;
                        return outcome(index, term, reply);
                    }
                    Forwarded::Replied(ForwardReply::NotLeader { leader_id }) => {
                        hint = leader_id;
                        last_failure =
                            format!("node {leader} is not the leader (it names {leader_id:?})");
                    }
                    Forwarded::Replied(ForwardReply::Timeout) => {
                        return Err(ProposeError::Timeout(timeout));
                    }
                    Forwarded::Replied(ForwardReply::Unavailable(message)) => {
                        return Err(ProposeError::Unavailable(format!(
                            "leader {leader} failed while committing (outcome unknown): {message}"
                        )));
                    }
                    Forwarded::NotSent(e) => {
                        last_failure = format!("leader {leader} unreachable: {e}");
                    }
                    Forwarded::Unknown(e) => {
                        tracing::warn!(
                            node = me,
                            leader,
                            "forwarded proposal lost its reply; outcome unknown: {e}"
                        );
                        return Err(ProposeError::Timeout(timeout.saturating_sub(
                            deadline.saturating_duration_since(Instant::now()),
                        )));
                    }
                },
                None => last_failure = String::from("no leader known"),
            }
            // Wait before the next attempt, but go at once when the leader changes.
            let pause = (Instant::now() + backoff(attempt)).min(deadline);
            attempt = attempt.saturating_add(1);
            let _ = tokio::time::timeout_at(pause, leader_rx.changed()).await;
        }
    }

    /// Waits until this node's image has applied `index` (a forwarded record the leader
    /// committed), at most until `deadline`.
    async fn wait_applied_here(
        &self,
        index: u64,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), ProposeError> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self
            .raft
            .wait(Some(left))
            .applied_index_at_least(Some(index), "forwarded record applied locally")
            .await
        {
            Ok(_) => Ok(()),
            Err(WaitError::Timeout(..)) => {
                tracing::warn!(
                    node = self.config.node_id,
                    index,
                    "forwarded record committed but not applied here in time"
                );
                Err(ProposeError::Timeout(timeout))
            }
            Err(WaitError::ShuttingDown) => Err(ProposeError::Unavailable(format!(
                "record committed at index {index}, but this node stopped before applying it"
            ))),
        }
    }
}
