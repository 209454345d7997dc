//! [`MetadataLogImage`]: the broker's [`strait_quorum::Image`], today's [`MetadataImage`]
//! (what `TopicManager` reads) plus the registered brokers, built by applying the metadata
//! log's records in order.
//!
//! Every entry (a record sequence) is applied atomically: validated and applied to a copy
//! when it has several records (or creates a topic), in place when it is one record whose
//! checks all precede its mutation; a refused entry leaves the image unchanged. Apply reads
//! nothing but the image and the record (no clock, no randomness), so every voter reaches the
//! same image. The invariants the controller relies on — each refused deterministically,
//! with a message naming the record and what was wrong:
//! - topic names and topic ids are unique; a topic id is a non-nil UUID; a name is 1–249 of
//!   `[a-zA-Z0-9._-]` (Kafka's rule);
//! - every topic has at least one partition at the end of each entry, and partitions are
//!   added densely (a PartitionRecord names exactly the next index);
//! - a PartitionChangeRecord never lowers a partition's leader epoch (DESIGN invariant 4);
//!   one carrying a partition epoch must carry a strictly greater one (so of two changes
//!   computed from the same registration only the first commits); a leader change raises
//!   the leader epoch; a new leader outside the ISR with no new ISR in the record is an
//!   unclean election and the ISR becomes that leader alone;
//! - a partition's registration has distinct, non-empty replicas, `isr ⊆ replicas`, a
//!   reassignment's `adding_replicas` and `removing_replicas` ⊆ replicas and disjoint, and a
//!   leader in the ISR or -1 (that the replicas are registered brokers is checked when the
//!   change is proposed, as Kafka's controller does). A PartitionRecord without replicas
//!   is the pre-placement form a single node wrote and means "on this image's node";
//! - records naming a topic, partition, link, ACL or credential name one that exists
//!   (RemoveTopic of an unknown id, removing an absent ACL ... are refused), and an ACL is
//!   never added twice;
//! - the producer-id block end only grows (ids are never handed out twice);
//! - a ClusterLinkRecord keeps an existing link's id (a link recreated under the same name
//!   is removed first);
//! - a MirrorStateRecord carries a known state, and its per-partition lists (final offsets,
//!   aborted transactions, restore plan) name no partition the topic does not have;
//! - broker configs name a broker id (a non-negative integer in canonical form) or the
//!   cluster default (`""`). The image keeps every broker's dynamic configs, so every voter
//!   applies the same ConfigRecord the same way whoever it names; [`MetadataImage`]'s
//!   `dynamic_broker_configs` is always this node's entry of them (what `TopicManager`
//!   reads, as `strait-metadata.json` holds it), and a broker without dynamic configs has
//!   no entry (so equal histories give equal images);
//! - a MigrationRecord is accepted once, first, on an empty image of the same cluster/node.
//!
//! Snapshot format: JSON `{"snapshot_version": 1, "metadata": <strait-metadata.json image>,
//! "brokers": [...], "broker_configs": {id: {key: value}}, "migrated": bool}`; restore refuses other versions and other clusters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strait_quorum::{ApplyError, Image};

use super::records::{
    decode, ConfigRecord, ConfigResourceType, MetadataRecord, MigrationRecord, MirrorStateRecord,
    PartitionChangeRecord, PartitionRecord, RegisterBrokerRecord,
};
use crate::metadata::{self, MetadataImage, FORMAT_VERSION};

#[cfg(test)]
#[path = "broker_config_tests.rs"]
mod broker_config_tests;
#[cfg(test)]
#[path = "partition_change_tests.rs"]
mod partition_change_tests;

/// The version of [`MetadataLogImage::snapshot`]'s format.
pub const SNAPSHOT_VERSION: u32 = 1;

const MIRROR_STATES: &[&str] = &["ACTIVE", "PAUSED", "PENDING_STOPPED", "STOPPED", "FAILED"];

/// The metadata image a node builds from the metadata log.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataLogImage {
    metadata: MetadataImage,
    brokers: BTreeMap<i32, RegisterBrokerRecord>,
    /// Registered brokers the active controller fenced (always a subset of `brokers`).
    fenced: std::collections::BTreeSet<i32>,
    /// Registered brokers in controlled shutdown (until they register again).
    shutting_down: std::collections::BTreeSet<i32>,
    /// Every broker's dynamic configs by broker id (no empty maps); this node's entry is
    /// mirrored in `metadata.dynamic_broker_configs`.
    broker_configs: BrokerConfigs,
    migrated: bool,
}

