//! The topic registry: which topics and partitions exist, their logs, ids, epochs and config
//! overrides.
//!
//! Invariants:
//! * The metadata image ([`crate::metadata`]) is the source of truth, persisted by the
//!   metadata log ([`crate::metadata_log::MetadataLog`], `<log.dirs>/__cluster_metadata-0/`):
//!   every mutation is committed there as one entry (fsync'd and applied) before it is
//!   visible to clients, and the image kept here is the one the log applied. Partition
//!   directories are created after the image names them and removed after it stops naming
//!   them; start-up finishes removals marked `-delete` and keeps directories the image does
//!   not name as `-stray` ([`crate::log_dir`]).
//! * Mutations are serialized by the image mutex; readers never wait on persistence.
//! * A partition's log sits behind its own lock ([`Partition`]); a deleted partition's log
//!   is taken out (`None`), so requests racing a delete see UNKNOWN_TOPIC_OR_PARTITION.
//! * Partition file I/O issued by requests runs on the [`crate::log_manager`] threads this
//!   registry owns ([`TopicManager::io`]); append notification is per partition.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use strait_protocol::ErrorCode;
use strait_storage::PartitionLog;
use uuid::Uuid;

use crate::error::ApiError;
use crate::metadata::{
    LinkRecord, MetadataError, MetadataImage, MirrorRecord, PartitionRecord, TopicRecord,
};
use crate::metadata_log::{MetadataLog, METADATA_TOPIC};
use crate::topic_config::TopicDefaults;

mod cutover;
mod partition;
mod restore;
pub use cutover::wait_for_cutover;
pub use partition::Partition;

/// Longest legal topic name (Kafka's limit, leaving room for `-<partition>` directories).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
fn lock<T>(l: &Mutex<T>) -> MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One topic and its partitions.
pub struct Topic {
    pub name: String,
    pub topic_id: Uuid,
    partitions: RwLock<Vec<Arc<Partition>>>,
    configs: RwLock<BTreeMap<String, String>>,
    /// What Produce applies, resolved from `configs` and the broker defaults whenever
    /// either changes, so the produce path reads it without a lock.
    produce: arc_swap::ArcSwap<crate::topic_config::ProduceSettings>,
    mirror: RwLock<Option<MirrorRecord>>,
}

impl Topic {
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        read(&self.partitions).clone()
    }
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| read(&self.partitions).get(i).cloned())
    }
    pub fn partition_count(&self) -> i32 {
        read(&self.partitions).len() as i32
    }
    /// The topic's config overrides.
    pub fn configs(&self) -> BTreeMap<String, String> {
        read(&self.configs).clone()
    }
    /// What Produce applies to this topic (lock-free).
    pub fn produce_settings(&self) -> Arc<crate::topic_config::ProduceSettings> {
        self.produce.load_full()
    }
    /// Its cluster-link mirror record, if it is (or was) a mirror topic.
    pub fn mirror(&self) -> Option<MirrorRecord> {
        read(&self.mirror).clone()
    }
    /// Why clients may not change this topic's data: a mirror that has not been promoted
    /// or failed over. The message names the link, as users need to know where to act.
    pub fn read_only_reason(&self) -> Option<String> {
        read(&self.mirror).as_ref().filter(|m| m.state != "STOPPED").map(|m| {
            format!(
                "topic '{}' is a read-only mirror of '{}' over cluster link '{}' (state {}); promote or fail it over to write to it",
                self.name, m.source_topic, m.link_name, m.state
            )
        })
    }
}

