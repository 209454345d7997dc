//! [`ReplicaManager`]: one per broker of a multi-voter cluster (Kafka's `ReplicaManager`,
//! the parts that are not the fetcher): it turns each published partition registration
//! into this node's replica role, runs the ISR expiration and high-watermark checkpoint
//! timer, and sends the leader's AlterPartition changes through the metadata log.
//!
//! # What it owns
//! * Role transitions ([`ReplicaManager::transition`]), called by the topic publisher
//!   ([`ReplicaRoleListener`]) after it set a partition's registration and epochs, and once
//!   for every partition at start-up: this node leads → `become_leader` (the log's end and
//!   high watermark read under the log lock) and the fetcher forgets the partition; a
//!   replica with a leader → `become_follower` and the fetcher follows that leader in that
//!   epoch; otherwise → a follower of no one (nothing fetched, requests refused by the
//!   partition's leadership check). Every hosted log is `set_replicated(true)`.
//! * The timer thread (`replica-manager`): ISR expiration (`maybe_shrink_isr`) every
//!   `replica.lag.time.max.ms / 2`, follower eligibility (KIP-841) from the image's fenced
//!   brokers, and `checkpoint_high_watermark` every
//!   `replica.high.watermark.checkpoint.interval.ms` and at shutdown.
//! * The AlterPartition thread (`alter-partition`): proposals (ISR expansions from follower
//!   fetches, shrinks from the timer) become `PartitionChangeRecord`s proposed with
//!   [`crate::metadata_log::MetadataLog::propose_records`] (which blocks, hence the thread);
//!   the outcome goes back to the leader state (`on_alter_partition_committed` /
//!   `on_alter_partition_failed`, a retriable failure is re-sent after a back-off).
//!
//! # Invariants
//! * The publisher thread does no network I/O here: the fetcher's `follow` / `unfollow`
//!   only hand the partition to its tasks.
//! * Transitions are idempotent and read the partition's current registration under its
//!   replica lock, so the start-up sweep racing the publisher converges on the latest.
//! * A committed ISR change reaches the leader twice (the publisher's registration and the
//!   proposal's answer); both paths ignore what is not newer.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::leader::AlterPartitionFailure;
use super::replica::{push_high_watermark, Transition};
use super::{AlterPartitionProposal, ReplicaId, NO_LEADER};
use crate::metadata_log::records::PartitionChangeRecord;
use crate::metadata_log::MetadataRecord;
use crate::topics::{now_ms, Partition, Topic, TopicManager};

/// The replica manager's settings (Kafka's names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaManagerConfig {
    /// `replica.lag.time.max.ms`: an ISR member not caught up for this long is removed.
    pub replica_lag_time_max_ms: i64,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub high_watermark_checkpoint_interval_ms: u64,
    /// Back-off before a retriable AlterPartition failure is sent again.
    pub alter_partition_retry_backoff_ms: u64,
}

impl Default for ReplicaManagerConfig {
    fn default() -> Self {
        ReplicaManagerConfig {
            replica_lag_time_max_ms: 30_000,
            high_watermark_checkpoint_interval_ms: 5_000,
            alter_partition_retry_backoff_ms: 100,
        }
    }
}

/// What the topic publisher tells the replica manager (a trait object: the topics are
/// built before the broker and its replica manager).
pub trait ReplicaRoleListener: Send + Sync {
    /// `topic`'s registrations and epochs were (re)published.
    fn on_registrations(&self, topic: &Arc<Topic>);
    /// `topic` is being deleted: stop fetching it and fail its parked produces.
    fn on_topic_removed(&self, topic: &Arc<Topic>);
}

/// The follower side as the replica manager drives it (the replica fetcher manager).
pub trait FollowerFetchers: Send + Sync {
    /// Follow `partition` from `leader_id` in `leader_epoch` (replaces an earlier one).
    fn follow(&self, partition: Arc<Partition>, leader_id: i32, leader_epoch: i32);
    /// Stop fetching it.
    fn unfollow(&self, topic: &str, partition: i32);
    fn shutdown(&self);
    /// Its counters for `GET /metrics` (Prometheus text), if it keeps any.
    fn render_metrics(&self, _out: &mut String) {}
}