type BrokerConfigs = BTreeMap<i32, BTreeMap<String, String>>;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    snapshot_version: u32,
    metadata: MetadataImage,
    brokers: Vec<RegisterBrokerRecord>,
    /// Absent in snapshots from before fencing: nobody fenced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fenced: Vec<i32>,
    /// Absent in snapshots from before controlled shutdown: nobody shutting down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    shutting_down: Vec<i32>,
    /// Absent in snapshots from before per-broker configs: `metadata`'s
    /// `dynamic_broker_configs` are then those of the node that wrote the snapshot.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    broker_configs: BrokerConfigs,
    migrated: bool,
}

type Refusal = String;

impl MetadataLogImage {
    /// An empty image of node `node_id` in cluster `cluster_id`.
    pub fn new(cluster_id: &str, node_id: i32) -> Self {
        MetadataLogImage {
            metadata: MetadataImage::empty(cluster_id, node_id),
            brokers: BTreeMap::new(),
            fenced: Default::default(),
            shutting_down: Default::default(),
            broker_configs: BTreeMap::new(),
            migrated: false,
        }
    }

    /// The image in today's shape (what `TopicManager` reads).
    pub fn metadata(&self) -> &MetadataImage {
        &self.metadata
    }

    /// The registered brokers, by node id.
    pub fn brokers(&self) -> &BTreeMap<i32, RegisterBrokerRecord> {
        &self.brokers
    }

    /// Whether the active controller fenced registered broker `id`.
    pub fn is_fenced(&self, id: i32) -> bool {
        self.fenced.contains(&id)
    }

    /// Whether broker `id` is in controlled shutdown (KIP-841).
    pub fn is_shutting_down(&self, id: i32) -> bool {
        self.shutting_down.contains(&id)
    }

    /// Whether broker `id` may lead or join an ISR: registered, not fenced, not in
    /// controlled shutdown.
    pub fn is_eligible(&self, id: i32) -> bool {
        self.brokers.contains_key(&id) && !self.is_fenced(id) && !self.is_shutting_down(id)
    }

    /// The dynamic configs of broker `id`; `None` when it has none.
    pub fn broker_configs(&self, id: i32) -> Option<&BTreeMap<String, String>> {
        self.broker_configs.get(&id)
    }

    /// Has a [`MigrationRecord`] been applied (the log was seeded from a JSON image)?
    pub fn migrated(&self) -> bool {
        self.migrated
    }

    /// Applies one entry's records atomically.
    pub fn apply_records(&mut self, records: &[MetadataRecord]) -> Result<(), ApplyError> {
        let in_place = match records {
            [] => return Ok(()),
            [only] => !matches!(only, MetadataRecord::Topic(_)),
            _ => false,
        };
        if in_place {
            return self
                .apply_one(&records[0])
                .map_err(|m| refusal(0, &records[0], m));
        }
        let mut next = self.clone();
        let mut created = Vec::new();
        for (at, record) in records.iter().enumerate() {
            next.apply_one(record).map_err(|m| refusal(at, record, m))?;
            if let MetadataRecord::Topic(t) = record {
                created.push(t.topic_id.clone());
            }
        }
        for id in created {
            if let Some(t) = next.metadata.topics.iter().find(|t| t.topic_id == id) {
                if t.partitions.is_empty() {
                    return Err(ApplyError(format!(
                        "topic '{}' ({id}) would have no partitions: its TopicRecord needs PartitionRecords in the same entry",
                        t.name
                    )));
                }
            }
        }
        *self = next;
        Ok(())
    }

    fn is_empty(&self) -> bool {
        let m = &self.metadata;
        m.topics.is_empty()
            && m.links.is_empty()
            && m.acls.is_empty()
            && m.scram_credentials.is_empty()
            && m.dynamic_broker_configs.is_empty()
            && m.dynamic_default_broker_configs.is_empty()
            && m.producer_id_block_end == 0
            && self.brokers.is_empty()
            && self.broker_configs.is_empty()
    }

