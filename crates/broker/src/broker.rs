//! The broker's shared state: configuration, topics (with producer ids and the log
//! manager their file I/O runs on), fetch sessions and the cluster-link manager. One
//! `Arc<Broker>` is shared by every connection task. On a multi-voter cluster it also holds
//! the [`ReplicaManager`] (replica roles, ISR changes, the follower fetchers), started once
//! the listeners are bound and stopped before the logs close.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use strait_link::LinkManager;

use crate::config::{BrokerConfig, Listener};
use crate::error::ApiError;
use crate::fetch_session::FetchSessionCache;
use crate::groups::GroupCoordinator;
use crate::link_local::BrokerLocal;
use crate::replication::manager::{ReplicaManager, ReplicaManagerConfig, ReplicaRoleListener};
use crate::topics::{now_ms, StartupError, TopicManager};

pub struct Broker {
    pub config: BrokerConfig,
    pub topics: Arc<TopicManager>,
    /// The consumer-group coordinator (this broker coordinates every group).
    pub groups: Arc<GroupCoordinator>,
    /// The transaction coordinator (this broker coordinates every transactional id).
    pub txn: Arc<crate::txn::TransactionCoordinator>,
    /// ACLs, the authorizer and SCRAM credentials.
    pub security: Arc<crate::auth::Security>,
    cluster_id: String,
    advertised: RwLock<Vec<Listener>>,
    fetch_sessions: FetchSessionCache,
    links: OnceLock<Arc<LinkManager>>,
    /// The log cleaner threads, while running (`log.cleaner.enable`).
    log_cleaner: std::sync::Mutex<Option<crate::log_cleaner::LogCleaner>>,
    /// Replication (multi-voter clusters only; never set on a single node).
    replication: OnceLock<Arc<ReplicaManager>>,
    /// Its settings, taken at open.
    replication_config: ReplicaManagerConfig,
}

impl Broker {
    /// Opens the log directory (recovering every partition) and builds the shared state.
    pub fn open(config: BrokerConfig) -> Result<Self, StartupError> {
        let quorum = crate::metadata_log::QuorumSetup::from_config(&config).map_err(|message| {
            crate::metadata_log::MetadataLogError::NotReady {
                dir: config.log_dir.clone(),
                message,
            }
        })?;
        let topics = Arc::new(TopicManager::open_with_threads(
            &config.log_dir,
            config.node_id,
            config.topic_defaults.clone(),
            config.num_recovery_threads_per_data_dir,
            config.num_io_threads,
            &quorum,
        )?);
        let cluster_id = topics.cluster_id();
        let groups = Arc::new(GroupCoordinator::open(&config, topics.clone())?);
        let txn = Arc::new(crate::txn::TransactionCoordinator::open(
            &config,
            topics.clone(),
            groups.clone(),
        )?);
        let security = Arc::new(
            crate::auth::Security::open(&config.security, &topics)
                .map_err(StartupError::Security)?,
        );
        let replication_config = ReplicaManagerConfig {
            replica_lag_time_max_ms: i64::try_from(config.replica_lag_time_max_ms)
                .unwrap_or(i64::MAX),
            high_watermark_checkpoint_interval_ms: config
                .replica_high_watermark_checkpoint_interval_ms,
            ..ReplicaManagerConfig::default()
        };
        Ok(Broker {
            security,
            advertised: RwLock::new(config.advertised_listeners.clone().unwrap_or_default()),
            config,
            topics,
            groups,
            txn,
            cluster_id,
            fetch_sessions: FetchSessionCache::default(),
            links: OnceLock::new(),
            log_cleaner: std::sync::Mutex::new(None),
            replication: OnceLock::new(),
            replication_config,
        })
    }

    /// Starts the cluster links persisted in the log directory. Needs a tokio runtime.
    pub fn start_links(&self) -> Arc<LinkManager> {
        self.links
            .get_or_init(|| {
                LinkManager::start(Arc::new(BrokerLocal::new(
                    self.topics.clone(),
                    self.groups.clone(),
                    self.security.clone(),
                )))
            })
            .clone()
    }

