//! Cluster metadata as the client caches it: brokers, cluster id, controller, and for each
//! topic its id and partitions with leader id and leader epoch.
//!
//! Owns the Metadata request shape (v12 at most: v13 only adds a top-level error code, and
//! names are what we route on) and the translation of a response into [`ClusterMetadata`].
//! Invariant: sentinel values are made explicit — leader `-1` and controller `-1` become
//! `None`, the nil topic id becomes `None` — so callers cannot route to broker -1.

use std::collections::BTreeMap;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::error::{code_of, ClientError};
use crate::{Connection, ErrorCode};

/// Highest Metadata version this client sends.
pub const METADATA_MAX_VERSION: i16 = 12;

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`, bracketing IPv6 literals.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// e.g. LEADER_NOT_AVAILABLE while an election is running.
    pub error: Option<ErrorCode>,
    pub leader_id: Option<i32>,
    /// `-1` when the broker is older than Metadata v7 or does not know it.
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    /// Metadata v10+; `None` for older brokers.
    pub topic_id: Option<Uuid>,
    pub is_internal: bool,
    /// e.g. UNKNOWN_TOPIC_OR_PARTITION, TOPIC_AUTHORIZATION_FAILED.
    pub error: Option<ErrorCode>,
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// A snapshot of what the client knows about the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl ClusterMetadata {
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.topics.get(topic)?.partitions.get(&partition)
    }

    /// `(leader_id, leader_epoch)` when the partition has a known leader.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        let p = self.partition(topic, partition)?;
        Some((p.leader_id?, p.leader_epoch))
    }

    pub fn broker(&self, id: i32) -> Option<&BrokerInfo> {
        self.brokers.get(&id)
    }

    /// Replaces brokers, cluster id and controller with `fresh`'s, and the entries of the
    /// topics `fresh` describes (a partial refresh keeps the other topics).
    pub fn merge(&mut self, fresh: ClusterMetadata) {
        self.cluster_id = fresh.cluster_id;
        self.controller_id = fresh.controller_id;
        self.brokers = fresh.brokers;
        for (name, topic) in fresh.topics {
            self.topics.insert(name, topic);
        }
    }
}

/// Which topics a Metadata request asks about.
#[derive(Debug, Clone, Copy)]
pub enum MetadataTopics<'a> {
    /// Brokers, cluster id and controller only (v0 cannot express this: it returns all).
    None,
    All,
    Some(&'a [&'a str]),
}

pub(crate) fn metadata_request(topics: MetadataTopics<'_>, version: i16) -> MetadataRequest {
    let named = |names: &[&str]| {
        names
            .iter()
            .map(|n| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
            })
            .collect::<Vec<_>>()
    };
    let topics = match (topics, version) {
        // v0 has no null array: the empty list means "all topics".
        (MetadataTopics::All | MetadataTopics::None, 0) => Some(vec![]),
        (MetadataTopics::All, _) => None,
        (MetadataTopics::None, _) => Some(vec![]),
        (MetadataTopics::Some(names), _) => Some(named(names)),
    };
    // The link reads a source cluster: it must never create topics there by asking.
    // Before v4 the field does not exist and must stay at its default (true).
    MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(version < 4)
}

pub(crate) fn from_response(response: MetadataResponse) -> ClusterMetadata {
    let brokers = response
        .brokers
        .into_iter()
        .map(|b| {
            (
                b.node_id.0,
                BrokerInfo {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.map(|r| r.to_string()),
                },
            )
        })
        .collect();
    let topics = response
        .topics
        .into_iter()
        .filter_map(|t| {
            let name = t.name?.0.to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    (
                        p.partition_index,
                        PartitionMetadata {
                            partition: p.partition_index,
                            error: code_of(p.error_code),
                            leader_id: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                            leader_epoch: p.leader_epoch,
                            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                            offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                        },
                    )
                })
                .collect();
            Some((
                name.clone(),
                TopicMetadata {
                    name,
                    topic_id: (!t.topic_id.is_nil()).then_some(t.topic_id),
                    is_internal: t.is_internal,
                    error: code_of(t.error_code),
                    partitions,
                },
            ))
        })
        .collect();
    ClusterMetadata {
        cluster_id: response.cluster_id.map(|c| c.to_string()),
        controller_id: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
        brokers,
        topics,
    }
}

impl Connection {
    /// Sends one Metadata request to this broker.
    pub async fn metadata(
        &self,
        topics: MetadataTopics<'_>,
    ) -> Result<ClusterMetadata, ClientError> {
        let version = self.negotiate::<MetadataRequest>(METADATA_MAX_VERSION)?;
        let response = self
            .send(&metadata_request(topics, version), version)
            .await?;
        Ok(from_response(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn requests_encode_at_every_version() {
        for v in 0..=METADATA_MAX_VERSION {
            for topics in [
                MetadataTopics::None,
                MetadataTopics::All,
                MetadataTopics::Some(&["a", "b"]),
            ] {
                let req = metadata_request(topics, v);
                let mut buf = bytes::BytesMut::new();
                req.encode(&mut buf, v)
                    .unwrap_or_else(|e| panic!("v{v} {topics:?}: {e}"));
            }
        }
    }

    #[test]
    fn sentinels_become_options() {
        let response = MetadataResponse::default()
            .with_controller_id(BrokerId(-1))
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(2))
                .with_host(StrBytes::from_static_str("::1"))
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                .with_partitions(vec![
                    MetadataResponsePartition::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(2))
                        .with_leader_epoch(7),
                    MetadataResponsePartition::default()
                        .with_partition_index(1)
                        .with_error_code(5)
                        .with_leader_id(BrokerId(-1)),
                ])]);
        let m = from_response(response);
        assert_eq!(m.controller_id, None);
        assert_eq!(m.brokers[&2].address(), "[::1]:9092");
        assert_eq!(m.leader("t", 0), Some((2, 7)));
        assert_eq!(m.leader("t", 1), None);
        assert_eq!(
            m.partition("t", 1).unwrap().error,
            Some(ErrorCode::LeaderNotAvailable)
        );
        assert_eq!(m.topic("t").unwrap().topic_id, None);
    }
}
