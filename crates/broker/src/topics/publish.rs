//! The topic publisher: the one code path that turns the metadata image into this broker's
//! topics — partition logs opened and deleted, topic configs, produce settings and log
//! configs, mirror records and leader epochs — from each [`MetadataDelta`] the metadata
//! log publishes (see [`crate::metadata_log::publish`]). `TopicManager`'s methods only
//! validate and commit; what they change becomes visible through here, exactly as an entry
//! committed by another node would.
//!
//! Invariants:
//! * A created topic (a new topic id) gets its logs opened and is inserted into the map
//!   whole, once: a topic already open under that id keeps its logs and is reconciled
//!   with the record. A topic whose logs cannot all be opened is left out (the failure
//!   goes to the committer; a restart retries it and refuses to start if it still fails).
//! * A removed topic leaves the map first, then its logs are taken out of their
//!   partitions (racing requests see UNKNOWN_TOPIC_OR_PARTITION), and each directory is
//!   renamed `-delete` (fsynced) before it is removed, so start-up only ever removes what
//!   a committed deletion marked ([`crate::log_dir`]). A topic is matched to the removal by
//!   its topic id, never by name alone.
//! * Leader epochs only move up (`fetch_max`), and a partition's epoch starts at the
//!   larger of the image's and its log's latest epoch.
//! * Within one delta: broker defaults first (new logs open with them), removals before
//!   creations (a name deleted and re-created is never two topics), and leader epochs
//!   before mirror records — a promote's STOPPED is never visible before its epoch bump.
//!   Every mirror-record change bumps `mirror_changes` after the record is in place.
//! * Registrations and partition epochs are the image's (an ISR-only change, which is no
//!   topic delta of its own, included); once they and the leader epochs are set, the
//!   replica manager (when linked, [`super::TopicManager::set_replica_role_listener`])
//!   recomputes the replica roles of every topic the delta touched, and hears of a removed
//!   topic before its logs are taken out.
//! * Start-up publishes the image it loads (empty → image) through [`Registry::publish`]
//!   on the opening thread, logs opened on the recovery threads; the registry then
//!   registers with that image, so nothing replayed is published twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, RwLock};

use strait_storage::PartitionLog;
use uuid::Uuid;

use super::{now_ms, partition_dir, read, write, Partition, StartupError, Topic};
use crate::metadata::{MetadataImage, TopicRecord};
use crate::metadata_log::{MetadataDelta, MetadataPublisher, TopicDelta};
use crate::replication::manager::ReplicaRoleListener;
use crate::topic_config::TopicDefaults;

/// What the topic publisher maintains, shared by `TopicManager` (readers) and the
/// publisher thread (the only writer after start-up).
pub(super) struct Registry {
    pub(super) log_dir: PathBuf,
    /// Read lock-free on the produce/fetch path; replaced whole when topics are created or
    /// deleted.
    pub(super) topics: arc_swap::ArcSwap<HashMap<String, Arc<Topic>>>,
    pub(super) defaults: RwLock<TopicDefaults>,
    /// Bumped after every mirror-state change; produce requests held during a promotion
    /// wait on it ([`super::cutover`]).
    pub(super) mirror_changes: tokio::sync::watch::Sender<u64>,
    /// `num.recovery.threads.per.data.dir`: threads that open a catch-up's logs.
    pub(super) recovery_threads: usize,
    /// The image as of the last delta published here.
    pub(super) image: arc_swap::ArcSwap<MetadataImage>,
    /// The replica manager, told about every registration this publisher sets (set once
    /// after `Broker::open`, which builds it after the topics).
    pub(super) replication: OnceLock<Arc<dyn ReplicaRoleListener>>,
}

impl Registry {
    pub(super) fn new(
        log_dir: PathBuf,
        static_defaults: TopicDefaults,
        recovery_threads: usize,
        image: Arc<MetadataImage>,
    ) -> Self {
        Registry {
            log_dir,
            topics: arc_swap::ArcSwap::from_pointee(HashMap::new()),
            defaults: RwLock::new(TopicDefaults {
                static_broker: static_defaults.static_broker,
                dynamic_default: Default::default(),
                dynamic_broker: Default::default(),
            }),
            mirror_changes: tokio::sync::watch::channel(0).0,
            recovery_threads,
            image: arc_swap::ArcSwap::new(image),
            replication: OnceLock::new(),
        }
    }

