//! Leadership as the broker's controller sees it: who leads (a watch it can wait on) and,
//! on the leader, how long ago each voter last answered.
//!
//! Owns the task that follows raft's metrics and publishes the leader, and the record of
//! when this node's current leadership began.
//!
//! Invariants:
//! - The published leader is `Some(self)` exactly while raft's state is Leader; otherwise
//!   it is the leader this node last heard from (never itself), or `None` while unknown.
//! - A voter's contact age counts from its last reply in the current term, but never from
//!   before this node became leader: a newly elected leader gives every voter a fresh
//!   session, as Kafka's newly active controller gives every broker a full
//!   `broker.session.timeout.ms` before fencing it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::sync::watch;

use crate::network::Contacts;
use crate::types::{NodeId, Raft};

/// The start of this node's current leadership: its term and when it was first seen.
#[derive(Default)]
pub(crate) struct Leadership {
    since: Mutex<Option<(u64, Instant)>>,
}

impl Leadership {
    fn observe(&self, leading_term: Option<u64>) {
        let mut since = self.since.lock().unwrap_or_else(PoisonError::into_inner);
        match leading_term {
            Some(term) if since.is_some_and(|(t, _)| t == term) => {}
            Some(term) => *since = Some((term, Instant::now())),
            None => *since = None,
        }
    }

    fn since(&self, term: u64) -> Option<Instant> {
        let since = self.since.lock().unwrap_or_else(PoisonError::into_inner);
        since.filter(|(t, _)| *t == term).map(|(_, at)| at)
    }
}

/// The leader as published to subscribers, from one metrics snapshot.
fn published_leader(
    node_id: NodeId,
    state: ServerState,
    current: Option<NodeId>,
) -> Option<NodeId> {
    if state == ServerState::Leader {
        Some(node_id)
    } else {
        current.filter(|l| *l != node_id)
    }
}

/// Follows raft's metrics until raft stops: publishes the leader on `tx` (only on change)
/// and records when leadership began.
pub(crate) fn spawn_watcher(
    raft: &Raft,
    node_id: NodeId,
    leadership: Arc<Leadership>,
    tx: watch::Sender<Option<NodeId>>,
) -> tokio::task::JoinHandle<()> {
    let mut metrics = raft.metrics();
    tokio::spawn(async move {
        loop {
            let (leader, leading_term) = {
                let m = metrics.borrow_and_update();
                let leading = (m.state == ServerState::Leader).then_some(m.current_term);
                (
                    published_leader(node_id, m.state, m.current_leader),
                    leading,
                )
            };
            leadership.observe(leading_term);
            tx.send_if_modified(|current| {
                let changed = *current != leader;
                *current = leader;
                changed
            });
            if metrics.changed().await.is_err() {
                // Raft stopped: nobody leads as far as this node knows.
                leadership.observe(None);
                tx.send_if_modified(|current| current.take().is_some());
                return;
            }
        }
    })
}

/// Each voter's contact age on the leader (see the module invariants); empty unless this
/// node leads in `term` and has recorded the start of that leadership.
pub(crate) fn voter_contact(
    node_id: NodeId,
    voters: impl Iterator<Item = NodeId>,
    leading_term: Option<u64>,
    leadership: &Leadership,
    contacts: &Contacts,
) -> BTreeMap<NodeId, Duration> {
    let Some(term) = leading_term else {
        return BTreeMap::new();
    };
    let Some(since) = leadership.since(term) else {
        return BTreeMap::new();
    };
    let now = Instant::now();
    voters
        .map(|id| {
            let age = if id == node_id {
                Duration::ZERO
            } else {
                let last = contacts.in_term(id, term).map_or(since, |at| at.max(since));
                now.saturating_duration_since(last)
            };
            (id, age)
        })
        .collect()
}
