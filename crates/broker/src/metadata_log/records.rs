//! The metadata log's records: one small typed record per kind of metadata change, Kafka's
//! KRaft record names where one fits, and their versioned encoding.
//!
//! Encoding: a log entry is a JSON array of envelopes `{"type": NAME, "version": N,
//! "data": {...}}`, applied atomically (all or nothing) by the image. Each record type has
//! its own version ([`MetadataRecord::version`]); a reader refuses a version newer than it
//! knows, so a format change is a version bump, never a silent reinterpretation. JSON (as
//! the existing `strait-metadata.json`) keeps entries readable with `strings` and lets a new
//! optional field arrive with `#[serde(default)]` inside the same version.
//!
//! Invariant: encoding is deterministic (the envelope's fields in order, the payload's keys
//! sorted, as serde_json's `Value` map keeps them), so the same record always gives the same
//! bytes — the golden test (`golden_records.txt`) pins them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::acl::AclRecord;
use crate::auth::scram::{ScramCredentialRecord, ScramMechanism};
use crate::metadata::{LinkRecord, MirrorRecord};

/// Kafka's `TopicRecord`: a topic's name and id; partitions follow as [`PartitionRecord`]s
/// in the same entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub topic_id: String,
}

/// Kafka's `PartitionRecord`: a new partition (the next index of its topic) and its
/// registration.
///
/// Entries written before placement existed carry no `replicas`; they decode with empty
/// lists (the legacy form) and the image reads them as "on the node this image belongs to",
/// which is what a single-node log always meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub topic_id: String,
    pub partition_id: i32,
    pub leader_epoch: i32,
    #[serde(default)]
    pub replicas: Vec<i32>,
    #[serde(default)]
    pub isr: Vec<i32>,
    #[serde(default = "no_leader")]
    pub leader: i32,
    #[serde(default)]
    pub partition_epoch: i32,
    /// KIP-455: replicas a reassignment is adding (a subset of `replicas`). Absent (and not
    /// encoded) when empty, so entries written before reassignments keep their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding_replicas: Vec<i32>,
    /// KIP-455: replicas a reassignment is removing (a subset of `replicas`, disjoint from
    /// `adding_replicas`). Absent when empty, as `adding_replicas`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing_replicas: Vec<i32>,
}

fn no_leader() -> i32 {
    crate::replication::NO_LEADER
}

/// Kafka's `PartitionChangeRecord`: a partition's registration moves. Like Kafka's, the
/// fields other than the leader epoch are optional ("unchanged" when absent, and then not
/// encoded, so entries written before they existed keep their bytes); epochs never move
/// backwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChangeRecord {
    pub topic_id: String,
    pub partition_id: i32,
    pub leader_epoch: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isr: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_epoch: Option<i32>,
    /// KIP-455: the replicas being added (`Some(vec![])` clears them); unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adding_replicas: Option<Vec<i32>>,
    /// KIP-455: the replicas being removed (`Some(vec![])` clears them); unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removing_replicas: Option<Vec<i32>>,
}

/// Kafka's `ConfigResource.Type` values a `ConfigRecord` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfigResourceType {
    Topic,
    Broker,
}

/// Kafka's `ConfigRecord`: one key of a topic's overrides or of a broker's dynamic configs
/// (`resource_name` = the node id, or `""` for the cluster-wide default); `value: None`
/// deletes the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub resource_type: ConfigResourceType,
    pub resource_name: String,
    pub name: String,
    pub value: Option<String>,
}

/// Kafka's `RemoveTopicRecord`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveTopicRecord {
    pub topic_id: String,
}

/// Kafka's `ProducerIdsRecord`: producer ids below `next_producer_id` may have been handed
/// out (by `broker_id`); it only ever grows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdsRecord {
    pub broker_id: i32,
    pub next_producer_id: i64,
}

/// One listener of a registered broker (Kafka's `BrokerEndpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: String,
}

/// Kafka's `RegisterBrokerRecord`: a broker the cluster knows (re-registering replaces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBrokerRecord {
    pub broker_id: i32,
    pub endpoints: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
}

/// Kafka's `BrokerRegistrationChangeRecord`: the active controller fences a registered
/// broker it has not heard from for `broker.session.timeout.ms`, and unfences it when it is
/// back; a fenced broker is listed nowhere and leads nothing. A broker that stops cleanly
/// writes `in_controlled_shutdown: Some(true)` (KIP-841): it then leads nothing and joins no
/// ISR until it registers again, and such a record leaves fencing as it was (`fenced` is
/// not read). Absent (older entries, fencing records): unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistrationChangeRecord {
    pub broker_id: i32,
    pub fenced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_controlled_shutdown: Option<bool>,
}

/// Strait's: a cluster link created or reconfigured (same name and link id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterLinkRecord {
    pub link: LinkRecord,
}

