//! DescribeQuorum (key 55), v0-2: the metadata quorum's leader, epoch, high watermark and
//! voters, built from a [`QuorumDescription`] of this node's voter
//! ([`crate::topics::TopicManager::quorum_description`]).
//!
//! A node whose quorum has stopped (shutdown) has no description: it answers as a Kafka
//! broker whose forward to an unreachable controller times out, top-level
//! REQUEST_TIMED_OUT. v2's `nodes` carry each voter's controller listeners; a one-voter
//! quorum without `controller.quorum.voters` has no controller listener, so its node is
//! listed with none.
//!
//! With a description, Kafka's rules: DESCRIBE on the CLUSTER; the request must name
//! exactly `__cluster_metadata` partition 0 (else UNKNOWN_TOPIC_OR_PARTITION on what it
//! named); a voter that is not the leader answers NOT_LEADER_OR_FOLLOWER (in Kafka only the
//! active controller answers, since brokers forward to it).

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use strait_protocol::ErrorCode;
use strait_quorum::QuorumDescription;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

/// Kafka's metadata log: the one topic partition DescribeQuorum describes.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// One voter's endpoints, for v2's `nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterEndpoints {
    pub node_id: i32,
    /// (listener name, host, port)
    pub listeners: Vec<(String, String, u16)>,
}

/// Describes this node's voter of the metadata quorum.
pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let authorized = crate::auth::allow_cluster(broker, ctx, AclOperation::Describe);
    let description = broker.topics.quorum_description();
    respond(
        ctx.api_version,
        authorized,
        &req,
        description.as_ref(),
        &[],
        crate::topics::now_ms(),
    )
}