    fn topic_index(&self, topic_id: &str) -> Result<usize, Refusal> {
        self.metadata
            .topics
            .iter()
            .position(|t| t.topic_id == topic_id)
            .ok_or_else(|| format!("unknown topic id {topic_id}"))
    }

    /// Validates `record` against the image, then mutates; nothing changes on `Err`.
    fn apply_one(&mut self, record: &MetadataRecord) -> Result<(), Refusal> {
        match record {
            MetadataRecord::Topic(r) => {
                check_topic_name(&r.name)?;
                let id = uuid::Uuid::parse_str(&r.topic_id)
                    .map_err(|e| format!("topic id '{}' is not a UUID: {e}", r.topic_id))?;
                if id.is_nil() {
                    return Err("the nil UUID is not a topic id".into());
                }
                let topics = &self.metadata.topics;
                if topics.iter().any(|t| t.name == r.name) {
                    return Err(format!("topic '{}' already exists", r.name));
                }
                if let Some(t) = topics.iter().find(|t| t.topic_id == r.topic_id) {
                    return Err(format!(
                        "topic id {} is already topic '{}'",
                        r.topic_id, t.name
                    ));
                }
                self.metadata.topics.push(metadata::TopicRecord {
                    name: r.name.clone(),
                    topic_id: r.topic_id.clone(),
                    partitions: Vec::new(),
                    configs: BTreeMap::new(),
                    mirror: None,
                });
            }
            MetadataRecord::Partition(r) => self.add_partition(r)?,
            MetadataRecord::PartitionChange(r) => self.change_partition(r)?,
            MetadataRecord::Config(r) => self.set_config(r)?,
            MetadataRecord::RemoveTopic(r) => {
                let i = self.topic_index(&r.topic_id)?;
                self.metadata.topics.remove(i);
            }
            MetadataRecord::ProducerIds(r) => {
                if r.broker_id < 0 {
                    return Err(format!("broker id {} is negative", r.broker_id));
                }
                let current = self.metadata.producer_id_block_end;
                if r.next_producer_id <= current {
                    return Err(format!(
                        "next producer id {} does not move past the current block end {current} (ids would be handed out twice)",
                        r.next_producer_id
                    ));
                }
                self.metadata.producer_id_block_end = r.next_producer_id;
            }
            MetadataRecord::AccessControlEntry(a) => {
                if self.metadata.acls.contains(a) {
                    return Err(format!("ACL {a} already exists"));
                }
                self.metadata.acls.push(a.clone());
            }
            MetadataRecord::RemoveAccessControlEntry(a) => {
                if !self.metadata.acls.contains(a) {
                    return Err(format!("ACL {a} does not exist"));
                }
                self.metadata.acls.retain(|x| x != a);
            }
            MetadataRecord::UserScramCredential(c) => {
                if c.user.is_empty() || c.iterations < 1 {
                    return Err(format!(
                        "credential of user '{}' needs a user name and at least 1 iteration (got {})",
                        c.user, c.iterations
                    ));
                }
                let creds = &mut self.metadata.scram_credentials;
                // Replace = remove + append, as AlterUserScramCredentials does today.
                creds.retain(|x| !(x.user == c.user && x.mechanism == c.mechanism));
                creds.push(c.clone());
            }
            MetadataRecord::RemoveUserScramCredential(r) => {
                let creds = &mut self.metadata.scram_credentials;
                let key = |x: &crate::auth::scram::ScramCredentialRecord| {
                    x.user == r.name && x.mechanism == r.mechanism
                };
                if !creds.iter().any(key) {
                    return Err(format!(
                        "user '{}' has no {} credential",
                        r.name,
                        r.mechanism.name()
                    ));
                }
                creds.retain(|x| !key(x));
            }
            MetadataRecord::RegisterBroker(r) => {
                check_broker(r)?;
                // A broker registers when it starts: it is alive, whatever it was before.
                self.fenced.remove(&r.broker_id);
                self.shutting_down.remove(&r.broker_id);
                self.brokers.insert(r.broker_id, r.clone());
            }
            MetadataRecord::BrokerRegistrationChange(r) => {
                if !self.brokers.contains_key(&r.broker_id) {
                    return Err(format!("broker {} is not registered", r.broker_id));
                }
                match r.in_controlled_shutdown {
                    Some(true) => {
                        self.shutting_down.insert(r.broker_id);
                    }
                    Some(false) => {
                        self.shutting_down.remove(&r.broker_id);
                    }
                    None if r.fenced => {
                        self.fenced.insert(r.broker_id);
                    }
                    None => {
                        self.fenced.remove(&r.broker_id);
                    }
                }
            }
            MetadataRecord::ClusterLink(r) => {
                let link = &r.link;
                if link.name.is_empty() || link.link_id.is_empty() {
                    return Err("a cluster link needs a name and a link id".into());
                }
                let links = &mut self.metadata.links;
                if let Some(old) = links.iter().find(|l| l.name == link.name) {
                    if old.link_id != link.link_id {
                        return Err(format!(
                            "cluster link '{}' has link id {}, not {} (remove it first to recreate it)",
                            link.name, old.link_id, link.link_id
                        ));
                    }
                }
                // Replace = remove + append, as `TopicManager::put_link` does today.
                links.retain(|l| l.name != link.name);
                links.push(link.clone());
            }
            MetadataRecord::RemoveClusterLink(r) => {
                let links = &mut self.metadata.links;
                if !links.iter().any(|l| l.name == r.name) {
                    return Err(format!("cluster link '{}' does not exist", r.name));
                }
                links.retain(|l| l.name != r.name);
            }
            MetadataRecord::MirrorState(r) => self.set_mirror(r)?,
            MetadataRecord::Migration(r) => self.migrate(r)?,
        }
        Ok(())
    }

