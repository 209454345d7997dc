//! Offset lookups on a partition leader: ListOffsets (earliest / latest / by timestamp)
//! and OffsetForLeaderEpoch (the end offset of an epoch, for truncation decisions).
//!
//! Both are sent as a consumer (replica id -1) to the broker the caller names, unless the
//! caller is a broker's replica fetcher, which uses the `*_as_replica` forms with its
//! `node.id`; per-partition errors (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, ...) are
//! returned in the results so the caller can re-route only the partitions that need it.

use std::collections::BTreeMap;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, ListOffsetsRequest, OffsetForLeaderEpochRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{code_of, ClientError};
use crate::fetch::IsolationLevel;
use crate::{Client, Connection, ErrorCode};

/// Highest ListOffsets version used (v10 adds a timeout; later versions only add specs).
pub const LIST_OFFSETS_MAX_VERSION: i16 = 10;
/// Highest OffsetForLeaderEpoch version used.
pub const OFFSET_FOR_LEADER_EPOCH_MAX_VERSION: i16 = 4;

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (timestamp -2).
    Earliest,
    /// The log end offset / high watermark (timestamp -1).
    Latest,
    /// The first offset whose timestamp is at least this (milliseconds since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    pub fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// One ListOffsets lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetQuery {
    pub topic: String,
    pub partition: i32,
    pub spec: OffsetSpec,
    /// KIP-320 fencing (v4+); -1 = unknown.
    pub current_leader_epoch: i32,
}

impl<T: Into<String>> From<(T, i32, OffsetSpec)> for OffsetQuery {
    fn from((topic, partition, spec): (T, i32, OffsetSpec)) -> Self {
        OffsetQuery {
            topic: topic.into(),
            partition,
            spec,
            current_leader_epoch: -1,
        }
    }
}

/// One ListOffsets answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOffset {
    pub topic: String,
    pub partition: i32,
    pub error: Option<ErrorCode>,
    /// -1 when no record matches a timestamp query.
    pub offset: i64,
    pub timestamp: i64,
    /// Epoch of the batch at `offset` (v4+); `None` when unknown.
    pub leader_epoch: Option<i32>,
}

/// One OffsetForLeaderEpoch lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochQuery {
    pub topic: String,
    pub partition: i32,
    /// The epoch whose end offset is wanted.
    pub leader_epoch: i32,
    /// Fencing: the leader epoch we believe current; -1 = unknown.
    pub current_leader_epoch: i32,
}

/// One OffsetForLeaderEpoch answer: the largest epoch ≤ the asked one, and its end offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochEndOffsetResult {
    pub topic: String,
    pub partition: i32,
    pub error: Option<ErrorCode>,
    pub leader_epoch: i32,
    pub end_offset: i64,
}

fn group_by_topic<T>(
    items: impl IntoIterator<Item = T>,
    topic: impl Fn(&T) -> &str,
) -> BTreeMap<String, Vec<T>> {
    let mut out: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for item in items {
        out.entry(topic(&item).to_string()).or_default().push(item);
    }
    out
}

/// The consumer's replica id in ListOffsets, Fetch and OffsetForLeaderEpoch.
pub const CONSUMER_REPLICA_ID: i32 = -1;

pub(crate) fn list_offsets_request_as(
    replica_id: i32,
    queries: &[OffsetQuery],
    isolation: IsolationLevel,
    version: i16,
    timeout_ms: i32,
) -> ListOffsetsRequest {
    let topics = group_by_topic(queries.iter(), |q| q.topic.as_str())
        .into_iter()
        .map(|(name, qs)| {
            ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(
                    qs.into_iter()
                        .map(|q| {
                            ListOffsetsPartition::default()
                                .with_partition_index(q.partition)
                                .with_timestamp(q.spec.timestamp())
                                .with_current_leader_epoch(if version >= 4 {
                                    q.current_leader_epoch
                                } else {
                                    -1
                                })
                        })
                        .collect(),
                )
        })
        .collect();
    let mut req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_topics(topics);
    if version >= 2 {
        req = req.with_isolation_level(match isolation {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        });
    }
    if version >= 10 {
        req = req.with_timeout_ms(timeout_ms);
    }
    req
}

