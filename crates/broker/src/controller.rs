//! The active controller's loop: on the metadata quorum's leader, every
//! `broker.heartbeat.interval.ms` it
//! 1. compares each registered broker's last contact with its node (`Quorum::voter_contact`:
//!    every Strait node is a combined node, so a broker's node answering the quorum is the
//!    broker's heartbeat) against `broker.session.timeout.ms`, and proposes a
//!    BrokerRegistrationChangeRecord fencing a broker gone silent or unfencing one that is
//!    back;
//! 2. then reconciles every partition of the image ([`elections`]): fenced ISR members out
//!    (never the last one), a new leader from the live ISR where the leader is fenced or
//!    absent (unclean only where `unclean.leader.election.enable` holds), each change its
//!    own PartitionChangeRecord entry (partition epoch + 1, leader epoch + 1 on a leader
//!    change). A change the image refuses (another change of that partition committed
//!    first) is recomputed from the new image on the next tick.
//!
//! Invariants: only the leader proposes (a follower's contact map is empty and it skips
//! reconciliation; a leader that loses its leadership mid-tick stops proposing); a newly
//! elected leader gives every voter a fresh session (the quorum counts contact from its
//! election), so nobody is fenced for the previous leader's silence; the loop ends when the
//! metadata log stops. Fencing and elections are in the image, so every node's cluster view
//! and partition roles follow them the same way.

use std::sync::Arc;
use std::time::Duration;

use crate::topics::TopicManager;

pub mod elections;

/// Starts the loop on its own thread (its proposals block).
pub fn spawn(topics: Arc<TopicManager>, heartbeat: Duration, session: Duration) {
    let spawned = std::thread::Builder::new()
        .name("controller-liveness".into())
        .spawn(move || run(&topics, heartbeat, session));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the controller's liveness thread");
    }
}

fn run(topics: &TopicManager, heartbeat: Duration, session: Duration) {
    let log = topics.metadata_log();
    loop {
        std::thread::sleep(heartbeat.max(Duration::from_millis(10)));
        // A stopped log answers no description: the broker is shutting down.
        if topics.quorum_description().is_none() {
            return;
        }
        if !log.is_leader() {
            continue;
        }
        fence(topics, session);
        reconcile(topics);
    }
}

/// Step 1: fence brokers whose node went silent, unfence those that are back.
fn fence(topics: &TopicManager, session: Duration) {
    let log = topics.metadata_log();
    let contact = log.voter_contact();
    for id in log.brokers().into_keys() {
        let Some(since) = u64::try_from(id).ok().and_then(|v| contact.get(&v)) else {
            // Not a voter (or the leader's contact map is not ready yet): nothing to
            // compare with.
            continue;
        };
        let silent = *since > session;
        if silent != log.is_fenced(id) {
            match log.set_fenced(id, silent) {
                Ok(()) => tracing::info!(
                    broker_id = id,
                    fenced = silent,
                    ?since,
                    "broker registration changed"
                ),
                Err(e) => {
                    tracing::warn!(broker_id = id, error = ?e, "could not change the broker's registration")
                }
            }
        }
    }
}

/// Step 2: one PartitionChangeRecord entry per partition whose registration the current
/// liveness no longer fits.
fn reconcile(topics: &TopicManager) {
    let log = topics.metadata_log();
    let brokers = log.brokers();
    let live = elections::Liveness {
        fenced: brokers
            .keys()
            .copied()
            .filter(|&id| log.is_fenced(id))
            .collect(),
        registered: brokers.into_keys().collect(),
    };
    let image = log.image();
    for change in elections::plan(&image, &live, &topics.defaults()) {
        if !log.is_leader() {
            // Another controller took over; it reconciles from its own image.
            return;
        }
        let (old, new) = (&change.current, &change.next);
        match topics.propose_partition_change(change.record.clone()) {
            Ok(()) if old.leader != new.leader => tracing::info!(
                topic = %change.topic,
                partition = change.partition,
                old_leader = old.leader,
                new_leader = new.leader,
                leader_epoch = new.leader_epoch,
                partition_epoch = new.partition_epoch,
                isr = ?new.isr,
                "partition leader elected"
            ),
            Ok(()) => tracing::info!(
                topic = %change.topic,
                partition = change.partition,
                old_isr = ?old.isr,
                isr = ?new.isr,
                partition_epoch = new.partition_epoch,
                "partition ISR shrunk (fenced brokers removed)"
            ),
            Err(e) => tracing::warn!(
                topic = %change.topic,
                partition = change.partition,
                error = ?e,
                "partition change not committed; retried from the next image"
            ),
        }
    }
}