    fn add_partition(&mut self, r: &PartitionRecord) -> Result<(), Refusal> {
        let i = self.topic_index(&r.topic_id)?;
        let node_id = self.metadata.node_id;
        let topic = &self.metadata.topics[i];
        let next = topic.partitions.len();
        if usize::try_from(r.partition_id).ok() != Some(next) {
            return Err(format!(
                "partition {} of topic '{}' is not its next partition ({next})",
                r.partition_id, topic.name
            ));
        }
        if r.leader_epoch < 0 || r.partition_epoch < 0 {
            return Err(format!(
                "leader epoch {} / partition epoch {} is negative",
                r.leader_epoch, r.partition_epoch
            ));
        }
        let partition = metadata::PartitionRecord {
            leader_epoch: r.leader_epoch,
            replicas: r.replicas.clone(),
            isr: r.isr.clone(),
            leader: r.leader,
            partition_epoch: r.partition_epoch,
            adding_replicas: r.adding_replicas.clone(),
            removing_replicas: r.removing_replicas.clone(),
        };
        let partition = if partition.is_legacy() {
            // Written by a single node before placement existed: that node hosted it.
            partition.or_local(node_id)
        } else {
            // Which brokers may host it is the proposer's check (Kafka's controller places
            // only on registered brokers: `TopicManager` and `ClusterView`), not replay's:
            // a legacy partition resolved to an unregistered single node must stay valid.
            check_registration(&format!("{}-{}", topic.name, r.partition_id), &partition)?;
            partition
        };
        self.metadata.topics[i].partitions.push(partition);
        Ok(())
    }

