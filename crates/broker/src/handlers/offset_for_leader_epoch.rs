//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, answered from the
//! partition's leader-epoch cache after checking the caller's current leader epoch
//! (FENCED_LEADER_EPOCH if it is behind, UNKNOWN_LEADER_EPOCH if ahead).
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

/// A partition's answer: (epoch, end offset) or its error.
type EndOffset = Result<(i32, i64), ApiError>;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Checked here, the lookups queued together below; `Err(i)` is a job's index.
    let mut jobs = Vec::new();
    let mut checked: Vec<Vec<Result<EndOffset, usize>>> = Vec::new();
    for t in &req.topics {
        let topic = broker.topics.get(&t.topic.0);
        let auth = crate::auth::check_topic(broker, ctx, AclOperation::Describe, &t.topic.0);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let prepared = auth.clone().and_then(|()| {
                let partition = topic
                    .as_ref()
                    .and_then(|t| t.partition(p.partition))
                    .ok_or_else(|| ApiError::code(ErrorCode::UnknownTopicOrPartition))?;
                partition.check_leader_epoch(p.current_leader_epoch)?;
                Ok((partition.lane().clone(), (partition, p.leader_epoch)))
            });
            partitions.push(match prepared {
                Ok(job) => {
                    jobs.push(job);
                    Err(jobs.len() - 1)
                }
                Err(e) => Ok(Err(e)),
            });
        }
        checked.push(partitions);
    }
    let mut found: Vec<Option<EndOffset>> = broker
        .topics
        .io()
        .run_on_lanes_blocking(jobs, |(partition, epoch)| {
            partition.with_log(|log| log.end_offset_for_epoch(epoch))
        })
        .map(|r| r.into_iter().map(Some).collect())
        .unwrap_or_default();
    let topics = req
        .topics
        .into_iter()
        .zip(checked)
        .map(|(t, checked)| {
            let partitions =
                t.partitions
                    .into_iter()
                    .zip(checked)
                    .map(|(p, outcome)| {
                        let mut r = EpochEndOffset::default()
                            .with_partition(p.partition)
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                        let outcome = outcome.unwrap_or_else(|i| {
                            found.get_mut(i).and_then(Option::take).unwrap_or_else(|| {
                                Err(crate::log_manager::PoolClosed.to_api_error())
                            })
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