pub(crate) fn offset_for_leader_epoch_request(
    replica_id: i32,
    queries: &[EpochQuery],
    version: i16,
) -> OffsetForLeaderEpochRequest {
    let topics = group_by_topic(queries.iter(), |q| q.topic.as_str())
        .into_iter()
        .map(|(name, qs)| {
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_string(name)))
                .with_partitions(
                    qs.into_iter()
                        .map(|q| {
                            OffsetForLeaderPartition::default()
                                .with_partition(q.partition)
                                .with_leader_epoch(q.leader_epoch)
                                .with_current_leader_epoch(q.current_leader_epoch)
                        })
                        .collect(),
                )
        })
        .collect();
    let mut req = OffsetForLeaderEpochRequest::default().with_topics(topics);
    if version >= 3 {
        req = req.with_replica_id(BrokerId(replica_id));
    }
    req
}

impl Connection {
    /// ListOffsets on this broker (which should lead the partitions), read_uncommitted.
    pub async fn list_offsets(
        &self,
        queries: impl IntoIterator<Item = impl Into<OffsetQuery>>,
    ) -> Result<Vec<ListedOffset>, ClientError> {
        self.list_offsets_with(queries, IsolationLevel::ReadUncommitted)
            .await
    }

    /// ListOffsets with an explicit isolation level (read_committed gives the LSO).
    pub async fn list_offsets_with(
        &self,
        queries: impl IntoIterator<Item = impl Into<OffsetQuery>>,
        isolation: IsolationLevel,
    ) -> Result<Vec<ListedOffset>, ClientError> {
        let queries: Vec<OffsetQuery> = queries.into_iter().map(Into::into).collect();
        self.list_offsets_as(CONSUMER_REPLICA_ID, &queries, isolation)
            .await
    }

    /// ListOffsets as follower replica `replica_id` (a broker's `node.id`): the leader
    /// answers from its whole log, not bounded by the high watermark (Kafka's
    /// `ListOffsetsRequest.Builder.forReplica`).
    pub async fn list_offsets_as_replica(
        &self,
        replica_id: i32,
        queries: &[OffsetQuery],
    ) -> Result<Vec<ListedOffset>, ClientError> {
        self.list_offsets_as(replica_id, queries, IsolationLevel::ReadUncommitted)
            .await
    }

    async fn list_offsets_as(
        &self,
        replica_id: i32,
        queries: &[OffsetQuery],
        isolation: IsolationLevel,
    ) -> Result<Vec<ListedOffset>, ClientError> {
        let version = self.negotiate::<ListOffsetsRequest>(LIST_OFFSETS_MAX_VERSION)?;
        let timeout_ms = i32::try_from(self.request_timeout().as_millis()).unwrap_or(i32::MAX);
        let req = list_offsets_request_as(replica_id, queries, isolation, version, timeout_ms);
        let response = self.send(&req, version).await?;
        let mut out = Vec::new();
        for topic in response.topics {
            for p in topic.partitions {
                out.push(ListedOffset {
                    topic: topic.name.0.to_string(),
                    partition: p.partition_index,
                    error: code_of(p.error_code),
                    offset: p.offset,
                    timestamp: p.timestamp,
                    leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                });
            }
        }
        Ok(out)
    }

    /// OffsetForLeaderEpoch on this broker, as a consumer (replica id -1).
    pub async fn offset_for_leader_epoch(
        &self,
        queries: &[EpochQuery],
    ) -> Result<Vec<EpochEndOffsetResult>, ClientError> {
        self.offset_for_leader_epoch_as(CONSUMER_REPLICA_ID, queries)
            .await
    }

    /// OffsetForLeaderEpoch as follower replica `replica_id` (a broker's `node.id`), for
    /// its truncation after a leader change. Needs v3+ (the first with `ReplicaId`); an
    /// older broker is refused here rather than asked as a consumer.
    pub async fn offset_for_leader_epoch_as_replica(
        &self,
        replica_id: i32,
        queries: &[EpochQuery],
    ) -> Result<Vec<EpochEndOffsetResult>, ClientError> {
        self.offset_for_leader_epoch_as(replica_id, queries).await
    }

    async fn offset_for_leader_epoch_as(
        &self,
        replica_id: i32,
        queries: &[EpochQuery],
    ) -> Result<Vec<EpochEndOffsetResult>, ClientError> {
        let version =
            self.negotiate::<OffsetForLeaderEpochRequest>(OFFSET_FOR_LEADER_EPOCH_MAX_VERSION)?;
        if replica_id != CONSUMER_REPLICA_ID && version < 3 {
            return Err(ClientError::Encode {
                api: "OffsetForLeaderEpoch".into(),
                version,
                message: format!(
                    "replica id {replica_id} needs v3+ (the broker {} speaks at most v{version})",
                    self.broker()
                ),
            });
        }
        let req = offset_for_leader_epoch_request(replica_id, queries, version);
        let response = self.send(&req, version).await?;
        let mut out = Vec::new();
        for topic in response.topics {
            for p in topic.partitions {
                out.push(EpochEndOffsetResult {
                    topic: topic.topic.0.to_string(),
                    partition: p.partition,
                    error: code_of(p.error_code),
                    leader_epoch: p.leader_epoch,
                    end_offset: p.end_offset,
                });
            }
        }
        Ok(out)
    }
}