    fn change_partition(&mut self, r: &PartitionChangeRecord) -> Result<(), Refusal> {
        let i = self.topic_index(&r.topic_id)?;
        let topic = &mut self.metadata.topics[i];
        let name = topic.name.clone();
        let partition = usize::try_from(r.partition_id)
            .ok()
            .and_then(|p| topic.partitions.get_mut(p))
            .ok_or_else(|| format!("partition {name}-{} does not exist", r.partition_id))?;
        if r.leader_epoch < partition.leader_epoch {
            return Err(format!(
                "would lower the leader epoch of {name}-{} from {} to {}",
                r.partition_id, partition.leader_epoch, r.leader_epoch
            ));
        }
        // Strictly greater: two changes computed from the same registration carry the same
        // next epoch, and only the first may commit (the second is refused, not merged).
        if let Some(e) = r
            .partition_epoch
            .filter(|&e| e <= partition.partition_epoch)
        {
            return Err(format!(
                "partition epoch {e} of {name}-{} is not above its current partition epoch {} (a change computed from an older registration)",
                r.partition_id, partition.partition_epoch
            ));
        }
        let mut next = partition.clone();
        next.leader_epoch = r.leader_epoch;
        if let Some(replicas) = &r.replicas {
            next.replicas = replicas.clone();
        }
        if let Some(isr) = &r.isr {
            next.isr = isr.clone();
        }
        if let Some(leader) = r.leader {
            next.leader = leader;
        }
        if let Some(e) = r.partition_epoch {
            next.partition_epoch = e;
        }
        if let Some(adding) = &r.adding_replicas {
            next.adding_replicas = adding.clone();
        }
        if let Some(removing) = &r.removing_replicas {
            next.removing_replicas = removing.clone();
        }
        if next.leader != partition.leader && next.leader_epoch <= partition.leader_epoch {
            // Followers and clients fence on the leader epoch: a new leader in the old
            // epoch would be indistinguishable from the old one.
            return Err(format!(
                "changes the leader of {name}-{} from {} to {} without raising its leader epoch {}",
                r.partition_id, partition.leader, next.leader, partition.leader_epoch
            ));
        }
        // KIP-841: a fenced broker may stay in an ISR (the last member is never removed)
        // but never joins one, nor takes the leadership: the leader's AlterPartition may
        // have been computed before the fencing committed.
        if let Some(joining) = next.isr.iter().find(|b| {
            !partition.isr.contains(b)
                && (self.fenced.contains(b) || self.shutting_down.contains(b))
        }) {
            return Err(format!(
                "fenced or shutting-down broker {joining} cannot join the ISR of {name}-{} (INELIGIBLE_REPLICA)",
                r.partition_id
            ));
        }
        if next.leader != partition.leader
            && (self.fenced.contains(&next.leader) || self.shutting_down.contains(&next.leader))
        {
            return Err(format!(
                "fenced or shutting-down broker {} cannot lead {name}-{}",
                next.leader, r.partition_id
            ));
        }
        let unclean = r.isr.is_none()
            && next.leader != partition.leader
            && next.leader != crate::replication::NO_LEADER
            && next.replicas.contains(&next.leader)
            && !next.isr.contains(&next.leader);
        if unclean {
            // An unclean election names a leader outside the ISR without a new ISR: the
            // ISR becomes the leader alone (Kafka's rule; the others must catch up from it).
            next.isr = vec![next.leader];
        }
        check_registration(&format!("{name}-{}", r.partition_id), &next)?;
        *partition = next;
        Ok(())
    }

    fn set_config(&mut self, r: &ConfigRecord) -> Result<(), Refusal> {
        if r.name.is_empty() {
            return Err("a config record needs a key name".into());
        }
        let map = match r.resource_type {
            ConfigResourceType::Topic => {
                let topic = self
                    .metadata
                    .topics
                    .iter_mut()
                    .find(|t| t.name == r.resource_name)
                    .ok_or_else(|| format!("unknown topic '{}'", r.resource_name))?;
                &mut topic.configs
            }
            ConfigResourceType::Broker if r.resource_name.is_empty() => {
                &mut self.metadata.dynamic_default_broker_configs
            }
            ConfigResourceType::Broker => {
                let id = broker_id(&r.resource_name)?;
                let configs = self.broker_configs.entry(id).or_default();
                match &r.value {
                    Some(v) => configs.insert(r.name.clone(), v.clone()),
                    None => configs.remove(&r.name),
                };
                if configs.is_empty() {
                    self.broker_configs.remove(&id);
                }
                if id == self.metadata.node_id {
                    self.metadata.dynamic_broker_configs = self.own_broker_configs();
                }
                return Ok(());
            }
        };
        match &r.value {
            Some(v) => map.insert(r.name.clone(), v.clone()),
            None => map.remove(&r.name),
        };
        Ok(())
    }

    fn own_broker_configs(&self) -> BTreeMap<String, String> {
        self.broker_configs
            .get(&self.metadata.node_id)
            .cloned()
            .unwrap_or_default()
    }

