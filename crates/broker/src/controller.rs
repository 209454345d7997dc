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
//!    first) is recomputed from the new image on the next tick;
//! 3. completes every partition reassignment (KIP-455) whose adding replicas have all
//!    joined the ISR ([`reassignments`]): replicas = target, ISR ∩ target, a new leader
//!    from the target's ISR if the leader is being removed; one PartitionChangeRecord
//!    entry per partition, recomputed next tick if refused;
//! 4. with `auto.leader.rebalance.enable`, every `leader.imbalance.check.interval.seconds`,
//!    elects the preferred replica (the first of a partition's replicas) of every partition
//!    it does not lead where that replica is alive and in the ISR ([`elections::balance`]),
//!    as KRaft's controller does (no imbalance ratio), so leadership moved away by a
//!    failure returns once the broker has caught up.
//!
//! Invariants: only the leader proposes (a follower's contact map is empty and it skips
//! reconciliation; a leader that loses its leadership mid-tick stops proposing); a newly
//! elected leader gives every voter a fresh session (the quorum counts contact from its
//! election), so nobody is fenced for the previous leader's silence; the loop ends when the
//! metadata log stops. Fencing and elections are in the image, so every node's cluster view
//! and partition roles follow them the same way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::topics::TopicManager;

pub mod elections;
pub mod reassignments;

/// The loop's timers, from the broker's configuration.
#[derive(Debug, Clone, Copy)]
pub struct ControllerTimers {
    /// `broker.heartbeat.interval.ms`: how often liveness is checked.
    pub heartbeat: Duration,
    /// `broker.session.timeout.ms`: silence that fences a broker.
    pub session: Duration,
    /// `leader.imbalance.check.interval.seconds` when `auto.leader.rebalance.enable`.
    pub leader_balance: Option<Duration>,
}

impl ControllerTimers {
    pub fn from_config(c: &crate::config::BrokerConfig) -> Self {
        ControllerTimers {
            heartbeat: Duration::from_millis(c.broker_heartbeat_interval_ms),
            session: Duration::from_millis(c.broker_session_timeout_ms),
            leader_balance: c
                .auto_leader_rebalance_enable
                .then(|| Duration::from_secs(c.leader_imbalance_check_interval_seconds)),
        }
    }
}

/// Starts the loop on its own thread (its proposals block).
pub fn spawn(topics: Arc<TopicManager>, timers: ControllerTimers) {
    let spawned = std::thread::Builder::new()
        .name("controller-liveness".into())
        .spawn(move || run(&topics, timers));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the controller's liveness thread");
    }
}

fn run(topics: &TopicManager, timers: ControllerTimers) {
    let log = topics.metadata_log();
    let mut last_balance = Instant::now();
    loop {
        std::thread::sleep(timers.heartbeat.max(Duration::from_millis(10)));
        // A stopped log answers no description: the broker is shutting down.
        if topics.quorum_description().is_none() {
            return;
        }
        if !log.is_leader() {
            // A controller that takes over waits a whole interval, as Kafka's schedules
            // its first check one interval after activation.
            last_balance = Instant::now();
            continue;
        }
        fence(topics, timers.session);
        reconcile(topics);
        complete_reassignments(topics);
        if let Some(every) = timers.leader_balance {
            if last_balance.elapsed() >= every {
                last_balance = Instant::now();
                balance(topics);
            }
        }
    }
}

/// Step 3: reassignments whose new replicas are all in sync become their target.
fn complete_reassignments(topics: &TopicManager) {
    let log = topics.metadata_log();
    let live = liveness(topics);
    for done in reassignments::plan(&log.image(), &live) {
        if !log.is_leader() {
            return;
        }
        let next = &done.next.registration;
        match topics.propose_partition_change(done.record.clone()) {
            Ok(()) => tracing::info!(
                topic = %done.topic,
                partition = done.partition,
                replicas = ?next.replicas,
                isr = ?next.isr,
                leader = next.leader,
                leader_epoch = next.leader_epoch,
                "partition reassignment completed"
            ),
            Err(e) => tracing::warn!(
                topic = %done.topic,
                partition = done.partition,
                error = ?e,
                "reassignment completion not committed; retried from the next image"
            ),
        }
    }
}

/// Step 4: preferred leaders back where they are alive and in sync.
fn balance(topics: &TopicManager) {
    let log = topics.metadata_log();
    let live = liveness(topics);
    for change in elections::balance(&log.image(), &live) {
        if !log.is_leader() {
            return;
        }
        match topics.propose_partition_change(change.record.clone()) {
            Ok(()) => tracing::info!(
                topic = %change.topic,
                partition = change.partition,
                old_leader = change.current.leader,
                new_leader = change.next.leader,
                leader_epoch = change.next.leader_epoch,
                "preferred leader elected (auto.leader.rebalance.enable)"
            ),
            Err(e) => tracing::warn!(
                topic = %change.topic,
                partition = change.partition,
                error = ?e,
                "preferred leader election not committed; retried at the next check"
            ),
        }
    }
}

fn liveness(topics: &TopicManager) -> elections::Liveness {
    let log = topics.metadata_log();
    let brokers = log.brokers();
    elections::Liveness {
        // A broker in controlled shutdown is as good as fenced for leadership and the ISR
        // (KIP-841): that is what moves its leaderships away before it stops.
        fenced: brokers
            .keys()
            .copied()
            .filter(|&id| !log.is_eligible(id))
            .collect(),
        registered: brokers.into_keys().collect(),
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
    let live = liveness(topics);
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
