//! Raw fetch: one FetchRequest, records returned as the broker's bytes.
//!
//! By default it is sent as a *consumer* (replica id -1): the link's read path
//! (protocol-notes §5). A broker's replica fetcher sets [`FetchParams::replica_id`] to its
//! `node.id` (the `ReplicaId` field below v15, the tagged `ReplicaState` from v15 on) and
//! each partition's [`FetchPartitionSpec::log_start_offset`]. The client owns only the wire shape:
//! version v12 when the broker speaks it (so `last_fetched_epoch` and `diverging_epoch`
//! work) or the highest below; names, not topic ids (v13+ is not used); session id and
//! epoch passed through untouched; fields a version lacks left at their defaults. It does
//! **not** frame or decode the records: a partition's `records` may end with a partial
//! batch, which `strait_records::BatchIter` handles. Decoding from a `Bytes` buffer makes
//! `records` a zero-copy slice of the response frame.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::{check_code, code_of, ClientError};
use crate::{Client, Connection, ErrorCode};

/// Highest Fetch version used: v13 switches to topic ids.
pub const FETCH_MAX_VERSION: i16 = 12;

/// Kafka's `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything up to the high watermark, aborted data and markers included (the link).
    #[default]
    ReadUncommitted,
    ReadCommitted,
}

impl IsolationLevel {
    fn code(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// One partition to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartitionSpec {
    pub topic: String,
    pub partition: i32,
    pub fetch_offset: i64,
    /// The leader epoch from metadata, so a stale leader fences us (v9+); -1 = unknown.
    pub current_leader_epoch: i32,
    /// Epoch of the last batch we hold, for divergence detection (v12+); -1 = none.
    pub last_fetched_epoch: i32,
    /// The fetcher's own log start offset (v5+), sent by follower replicas only; -1 for
    /// consumers.
    pub log_start_offset: i64,
    pub partition_max_bytes: i32,
}

impl FetchPartitionSpec {
    pub fn new(topic: impl Into<String>, partition: i32, fetch_offset: i64) -> Self {
        FetchPartitionSpec {
            topic: topic.into(),
            partition,
            fetch_offset,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            partition_max_bytes: 1024 * 1024,
        }
    }
}

/// A whole fetch request. Defaults follow the link's needs: 500 ms long poll, 1 byte
/// minimum, 10 MiB response limit, read_uncommitted, sessionless (id 0, epoch -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchParams {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub isolation_level: IsolationLevel,
    /// KIP-227: 0 with epoch -1 for a sessionless fetch, 0 with epoch 0 to open a
    /// session, then the broker's id with increasing epochs.
    pub session_id: i32,
    pub session_epoch: i32,
    /// In request order: KIP-74 fills partitions in this order, so callers rotate it.
    pub partitions: Vec<FetchPartitionSpec>,
    /// Partitions to drop from an incremental session: `(topic, [partition])`.
    pub forgotten: Vec<(String, Vec<i32>)>,
    /// KIP-392 rack (v11+); empty for none.
    pub rack_id: String,
    /// -1 for a consumer (the default, the link); a follower replica's `node.id`
    /// otherwise. Sent as `ReplicaId` below v15 and as the `ReplicaState` tagged field
    /// (KIP-903) from v15 on.
    pub replica_id: i32,
    /// The follower's broker epoch for `ReplicaState` (v15+, KIP-903); -1 if unknown.
    pub replica_epoch: i64,
}

impl Default for FetchParams {
    fn default() -> Self {
        FetchParams {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 10 * 1024 * 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
            session_id: 0,
            session_epoch: -1,
            partitions: Vec::new(),
            forgotten: Vec::new(),
            rack_id: String::new(),
            replica_id: -1,
            replica_epoch: -1,
        }
    }
}

/// `(epoch, end_offset)` from FetchResponse `DivergingEpoch` (v12+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub epoch: i32,
    pub end_offset: i64,
}

/// `(producer_id, first_offset)` of an aborted transaction (read_committed only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// One partition of a fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    pub topic: String,
    pub partition: i32,
    pub error: Option<ErrorCode>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Set when the leader's log diverged from `last_fetched_epoch` (truncate first).
    pub diverging_epoch: Option<EpochEndOffset>,
    /// The leader the broker points to after NOT_LEADER / FENCED errors (v12+).
    pub current_leader: Option<(i32, i32)>,
    pub preferred_read_replica: Option<i32>,
    pub aborted_transactions: Vec<AbortedTransaction>,
    /// Raw concatenated record batches, possibly ending with a partial batch.
    pub records: Bytes,
}