    fn set_mirror(&mut self, r: &MirrorStateRecord) -> Result<(), Refusal> {
        let i = self.topic_index(&r.topic_id)?;
        let topic = &mut self.metadata.topics[i];
        let m = &r.mirror;
        if m.link_name.is_empty() || m.source_topic.is_empty() {
            return Err("a mirror needs a link name and a source topic".into());
        }
        if !MIRROR_STATES.contains(&m.state.as_str()) {
            return Err(format!(
                "unknown mirror state '{}' (one of {})",
                m.state,
                MIRROR_STATES.join(", ")
            ));
        }
        let count = topic.partitions.len();
        for (what, len) in [
            ("final_offsets", m.final_offsets.as_ref().map(Vec::len)),
            (
                "aborted_transactions",
                m.aborted_transactions.as_ref().map(Vec::len),
            ),
        ] {
            // Fewer is fine: a topic grown after its cutover has partitions the cutover
            // did not record.
            if let Some(len) = len.filter(|l| *l > count) {
                return Err(format!(
                    "{what} has {len} entries but topic '{}' has only {count} partitions",
                    topic.name
                ));
            }
        }
        if let Some(plan) = &m.restore_plan {
            let mut seen = Vec::new();
            for e in plan {
                let ok = usize::try_from(e.partition).is_ok_and(|p| p < count);
                if !ok || seen.contains(&e.partition) {
                    return Err(format!(
                        "restore plan names partition {} of topic '{}' ({count} partitions) out of range or twice",
                        e.partition, topic.name
                    ));
                }
                seen.push(e.partition);
            }
        }
        topic.mirror = Some(m.clone());
        Ok(())
    }

    fn migrate(&mut self, r: &MigrationRecord) -> Result<(), Refusal> {
        let m = &self.metadata;
        if r.cluster_id != m.cluster_id || r.node_id != m.node_id {
            return Err(format!(
                "the image to migrate is cluster '{}' node {}, this log is cluster '{}' node {}",
                r.cluster_id, r.node_id, m.cluster_id, m.node_id
            ));
        }
        if self.migrated {
            return Err("the log was already migrated from strait-metadata.json".into());
        }
        if !self.is_empty() {
            return Err(
                "a migration must be the log's first change, but the image is not empty".into(),
            );
        }
        self.migrated = true;
        Ok(())
    }
}

fn refusal(at: usize, record: &MetadataRecord, message: Refusal) -> ApplyError {
    ApplyError(format!("record {at} ({}): {message}", record.type_name()))
}

fn check_topic_name(name: &str) -> Result<(), Refusal> {
    let legal = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 249 || !legal || name == "." || name == ".." {
        return Err(format!(
            "topic name '{name}' is not 1-249 characters of [a-zA-Z0-9._-] (nor '.' or '..')"
        ));
    }
    Ok(())
}

/// The broker id a broker ConfigRecord names: a non-negative integer written the way
/// Kafka writes it (`"1"`, not `"01"` or `"+1"`), so one broker has one resource name.
fn broker_id(name: &str) -> Result<i32, Refusal> {
    match name.parse::<i32>() {
        Ok(id) if id >= 0 && id.to_string() == name => Ok(id),
        _ => Err(format!(
            "broker '{name}' is neither a broker id (a non-negative integer) nor the cluster default (\"\")"
        )),
    }
}

fn check_broker(r: &RegisterBrokerRecord) -> Result<(), Refusal> {
    if r.broker_id < 0 {
        return Err(format!("broker id {} is negative", r.broker_id));
    }
    if r.endpoints.is_empty() {
        return Err(format!("broker {} registers no listener", r.broker_id));
    }
    for (i, e) in r.endpoints.iter().enumerate() {
        if e.name.is_empty() || e.host.is_empty() || e.port == 0 {
            return Err(format!(
                "broker {} listener {i} needs a name, a host and a port",
                r.broker_id
            ));
        }
        if r.endpoints[..i].iter().any(|o| o.name == e.name) {
            return Err(format!(
                "broker {} registers listener {} twice",
                r.broker_id, e.name
            ));
        }
    }
    Ok(())
}

impl Image for MetadataLogImage {
    fn apply(&mut self, index: u64, record: &[u8]) -> Result<Vec<u8>, ApplyError> {
        let records =
            decode(record).map_err(|e| ApplyError(format!("entry at index {index}: {e}")))?;
        self.apply_records(&records)?;
        Ok(Vec::new())
    }