    pub(super) fn mirror_changed(&self) {
        self.mirror_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Applies `delta` to the topics (see the module docs for the order). Everything that
    /// can be applied is; the first failure is returned.
    pub(super) fn publish(&self, delta: &MetadataDelta) -> Result<(), StartupError> {
        let mut first_failure = None;
        let next = &delta.next;
        if delta.broker_configs_changed {
            let mut d = write(&self.defaults);
            d.dynamic_default = next.dynamic_default_broker_configs.clone();
            d.dynamic_broker = next.dynamic_broker_configs.clone();
        }
        let current = self.topics.load_full();
        let removed: Vec<Arc<Topic>> = delta
            .removed_topics
            .iter()
            .filter_map(|gone| {
                current
                    .get(&gone.name)
                    .filter(|t| record_id(gone).is_none_or(|id| id == t.topic_id))
            })
            .cloned()
            .collect();
        if !removed.is_empty() {
            let mut map = HashMap::clone(&current);
            for topic in &removed {
                map.remove(&topic.name);
            }
            self.topics.store(Arc::new(map));
            // Before any creation: a name re-created in the same (catch-up) delta opens
            // directories the removed topic's logs must have left.
            for topic in &removed {
                if let Some(l) = self.replication.get() {
                    // Fetchers stop and acks=all waiters fail before the logs go.
                    l.on_topic_removed(topic);
                }
                delete_logs(topic);
                tracing::info!(topic = %topic.name, "deleted topic");
            }
        }
        let created: Vec<&TopicRecord> = delta
            .topics
            .iter()
            .filter(|t| t.created)
            .filter_map(|t| delta.topic(&t.name))
            // Already open under this id (a catch-up overlapping what was built): a second
            // open of the same directory would fight the first for its files.
            .filter(|r| {
                self.get(&r.name)
                    .is_none_or(|t| Some(t.topic_id) != record_id(r))
            })
            .collect();
        if !created.is_empty() {
            match self.open_topics(&created, delta.offset.is_none()) {
                Ok(topics) => {
                    let mut map = HashMap::clone(&self.topics.load());
                    for t in topics {
                        // A catch-up (start-up) re-opens known topics; only entries create.
                        if delta.offset.is_some() {
                            tracing::info!(topic = %t.name, partitions = t.partition_count(), "created topic");
                        }
                        map.insert(t.name.clone(), t);
                    }
                    self.topics.store(Arc::new(map));
                }
                Err(e) => first_failure = first_failure.or(Some(e)),
            }
        }
        let mut mirrors_changed = created.iter().any(|t| t.mirror.is_some());
        // A "created" topic found already open is reconciled with its record in full.
        let reconcile = |t: &TopicDelta| {
            if !t.created {
                return Some(t.clone());
            }
            if created.iter().any(|c| c.name == t.name) {
                return None;
            }
            let record = delta.topic(&t.name)?;
            Some(TopicDelta {
                partitions_added: 0..record.partitions.len(),
                configs_changed: true,
                mirror_changed: true,
                epochs_changed: (0..)
                    .zip(record.partitions.iter().map(|p| p.leader_epoch))
                    .collect(),
                ..t.clone()
            })
        };
        for change in delta.topics.iter().filter_map(reconcile) {
            let (Some(topic), Some(record)) = (self.get(&change.name), delta.topic(&change.name))
            else {
                continue;
            };
            if !change.partitions_added.is_empty() {
                if let Err(e) = self.add_partitions(&topic, record) {
                    first_failure = first_failure.or(Some(e));
                }
            }
            if change.configs_changed {
                *write(&topic.configs) = record.configs.clone();
                if !delta.broker_configs_changed {
                    self.apply_log_config(&topic);
                }
            }
            // Registrations move with epochs or reassignment; refreshing a changed topic's
            // is cheap and keeps leadership checks exactly the image's.
            apply_registrations(&topic, record);
            for &(i, epoch) in &change.epochs_changed {
                if let Some(p) = topic.partition(i) {
                    p.leader_epoch.fetch_max(epoch, Ordering::AcqRel);
                }
            }
            if change.mirror_changed {
                *write(&topic.mirror) = record.mirror.clone();
                mirrors_changed = true;
            }
        }
        // A registration-only change (an ISR shrink or expansion: same leader epoch, new
        // partition epoch) is not a topic delta of its own; its registrations move too.
        let mut changed: Vec<&str> = delta.topics.iter().map(|t| t.name.as_str()).collect();
        for t in &next.topics {
            if changed.contains(&t.name.as_str()) {
                continue;
            }
            let moved = delta
                .prev
                .topics
                .iter()
                .find(|p| p.topic_id == t.topic_id)
                .is_some_and(|p| p.partitions != t.partitions);
            if let (true, Some(topic)) = (moved, self.get(&t.name)) {
                apply_registrations(&topic, t);
                for (i, r) in t.partitions.iter().enumerate() {
                    if let Some(p) = topic.partition(i as i32) {
                        p.leader_epoch.fetch_max(r.leader_epoch, Ordering::AcqRel);
                    }
                }
                changed.push(&t.name);
            }
        }
        // Registrations and epochs are in place: the replica roles follow them (created
        // topics included; a transition is idempotent, so telling it twice is harmless).
        if let Some(l) = self.replication.get() {
            for name in changed {
                if let Some(topic) = self.get(name) {
                    l.on_registrations(&topic);
                }
            }
        }
        if delta.broker_configs_changed {
            let fresh: Vec<&str> = created.iter().map(|t| t.name.as_str()).collect();
            for topic in self.topics.load().values() {
                if !fresh.contains(&topic.name.as_str()) {
                    self.apply_log_config(topic);
                }
            }
        }
        self.image.store(Arc::clone(next));
        if mirrors_changed {
            self.mirror_changed();
        }
        match first_failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.load().get(name).cloned()
    }

    /// Opens the logs of `records` (on the recovery threads for a catch-up, which at
    /// start-up is every topic) and builds their topics.
    fn open_topics(
        &self,
        records: &[&TopicRecord],
        catch_up: bool,
    ) -> Result<Vec<Arc<Topic>>, StartupError> {
        let defaults = read(&self.defaults).clone();
        let subset = MetadataImage {
            topics: records.iter().map(|r| (*r).clone()).collect(),
            ..MetadataImage::empty("", 0)
        };
        let threads = if catch_up { self.recovery_threads } else { 1 };
        let mut logs =
            crate::recovery::open_logs(&self.log_dir, &subset, &defaults, now_ms(), threads)?
                .into_iter();
        let mut topics = Vec::with_capacity(records.len());
        for record in records {
            let mut partitions = Vec::with_capacity(record.partitions.len());
            for (i, p) in record.partitions.iter().enumerate() {
                let log = logs
                    .next()
                    .ok_or_else(|| not_opened(&self.log_dir, record, i))?;
                partitions.push(partition(record, i, log, p.leader_epoch));
            }
            topics.push(Arc::new(Topic {
                name: record.name.clone(),
                topic_id: record_id(record).unwrap_or_else(Uuid::new_v4),
                partitions: RwLock::new(partitions),
                produce: arc_swap::ArcSwap::from_pointee(
                    defaults.produce_settings(&record.configs),
                ),
                configs: RwLock::new(record.configs.clone()),
                mirror: RwLock::new(record.mirror.clone()),
            }));
        }
        Ok(topics)
    }

    /// Opens the partitions `record` names beyond the topic's current count.
    fn add_partitions(&self, topic: &Topic, record: &TopicRecord) -> Result<(), StartupError> {
        let config = read(&self.defaults).log_config(&record.configs);
        let current = topic.partition_count().max(0) as usize;
        let mut added = Vec::new();
        for (i, p) in record.partitions.iter().enumerate().skip(current) {
            let dir = partition_dir(&self.log_dir, &record.name, i as i32);
            let log = PartitionLog::open(&dir, config.clone(), now_ms()).map_err(|source| {
                StartupError::Log {
                    topic: record.name.clone(),
                    partition: i,
                    dir,
                    source,
                }
            })?;
            added.push(partition(record, i, log, p.leader_epoch));
        }
        write(&topic.partitions).extend(added);
        Ok(())
    }

    /// Resolves the topic's log config and produce settings from its overrides and the
    /// broker defaults, and applies them.
    pub(super) fn apply_log_config(&self, topic: &Topic) {
        let overrides = topic.configs();
        let (config, produce) = {
            let defaults = read(&self.defaults);
            (
                defaults.log_config(&overrides),
                defaults.produce_settings(&overrides),
            )
        };
        topic.produce.store(Arc::new(produce));
        for p in topic.partitions() {
            let _ = p.with_log_mut(|log| log.update_config(config.clone()));
        }
    }
}

fn record_id(record: &TopicRecord) -> Option<Uuid> {
    Uuid::parse_str(&record.topic_id).ok()
}

fn partition(record: &TopicRecord, i: usize, log: PartitionLog, epoch: i32) -> Arc<Partition> {
    let epoch = epoch.max(log.latest_epoch().unwrap_or(0));
    let p = Arc::new(Partition::new(&record.name, i as i32, log, epoch));
    if let Some(r) = record.partitions.get(i) {
        if let Some(reg) = registration(r) {
            p.set_registration(reg);
        }
        p.partition_epoch
            .fetch_max(r.partition_epoch, Ordering::AcqRel);
    }
    p
}

/// Sets every partition's registration and partition epoch from `record`.
fn apply_registrations(topic: &Topic, record: &TopicRecord) {
    for (i, r) in record.partitions.iter().enumerate() {
        if let (Some(p), Some(reg)) = (topic.partition(i as i32), registration(r)) {
            p.set_registration(reg);
            p.partition_epoch
                .fetch_max(r.partition_epoch, Ordering::AcqRel);
        }
    }
}

/// The image's registration of one partition; `None` for the legacy (pre-placement) form,
/// which the metadata log's image resolves to this node before it gets here, and which
/// means "this node alone" if it ever does.
fn registration(r: &crate::metadata::PartitionRecord) -> Option<super::partition::Registration> {
    (!r.is_legacy()).then(|| super::partition::Registration {
        replicas: r.replicas.clone(),
        isr: r.isr.clone(),
        leader: r.leader,
    })
}

fn not_opened(log_dir: &std::path::Path, record: &TopicRecord, i: usize) -> StartupError {
    StartupError::Log {
        topic: record.name.clone(),
        partition: i,
        dir: partition_dir(log_dir, &record.name, i as i32),
        source: strait_storage::StorageError::Io(std::io::Error::other(
            "partition log was not opened",
        )),
    }
}

/// Takes a removed topic's logs out of its partitions and deletes their directories.
fn delete_logs(topic: &Topic) {
    let name = &topic.name;
    for p in topic.partitions() {
        let Some(log) = p.take_log() else { continue };
        let dir = log.dir().to_path_buf();
        drop(log);
        // Renamed first (and the rename fsynced), so that start-up only ever removes
        // directories a committed deletion marked, never ones it merely does not know.
        match crate::log_dir::rename_away(&dir, crate::log_dir::DELETE_SUFFIX) {
            Ok(doomed) => {
                if let Err(e) = std::fs::remove_dir_all(&doomed) {
                    // Marked for deletion: start-up finishes the job.
                    tracing::warn!(topic = %name, partition = p.index, dir = %doomed.display(), error = %e, "could not delete partition directory");
                }
            }
            Err(e) => {
                tracing::warn!(topic = %name, partition = p.index, dir = %dir.display(), error = %e, "could not mark partition directory for deletion; start-up will keep it as stray")
            }
        }
    }
}

impl super::TopicManager {
    /// Links the replica manager to the topic publisher (once; later calls are ignored).
    /// Every registration published from here on reaches `listener` on the publisher
    /// thread; the caller sweeps the topics already open itself.
    pub fn set_replica_role_listener(&self, listener: Arc<dyn ReplicaRoleListener>) {
        let _ = self.reg.replication.set(listener);
    }
}

/// The registry as the metadata log's topic publisher.
pub(super) struct TopicPublisher(pub(super) Arc<Registry>);

impl MetadataPublisher for TopicPublisher {
    fn name(&self) -> String {
        "topics".into()
    }

    fn publish(&mut self, delta: &MetadataDelta) -> Result<(), String> {
        self.0.publish(delta).map_err(|e| e.to_string())
    }
}
