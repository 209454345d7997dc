//! The active controller's broker liveness loop: on the metadata quorum's leader, every
//! `broker.heartbeat.interval.ms` it compares each registered broker's last contact with
//! its node (`Quorum::voter_contact`: every Strait node is a combined node, so a broker's
//! node answering the quorum is the broker's heartbeat) against `broker.session.timeout.ms`,
//! and proposes a BrokerRegistrationChangeRecord fencing a broker gone silent or unfencing
//! one that is back.
//!
//! Invariants: only the leader proposes fencing (a follower's contact map is empty, so it
//! does nothing); a newly elected leader gives every voter a fresh session (the quorum
//! counts contact from its election), so nobody is fenced for the previous leader's
//! silence; the loop ends when the metadata log stops. Fencing is in the image, so every
//! node's cluster view leaves a fenced broker out the same way.

use std::sync::Arc;
use std::time::Duration;

use crate::topics::TopicManager;

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
}