    /// Starts the log cleaner threads (none when `log.cleaner.enable=false`); idempotent.
    pub fn start_log_cleaner(&self) {
        let mut slot = self.log_cleaner.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = crate::log_cleaner::LogCleaner::start(
                self.topics.clone(),
                &self.config.log_cleaner,
            );
        }
    }

    /// Stops and joins the log cleaner threads (before the logs are closed).
    pub fn stop_log_cleaner(&self) {
        let cleaner = self
            .log_cleaner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(c) = cleaner {
            c.shutdown();
        }
    }

    /// Log cleaner counters and uncleanable partitions, while it runs.
    pub fn log_cleaner_stats(&self) -> Option<crate::log_cleaner::CleanerStats> {
        let slot = self.log_cleaner.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|c| c.stats())
    }

    /// Kafka's controlled shutdown on a cluster (`controlled.shutdown.enable`, KIP-841):
    /// marks this broker in controlled shutdown in the metadata log, so the active
    /// controller moves each leadership it holds to another live ISR member (and takes it
    /// out of the ISRs), then waits until no partition it leads has such a member left,
    /// for at most `broker.session.timeout.ms` — the time the controller would take to fence
    /// it anyway. Clients keep being served meanwhile and follow the new leaders. Nothing on
    /// a single node, or when the quorum cannot commit the change in time.
    pub fn controlled_shutdown(&self) {
        if !self.config.controlled_shutdown_enable || !self.topics.metadata_log().is_multi_voter() {
            return;
        }
        let id = self.node_id();
        let log = self.topics.metadata_log();
        // Leaderships another live ISR member could take: with none (an RF=1 broker, or
        // the last broker of a stopping cluster, whose quorum may be gone) there is
        // nothing to hand over and nothing to wait for.
        let movable = || {
            log.image()
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .filter(|p| p.leader == id && p.isr.iter().any(|&r| r != id && log.is_eligible(r)))
                .count()
        };
        if movable() == 0 {
            return;
        }
        let started = std::time::Instant::now();
        let deadline = started + Duration::from_millis(self.config.broker_session_timeout_ms);
        let topics = Arc::clone(&self.topics);
        let (tx, rx) = std::sync::mpsc::channel();
        // Its own thread: a quorum that lost its majority must not hold the shutdown past
        // the deadline.
        std::thread::spawn(move || {
            let _ = tx.send(topics.metadata_log().begin_controlled_shutdown(id));
        });
        match rx.recv_timeout(deadline.saturating_duration_since(started)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "controlled shutdown not recorded; stopping without moving leaderships");
                return;
            }
            Err(_) => {
                tracing::warn!("controlled shutdown not committed in time; stopping without moving leaderships");
                return;
            }
        }
        loop {
            let left = movable();
            if left == 0 {
                tracing::info!(elapsed = ?started.elapsed(), "controlled shutdown: leaderships moved");
                return;
            }
            if std::time::Instant::now() >= deadline {
                tracing::warn!(partitions = left, "controlled shutdown: leaderships not moved within broker.session.timeout.ms; stopping");
                return;
            }
            // A bounded poll of the applied image (the controller commits asynchronously).
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The link manager, once [`Broker::start_links`] has run.
    pub fn links(&self) -> Option<&Arc<LinkManager>> {
        self.links.get()
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub fn log_dir(&self) -> &PathBuf {
        &self.config.log_dir
    }

    /// The endpoint clients are told to connect to.
    pub fn advertised_listener(&self) -> Listener {
        let adv = self.advertised.read().unwrap_or_else(|e| e.into_inner());
        adv.first().cloned().unwrap_or_else(|| Listener {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
        })
    }

    /// The endpoint advertised to clients connected to listener `name`: its entry in
    /// `advertised.listeners`, else the bound listener of that name, else the first.
    pub fn advertised_listener_for(&self, name: &str) -> Listener {
        let adv = self.advertised.read().unwrap_or_else(|e| e.into_inner());
        match adv.iter().find(|l| l.name == name) {
            Some(l) => l.clone(),
            None => {
                drop(adv);
                self.advertised_listener()
            }
        }
    }

    /// Records the actually bound listeners for those `advertised.listeners` does not name
    /// (so port 0 advertises the real port, and 0.0.0.0 advertises loopback).
    pub fn set_bound_listeners(&self, bound: Vec<Listener>) {
        let mut adv = self.advertised.write().unwrap_or_else(|e| e.into_inner());
        // Listeners missing from `advertised.listeners` advertise themselves (as in Kafka).
        let configured = self.config.advertised_listeners.clone().unwrap_or_default();
        let missing: Vec<Listener> = bound
            .into_iter()
            .filter(|b| !configured.iter().any(|c| c.name == b.name))
            .collect();
        *adv = configured;
        adv.extend(missing.into_iter().map(|mut l| {
            if l.host.is_empty() || l.host == "0.0.0.0" || l.host == "::" {
                l.host = "127.0.0.1".into();
            }
            l
        }));
        if self.topics.metadata_log().is_multi_voter() {
            let record = crate::metadata_log::records::RegisterBrokerRecord {
                broker_id: self.config.node_id,
                endpoints: adv
                    .iter()
                    .map(|l| crate::metadata_log::records::BrokerEndpoint {
                        name: l.name.clone(),
                        host: l.host.clone(),
                        port: l.port,
                        security_protocol: protocol_name(
                            self.config.security.listener(&l.name).protocol,
                        )
                        .to_string(),
                    })
                    .collect(),
                rack: self.config.broker_rack.clone(),
            };
            spawn_registration(Arc::clone(&self.topics), record);
            self.start_replication();
            crate::controller::spawn(
                Arc::clone(&self.topics),
                crate::controller::ControllerTimers::from_config(&self.config),
            );
        }
    }

    /// Starts the replica manager (multi-voter clusters; idempotent), links it to the topic
    /// publisher and applies every partition's role. Needs a tokio runtime (the fetchers).
    fn start_replication(&self) {
        if self.replication.get().is_some() {
            return;
        }
        let fetchers =
            crate::replication::manager::start_fetchers(&self.config, Arc::clone(&self.topics));
        let manager = match ReplicaManager::start(
            self.config.node_id,
            self.replication_config.clone(),
            &self.topics,
            fetchers,
        ) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the replica manager threads; partitions stay unreplicated");
                return;
            }
        };
        if self.replication.set(Arc::clone(&manager)).is_err() {
            manager.shutdown();
            return;
        }
        // Linked first, then swept: a registration published in between reaches both,
        // and transitions are idempotent.
        self.topics
            .set_replica_role_listener(Arc::clone(&manager) as Arc<dyn ReplicaRoleListener>);
        manager.sweep();
    }

    /// The replica manager, on a multi-voter cluster once the listeners are bound.
    pub fn replica_manager(&self) -> Option<&Arc<ReplicaManager>> {
        self.replication.get()
    }

    /// Stops replication (fetchers, timer, a last high-watermark checkpoint); before the
    /// logs are closed. Idempotent; nothing on a single node.
    pub fn stop_replication(&self) {
        if let Some(m) = self.replication.get() {
            m.shutdown();
        }
    }

    pub fn fetch_sessions(&self) -> &FetchSessionCache {
        &self.fetch_sessions
    }

    /// Allocates a fresh producer id.
    pub fn next_producer_id(&self) -> Result<i64, ApiError> {
        self.topics.next_producer_id()
    }

    /// Background upkeep: segment.ms rolls and the flush policy every
    /// `log.flush.scheduler.interval.ms`, retention every `log.retention.check.interval.ms`.
    pub async fn run_log_maintenance(self: std::sync::Arc<Self>) {
        let flush_every = Duration::from_millis(self.config.log_flush_scheduler_interval_ms);
        let retention_every = self.config.log_retention_check_interval_ms as i64;
        let mut last_retention = now_ms();
        let mut tick = tokio::time::interval(flush_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = now_ms();
            let check_retention = now - last_retention >= retention_every;
            if check_retention {
                last_retention = now;
            }
            // One job per pass on the log manager (rolls, flushes and deletes are file I/O).
            // A partition whose lock is taken (a write stuck on its disk) is skipped until
            // the next pass, so upkeep never parks more than this one I/O thread.
            let topics = self.topics.clone();
            let pass = move || {
                for t in topics.list() {
                    for p in t.partitions() {
                        maintain(&t.name, &p, now, check_retention);
                    }
                }
            };
            if self.topics.io().run(pass).await.is_err() {
                return;
            }
        }
    }
}

