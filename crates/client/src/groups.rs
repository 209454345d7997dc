//! Consumer groups: FindCoordinator, ListGroups, DescribeGroups, OffsetFetch and
//! standalone OffsetCommit.
//!
//! The link's offset sync reads a group's committed offsets on the source (with their
//! leader epochs, since offsets are identical across the link) and commits them on the
//! destination as a *standalone* commit: generation -1, empty member id, the path Kafka
//! keeps for tools (`kafka-consumer-groups --reset-offsets`). Group calls go to the group's
//! coordinator; COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE while looking it
//! up are retried briefly, since a new group's coordinator is routinely not ready yet.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{check_code, code_of, ClientError};
use crate::{Client, Connection, ErrorCode};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// FindCoordinator key types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorType {
    Group,
    Transaction,
}

/// A coordinator as FindCoordinator reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// One group from ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    /// "consumer" for consumer groups, "" for groups that only commit offsets.
    pub protocol_type: String,
    /// ListGroups v4+; `None` before.
    pub state: Option<String>,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A described group (classic protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// "Empty", "Stable", "PreparingRebalance", "CompletingRebalance", "Dead".
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

impl GroupDescription {
    /// True when the group has live members (the link never overwrites such a group).
    pub fn is_active(&self) -> bool {
        !self.members.is_empty() || !matches!(self.state.as_str(), "Empty" | "Dead")
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 when the group has no commit for the partition.
    pub offset: i64,
    /// OffsetFetch v5+; `None` when unknown.
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
    pub error: Option<ErrorCode>,
}

/// An offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// OffsetCommit v6+; -1 = unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

impl Connection {
    /// FindCoordinator on this broker.
    pub async fn find_coordinator(
        &self,
        key: &str,
        key_type: CoordinatorType,
    ) -> Result<Coordinator, ClientError> {
        let version = self.negotiate::<FindCoordinatorRequest>(6)?;
        let type_code = match key_type {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        };
        if version == 0 && key_type != CoordinatorType::Group {
            return Err(ClientError::NoVersionMatch {
                broker: self.broker().to_string(),
                api_key: 10,
                api: "FindCoordinator (transaction keys)".into(),
                our_min: 1,
                our_max: 6,
                theirs: "0..=0".into(),
            });
        }
        let mut req = FindCoordinatorRequest::default();
        if version >= 1 {
            req = req.with_key_type(type_code);
        }
        req = if version >= 4 {
            req.with_coordinator_keys(vec![s(key)])
        } else {
            req.with_key(s(key))
        };
        let response = self.send(&req, version).await?;
        let context = || format!("find coordinator for '{key}'");
        if version >= 4 {
            let c = response
                .coordinators
                .into_iter()
                .find(|c| c.key.as_str() == key)
                .ok_or_else(|| ClientError::Protocol {
                    broker: self.broker().to_string(),
                    message: format!("FindCoordinator response does not mention '{key}'"),
                })?;
            check_code(c.error_code, c.error_message.as_ref(), context)?;
            Ok(Coordinator {
                node_id: c.node_id.0,
                host: c.host.to_string(),
                port: c.port,
            })
        } else {
            check_code(
                response.error_code,
                response.error_message.as_ref(),
                context,
            )?;
            Ok(Coordinator {
                node_id: response.node_id.0,
                host: response.host.to_string(),
                port: response.port,
            })
        }
    }

    /// ListGroups on this broker (only the groups it coordinates).
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>, ClientError> {
        let version = self.negotiate::<ListGroupsRequest>(4)?;
        let response = self.send(&ListGroupsRequest::default(), version).await?;
        let broker = self.broker().to_string();
        check_code(response.error_code, None, || {
            format!("list groups on {broker}")
        })?;
        Ok(response
            .groups
            .into_iter()
            .map(|g| ListedGroup {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: (version >= 4).then(|| g.group_state.to_string()),
            })
            .collect())
    }

    /// DescribeGroups on this broker (which must coordinate the groups).
    pub async fn describe_groups(
        &self,
        groups: &[&str],
    ) -> Result<Vec<(String, Result<GroupDescription, ClientError>)>, ClientError> {
        let version = self.negotiate::<DescribeGroupsRequest>(5)?;
        let req = DescribeGroupsRequest::default()
            .with_groups(groups.iter().map(|g| GroupId(s(g))).collect());
        let response = self.send(&req, version).await?;
        Ok(response
            .groups
            .into_iter()
            .map(|g| {
                let id = g.group_id.0.to_string();
                let result = check_code(g.error_code, g.error_message.as_ref(), || {
                    format!("describe group '{id}'")
                })
                .map(|()| GroupDescription {
                    group_id: id.clone(),
                    state: g.group_state.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    protocol: g.protocol_data.to_string(),
                    members: g
                        .members
                        .into_iter()
                        .map(|m| GroupMember {
                            member_id: m.member_id.to_string(),
                            group_instance_id: m.group_instance_id.map(|i| i.to_string()),
                            client_id: m.client_id.to_string(),
                            client_host: m.client_host.to_string(),
                            metadata: m.member_metadata,
                            assignment: m.member_assignment,
                        })
                        .collect(),
                });
                (id, result)
            })
            .collect())
    }

    /// OffsetFetch for one group on this broker (its coordinator). `topics = None` asks
    /// for every partition the group has committed.
    pub async fn offset_fetch(
        &self,
        group: &str,
        topics: Option<&[(&str, Vec<i32>)]>,
    ) -> Result<Vec<CommittedOffset>, ClientError> {
        // v9 only adds KIP-848 member fields; v8 batches groups, which we do not need.
        let version = self.negotiate::<OffsetFetchRequest>(8)?;
        let context = || format!("fetch committed offsets of group '{group}'");
        let req = if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopics::default()
                                .with_name(TopicName(s(t)))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect()
                }))])
        } else {
            if version < 2 && topics.is_none() {
                return Err(ClientError::NoVersionMatch {
                    broker: self.broker().to_string(),
                    api_key: 9,
                    api: "OffsetFetch (all topics)".into(),
                    our_min: 2,
                    our_max: 8,
                    theirs: format!("..={version}"),
                });
            }
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopic::default()
                                .with_name(TopicName(s(t)))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect()
                }))
        };
        let response = self.send(&req, version).await?;
        let mut out = Vec::new();
        if version >= 8 {
            for g in response.groups {
                check_code(g.error_code, None, context)?;
                for t in g.topics {
                    for p in t.partitions {
                        out.push(CommittedOffset {
                            topic: t.name.0.to_string(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            leader_epoch: (p.committed_leader_epoch >= 0)
                                .then_some(p.committed_leader_epoch),
                            metadata: p.metadata.map(|m| m.to_string()),
                            error: code_of(p.error_code),
                        });
                    }
                }
            }
        } else {
            check_code(response.error_code, None, context)?;
            for t in response.topics {
                for p in t.partitions {
                    out.push(CommittedOffset {
                        topic: t.name.0.to_string(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: (p.committed_leader_epoch >= 0)
                            .then_some(p.committed_leader_epoch),
                        metadata: p.metadata.map(|m| m.to_string()),
                        error: code_of(p.error_code),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Standalone OffsetCommit (generation -1, no member) on this broker (the coordinator).
    pub async fn offset_commit(
        &self,
        group: &str,
        offsets: &[OffsetToCommit],
    ) -> Result<Vec<((String, i32), Result<(), ClientError>)>, ClientError> {
        // v9 re-purposes the generation as a KIP-848 member epoch; v8 is enough here.
        let version = self.negotiate::<OffsetCommitRequest>(8)?;
        let mut by_topic: BTreeMap<&str, Vec<&OffsetToCommit>> = BTreeMap::new();
        for o in offsets {
            by_topic.entry(o.topic.as_str()).or_default().push(o);
        }
        let mut req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::default())
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, os)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partitions(
                                os.into_iter()
                                    .map(|o| {
                                        OffsetCommitRequestPartition::default()
                                            .with_partition_index(o.partition)
                                            .with_committed_offset(o.offset)
                                            .with_committed_leader_epoch(if version >= 6 {
                                                o.leader_epoch
                                            } else {
                                                -1
                                            })
                                            .with_committed_metadata(o.metadata.as_deref().map(s))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        if version <= 4 {
            req = req.with_retention_time_ms(-1);
        }
        let response = self.send(&req, version).await?;
        let mut out = Vec::new();
        for t in response.topics {
            let topic = t.name.0.to_string();
            for p in t.partitions {
                let result = check_code(p.error_code, None, || {
                    format!(
                        "commit offset of group '{group}' for {topic}-{}",
                        p.partition_index
                    )
                });
                out.push(((topic.clone(), p.partition_index), result));
            }
        }
        Ok(out)
    }
}

impl Client {
    /// FindCoordinator on any broker, retrying while the coordinator is loading.
    pub async fn find_coordinator(
        &self,
        key: &str,
        key_type: CoordinatorType,
    ) -> Result<Coordinator, ClientError> {
        let mut attempt = 0u32;
        loop {
            match self
                .any_broker()
                .await?
                .find_coordinator(key, key_type)
                .await
            {
                Err(e)
                    if attempt < 5
                        && matches!(
                            e.kafka_code(),
                            Some(
                                ErrorCode::CoordinatorNotAvailable
                                    | ErrorCode::CoordinatorLoadInProgress
                            )
                        ) =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    /// The pooled connection to a group's coordinator.
    pub async fn group_coordinator(&self, group: &str) -> Result<Connection, ClientError> {
        let c = self.find_coordinator(group, CoordinatorType::Group).await?;
        self.broker_refreshing(c.node_id).await
    }

    /// ListGroups on every broker, merged. Fails if any broker fails: a partial listing
    /// would look like deleted groups to a sync.
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>, ClientError> {
        let metadata = self.refresh_metadata(&[]).await?;
        let mut out = Vec::new();
        for id in metadata.brokers.keys() {
            out.extend(self.broker(*id).await?.list_groups().await?);
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    /// DescribeGroups, each group on its coordinator.
    pub async fn describe_groups(
        &self,
        groups: &[&str],
    ) -> Result<Vec<(String, Result<GroupDescription, ClientError>)>, ClientError> {
        let mut out = Vec::new();
        for group in groups {
            match self.group_coordinator(group).await {
                Ok(conn) => out.extend(conn.describe_groups(&[group]).await?),
                Err(e @ ClientError::Kafka { .. }) => out.push((group.to_string(), Err(e))),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// OffsetFetch on the group's coordinator.
    pub async fn offset_fetch(
        &self,
        group: &str,
        topics: Option<&[(&str, Vec<i32>)]>,
    ) -> Result<Vec<CommittedOffset>, ClientError> {
        self.group_coordinator(group)
            .await?
            .offset_fetch(group, topics)
            .await
    }

    /// Standalone OffsetCommit on the group's coordinator.
    pub async fn offset_commit(
        &self,
        group: &str,
        offsets: &[OffsetToCommit],
    ) -> Result<Vec<((String, i32), Result<(), ClientError>)>, ClientError> {
        self.group_coordinator(group)
            .await?
            .offset_commit(group, offsets)
            .await
    }
}