impl Client {
    /// [`Connection::list_offsets`] on broker `broker_id`.
    pub async fn list_offsets(
        &self,
        broker_id: i32,
        queries: impl IntoIterator<Item = impl Into<OffsetQuery>>,
    ) -> Result<Vec<ListedOffset>, ClientError> {
        self.broker(broker_id).await?.list_offsets(queries).await
    }

    /// ListOffsets routed to each partition's current leader, results merged.
    pub async fn list_offsets_by_leader(
        &self,
        queries: impl IntoIterator<Item = impl Into<OffsetQuery>>,
    ) -> Result<Vec<ListedOffset>, ClientError> {
        let queries: Vec<OffsetQuery> = queries.into_iter().map(Into::into).collect();
        let by_leader = self
            .group_by_leader(queries, |q| (q.topic.as_str(), q.partition))
            .await?;
        let mut out = Vec::new();
        for (leader, qs) in by_leader {
            out.extend(self.list_offsets(leader, qs).await?);
        }
        Ok(out)
    }

    /// [`Connection::offset_for_leader_epoch`] on broker `broker_id`.
    pub async fn offset_for_leader_epoch(
        &self,
        broker_id: i32,
        queries: &[EpochQuery],
    ) -> Result<Vec<EpochEndOffsetResult>, ClientError> {
        self.broker(broker_id)
            .await?
            .offset_for_leader_epoch(queries)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn list_offsets_encodes_at_every_version() {
        let queries: Vec<OffsetQuery> = vec![
            ("a", 0, OffsetSpec::Earliest).into(),
            ("a", 1, OffsetSpec::Latest).into(),
            ("b", 0, OffsetSpec::Timestamp(1_700_000_000_000)).into(),
        ];
        for v in 1..=LIST_OFFSETS_MAX_VERSION {
            let req = list_offsets_request_as(
                CONSUMER_REPLICA_ID,
                &queries,
                IsolationLevel::ReadUncommitted,
                v,
                1000,
            );
            let mut buf = bytes::BytesMut::new();
            req.encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("v{v}: {e}"));
        }
        let req = list_offsets_request_as(
            CONSUMER_REPLICA_ID,
            &queries,
            IsolationLevel::ReadCommitted,
            7,
            1000,
        );
        assert_eq!(req.topics.len(), 2);
        assert_eq!(req.topics[0].partitions[0].timestamp, -2);
        assert_eq!(req.topics[0].partitions[1].timestamp, -1);
        assert_eq!(req.isolation_level, 1);
        assert_eq!(req.replica_id, BrokerId(-1));
        let req = list_offsets_request_as(2, &queries, IsolationLevel::ReadUncommitted, 10, 1);
        assert_eq!(req.replica_id, BrokerId(2));
        let mut buf = bytes::BytesMut::new();
        req.encode(&mut buf, 10)
            .unwrap_or_else(|e| panic!("v10: {e}"));
    }

    #[test]
    fn offset_for_leader_epoch_sends_the_replica_id_from_v3() {
        let queries = [EpochQuery {
            topic: "a".into(),
            partition: 0,
            leader_epoch: 4,
            current_leader_epoch: 5,
        }];
        for v in 2..=OFFSET_FOR_LEADER_EPOCH_MAX_VERSION {
            let req = offset_for_leader_epoch_request(1, &queries, v);
            // Below v3 the field does not exist (KP's default, -2, is not sent).
            let expected = if v >= 3 { 1 } else { -2 };
            assert_eq!(req.replica_id, BrokerId(expected), "v{v}");
            let mut buf = bytes::BytesMut::new();
            req.encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("v{v}: {e}"));
        }
        let req = offset_for_leader_epoch_request(CONSUMER_REPLICA_ID, &queries, 4);
        assert_eq!(req.replica_id, BrokerId(-1));
        assert_eq!(req.topics[0].partitions[0].leader_epoch, 4);
        assert_eq!(req.topics[0].partitions[0].current_leader_epoch, 5);
    }
}