/// `segment.ms` rolls, the flush policy, `.deleted` file removal and (when due) retention
/// of one partition, under its log lock; nothing if the lock is taken.
/// Kafka's name of a security protocol, as a registration's endpoint carries it.
fn protocol_name(p: crate::auth::config::SecurityProtocol) -> &'static str {
    use crate::auth::config::SecurityProtocol::*;
    match p {
        Plaintext => "PLAINTEXT",
        Ssl => "SSL",
        SaslPlaintext => "SASL_PLAINTEXT",
        SaslSsl => "SASL_SSL",
    }
}

/// Proposes this broker's registration until it is in the metadata log, on its own thread
/// (proposals block). A proposal the quorum cannot take yet (no leader, or a follower
/// before forwarding) is retried; the thread ends once registered or when the metadata log
/// has stopped.
fn spawn_registration(
    topics: Arc<TopicManager>,
    record: crate::metadata_log::records::RegisterBrokerRecord,
) {
    let spawned = std::thread::Builder::new()
        .name("broker-registration".into())
        .spawn(move || loop {
            match topics.metadata_log().register_broker(record.clone()) {
                Ok(()) => {
                    tracing::info!(broker_id = record.broker_id, "broker registered");
                    return;
                }
                Err(e) if e.message.as_deref().is_some_and(|m| m.contains("stopped")) => return,
                Err(e) => {
                    tracing::debug!(error = ?e, "broker registration not accepted yet; retrying");
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the broker registration thread");
    }
}

fn maintain(topic: &str, p: &crate::topics::Partition, now: i64, check_retention: bool) {
    let result = p.try_with_log_mut(|log| {
        log.maybe_roll(now)?;
        log.maybe_flush(now)?;
        // file.delete.delay.ms: remove `.deleted` segment files once due.
        log.maybe_delete_pending(now)?;
        if check_retention {
            let deleted = log.enforce_retention(now)?;
            if deleted > 0 {
                tracing::info!(
                    topic,
                    partition = p.index,
                    segments = deleted,
                    log_start_offset = log.log_start_offset(),
                    "retention deleted segments"
                );
            }
        }
        Ok::<(), strait_storage::StorageError>(())
    });
    if let Some(Ok(Err(e))) = result {
        tracing::warn!(topic, partition = p.index, error = %e, "log maintenance failed");
    }
}