/// One AlterPartition to send.
struct AlterJob {
    topic: Arc<Topic>,
    partition: Arc<Partition>,
    proposal: AlterPartitionProposal,
}

/// See the module docs.
pub struct ReplicaManager {
    node_id: ReplicaId,
    config: ReplicaManagerConfig,
    /// Weak: the topics hold this manager as their publisher's listener.
    topics: Weak<TopicManager>,
    fetchers: Arc<dyn FollowerFetchers>,
    alter_tx: Mutex<Option<mpsc::Sender<AlterJob>>>,
    stop_tx: Mutex<Option<mpsc::Sender<()>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl ReplicaManager {
    /// Builds the manager and starts its threads. The caller then links it to the topic
    /// publisher and calls [`ReplicaManager::sweep`].
    pub fn start(
        node_id: ReplicaId,
        config: ReplicaManagerConfig,
        topics: &Arc<TopicManager>,
        fetchers: Arc<dyn FollowerFetchers>,
    ) -> std::io::Result<Arc<Self>> {
        let (alter_tx, alter_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel();
        let manager = Arc::new(ReplicaManager {
            node_id,
            config,
            topics: Arc::downgrade(topics),
            fetchers,
            alter_tx: Mutex::new(Some(alter_tx)),
            stop_tx: Mutex::new(Some(stop_tx)),
            threads: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&manager);
        let alter = std::thread::Builder::new()
            .name("alter-partition".into())
            .spawn(move || alter_partition_loop(weak, alter_rx))?;
        let weak = Arc::downgrade(&manager);
        let timer = std::thread::Builder::new()
            .name("replica-manager".into())
            .spawn(move || timer_loop(weak, stop_rx))?;
        lock(&manager.threads).extend([alter, timer]);
        Ok(manager)
    }

    pub fn config(&self) -> &ReplicaManagerConfig {
        &self.config
    }

    /// Every open partition's transition (start-up, after linking to the publisher).
    pub fn sweep(&self) {
        if let Some(topics) = self.topics.upgrade() {
            for t in topics.list() {
                self.on_registrations(&t);
            }
        }
    }

    /// Decides and applies this node's role for `partition` from its registration.
    pub fn transition(&self, topic: &Topic, partition: &Arc<Partition>) {
        let Some(reg) = partition.partition_registration() else {
            return;
        };
        let node = self.node_id;
        let mut r = partition.replica().lock();
        // Under the log lock, after the registration and epochs were published: a stale
        // follower append (which re-checks those under this lock) cannot land after it.
        let positions = partition.with_log_mut(|log| {
            log.set_replicated(true);
            (log.log_end_offset(), log.high_watermark())
        });
        let Ok((leo, hw)) = positions else {
            // Deleted under us: nothing to lead or follow.
            r.become_follower(NO_LEADER, reg.leader_epoch);
            self.fetchers.unfollow(&partition.topic, partition.index);
            return;
        };
        if reg.leader == node {
            let lag = self.config.replica_lag_time_max_ms;
            match r.become_leader(node, &reg, leo, hw, lag, now_ms()) {
                Ok(Transition::Changed) => {
                    tracing::info!(topic = %partition.topic, partition = partition.index, leader_epoch = reg.leader_epoch, isr = ?reg.isr, log_end_offset = leo, high_watermark = hw, "became leader");
                    self.fetchers.unfollow(&partition.topic, partition.index);
                }
                Ok(Transition::Unchanged) => {}
                Err(code) => {
                    tracing::warn!(topic = %partition.topic, partition = partition.index, error = ?code, "cannot become leader");
                    return;
                }
            }
            // Kafka's makeLeader also tries to move the high watermark at once: an ISR of
            // the leader alone (RF=1) commits its whole log now, not at the next produce.
            // A registration applied to the leader state may have moved it too (an ISR
            // shrink); pushing an unmoved one changes nothing.
            r.on_leader_append(leo, now_ms());
            if let Some(hw) = r.leader().map(|l| l.high_watermark()) {
                push_high_watermark(partition, hw);
            }
            r.poll(min_insync_replicas(topic));
        } else if reg.leader != NO_LEADER && reg.replicas.contains(&node) {
            if r.become_follower(reg.leader, reg.leader_epoch) == Transition::Changed {
                tracing::info!(topic = %partition.topic, partition = partition.index, leader = reg.leader, leader_epoch = reg.leader_epoch, "became follower");
                self.fetchers
                    .follow(Arc::clone(partition), reg.leader, reg.leader_epoch);
            }
        } else if r.become_follower(NO_LEADER, reg.leader_epoch) == Transition::Changed {
            self.fetchers.unfollow(&partition.topic, partition.index);
        }
    }

    /// Queues an AlterPartition for `partition` of `topic` (from a follower fetch's ISR
    /// expansion or the timer's shrink).
    pub fn propose(
        &self,
        topic: Arc<Topic>,
        partition: Arc<Partition>,
        proposal: AlterPartitionProposal,
    ) {
        if let Some(tx) = lock(&self.alter_tx).as_ref() {
            let _ = tx.send(AlterJob {
                topic,
                partition,
                proposal,
            });
        }
    }

    /// Stops the threads (a last high-watermark checkpoint first) and the fetchers.
    /// Idempotent.
    pub fn shutdown(&self) {
        lock(&self.alter_tx).take();
        lock(&self.stop_tx).take();
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for t in threads {
            if t.join().is_err() {
                tracing::error!("a replica manager thread panicked");
            }
        }
        self.fetchers.shutdown();
        self.checkpoint_all(true);
    }

    /// Writes every replicated log's high-watermark checkpoint; `wait`: also logs whose
    /// lock is taken (shutdown), else those are skipped until the next pass.
    fn checkpoint_all(&self, wait: bool) {
        let Some(topics) = self.topics.upgrade() else {
            return;
        };
        for t in topics.list() {
            for p in t.partitions() {
                let write = |log: &mut strait_storage::PartitionLog| {
                    if log.is_replicated() {
                        log.checkpoint_high_watermark()
                    } else {
                        Ok(())
                    }
                };
                let result = if wait {
                    Some(p.with_log_mut(write))
                } else {
                    p.try_with_log_mut(write)
                };
                if let Some(Ok(Err(e))) = result {
                    tracing::warn!(topic = %t.name, partition = p.index, error = %e, "cannot write the high-watermark checkpoint");
                }
            }
        }
    }

    /// One timer pass: eligibility always, the ISR shrink when `shrink`.
    fn tick(&self, shrink: bool) {
        let Some(topics) = self.topics.upgrade() else {
            return;
        };
        let meta = topics.metadata_log();
        let alive: BTreeSet<i32> = meta
            .brokers()
            .keys()
            .copied()
            .filter(|&id| meta.is_eligible(id))
            .collect();
        let now = now_ms();
        for t in topics.list() {
            for p in t.partitions() {
                let proposal = {
                    let mut r = p.replica().lock();
                    let Some(replicas) = r.leader().map(|l| l.replicas().to_vec()) else {
                        continue;
                    };
                    for id in replicas.into_iter().filter(|&id| id != self.node_id) {
                        r.set_replica_eligible(id, alive.contains(&id));
                    }
                    if shrink {
                        r.maybe_shrink_isr(now)
                    } else {
                        None
                    }
                };
                if let Some(proposal) = proposal {
                    tracing::info!(topic = %t.name, partition = p.index, new_isr = ?proposal.new_isr, "shrinking the ISR");
                    self.propose(Arc::clone(&t), p, proposal);
                }
            }
        }
    }

    /// Sends one AlterPartition and feeds the outcome back; `Some(job)` to retry.
    fn alter_partition(&self, job: AlterJob) -> Option<AlterJob> {
        let topics = self.topics.upgrade()?;
        let AlterJob {
            topic,
            partition,
            proposal,
        } = &job;
        let next_epoch = proposal.partition_epoch + 1;
        let record = PartitionChangeRecord {
            topic_id: topic.topic_id.to_string(),
            partition_id: partition.index,
            leader_epoch: proposal.leader_epoch,
            replicas: None,
            isr: Some(proposal.new_isr.clone()),
            leader: None,
            partition_epoch: Some(next_epoch),
            adding_replicas: None,
            removing_replicas: None,
        };
        let outcome = topics
            .metadata_log()
            .propose_records(&[MetadataRecord::PartitionChange(record)]);
        let mut r = partition.replica().lock();
        match outcome {
            Ok(_) => {
                let hw = r.on_alter_partition_committed(
                    proposal.leader_epoch,
                    &proposal.new_isr,
                    next_epoch,
                    now_ms(),
                );
                if let Some(hw) = hw {
                    push_high_watermark(partition, hw);
                }
                r.poll(min_insync_replicas(topic));
                tracing::info!(topic = %topic.name, partition = partition.index, isr = ?proposal.new_isr, partition_epoch = next_epoch, "ISR changed");
                None
            }
            Err(e) => match r.on_alter_partition_failed(proposal, e.code) {
                Some(AlterPartitionFailure::Retry(_)) => {
                    tracing::debug!(topic = %topic.name, partition = partition.index, error = %e, "AlterPartition failed; retrying");
                    drop(r);
                    Some(job)
                }
                _ => {
                    tracing::info!(topic = %topic.name, partition = partition.index, error = %e, "AlterPartition refused");
                    None
                }
            },
        }
    }
}

impl ReplicaRoleListener for ReplicaManager {
    fn on_registrations(&self, topic: &Arc<Topic>) {
        for p in topic.partitions() {
            self.transition(topic, &p);
        }
    }

    fn on_topic_removed(&self, topic: &Arc<Topic>) {
        for p in topic.partitions() {
            let mut r = p.replica().lock();
            r.become_follower(NO_LEADER, p.leader_epoch());
            self.fetchers.unfollow(&topic.name, p.index);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The topic's `min.insync.replicas` (at least 1).
/// Kafka's replica manager gauges, from this broker's partitions and their registrations,
/// plus the fetchers' counters: what an operator watches during a failover.
pub fn render_metrics(manager: &ReplicaManager, topics: &TopicManager, out: &mut String) {
    use std::fmt::Write;
    let (mut led, mut under_replicated, mut under_min_isr) = (0u64, 0u64, 0u64);
    for t in topics.list() {
        let min_isr = min_insync_replicas(&t);
        for p in t.partitions() {
            let Some(r) = p.registration() else { continue };
            if r.leader != manager.node_id {
                continue;
            }
            led += 1;
            under_replicated += u64::from(r.isr.len() < r.replicas.len());
            under_min_isr += u64::from(r.isr.len() < min_isr);
        }
    }
    for (name, help, v) in [
        ("leader_partitions", "Partitions this broker leads.", led),
        ("under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions).", under_replicated),
        ("under_min_isr_partitions", "Partitions this broker leads whose ISR is below min.insync.replicas: acks=all produce is refused (Kafka's UnderMinIsrPartitionCount).", under_min_isr),
    ] {
        let _ = writeln!(
            out,
            "# HELP strait_replica_manager_{name} {help}\n# TYPE strait_replica_manager_{name} gauge\nstrait_replica_manager_{name} {v}"
        );
    }
    manager.fetchers.render_metrics(out);
}

pub fn min_insync_replicas(topic: &Topic) -> usize {
    usize::try_from(topic.produce_settings().min_insync_replicas)
        .unwrap_or(1)
        .max(1)
}

fn alter_partition_loop(manager: Weak<ReplicaManager>, rx: mpsc::Receiver<AlterJob>) {
    while let Ok(job) = rx.recv() {
        let Some(m) = manager.upgrade() else { return };
        if let Some(retry) = m.alter_partition(job) {
            // A back-off, not a wait for a condition: the quorum was unavailable.
            std::thread::sleep(Duration::from_millis(
                m.config.alter_partition_retry_backoff_ms,
            ));
            m.propose(retry.topic, retry.partition, retry.proposal);
        }
    }
}

fn timer_loop(manager: Weak<ReplicaManager>, stop: mpsc::Receiver<()>) {
    let Some(m) = manager.upgrade() else { return };
    let shrink_every = (m.config.replica_lag_time_max_ms / 2).max(1);
    let checkpoint_every = m.config.high_watermark_checkpoint_interval_ms.max(1) as i64;
    // Eligibility follows fencing within a tick; the shrink and checkpoint keep their own
    // periods on top of it.
    let tick = Duration::from_millis(shrink_every.clamp(10, 500) as u64);
    drop(m);
    let start = now_ms();
    let (mut last_shrink, mut last_checkpoint) = (start, start);
    loop {
        match stop.recv_timeout(tick) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let Some(m) = manager.upgrade() else { return };
        let now = now_ms();
        let shrink = now - last_shrink >= shrink_every;
        if shrink {
            last_shrink = now;
        }
        m.tick(shrink);
        if now - last_checkpoint >= checkpoint_every {
            last_checkpoint = now;
            m.checkpoint_all(false);
        }
    }
}

/// `host:port` of broker `id`'s endpoint on the inter-broker listener `listener`
/// (`inter.broker.listener.name`; Kafka requires every broker to have it), from the
/// metadata image. `None` while the broker is unregistered or lacks that listener: the
/// fetcher backs off and asks again.
pub fn leader_endpoint(topics: &TopicManager, listener: &str, id: i32) -> Option<(String, u16)> {
    let brokers = topics.metadata_log().brokers();
    let b = brokers.get(&id)?;
    let e = b.endpoints.iter().find(|e| e.name == listener)?;
    Some((e.host.clone(), e.port))
}

/// The follower fetchers of this broker: the replica fetcher manager ([`super::fetcher`])
/// on the current tokio runtime, its log work on the partitions' lanes. Without a runtime
/// (never so in a running broker) an inert stand-in that fetches nothing.
pub fn start_fetchers(
    config: &crate::config::BrokerConfig,
    topics: Arc<TopicManager>,
) -> Arc<dyn FollowerFetchers> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("no tokio runtime for the replica fetchers; followers do not fetch");
        return Arc::new(InertFetchers);
    };
    let weak = Arc::downgrade(&topics);
    // Config validation makes sure a multi-voter node has one (PLAINTEXT).
    let listener = config
        .inter_broker_listener_name
        .clone()
        .unwrap_or_else(|| "PLAINTEXT".into());
    let endpoint: super::fetcher::LeaderEndpoint = Arc::new(move |id| {
        weak.upgrade()
            .and_then(|t| leader_endpoint(&t, &listener, id))
    });
    super::fetcher::ReplicaFetcherManager::start_on(
        super::fetcher::ReplicaFetchConfig::from_broker(config),
        endpoint,
        runtime,
        &topics,
    )
}

impl FollowerFetchers for super::fetcher::ReplicaFetcherManager {
    fn follow(&self, partition: Arc<Partition>, leader_id: i32, leader_epoch: i32) {
        super::fetcher::ReplicaFetcherManager::follow(self, partition, leader_id, leader_epoch)
    }
    fn unfollow(&self, topic: &str, partition: i32) {
        super::fetcher::ReplicaFetcherManager::unfollow(self, topic, partition)
    }
    fn shutdown(&self) {
        super::fetcher::ReplicaFetcherManager::shutdown(self)
    }
    fn render_metrics(&self, out: &mut String) {
        out.push_str(&self.stats().render_prometheus());
    }
}

/// See [`start_fetchers`].
struct InertFetchers;

impl FollowerFetchers for InertFetchers {
    fn follow(&self, _partition: Arc<Partition>, _leader_id: i32, _leader_epoch: i32) {}
    fn unfollow(&self, _topic: &str, _partition: i32) {}
    fn shutdown(&self) {}
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