/// The response for `quorum` (`None`: this broker cannot reach the quorum).
pub fn respond(
    version: i16,
    authorized: bool,
    req: &DescribeQuorumRequest,
    quorum: Option<&QuorumDescription>,
    endpoints: &[VoterEndpoints],
    now_ms: i64,
) -> DescribeQuorumResponse {
    let Some(q) = quorum else {
        return top_level(
            version,
            &ApiError::new(
                ErrorCode::RequestTimedOut,
                "The request timed out: the metadata quorum is not reachable from this broker.",
            ),
        );
    };
    if !authorized {
        return top_level(version, &crate::auth::cluster_denied());
    }
    let names_metadata_partition = req.topics.len() == 1
        && req.topics[0].topic_name.0.as_str() == METADATA_TOPIC
        && req.topics[0].partitions.len() == 1
        && req.topics[0].partitions[0].partition_index == 0;
    if !names_metadata_partition {
        let topics = req
            .topics
            .iter()
            .map(|t| {
                TopicData::default()
                    .with_topic_name(t.topic_name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                partition_error(
                                    version,
                                    p.partition_index,
                                    ErrorCode::UnknownTopicOrPartition,
                                    "This server does not host this topic-partition.",
                                )
                            })
                            .collect(),
                    )
            })
            .collect();
        return DescribeQuorumResponse::default().with_topics(topics);
    }
    let partition = if q.is_leader {
        leader_partition(q, now_ms)
    } else {
        partition_error(
            version,
            0,
            ErrorCode::NotLeaderOrFollower,
            "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.",
        )
    };
    let mut resp = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(str_bytes(METADATA_TOPIC)))
        .with_partitions(vec![partition])]);
    if version >= 2 && q.is_leader {
        resp.nodes = q
            .voters
            .iter()
            .map(|v| {
                let id = node_id(v.node_id);
                let listeners = endpoints
                    .iter()
                    .find(|e| e.node_id == id)
                    .map(|e| {
                        e.listeners
                            .iter()
                            .map(|(name, host, port)| {
                                Listener::default()
                                    .with_name(str_bytes(name.clone()))
                                    .with_host(str_bytes(host.clone()))
                                    .with_port(*port)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Node::default()
                    .with_node_id(BrokerId(id))
                    .with_listeners(listeners)
            })
            .collect();
    }
    resp
}

/// Raft node ids are u64; Kafka's are int32. An id beyond int32 cannot be configured
/// (`node.id` is an int), so -1 ("unknown") only guards the conversion.
fn node_id(id: u64) -> i32 {
    i32::try_from(id).unwrap_or(-1)
}

fn leader_partition(q: &QuorumDescription, now_ms: i64) -> PartitionData {
    let leader = node_id(q.node_id);
    let voters = q
        .voters
        .iter()
        .map(|v| {
            let id = node_id(v.node_id);
            // Kafka reports the leader's own timestamps as now, and -1 when unknown.
            let ts = if id == leader { now_ms } else { -1 };
            ReplicaState::default()
                .with_replica_id(BrokerId(id))
                .with_log_end_offset(
                    v.log_end_offset
                        .and_then(|o| i64::try_from(o).ok())
                        .unwrap_or(-1),
                )
                .with_last_fetch_timestamp(ts)
                .with_last_caught_up_timestamp(ts)
        })
        .collect();
    PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(leader))
        .with_leader_epoch(i32::try_from(q.leader_epoch).unwrap_or(i32::MAX))
        .with_high_watermark(i64::try_from(q.high_watermark).unwrap_or(i64::MAX))
        .with_current_voters(voters)
}

fn partition_error(version: i16, index: i32, code: ErrorCode, message: &str) -> PartitionData {
    let p = PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code.code());
    if version >= 2 {
        p.with_error_message(Some(str_bytes(message)))
    } else {
        p
    }
}

fn top_level(version: i16, e: &ApiError) -> DescribeQuorumResponse {
    let r = DescribeQuorumResponse::default().with_error_code(e.error_code());
    if version >= 2 {
        r.with_error_message(e.message.clone().map(str_bytes))
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_quorum_request::{
        PartitionData as ReqPartition, TopicData as ReqTopic,
    };
    use kafka_protocol::protocol::Encodable;
    use strait_quorum::VoterState;

    use super::*;

    fn request(topic: &str, partition: i32) -> DescribeQuorumRequest {
        DescribeQuorumRequest::default().with_topics(vec![ReqTopic::default()
            .with_topic_name(TopicName(str_bytes(topic)))
            .with_partitions(vec![ReqPartition::default().with_partition_index(partition)])])
    }

    fn description(is_leader: bool) -> QuorumDescription {
        QuorumDescription {
            node_id: 1,
            leader_id: Some(1),
            leader_epoch: 4,
            high_watermark: 17,
            is_leader,
            last_applied: Some(16),
            snapshot_index: None,
            purged_index: None,
            millis_since_quorum_ack: Some(0),
            voters: vec![
                VoterState {
                    node_id: 1,
                    log_end_offset: Some(17),
                },
                VoterState {
                    node_id: 2,
                    log_end_offset: None,
                },
            ],
            refused_connections: 0,
            last_refusal: None,
        }
    }

    fn encodes(r: &DescribeQuorumResponse, v: i16) {
        let mut buf = bytes::BytesMut::new();
        r.encode(&mut buf, v).unwrap();
    }

    #[test]
    fn unreachable_quorum_is_a_top_level_timeout_in_every_version() {
        for v in 0..=2 {
            let r = respond(v, true, &request(METADATA_TOPIC, 0), None, &[], 0);
            assert_eq!(r.error_code, ErrorCode::RequestTimedOut.code());
            assert!(r.topics.is_empty());
            let message = r.error_message.as_ref().map(|m| m.to_string());
            assert_eq!(message.is_some_and(|m| m.contains("not reachable")), v >= 2);
            encodes(&r, v);
        }
    }

    #[test]
    fn leader_describes_voters_epoch_and_high_watermark() {
        let q = description(true);
        let ends = [VoterEndpoints {
            node_id: 2,
            listeners: vec![("CONTROLLER".into(), "h2".into(), 9093)],
        }];
        let r = respond(2, true, &request(METADATA_TOPIC, 0), Some(&q), &ends, 1234);
        assert_eq!(r.error_code, 0);
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (
                p.error_code,
                p.leader_id.0,
                p.leader_epoch,
                p.high_watermark
            ),
            (0, 1, 4, 17)
        );
        let voters: Vec<_> = p
            .current_voters
            .iter()
            .map(|v| (v.replica_id.0, v.log_end_offset, v.last_fetch_timestamp))
            .collect();
        assert_eq!(voters, vec![(1, 17, 1234), (2, -1, -1)]);
        assert_eq!(r.nodes.len(), 2);
        assert_eq!(r.nodes[1].listeners[0].port, 9093);
        assert!(r.nodes[0].listeners.is_empty());
        encodes(&r, 2);
        let r0 = respond(0, true, &request(METADATA_TOPIC, 0), Some(&q), &ends, 1234);
        assert!(r0.nodes.is_empty());
        encodes(&r0, 0);
    }

    #[test]
    fn refusals_follow_kafkas_order() {
        let q = description(true);
        let denied = respond(2, false, &request(METADATA_TOPIC, 0), Some(&q), &[], 0);
        assert_eq!(
            denied.error_code,
            ErrorCode::ClusterAuthorizationFailed.code()
        );
        let wrong = respond(1, true, &request("orders", 3), Some(&q), &[], 0);
        assert_eq!(wrong.error_code, 0);
        assert_eq!(wrong.topics[0].partitions[0].partition_index, 3);
        assert_eq!(
            wrong.topics[0].partitions[0].error_code,
            ErrorCode::UnknownTopicOrPartition.code()
        );
        encodes(&wrong, 1);
        let follower = respond(
            2,
            true,
            &request(METADATA_TOPIC, 0),
            Some(&description(false)),
            &[],
            0,
        );
        assert_eq!(
            follower.topics[0].partitions[0].error_code,
            ErrorCode::NotLeaderOrFollower.code()
        );
        encodes(&follower, 2);
    }
}