/// Strait's: a cluster link deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveClusterLinkRecord {
    pub name: String,
}

/// Strait's: the whole mirror state of a topic (state, reason, and the cutover's final
/// offsets and aborted-transaction counts, or a truncate-and-restore plan). Setting it on a
/// normal topic makes the topic a mirror (failback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorStateRecord {
    pub topic_id: String,
    pub mirror: MirrorRecord,
}

/// Strait's: the first entry of a log migrated from `strait-metadata.json`, naming the
/// cluster and node the file belonged to. Accepted once, on an empty image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRecord {
    pub cluster_id: String,
    pub node_id: i32,
}

/// Kafka's `UserScramCredentialRecord` / `RemoveUserScramCredentialRecord` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveUserScramCredentialRecord {
    pub name: String,
    pub mechanism: ScramMechanism,
}

/// Every change the metadata log carries.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataRecord {
    Topic(TopicRecord),
    Partition(PartitionRecord),
    PartitionChange(PartitionChangeRecord),
    Config(ConfigRecord),
    RemoveTopic(RemoveTopicRecord),
    ProducerIds(ProducerIdsRecord),
    /// Kafka's `AccessControlEntryRecord` (the binding itself; Kafka adds a uuid).
    AccessControlEntry(AclRecord),
    /// Kafka's `RemoveAccessControlEntryRecord`.
    RemoveAccessControlEntry(AclRecord),
    /// Kafka's `UserScramCredentialRecord`: adds or replaces (user, mechanism).
    UserScramCredential(ScramCredentialRecord),
    RemoveUserScramCredential(RemoveUserScramCredentialRecord),
    RegisterBroker(RegisterBrokerRecord),
    BrokerRegistrationChange(BrokerRegistrationChangeRecord),
    ClusterLink(ClusterLinkRecord),
    RemoveClusterLink(RemoveClusterLinkRecord),
    MirrorState(MirrorStateRecord),
    Migration(MigrationRecord),
}

/// Why an entry's bytes are not a record sequence this broker can apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable metadata log entry: {0}")]
pub struct DecodeError(pub String);

#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    version: u16,
    data: serde_json::Value,
}

macro_rules! records {
    ($($variant:ident => $name:literal, $version:literal;)*) => {
        impl MetadataRecord {
            /// The record's Kafka (or Strait) type name, as written in the envelope.
            pub fn type_name(&self) -> &'static str {
                match self { $(MetadataRecord::$variant(_) => $name),* }
            }

            /// The version this broker writes (and the newest it reads) of this record type.
            pub fn version(&self) -> u16 {
                match self { $(MetadataRecord::$variant(_) => $version),* }
            }

            fn to_envelope(&self) -> Result<Envelope, serde_json::Error> {
                let data = match self { $(MetadataRecord::$variant(r) => serde_json::to_value(r)?),* };
                Ok(Envelope { kind: self.type_name().to_string(), version: self.version(), data })
            }

            fn from_envelope(e: Envelope, at: usize) -> Result<Self, DecodeError> {
                let bad = |m: String| DecodeError(format!("record {at} ({}): {m}", e.kind));
                match e.kind.as_str() {
                    $($name => {
                        if e.version > $version {
                            return Err(bad(format!(
                                "version {} is newer than this broker reads (up to {})",
                                e.version, $version
                            )));
                        }
                        serde_json::from_value(e.data.clone())
                            .map(MetadataRecord::$variant)
                            .map_err(|err| bad(err.to_string()))
                    })*
                    other => Err(DecodeError(format!("record {at}: unknown record type '{other}'"))),
                }
            }
        }

        /// Every record type name, in the order of [`MetadataRecord`]'s variants.
        pub const RECORD_TYPES: &[&str] = &[$($name),*];
    };
}

records! {
    Topic => "TopicRecord", 0;
    Partition => "PartitionRecord", 0;
    PartitionChange => "PartitionChangeRecord", 0;
    Config => "ConfigRecord", 0;
    RemoveTopic => "RemoveTopicRecord", 0;
    ProducerIds => "ProducerIdsRecord", 0;
    AccessControlEntry => "AccessControlEntryRecord", 0;
    RemoveAccessControlEntry => "RemoveAccessControlEntryRecord", 0;
    UserScramCredential => "UserScramCredentialRecord", 0;
    RemoveUserScramCredential => "RemoveUserScramCredentialRecord", 0;
    RegisterBroker => "RegisterBrokerRecord", 0;
    BrokerRegistrationChange => "BrokerRegistrationChangeRecord", 0;
    ClusterLink => "ClusterLinkRecord", 0;
    RemoveClusterLink => "RemoveClusterLinkRecord", 0;
    MirrorState => "MirrorStateRecord", 0;
    Migration => "MigrationRecord", 0;
}

