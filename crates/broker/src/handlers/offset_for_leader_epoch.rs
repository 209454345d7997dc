//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, answered from the
//! partition's leader-epoch cache after checking the caller's current leader epoch
//! (FENCED_LEADER_EPOCH if it is behind, UNKNOWN_LEADER_EPOCH if ahead).

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topics.get(&t.topic.0);
            let auth = crate::auth::check_topic(broker, ctx, AclOperation::Describe, &t.topic.0);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    if let Err(e) = &auth {
                        r.error_code = e.error_code();
                        return r;
                    }
                    let outcome = topic
                        .as_ref()
                        .and_then(|t| t.partition(p.partition))
                        .ok_or_else(|| ApiError::code(ErrorCode::UnknownTopicOrPartition))
                        .and_then(|partition| {
                            partition.check_leader_epoch(p.current_leader_epoch)?;
                            partition.with_log(|log| log.end_offset_for_epoch(p.leader_epoch))
                        });
                    match outcome {
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
