//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3, v7+) and by
//! timestamp. Latest is the high watermark, or for read_committed (v2+) the last stable
//! offset: the first offset of the earliest open transaction (on a mirror: one whose marker
//! has not been copied yet), so a read_committed consumer resetting to latest never skips
//! past data that may still commit.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let v = ctx.api_version;
    let read_committed = v >= 2 && req.isolation_level == 1;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topics.get(t.name.0.as_str());
            let auth =
                crate::auth::check_topic(broker, ctx, AclOperation::Describe, t.name.0.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    if let Err(e) = &auth {
                        r.error_code = e.error_code();
                        return r;
                    }
                    let current_epoch = if v >= 4 { p.current_leader_epoch } else { -1 };
                    match lookup(
                        topic.as_deref(),
                        p.partition_index,
                        current_epoch,
                        p.timestamp,
                        read_committed,
                    ) {
                        Ok((timestamp, offset, epoch)) => {
                            r.timestamp = timestamp;
                            r.offset = offset;
                            if v >= 4 {
                                r.leader_epoch = epoch;
                            }
                        }
                        Err(e) => r.error_code = e.error_code(),
                    }
                    r
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    topic: Option<&crate::topics::Topic>,
    index: i32,
    current_leader_epoch: i32,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64, i32), ApiError> {
    let partition = topic
        .and_then(|t| t.partition(index))
        .ok_or_else(|| ApiError::code(ErrorCode::UnknownTopicOrPartition))?;
    partition.check_leader_epoch(current_leader_epoch)?;
    let leader_epoch = partition.leader_epoch();
    partition.with_log(|log| {
        let storage = |e: strait_storage::StorageError| {
            ApiError::new(ErrorCode::KafkaStorageError, e.to_string())
        };
        // EARLIEST/LATEST read in-memory offsets, which an offline log can no longer vouch for.
        if let Some(offline) = log.offline_error() {
            return Err(ApiError::new(
                ErrorCode::KafkaStorageError,
                offline.to_string(),
            ));
        }
        match timestamp {
            LATEST => {
                let offset = if read_committed {
                    log.last_stable_offset()
                } else {
                    log.high_watermark()
                };
                Ok((-1, offset, leader_epoch))
            }
            EARLIEST => {
                let offset = log.log_start_offset();
                Ok((
                    -1,
                    offset,
                    log.epoch_for_offset(offset).unwrap_or(leader_epoch),
                ))
            }
            MAX_TIMESTAMP => match log.max_timestamp_offset().map_err(storage)? {
                Some(t) => Ok((t.timestamp, t.offset, t.leader_epoch.unwrap_or(-1))),
                None => Ok((-1, -1, -1)),
            },
            ts if ts < 0 => Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("unsupported ListOffsets timestamp {ts}"),
            )),
            ts => match log.offset_for_timestamp(ts).map_err(storage)? {
                Some(t) => Ok((t.timestamp, t.offset, t.leader_epoch.unwrap_or(-1))),
                None => Ok((-1, -1, -1)),
            },
        }
    })?
}