/// Encodes one log entry: `records`, applied atomically.
pub fn encode(records: &[MetadataRecord]) -> Result<Vec<u8>, serde_json::Error> {
    let envelopes = records
        .iter()
        .map(MetadataRecord::to_envelope)
        .collect::<Result<Vec<_>, _>>()?;
    serde_json::to_vec(&envelopes)
}

/// Decodes one log entry.
pub fn decode(bytes: &[u8]) -> Result<Vec<MetadataRecord>, DecodeError> {
    let envelopes: Vec<Envelope> =
        serde_json::from_slice(bytes).map_err(|e| DecodeError(e.to_string()))?;
    envelopes
        .into_iter()
        .enumerate()
        .map(|(at, e)| MetadataRecord::from_envelope(e, at))
        .collect()
}

/// The [`ConfigRecord`]s that turn `old` into `new` for one resource (deletes, then sets,
/// each in key order): how a replace-all change (AlterConfigs, `set_topic_configs`,
/// `set_dynamic_broker_configs`) becomes Kafka's per-key records.
pub fn config_changes(
    resource_type: ConfigResourceType,
    resource_name: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let record = |name: &str, value: Option<&String>| {
        MetadataRecord::Config(ConfigRecord {
            resource_type,
            resource_name: resource_name.to_string(),
            name: name.to_string(),
            value: value.cloned(),
        })
    };
    let deletes = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| record(k, None));
    let sets = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| record(k, Some(v)));
    deletes.chain(sets).collect()
}

/// The records that turn the stored ACLs and SCRAM credentials `old_*` into `new_*`, as
/// `TopicManager::update_security`'s closure leaves them (removals, then additions; a
/// changed credential is one UserScramCredentialRecord, which replaces).
pub fn security_changes(
    old_acls: &[AclRecord],
    new_acls: &[AclRecord],
    old_creds: &[ScramCredentialRecord],
    new_creds: &[ScramCredentialRecord],
) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for a in old_acls.iter().filter(|a| !new_acls.contains(a)) {
        out.push(MetadataRecord::RemoveAccessControlEntry(a.clone()));
    }
    for a in new_acls.iter().filter(|a| !old_acls.contains(a)) {
        out.push(MetadataRecord::AccessControlEntry(a.clone()));
    }
    let same_key = |a: &ScramCredentialRecord, b: &ScramCredentialRecord| {
        a.user == b.user && a.mechanism == b.mechanism
    };
    for c in old_creds
        .iter()
        .filter(|c| !new_creds.iter().any(|n| same_key(c, n)))
    {
        out.push(MetadataRecord::RemoveUserScramCredential(
            RemoveUserScramCredentialRecord {
                name: c.user.clone(),
                mechanism: c.mechanism,
            },
        ));
    }
    for c in new_creds.iter().filter(|c| !old_creds.contains(c)) {
        out.push(MetadataRecord::UserScramCredential(c.clone()));
    }
    out
}

#[cfg(test)]
mod reassignment_fields_tests {
    use super::*;

    /// Entries written before KIP-455 state existed decode with empty / absent lists and
    /// re-encode to the same bytes (the new fields are skipped when empty / absent).
    #[test]
    fn old_partition_records_decode_and_keep_their_bytes() {
        let old = br#"[{"type":"PartitionRecord","version":0,"data":{"isr":[1],"leader":1,"leader_epoch":0,"partition_epoch":0,"partition_id":0,"replicas":[1],"topic_id":"11111111-2222-4333-8444-555555555555"}},{"type":"PartitionChangeRecord","version":0,"data":{"isr":[1,2],"leader_epoch":3,"partition_epoch":4,"partition_id":0,"topic_id":"11111111-2222-4333-8444-555555555555"}}]"#;
        let records = decode(old).unwrap();
        let MetadataRecord::Partition(p) = &records[0] else {
            panic!("{records:?}")
        };
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
        let MetadataRecord::PartitionChange(c) = &records[1] else {
            panic!("{records:?}")
        };
        assert_eq!((&c.adding_replicas, &c.removing_replicas), (&None, &None));
        assert_eq!(encode(&records).unwrap(), old.to_vec());
    }

    #[test]
    fn reassignment_lists_round_trip() {
        let change = MetadataRecord::PartitionChange(PartitionChangeRecord {
            topic_id: "t".into(),
            partition_id: 0,
            leader_epoch: 1,
            replicas: Some(vec![2, 3, 1]),
            isr: None,
            leader: None,
            partition_epoch: Some(2),
            adding_replicas: Some(vec![2, 3]),
            removing_replicas: Some(vec![]),
        });
        let bytes = encode(std::slice::from_ref(&change)).unwrap();
        assert_eq!(decode(&bytes).unwrap(), vec![change]);
    }
}