    fn snapshot(&self) -> Vec<u8> {
        let snapshot = Snapshot {
            snapshot_version: SNAPSHOT_VERSION,
            metadata: self.metadata.clone(),
            brokers: self.brokers.values().cloned().collect(),
            fenced: self.fenced.iter().copied().collect(),
            shutting_down: self.shutting_down.iter().copied().collect(),
            broker_configs: self.broker_configs.clone(),
            migrated: self.migrated,
        };
        // Plain data with string-keyed maps cannot fail to serialise; were it ever to, the
        // empty snapshot is refused loudly by `restore` rather than read as an empty image.
        serde_json::to_vec(&snapshot).unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not serialise the metadata image snapshot");
            Vec::new()
        })
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), ApplyError> {
        let s: Snapshot = serde_json::from_slice(snapshot)
            .map_err(|e| ApplyError(format!("metadata snapshot is not readable: {e}")))?;
        if s.snapshot_version != SNAPSHOT_VERSION {
            return Err(ApplyError(format!(
                "metadata snapshot version {} is not {SNAPSHOT_VERSION}, the one this broker reads",
                s.snapshot_version
            )));
        }
        if s.metadata.format_version != FORMAT_VERSION {
            return Err(ApplyError(format!(
                "metadata snapshot image format_version {} is not {FORMAT_VERSION}",
                s.metadata.format_version
            )));
        }
        if s.metadata.cluster_id != self.metadata.cluster_id {
            return Err(ApplyError(format!(
                "metadata snapshot belongs to cluster '{}', this node to '{}'",
                s.metadata.cluster_id, self.metadata.cluster_id
            )));
        }
        let brokers = s.brokers.into_iter().map(|b| (b.broker_id, b)).collect();
        // The node id stays this node's: a snapshot installed from another voter carries
        // the cluster's metadata, not the receiver's identity.
        let node_id = self.metadata.node_id;
        let mut broker_configs = s.broker_configs;
        if broker_configs.is_empty() && !s.metadata.dynamic_broker_configs.is_empty() {
            // A snapshot from before per-broker configs: they are its writer's.
            broker_configs.insert(
                s.metadata.node_id,
                s.metadata.dynamic_broker_configs.clone(),
            );
        }
        broker_configs.retain(|_, c| !c.is_empty());
        self.metadata = s.metadata;
        self.metadata.node_id = node_id;
        self.broker_configs = broker_configs;
        self.metadata.dynamic_broker_configs = self.own_broker_configs();
        self.brokers = brokers;
        self.fenced = s.fenced.into_iter().collect();
        self.shutting_down = s.shutting_down.into_iter().collect();
        self.migrated = s.migrated;
        Ok(())
    }
}

/// The registration invariants every partition keeps: replicas non-empty and distinct,
/// `isr ⊆ replicas` (distinct), `leader` is a member of the ISR or [`NO_LEADER`](crate::replication::NO_LEADER).
fn check_registration(what: &str, p: &metadata::PartitionRecord) -> Result<(), Refusal> {
    if p.replicas.is_empty() {
        return Err(format!("{what} has no replicas"));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = p.replicas.iter().find(|r| !seen.insert(**r)) {
        return Err(format!("{what} names replica {dup} more than once"));
    }
    let mut in_isr = std::collections::BTreeSet::new();
    for r in &p.isr {
        if !p.replicas.contains(r) {
            return Err(format!(
                "{what} has ISR member {r}, which is not one of its replicas {:?}",
                p.replicas
            ));
        }
        if !in_isr.insert(*r) {
            return Err(format!("{what} names ISR member {r} more than once"));
        }
    }
    if p.leader != crate::replication::NO_LEADER && !p.isr.contains(&p.leader) {
        return Err(format!(
            "{what} has leader {}, which is not in its ISR {:?}",
            p.leader, p.isr
        ));
    }
    // KIP-455: a reassignment's adding and removing replicas are members of the union
    // `replicas` and never the same broker (a broker is either joining or leaving).
    for (list, kind) in [
        (&p.adding_replicas, "adding"),
        (&p.removing_replicas, "removing"),
    ] {
        if let Some(r) = list.iter().find(|r| !p.replicas.contains(r)) {
            return Err(format!(
                "{what} has {kind} replica {r}, which is not one of its replicas {:?}",
                p.replicas
            ));
        }
    }
    if let Some(r) = p
        .adding_replicas
        .iter()
        .find(|r| p.removing_replicas.contains(r))
    {
        return Err(format!(
            "{what} names replica {r} as both adding and removing"
        ));
    }
    Ok(())
}