/// Checks a topic name against Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: String| Err(ApiError::new(ErrorCode::InvalidTopicException, why));
    if name.is_empty() {
        return bad("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return bad("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return bad(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return bad(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Validates a set of topic config overrides against the registry (built-in defaults for
/// the cross-key rules; the config handlers check against the broker's defaults first).
pub fn validate_topic_configs(configs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    crate::topic_config::validate_overrides(configs, &TopicDefaults::default())
}

/// The registry of topics, backed by the metadata image and the log directory.
pub struct TopicManager {
    log_dir: PathBuf,
    /// The one owner of the metadata on disk: every change is committed here first.
    meta_log: MetadataLog,
    /// The metadata log's applied image, as of the last change (replaced by what the log
    /// applied after each commit); its lock serializes changes.
    image: Mutex<MetadataImage>,
    /// Read lock-free on the produce/fetch path; replaced whole (under the image mutex)
    /// when topics are created or deleted.
    topics: arc_swap::ArcSwap<HashMap<String, Arc<Topic>>>,
    defaults: RwLock<TopicDefaults>,
    /// The I/O threads partition file I/O runs on.
    io: crate::log_manager::LogManager,
    /// The producer-id block being handed out, `[next, end)`.
    producer_ids: Mutex<(i64, i64)>,
    /// Bumped after every mirror-state change; produce requests held during a promotion
    /// wait on it ([`cutover`]).
    mirror_changes: tokio::sync::watch::Sender<u64>,
    /// `num.recovery.threads.per.data.dir`: threads that open logs at start and close
    /// them at shutdown (Kafka uses the same pool for both).
    recovery_threads: usize,
}

/// Producer ids are reserved in blocks so that persisting the reservation is rare.
const PRODUCER_ID_BLOCK: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    MetadataLog(#[from] crate::metadata_log::MetadataLogError),
    #[error(transparent)]
    Migrate(#[from] crate::metadata_log::migrate::MigrateError),
    #[error("cannot open partition {topic}-{partition} in {dir}: {source}")]
    Log {
        topic: String,
        partition: usize,
        dir: PathBuf,
        source: strait_storage::StorageError,
    },
    #[error("cannot scan log directory {dir}: {source}")]
    Scan {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot store security metadata: {0}")]
    Security(ApiError),
    #[error(transparent)]
    LogDir(#[from] crate::log_dir::LogDirError),
    #[error("cannot start the log manager's I/O threads: {0}")]
    IoThreads(std::io::Error),
}

fn storage_error(e: strait_storage::StorageError) -> ApiError {
    ApiError::new(ErrorCode::KafkaStorageError, e.to_string())
}

impl TopicManager {
    /// Loads the metadata image and opens (recovering) every partition log it names.
    pub fn open(
        log_dir: &Path,
        node_id: i32,
        static_defaults: TopicDefaults,
    ) -> Result<Self, StartupError> {
        Self::open_with_recovery_threads(log_dir, node_id, static_defaults, 1)
    }

    /// [`TopicManager::open`] with the partition logs opened (recovered) on
    /// `recovery_threads` threads (`num.recovery.threads.per.data.dir`; one data dir).
    pub fn open_with_recovery_threads(
        log_dir: &Path,
        node_id: i32,
        static_defaults: TopicDefaults,
        recovery_threads: usize,
    ) -> Result<Self, StartupError> {
        Self::open_with_threads(
            log_dir,
            node_id,
            static_defaults,
            recovery_threads,
            crate::log_manager::DEFAULT_IO_THREADS,
        )
    }

    /// [`TopicManager::open_with_recovery_threads`] with `io_threads` (`num.io.threads`)
    /// log manager threads.
    pub fn open_with_threads(
        log_dir: &Path,
        node_id: i32,
        static_defaults: TopicDefaults,
        recovery_threads: usize,
        io_threads: usize,
    ) -> Result<Self, StartupError> {
        // Decide before anything writes to the directory: missing metadata must not be
        // replaced by a fresh image (that would orphan every partition).
        let opened = crate::log_dir::open_metadata(log_dir, node_id)?;
        let meta_log = opened.meta_log;
        let image = meta_log.image();
        let defaults = TopicDefaults {
            static_broker: static_defaults.static_broker,
            dynamic_default: image.dynamic_default_broker_configs.clone(),
            dynamic_broker: image.dynamic_broker_configs.clone(),
        };
        let now = now_ms();
        let mut opened =
            crate::recovery::open_logs(log_dir, &image, &defaults, now, recovery_threads)?
                .into_iter();
        let mut topics = HashMap::new();
        for record in &image.topics {
            let mut partitions = Vec::with_capacity(record.partitions.len());
            for (i, p) in record.partitions.iter().enumerate() {
                let log = opened.next().ok_or_else(|| StartupError::Log {
                    topic: record.name.clone(),
                    partition: i,
                    dir: partition_dir(log_dir, &record.name, i as i32),
                    source: strait_storage::StorageError::Io(std::io::Error::other(
                        "partition log was not opened",
                    )),
                })?;
                let epoch = p.leader_epoch.max(log.latest_epoch().unwrap_or(0));
                partitions.push(Arc::new(Partition::new(&record.name, i as i32, log, epoch)));
            }
            let topic_id = Uuid::parse_str(&record.topic_id).unwrap_or_else(|_| Uuid::new_v4());
            topics.insert(
                record.name.clone(),
                Arc::new(Topic {
                    name: record.name.clone(),
                    topic_id,
                    partitions: RwLock::new(partitions),
                    configs: RwLock::new(record.configs.clone()),
                    produce: arc_swap::ArcSwap::from_pointee(
                        defaults.produce_settings(&record.configs),
                    ),
                    mirror: RwLock::new(record.mirror.clone()),
                }),
            );
        }
        crate::log_dir::tidy_partition_dirs(log_dir, |topic, part| {
            topics
                .get(topic)
                .is_some_and(|t| part >= 0 && part < t.partition_count())
        })
        .map_err(|source| StartupError::Scan {
            dir: log_dir.to_path_buf(),
            source,
        })?;
        let io =
            crate::log_manager::LogManager::start(io_threads).map_err(StartupError::IoThreads)?;
        Ok(TopicManager {
            log_dir: log_dir.to_path_buf(),
            meta_log,
            image: Mutex::new(image),
            topics: arc_swap::ArcSwap::from_pointee(topics),
            defaults: RwLock::new(defaults),
            io,
            producer_ids: Mutex::new((0, 0)),
            mirror_changes: tokio::sync::watch::channel(0).0,
            recovery_threads,
        })
    }

    pub fn cluster_id(&self) -> String {
        lock(&self.image).cluster_id.clone()
    }

    /// What Kafka's DescribeQuorum reports about the metadata log, from this node (`None`
    /// once the quorum has stopped, at shutdown).
    pub fn quorum_description(&self) -> Option<strait_quorum::QuorumDescription> {
        self.meta_log.describe()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.load().get(name).cloned()
    }

    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics
            .load()
            .values()
            .find(|t| t.topic_id == id)
            .cloned()
    }

    /// All topics, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.topics.load().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The log manager: where request-issued partition file I/O runs.
    pub fn io(&self) -> &crate::log_manager::LogManager {
        &self.io
    }

    pub fn defaults(&self) -> TopicDefaults {
        read(&self.defaults).clone()
    }

    /// Creates a topic. Validates name, partition count and configs first; persists, then
    /// creates the logs.
    pub fn create_topic(
        &self,
        name: &str,
        num_partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, ApiError> {
        self.create_topic_with(name, num_partitions, configs, validate_only, None)
    }

    /// Creates a read-only mirror topic.
    pub fn create_mirror_topic(
        &self,
        name: &str,
        num_partitions: i32,
        configs: BTreeMap<String, String>,
        mirror: MirrorRecord,
    ) -> Result<Arc<Topic>, ApiError> {
        self.create_topic_with(name, num_partitions, configs, false, Some(mirror))
    }

    fn create_topic_with(
        &self,
        name: &str,
        num_partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
        mirror: Option<MirrorRecord>,
    ) -> Result<Arc<Topic>, ApiError> {
        validate_topic_name(name)?;
        if num_partitions <= 0 {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!("Number of partitions was set to an invalid non-positive value: {num_partitions}"),
            ));
        }
        validate_topic_configs(&configs)?;
        if name == METADATA_TOPIC {
            // Its directory would be the metadata log's.
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Creation of internal topic {METADATA_TOPIC} is prohibited."),
            ));
        }
        let mut image = lock(&self.image);
        if self.topics.load().contains_key(name) {
            return Err(ApiError::new(
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let topic_id = Uuid::new_v4();
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.to_string(),
                topic_id,
                partitions: RwLock::new(Vec::new()),
                produce: arc_swap::ArcSwap::from_pointee(
                    read(&self.defaults).produce_settings(&configs),
                ),
                configs: RwLock::new(configs),
                mirror: RwLock::new(mirror),
            }));
        }
        let mut next = image.clone();
        next.topics.push(TopicRecord {
            name: name.to_string(),
            topic_id: topic_id.to_string(),
            partitions: vec![PartitionRecord { leader_epoch: 0 }; num_partitions as usize],
            configs: configs.clone(),
            mirror: mirror.clone(),
        });
        *image = self.meta_log.commit(&image, &next)?;
        let log_config = read(&self.defaults).log_config(&configs);
        let partitions = (0..num_partitions)
            .map(|i| self.open_partition(name, i, log_config.clone(), 0))
            .collect::<Result<Vec<_>, _>>()?;
        let topic = Arc::new(Topic {
            name: name.to_string(),
            topic_id,
            partitions: RwLock::new(partitions),
            produce: arc_swap::ArcSwap::from_pointee(
                read(&self.defaults).produce_settings(&configs),
            ),
            configs: RwLock::new(configs),
            mirror: RwLock::new(mirror),
        });
        let mut map = HashMap::clone(&self.topics.load());
        map.insert(name.to_string(), topic.clone());
        self.topics.store(Arc::new(map));
        tracing::info!(topic = name, partitions = num_partitions, "created topic");
        Ok(topic)
    }

    fn open_partition(
        &self,
        topic: &str,
        index: i32,
        config: strait_storage::LogConfig,
        epoch: i32,
    ) -> Result<Arc<Partition>, ApiError> {
        let dir = partition_dir(&self.log_dir, topic, index);
        let log = PartitionLog::open(&dir, config, now_ms()).map_err(storage_error)?;
        Ok(Arc::new(Partition::new(topic, index, log, epoch)))
    }

    /// Deletes a topic: persist first, then drop and delete its logs.
    pub fn delete_topic(&self, name: &str) -> Result<(), ApiError> {
        let mut image = lock(&self.image);
        let topic = self.topics.load().get(name).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        let mut next = image.clone();
        next.topics.retain(|t| t.name != name);
        *image = self.meta_log.commit(&image, &next)?;
        let mut map = HashMap::clone(&self.topics.load());
        map.remove(name);
        self.topics.store(Arc::new(map));
        for p in topic.partitions() {
            if let Some(log) = p.take_log() {
                let dir = log.dir().to_path_buf();
                drop(log);
                // Renamed first (and the rename fsynced), so that start-up only ever removes
                // directories a persisted deletion marked, never ones it merely does not know.
                match crate::log_dir::rename_away(&dir, crate::log_dir::DELETE_SUFFIX) {
                    Ok(doomed) => {
                        if let Err(e) = std::fs::remove_dir_all(&doomed) {
                            // Marked for deletion: start-up finishes the job.
                            tracing::warn!(topic = name, partition = p.index, dir = %doomed.display(), error = %e, "could not delete partition directory");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic = name, partition = p.index, dir = %dir.display(), error = %e, "could not mark partition directory for deletion; start-up will keep it as stray")
                    }
                }
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Grows a topic to `total` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let mut image = lock(&self.image);
        let topic = self.get(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        let current = topic.partition_count();
        if total <= current {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!("Topic currently has {current} partitions, which is higher than the requested {total}."),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let mut next = image.clone();
        if let Some(t) = next.topics.iter_mut().find(|t| t.name == name) {
            t.partitions
                .resize(total as usize, PartitionRecord { leader_epoch: 0 });
        }
        *image = self.meta_log.commit(&image, &next)?;
        let log_config = read(&self.defaults).log_config(&topic.configs());
        let mut new_partitions = Vec::new();
        for i in current..total {
            new_partitions.push(self.open_partition(name, i, log_config.clone(), 0)?);
        }
        write(&topic.partitions).extend(new_partitions);
        Ok(())
    }

    /// Replaces a topic's config overrides (validated), and applies them to its logs.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        validate_topic_configs(&configs)?;
        let mut image = lock(&self.image);
        let topic = self.get(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        if validate_only {
            return Ok(());
        }
        let mut next = image.clone();
        if let Some(t) = next.topics.iter_mut().find(|t| t.name == name) {
            t.configs = configs.clone();
        }
        *image = self.meta_log.commit(&image, &next)?;
        *write(&topic.configs) = configs;
        self.apply_log_config(&topic);
        Ok(())
    }

    /// Replaces this broker's dynamic configs, or the dynamic cluster-wide defaults when
    /// `cluster_default` (keys are broker keys, validated by the caller), and applies them
    /// to every log.
    pub fn set_dynamic_broker_configs(
        &self,
        cluster_default: bool,
        configs: BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let mut image = lock(&self.image);
        let mut next = image.clone();
        if cluster_default {
            next.dynamic_default_broker_configs = configs.clone();
        } else {
            next.dynamic_broker_configs = configs.clone();
        }
        *image = self.meta_log.commit(&image, &next)?;
        {
            let mut defaults = write(&self.defaults);
            if cluster_default {
                defaults.dynamic_default = configs;
            } else {
                defaults.dynamic_broker = configs;
            }
        }
        for topic in self.list() {
            self.apply_log_config(&topic);
        }
        Ok(())
    }

    fn apply_log_config(&self, topic: &Topic) {
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

    /// Reserves a block of producer ids; returns `[start, end)`. Persisted before use, so
    /// ids are never reused across restarts.
    fn reserve_producer_ids(
        &self,
        image: &mut MetadataImage,
        at_least: i64,
    ) -> Result<(i64, i64), ApiError> {
        let start = image.producer_id_block_end.max(at_least);
        let mut next = image.clone();
        next.producer_id_block_end = start + PRODUCER_ID_BLOCK;
        *image = self.meta_log.commit(image, &next)?;
        Ok((start, start + PRODUCER_ID_BLOCK))
    }

    /// Allocates a fresh producer id.
    pub fn next_producer_id(&self) -> Result<i64, ApiError> {
        let mut range = lock(&self.producer_ids);
        if range.0 >= range.1 {
            let mut image = lock(&self.image);
            *range = self.reserve_producer_ids(&mut image, 0)?;
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }

    /// Makes sure this broker never allocates `id` or anything below it (an id handed out
    /// by a cluster link's source for write forwarding, so a later local id cannot collide
    /// with it after promote). Persisted like every block reservation.
    pub fn reserve_producer_ids_above(&self, id: i64) -> Result<(), ApiError> {
        let mut range = lock(&self.producer_ids);
        if range.0 > id {
            return Ok(());
        }
        let mut image = lock(&self.image);
        *range = self.reserve_producer_ids(&mut image, id.saturating_add(1))?;
        Ok(())
    }

    /// Updates a mirror record (persisted first).
    pub fn update_mirror(
        &self,
        name: &str,
        f: impl FnOnce(&mut MirrorRecord),
    ) -> Result<(), ApiError> {
        let mut image = lock(&self.image);
        let topic = self.get(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        let mut record = topic.mirror().ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("topic '{name}' is not a mirror topic"),
            )
        })?;
        f(&mut record);
        let mut next = image.clone();
        if let Some(t) = next.topics.iter_mut().find(|t| t.name == name) {
            t.mirror = Some(record.clone());
        }
        *image = self.meta_log.commit(&image, &next)?;
        *write(&topic.mirror) = Some(record);
        self.mirror_changed();
        Ok(())
    }

    /// Raises a partition's leader epoch (as reported to clients) to at least `at_least`.
    pub fn raise_leader_epoch(
        &self,
        name: &str,
        index: i32,
        at_least: i32,
    ) -> Result<(), ApiError> {
        let partition = self
            .get(name)
            .and_then(|t| t.partition(index))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("{name}-{index} does not exist"),
                )
            })?;
        if partition.leader_epoch() >= at_least {
            return Ok(());
        }
        self.persist_epochs(name, &[(index, at_least)])?;
        partition.leader_epoch.fetch_max(at_least, Ordering::AcqRel);
        Ok(())
    }

    fn persist_epochs(&self, name: &str, epochs: &[(i32, i32)]) -> Result<(), ApiError> {
        let mut image = lock(&self.image);
        let mut next = image.clone();
        if let Some(t) = next.topics.iter_mut().find(|t| t.name == name) {
            for &(i, e) in epochs {
                if let Some(p) = usize::try_from(i)
                    .ok()
                    .and_then(|i| t.partitions.get_mut(i))
                {
                    p.leader_epoch = p.leader_epoch.max(e);
                }
            }
        }
        *image = self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    pub fn links(&self) -> Vec<LinkRecord> {
        lock(&self.image).links.clone()
    }

    pub fn put_link(&self, link: LinkRecord) -> Result<(), ApiError> {
        let mut image = lock(&self.image);
        let mut next = image.clone();
        next.links.retain(|l| l.name != link.name);
        next.links.push(link);
        *image = self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    pub fn remove_link(&self, name: &str) -> Result<(), ApiError> {
        let mut image = lock(&self.image);
        let mut next = image.clone();
        next.links.retain(|l| l.name != name);
        *image = self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    /// The persisted ACL bindings and SCRAM credentials.
    pub fn security_records(
        &self,
    ) -> (
        Vec<crate::auth::acl::AclRecord>,
        Vec<crate::auth::scram::ScramCredentialRecord>,
    ) {
        let image = lock(&self.image);
        (image.acls.clone(), image.scram_credentials.clone())
    }

    /// Changes ACLs and/or SCRAM credentials and persists the image before returning the
    /// new lists (nothing is changed if `change` fails or the image cannot be saved).
    #[allow(clippy::type_complexity)]
    pub fn update_security<R>(
        &self,
        change: impl FnOnce(
            &mut Vec<crate::auth::acl::AclRecord>,
            &mut Vec<crate::auth::scram::ScramCredentialRecord>,
        ) -> Result<R, ApiError>,
    ) -> Result<
        (
            R,
            Vec<crate::auth::acl::AclRecord>,
            Vec<crate::auth::scram::ScramCredentialRecord>,
        ),
        ApiError,
    > {
        let mut image = lock(&self.image);
        let mut next = image.clone();
        let result = change(&mut next.acls, &mut next.scram_credentials)?;
        if next.acls != image.acls || next.scram_credentials != image.scram_credentials {
            *image = self.meta_log.commit(&image, &next)?;
        }
        Ok((result, image.acls.clone(), image.scram_credentials.clone()))
    }

    /// Flushes and closes every log (clean shutdown): each writes its producer snapshot
    /// and clean-shutdown marker, so the next start skips its recovery. Logs are closed on
    /// the recovery threads (each close is a few fsyncs; serially they add up).
    /// The log manager is drained first: every append it accepted is written before its
    /// log is closed, and nothing is accepted after (see [`crate::log_manager`]).
    /// The metadata quorum closes last (flushing its state): nothing after the drain can
    /// change metadata any more.
    pub fn close_all(&self) {
        self.io.shutdown();
        let mut logs = Vec::new();
        for topic in self.list() {
            for p in topic.partitions() {
                if let Some(log) = p.take_log() {
                    logs.push((topic.name.clone(), p.index, log));
                }
            }
        }
        crate::recovery::close_logs(logs, self.recovery_threads);
        self.meta_log.close();
    }
}

pub fn partition_dir(log_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    log_dir.join(format!("{topic}-{partition}"))
}