/// A decoded fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResult {
    /// The version used (below 12 there is no diverging-epoch detection).
    pub version: i16,
    pub throttle_time_ms: i32,
    /// The session the broker assigned or kept (0 = none).
    pub session_id: i32,
    pub partitions: Vec<FetchedPartition>,
}

pub(crate) fn fetch_request(params: &FetchParams, version: i16) -> FetchRequest {
    // Group partitions by topic, keeping the caller's order of first appearance.
    let mut topics: Vec<FetchTopic> = Vec::new();
    for p in &params.partitions {
        let partition = FetchPartition::default()
            .with_partition(p.partition)
            .with_fetch_offset(p.fetch_offset)
            .with_partition_max_bytes(p.partition_max_bytes)
            .with_current_leader_epoch(if version >= 9 {
                p.current_leader_epoch
            } else {
                -1
            })
            .with_last_fetched_epoch(if version >= 12 {
                p.last_fetched_epoch
            } else {
                -1
            })
            .with_log_start_offset(if version >= 5 { p.log_start_offset } else { -1 });
        match topics.last_mut() {
            Some(t) if t.topic.0.as_str() == p.topic => t.partitions.push(partition),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(p.topic.clone())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let mut req = FetchRequest::default();
    if version <= 14 {
        req = req.with_replica_id(BrokerId(params.replica_id));
    } else if params.replica_id >= 0 {
        // KIP-903: v15 moved the replica id into a tagged struct (and `ReplicaId` must
        // then stay at its default, -1).
        req = req.with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(params.replica_id))
                .with_replica_epoch(params.replica_epoch),
        );
    }
    let mut req = req
        .with_max_wait_ms(params.max_wait_ms)
        .with_min_bytes(params.min_bytes)
        .with_max_bytes(params.max_bytes)
        .with_isolation_level(params.isolation_level.code())
        .with_topics(topics);
    if version >= 7 {
        req = req
            .with_session_id(params.session_id)
            .with_session_epoch(params.session_epoch)
            .with_forgotten_topics_data(
                params
                    .forgotten
                    .iter()
                    .map(|(topic, partitions)| {
                        ForgottenTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                            .with_partitions(partitions.clone())
                    })
                    .collect(),
            );
    }
    if version >= 11 {
        req = req.with_rack_id(StrBytes::from_string(params.rack_id.clone()));
    }
    req
}

impl Connection {
    /// Sends one FetchRequest to this broker. Per-partition errors are in the results; a
    /// top-level error (fetch session errors 70/71/106, ...) is `Err(Kafka)`.
    pub async fn fetch_raw(&self, params: &FetchParams) -> Result<FetchResult, ClientError> {
        // The broker may legitimately hold a long poll for max_wait_ms.
        let timeout = self.request_timeout()
            + Duration::from_millis(u64::try_from(params.max_wait_ms.max(0)).unwrap_or(0));
        let (version, response) = loop {
            let version = self.negotiate::<FetchRequest>(self.fetch_max_version())?;
            let req = fetch_request(params, version);
            match self.send_with_timeout(&req, version, timeout).await {
                Err(ClientError::Decode { message, .. }) if version >= 12 => {
                    // A broker whose flexible Fetch encoding is broken still answers the
                    // pre-flexible v11 correctly; use that from now on.
                    tracing::warn!(broker = %self.broker(), version, error = %message, "undecodable Fetch response; falling back to Fetch v11 for this broker");
                    self.lower_fetch_max_version(11);
                }
                other => break (version, other?),
            }
        };
        let broker = self.broker().to_string();
        check_code(response.error_code, None, || {
            format!(
                "fetch from {broker} (session {} epoch {})",
                params.session_id, params.session_epoch
            )
        })?;
        let mut partitions = Vec::new();
        for topic in response.responses {
            let name = topic.topic.0.to_string();
            for p in topic.partitions {
                partitions.push(FetchedPartition {
                    topic: name.clone(),
                    partition: p.partition_index,
                    error: code_of(p.error_code),
                    high_watermark: p.high_watermark,
                    last_stable_offset: p.last_stable_offset,
                    log_start_offset: p.log_start_offset,
                    diverging_epoch: (p.diverging_epoch.epoch >= 0).then_some(EpochEndOffset {
                        epoch: p.diverging_epoch.epoch,
                        end_offset: p.diverging_epoch.end_offset,
                    }),
                    current_leader: (p.current_leader.leader_id.0 >= 0)
                        .then_some((p.current_leader.leader_id.0, p.current_leader.leader_epoch)),
                    preferred_read_replica: (p.preferred_read_replica.0 >= 0)
                        .then_some(p.preferred_read_replica.0),
                    aborted_transactions: p
                        .aborted_transactions
                        .unwrap_or_default()
                        .into_iter()
                        .map(|a| AbortedTransaction {
                            producer_id: a.producer_id.0,
                            first_offset: a.first_offset,
                        })
                        .collect(),
                    records: p.records.unwrap_or_default(),
                });
            }
        }
        Ok(FetchResult {
            version,
            throttle_time_ms: response.throttle_time_ms,
            session_id: response.session_id,
            partitions,
        })
    }
}

