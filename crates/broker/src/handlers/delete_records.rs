//! DeleteRecords (key 21): move a partition's log start offset forward. Offset -1 means the
//! high watermark; an offset above the high watermark is OFFSET_OUT_OF_RANGE.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topics.get(&t.name.0);
            let auth = crate::auth::check_topic(broker, ctx, AclOperation::Delete, &t.name.0);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    if let Err(e) = &auth {
                        r.error_code = e.error_code();
                        return r;
                    }
                    let outcome = topic
                        .as_ref()
                        .and_then(|t| t.partition(p.partition_index))
                        .ok_or_else(|| ApiError::code(ErrorCode::UnknownTopicOrPartition))
                        .and_then(|partition| {
                            if let Some(reason) = topic.as_ref().and_then(|t| t.read_only_reason())
                            {
                                return Err(ApiError::new(
                                    ErrorCode::InvalidRequest,
                                    format!("{reason}; its log start follows the source"),
                                ));
                            }
                            partition.with_log_mut(|log| {
                                let hw = log.high_watermark();
                                let target = if p.offset == -1 { hw } else { p.offset };
                                if target < 0 || target > hw {
                                    return Err(ApiError::new(
                                        ErrorCode::OffsetOutOfRange,
                                        format!("offset {target} is above the high watermark {hw}"),
                                    ));
                                }
                                log.delete_records_before(target).map_err(|e| {
                                    ApiError::new(ErrorCode::KafkaStorageError, e.to_string())
                                })
                            })?
                        });
                    match outcome {
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
