//! DeleteRecords (key 21): move a partition's log start offset forward. Offset -1 means the
//! high watermark; an offset above the high watermark is OFFSET_OUT_OF_RANGE.
//!
//! The moves (which delete segment files) run on the partitions' lanes of the log manager,
//! all of the request in one hand-off, in order with the partitions' appends.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::log_manager::{PoolClosed, RequestBatch};

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut batch = RequestBatch::default();
    for t in &req.topics {
        let topic = broker.topics.get(&t.name.0);
        let auth = crate::auth::check_topic(broker, ctx, AclOperation::Delete, &t.name.0);
        for p in &t.partitions {
            let prepared = auth.clone().and_then(|()| {
                let partition = topic
                    .as_ref()
                    .and_then(|t| t.partition(p.partition_index))
                    .ok_or_else(|| ApiError::code(ErrorCode::UnknownTopicOrPartition))?;
                partition.ensure_leader(broker.node_id())?;
                if let Some(reason) = topic.as_ref().and_then(|t| t.read_only_reason()) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("{reason}; its log start follows the source"),
                    ));
                }
                Ok((partition.lane().clone(), (partition, p.offset)))
            });
            batch.push(prepared.map_err(Err));
        }
    }
    let mut answers = batch
        .run(
            broker.topics.io(),
            |(partition, offset)| delete_before(&partition, offset),
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
                    let mut r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    match answers
                        .next()
                        .unwrap_or_else(|| Err(PoolClosed.to_api_error()))
                    {
                        Ok(low_watermark) => r.low_watermark = low_watermark,
                        Err(e) => r.error_code = e.error_code(),
                    }
                    r
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

/// Moves the log start of `partition` to `offset` (-1: the high watermark); the new low
/// watermark. Runs on an I/O thread.
fn delete_before(partition: &crate::topics::Partition, offset: i64) -> Result<i64, ApiError> {
    partition.with_log_mut(|log| {
        let hw = log.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(ApiError::new(
                ErrorCode::OffsetOutOfRange,
                format!("offset {target} is above the high watermark {hw}"),
            ));
        }
        log.delete_records_before(target)
            .map_err(|e| ApiError::new(ErrorCode::KafkaStorageError, e.to_string()))
    })?
}
