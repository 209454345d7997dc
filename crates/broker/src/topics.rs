//! The topic registry: which topics and partitions exist, their logs, ids, epochs and config
//! overrides.
//!
//! Invariants:
//! * The metadata image ([`crate::metadata`]) is the source of truth, persisted by the
//!   metadata log ([`crate::metadata_log::MetadataLog`], `<log.dirs>/__cluster_metadata-0/`):
//!   every mutation is committed there as one entry (fsync'd and applied) before it is
//!   visible to clients. The topic map, partition logs, configs, mirror records and leader
//!   epochs are derived from the applied image by one code path, the topic publisher
//!   ([`publish`]), for entries proposed here and elsewhere alike; the methods below only
//!   validate, compute the next image and commit (which returns once it is published).
//!   Partition directories are created after the image names them and removed after it
//!   stops naming them; start-up finishes removals marked `-delete` and keeps directories
//!   the image does not name as `-stray` ([`crate::log_dir`]).
//! * Mutations are serialized by the `changes` mutex and computed from the log's image once
//!   everything applied has been published; readers never wait on persistence.
//! * A partition's log sits behind its own lock ([`Partition`]); a deleted partition's log
//!   is taken out (`None`), so requests racing a delete see UNKNOWN_TOPIC_OR_PARTITION.
//! * Partition file I/O issued by requests runs on the [`crate::log_manager`] threads this
//!   registry owns ([`TopicManager::io`]); append notification is per partition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use strait_protocol::ErrorCode;
use uuid::Uuid;

use crate::error::ApiError;
use crate::metadata::{
    LinkRecord, MetadataError, MetadataImage, MirrorRecord, PartitionRecord, TopicRecord,
};
use crate::metadata_log::{MetadataLog, METADATA_TOPIC};
use crate::topic_config::TopicDefaults;

mod cutover;
mod partition;
mod placement;
mod publish;
#[cfg(test)]
mod publish_tests;
mod restore;
pub use cutover::wait_for_cutover;
pub use partition::{Partition, Registration};

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
    /// The one owner of the metadata on disk: every change is committed here first.
    meta_log: MetadataLog,
    /// Serializes this broker's changes (each is computed from the current image).
    changes: Mutex<()>,
    /// The topics, as the publisher derived them from the image.
    reg: Arc<publish::Registry>,
    /// The I/O threads partition file I/O runs on.
    io: crate::log_manager::LogManager,
    /// The producer-id block being handed out, `[next, end)`.
    producer_ids: Mutex<(i64, i64)>,
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
    #[error("cannot register the topic publisher: {0}")]
    Publish(ApiError),
}

fn storage_error(e: strait_storage::StorageError) -> ApiError {
    ApiError::new(ErrorCode::KafkaStorageError, e.to_string())
}

fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownTopicOrPartition,
        format!("Topic '{name}' does not exist."),
    )
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
            &crate::metadata_log::QuorumSetup::default(),
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
        quorum: &crate::metadata_log::QuorumSetup,
    ) -> Result<Self, StartupError> {
        // Decide before anything writes to the directory: missing metadata must not be
        // replaced by a fresh image (that would orphan every partition).
        let opened = crate::log_dir::open_metadata_with(log_dir, node_id, quorum)?;
        let meta_log = opened.meta_log;
        let image = meta_log.published_image();
        let reg = Arc::new(publish::Registry::new(
            log_dir.to_path_buf(),
            static_defaults,
            recovery_threads,
            Arc::new(MetadataImage::empty(&image.cluster_id, image.node_id)),
        ));
        // The start-up image goes through the publish path like any entry: from nothing
        // to what the log holds (replayed entries are not published one by one).
        let empty = Arc::new(MetadataImage::empty(&image.cluster_id, image.node_id));
        reg.publish(&crate::metadata_log::MetadataDelta::between(
            None,
            empty,
            Arc::clone(&image),
        ))?;
        crate::log_dir::tidy_partition_dirs(log_dir, |topic, part| {
            reg.topics
                .load()
                .get(topic)
                .is_some_and(|t| part >= 0 && part < t.partition_count())
        })
        .map_err(|source| StartupError::Scan {
            dir: log_dir.to_path_buf(),
            source,
        })?;
        meta_log
            .register_publisher(Box::new(publish::TopicPublisher(Arc::clone(&reg))), image)
            .map_err(StartupError::Publish)?;
        let io =
            crate::log_manager::LogManager::start(io_threads).map_err(StartupError::IoThreads)?;
        Ok(TopicManager {
            meta_log,
            changes: Mutex::new(()),
            reg,
            io,
            producer_ids: Mutex::new((0, 0)),
        })
    }

    /// Takes the change lock and returns the image to compute the change from, once
    /// everything applied (entries from other nodes included) is published, so the
    /// topic map validation reads agrees with it.
    fn begin_change(&self) -> Result<(MutexGuard<'_, ()>, MetadataImage), ApiError> {
        let guard = lock(&self.changes);
        self.meta_log.catch_up()?;
        Ok((guard, self.meta_log.image()))
    }

    /// The image as of the last published change.
    fn published(&self) -> Arc<MetadataImage> {
        self.reg.image.load_full()
    }

    pub fn cluster_id(&self) -> String {
        self.published().cluster_id.clone()
    }

    /// The metadata log (broker registration and the quorum's leader, for the cluster view).
    pub fn metadata_log(&self) -> &MetadataLog {
        &self.meta_log
    }

    /// What Kafka's DescribeQuorum reports about the metadata log, from this node (`None`
    /// once the quorum has stopped, at shutdown).
    pub fn quorum_description(&self) -> Option<strait_quorum::QuorumDescription> {
        self.meta_log.describe()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.reg.topics.load().get(name).cloned()
    }

    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.reg
            .topics
            .load()
            .values()
            .find(|t| t.topic_id == id)
            .cloned()
    }

    /// All topics, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.reg.topics.load().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The log manager: where request-issued partition file I/O runs.
    pub fn io(&self) -> &crate::log_manager::LogManager {
        &self.io
    }

    pub fn defaults(&self) -> TopicDefaults {
        read(&self.reg.defaults).clone()
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
        self.create_topic_with(name, num_partitions, configs, validate_only, None, None)
    }

    /// Creates a topic whose partition `i` lives on `placement[i]` (replicas in assignment
    /// order, validated by the caller against the cluster view; the first leads, all start
    /// in sync).
    pub fn create_topic_placed(
        &self,
        name: &str,
        placement: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, ApiError> {
        let n = i32::try_from(placement.len()).unwrap_or(i32::MAX);
        self.create_topic_with(name, n, configs, validate_only, None, Some(placement))
    }

    /// [`TopicManager::create_mirror_topic`] with explicit placement (see
    /// [`TopicManager::create_topic_placed`]).
    pub fn create_mirror_topic_placed(
        &self,
        name: &str,
        placement: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
        mirror: MirrorRecord,
    ) -> Result<Arc<Topic>, ApiError> {
        let n = i32::try_from(placement.len()).unwrap_or(i32::MAX);
        self.create_topic_with(name, n, configs, false, Some(mirror), Some(placement))
    }

    /// Creates a read-only mirror topic.
    pub fn create_mirror_topic(
        &self,
        name: &str,
        num_partitions: i32,
        configs: BTreeMap<String, String>,
        mirror: MirrorRecord,
    ) -> Result<Arc<Topic>, ApiError> {
        self.create_topic_with(name, num_partitions, configs, false, Some(mirror), None)
    }

    fn create_topic_with(
        &self,
        name: &str,
        num_partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
        mirror: Option<MirrorRecord>,
        placement: Option<Vec<Vec<i32>>>,
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
        let (_changes, image) = self.begin_change()?;
        if self.get(name).is_some() {
            return Err(ApiError::new(
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        if let Some(p) = &placement {
            self.check_placement(p)?;
        }
        let topic_id = Uuid::new_v4();
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.to_string(),
                topic_id,
                partitions: RwLock::new(Vec::new()),
                produce: arc_swap::ArcSwap::from_pointee(
                    read(&self.reg.defaults).produce_settings(&configs),
                ),
                configs: RwLock::new(configs),
                mirror: RwLock::new(mirror),
            }));
        }
        let mut next = image.clone();
        next.topics.push(TopicRecord {
            name: name.to_string(),
            topic_id: topic_id.to_string(),
            // Without placement (single-node callers): every partition on this node.
            partitions: match placement {
                Some(p) => p.into_iter().map(|r| self.placed_live(r)).collect(),
                None => vec![PartitionRecord::placed(vec![image.node_id]); num_partitions as usize],
            },
            configs,
            mirror,
        });
        self.meta_log.commit(&image, &next)?;
        // Published before commit returned: the publisher opened the logs.
        self.get(name)
            .filter(|t| t.topic_id == topic_id)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::KafkaStorageError,
                    format!("topic '{name}' was committed but this broker did not open it"),
                )
            })
    }

    /// Deletes a topic: committed first; the publisher then drops and deletes its logs.
    pub fn delete_topic(&self, name: &str) -> Result<(), ApiError> {
        let (_changes, image) = self.begin_change()?;
        if self.get(name).is_none() {
            return Err(unknown_topic(name));
        }
        let mut next = image.clone();
        next.topics.retain(|t| t.name != name);
        self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    /// Grows a topic to `total` partitions, all on this node.
    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        self.create_partitions_with(name, total, validate_only, None)
    }

    /// Grows a topic by `placement.len()` partitions, the new partition `current + i` on
    /// `placement[i]` (see [`TopicManager::create_topic_placed`]).
    pub fn create_partitions_placed(
        &self,
        name: &str,
        placement: Vec<Vec<i32>>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let current = self.get(name).map_or(0, |t| t.partition_count());
        let total = i32::try_from(placement.len())
            .ok()
            .and_then(|n| n.checked_add(current))
            .unwrap_or(i32::MAX);
        self.create_partitions_with(name, total, validate_only, Some(placement))
    }

    fn create_partitions_with(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
        placement: Option<Vec<Vec<i32>>>,
    ) -> Result<(), ApiError> {
        let (_changes, image) = self.begin_change()?;
        let topic = self.get(name).ok_or_else(|| unknown_topic(name))?;
        let current = topic.partition_count();
        if total <= current {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!("Topic currently has {current} partitions, which is higher than the requested {total}."),
            ));
        }
        if let Some(p) = &placement {
            self.check_placement(p)?;
            // Placed against a count another change has since moved: refuse, never guess.
            if i64::from(current) + i64::try_from(p.len()).unwrap_or(i64::MAX) != i64::from(total) {
                return Err(ApiError::new(
                    ErrorCode::InvalidPartitions,
                    format!("Topic {name} changed to {current} partitions while its new partitions were being placed."),
                ));
            }
        }
        if validate_only {
            return Ok(());
        }
        let mut next = image.clone();
        if let Some(t) = next.topics.iter_mut().find(|t| t.name == name) {
            match placement {
                Some(p) => t
                    .partitions
                    .extend(p.into_iter().map(|r| self.placed_live(r))),
                None => t
                    .partitions
                    .resize(total as usize, PartitionRecord::placed(vec![image.node_id])),
            }
        }
        self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    /// Replaces a topic's config overrides (validated); the publisher applies them to its
    /// logs.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        validate_topic_configs(&configs)?;
        let (_changes, image) = self.begin_change()?;
        if self.get(name).is_none() {
            return Err(unknown_topic(name));
        }
        if validate_only {
            return Ok(());
        }
        let mut next = image.clone();
        if let Some(t) = next.topics.iter_mut().find(|t| t.name == name) {
            t.configs = configs;
        }
        self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    /// Replaces this broker's dynamic configs, or the dynamic cluster-wide defaults when
    /// `cluster_default` (keys are broker keys, validated by the caller); the publisher
    /// applies them to every log.
    pub fn set_dynamic_broker_configs(
        &self,
        cluster_default: bool,
        configs: BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let (_changes, image) = self.begin_change()?;
        let mut next = image.clone();
        if cluster_default {
            next.dynamic_default_broker_configs = configs;
        } else {
            next.dynamic_broker_configs = configs;
        }
        self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    /// Reserves a block of producer ids; returns `[start, end)`. Persisted before use, so
    /// ids are never reused across restarts.
    fn reserve_producer_ids(&self, at_least: i64) -> Result<(i64, i64), ApiError> {
        let (_changes, image) = self.begin_change()?;
        let start = image.producer_id_block_end.max(at_least);
        let mut next = image.clone();
        next.producer_id_block_end = start + PRODUCER_ID_BLOCK;
        self.meta_log.commit(&image, &next)?;
        Ok((start, start + PRODUCER_ID_BLOCK))
    }

    /// Allocates a fresh producer id.
    pub fn next_producer_id(&self) -> Result<i64, ApiError> {
        let mut range = lock(&self.producer_ids);
        if range.0 >= range.1 {
            *range = self.reserve_producer_ids(0)?;
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
        *range = self.reserve_producer_ids(id.saturating_add(1))?;
        Ok(())
    }

    /// Updates a mirror record (committed; the publisher installs it and wakes produce
    /// requests held on it).
    pub fn update_mirror(
        &self,
        name: &str,
        f: impl FnOnce(&mut MirrorRecord),
    ) -> Result<(), ApiError> {
        let (_changes, image) = self.begin_change()?;
        let topic = self.get(name).ok_or_else(|| unknown_topic(name))?;
        let mut record = topic.mirror().ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("topic '{name}' is not a mirror topic"),
            )
        })?;
        f(&mut record);
        let mut next = image.clone();
        if let Some(t) = next.topics.iter_mut().find(|t| t.name == name) {
            t.mirror = Some(record);
        }
        self.meta_log.commit(&image, &next)?;
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
        self.persist_epochs(name, &[(index, at_least)])
    }

    /// Commits `(partition, epoch)` raises; the publisher moves the partitions' epochs.
    fn persist_epochs(&self, name: &str, epochs: &[(i32, i32)]) -> Result<(), ApiError> {
        let (_changes, image) = self.begin_change()?;
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
        self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    pub fn links(&self) -> Vec<LinkRecord> {
        self.published().links.clone()
    }

    pub fn put_link(&self, link: LinkRecord) -> Result<(), ApiError> {
        let (_changes, image) = self.begin_change()?;
        let mut next = image.clone();
        next.links.retain(|l| l.name != link.name);
        next.links.push(link);
        self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    pub fn remove_link(&self, name: &str) -> Result<(), ApiError> {
        let (_changes, image) = self.begin_change()?;
        let mut next = image.clone();
        next.links.retain(|l| l.name != name);
        self.meta_log.commit(&image, &next)?;
        Ok(())
    }

    /// The persisted ACL bindings and SCRAM credentials.
    pub fn security_records(
        &self,
    ) -> (
        Vec<crate::auth::acl::AclRecord>,
        Vec<crate::auth::scram::ScramCredentialRecord>,
    ) {
        let image = self.published();
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
        let (_changes, image) = self.begin_change()?;
        let mut next = image.clone();
        let result = change(&mut next.acls, &mut next.scram_credentials)?;
        let applied =
            if next.acls != image.acls || next.scram_credentials != image.scram_credentials {
                self.meta_log.commit(&image, &next)?
            } else {
                image
            };
        Ok((result, applied.acls, applied.scram_credentials))
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
        crate::recovery::close_logs(logs, self.reg.recovery_threads);
        self.meta_log.close();
    }
}

pub fn partition_dir(log_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    log_dir.join(format!("{topic}-{partition}"))
}
