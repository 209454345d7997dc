//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, answered from the
//! partition's leader-epoch cache after checking the caller's current leader epoch
//! (FENCED_LEADER_EPOCH if it is behind, UNKNOWN_LEADER_EPOCH if ahead).
//!
//! A follower's request (replica id ≥ 0, v3+; its truncation after a leader change) is
//! answered the same way from the leader's epoch cache. Authorization is Kafka's: with
//! CLUSTER_ACTION on the CLUSTER (what brokers have) every topic is answered, otherwise
//! each needs DESCRIBE (TOPIC_AUTHORIZATION_FAILED), whatever the replica id.
//!
//! The lookups run on the partitions' lanes of the log manager, all of the request in one
//! hand-off: an async worker never waits for a log lock a stuck write may hold.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::log_manager::{PoolClosed, RequestBatch};

/// A partition's answer: (epoch, end offset) or its error.
type EndOffset = Result<(i32, i64), ApiError>;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut batch = RequestBatch::default();
    let cluster_action = crate::auth::allow_cluster(broker, ctx, AclOperation::ClusterAction);
    for t in &req.topics {
        let topic = broker.topics.get(&t.topic.0);
        let auth = if cluster_action {
            Ok(())
        } else {
            crate::auth::check_topic(broker, ctx, AclOperation::Describe, &t.topic.0)
        };
        for p in &t.partitions {
            let prepared = auth.clone().and_then(|()| {
                let partition = topic
                    .as_ref()
                    .and_then(|t| t.partition(p.partition))
                    .ok_or_else(|| ApiError::code(ErrorCode::UnknownTopicOrPartition))?;
                partition.ensure_leader(broker.node_id())?;
                partition.check_leader_epoch(p.current_leader_epoch)?;
                Ok((partition.lane().clone(), (partition, p.leader_epoch)))
            });
            batch.push(prepared.map_err(Err));
        }
    }
    let mut answers = batch
        .run(
            broker.topics.io(),
            |(partition, epoch)| -> EndOffset {
                partition.with_log(|log| log.end_offset_for_epoch(epoch))
            },
            || Err(PoolClosed.to_api_error()),
        )
        .await
        .into_iter();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    match answers
                        .next()
                        .unwrap_or_else(|| Err(PoolClosed.to_api_error()))
                    {
                        Ok((epoch, end_offset)) => {
                            r.leader_epoch = epoch;
                            r.end_offset = end_offset;
                        }
                        Err(e) => r.error_code = e.error_code(),
                    }
                    r
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