impl Client {
    /// [`Connection::fetch_raw`] on broker `broker_id` (the caller chose the leader).
    pub async fn fetch_raw(
        &self,
        broker_id: i32,
        params: &FetchParams,
    ) -> Result<FetchResult, ClientError> {
        self.broker(broker_id).await?.fetch_raw(params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn requests_encode_at_every_version_with_link_fields() {
        let mut params = FetchParams {
            session_id: 0,
            session_epoch: 0,
            rack_id: "az1".into(),
            forgotten: vec![("old".into(), vec![3])],
            ..FetchParams::default()
        };
        let mut a0 = FetchPartitionSpec::new("a", 0, 42);
        a0.current_leader_epoch = 5;
        a0.last_fetched_epoch = 4;
        params.partitions = vec![
            a0,
            FetchPartitionSpec::new("b", 1, 0),
            FetchPartitionSpec::new("a", 2, 7),
        ];
        for v in 4..=FETCH_MAX_VERSION {
            let req = fetch_request(&params, v);
            let mut buf = bytes::BytesMut::new();
            req.encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("v{v}: {e}"));
        }
        let req = fetch_request(&params, 12);
        assert_eq!(req.replica_id, BrokerId(-1));
        assert_eq!(req.isolation_level, 0);
        // Order preserved: a, b, a (not merged across, KIP-74 order matters).
        let names: Vec<&str> = req.topics.iter().map(|t| t.topic.0.as_str()).collect();
        assert_eq!(names, ["a", "b", "a"]);
        assert_eq!(req.topics[0].partitions[0].current_leader_epoch, 5);
        assert_eq!(req.topics[0].partitions[0].last_fetched_epoch, 4);
        assert_eq!(req.topics[0].partitions[0].log_start_offset, -1);
        assert_eq!(req.session_epoch, 0);
    }

    #[test]
    fn replica_fetches_carry_the_replica_id_by_version() {
        let mut spec = FetchPartitionSpec::new("a", 0, 42);
        spec.log_start_offset = 7;
        let params = FetchParams {
            replica_id: 3,
            replica_epoch: 11,
            partitions: vec![spec],
            ..FetchParams::default()
        };
        for v in 4..=FETCH_MAX_VERSION {
            let req = fetch_request(&params, v);
            assert_eq!(req.replica_id, BrokerId(3), "v{v}");
            let mut buf = bytes::BytesMut::new();
            req.encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("v{v}: {e}"));
        }
        let req = fetch_request(&params, 12);
        assert_eq!(req.topics[0].partitions[0].log_start_offset, 7);
        assert_eq!(req.replica_state, ReplicaState::default());
        assert_eq!(
            fetch_request(&params, 4).topics[0].partitions[0].log_start_offset,
            -1
        );
        // v15+: the tagged ReplicaState, ReplicaId left at -1 (the encoder refuses it
        // otherwise). No partitions: v13+ names topics by id.
        let v15 = FetchParams {
            partitions: Vec::new(),
            ..params.clone()
        };
        let req = fetch_request(&v15, 15);
        assert_eq!(req.replica_id, BrokerId(-1));
        assert_eq!(req.replica_state.replica_id, BrokerId(3));
        assert_eq!(req.replica_state.replica_epoch, 11);
        let mut buf = bytes::BytesMut::new();
        req.encode(&mut buf, 15)
            .unwrap_or_else(|e| panic!("v15: {e}"));
        // A consumer (the default) sends -1 and no ReplicaState at every version.
        let consumer = FetchParams::default();
        assert_eq!(fetch_request(&consumer, 12).replica_id, BrokerId(-1));
        assert_eq!(
            fetch_request(&consumer, 15).replica_state,
            ReplicaState::default()
        );
    }
}
