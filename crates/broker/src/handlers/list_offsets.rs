//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3, v7+) and by
//! timestamp. Latest is the high watermark, or for read_committed (v2+) the last stable
//! offset: the first offset of the earliest open transaction (on a mirror: one whose marker
//! has not been copied yet), so a read_committed consumer resetting to latest never skips
//! past data that may still commit.
//!
//! On a replicated log (a multi-voter cluster) a consumer's timestamp and max-timestamp
//! lookups are bounded like its reads (Kafka's `lastFetchableOffset`): a record at or
//! above the high watermark (read_committed: the last stable offset) is not reported. A
//! follower (replica id ≥ 0) sees the whole log, LATEST being the log end offset. A single
//! node's logs are not bounded (their high watermark is their log end anyway).
//!
//! Timestamp lookups (by timestamp and max timestamp) read index and segment files, so
//! a request that has any runs each lookup as a job on its partition's lane of the log
//! manager (a partition whose disk is stuck delays only its own answer and holds no I/O
//! thread); earliest/latest only read in-memory offsets and are answered in place.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use strait_protocol::ErrorCode;
use strait_storage::FetchIsolation;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let v = ctx.api_version;
    let read_committed = v >= 2 && req.isolation_level == 1;
    let from_replica = req.replica_id.0 >= 0;
    // Resolved (and authorized) here; the lookups need only owned values.
    let mut shapes = Vec::with_capacity(req.topics.len());
    let mut lookups = Vec::new();
    for t in req.topics {
        let topic = broker.topics.get(t.name.0.as_str());
        let auth = crate::auth::check_topic(broker, ctx, AclOperation::Describe, t.name.0.as_str());
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let slot = match &auth {
                Err(e) => Err(e.error_code()),
                Ok(()) => {
                    lookups.push(Lookup {
                        node_id: broker.node_id(),
                        topic: topic.clone(),
                        index: p.partition_index,
                        current_leader_epoch: if v >= 4 { p.current_leader_epoch } else { -1 },
                        timestamp: p.timestamp,
                    });
                    Ok(lookups.len() - 1)
                }
            };
            partitions.push((p.partition_index, slot));
        }
        shapes.push((t.name, partitions));
    }
    let hits_files = lookups
        .iter()
        .any(|l| !matches!(l.timestamp, LATEST | EARLIEST));
    let n = lookups.len();
    let answers: Vec<Result<(i64, i64, i32), ApiError>> = if hits_files {
        let items = lookups
            .into_iter()
            .map(|l| {
                let lane = l
                    .topic
                    .as_ref()
                    .and_then(|t| t.partition(l.index))
                    .map(|p| p.lane().clone())
                    // Unknown partition: answered with its error by a one-off job.
                    .unwrap_or_default();
                (lane, l)
            })
            .collect();
        let run = move |l: Lookup| l.run(read_committed, from_replica);
        match broker.topics.io().run_on_lanes(items, run).await {
            Ok(a) => a,
            Err(closed) => {
                let e = closed.to_api_error();
                (0..n).map(|_| Err(e.clone())).collect()
            }
        }
    } else {
        lookups
            .iter()
            .map(|l| l.run(read_committed, from_replica))
            .collect()
    };
    let topics = shapes
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, slot)| {
                    let mut r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    let answer = match slot {
                        Err(code) => {
                            r.error_code = code;
                            return r;
                        }
                        Ok(i) => answers.get(i),
                    };
                    match answer {
                        Some(Ok((timestamp, offset, epoch))) => {
                            r.timestamp = *timestamp;
                            r.offset = *offset;
                            if v >= 4 {
                                r.leader_epoch = *epoch;
                            }
                        }
                        Some(Err(e)) => r.error_code = e.error_code(),
                        None => r.error_code = ErrorCode::UnknownServerError.code(),
                    }
                    r
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// One partition's lookup, owned so it can run on an I/O thread.
struct Lookup {
    /// This broker: a partition it does not lead answers NOT_LEADER_OR_FOLLOWER.
    node_id: i32,
    topic: Option<std::sync::Arc<crate::topics::Topic>>,
    index: i32,
    current_leader_epoch: i32,
    timestamp: i64,
}

impl Lookup {
    fn run(&self, read_committed: bool, from_replica: bool) -> Result<(i64, i64, i32), ApiError> {
        lookup(
            self.node_id,
            self.topic.as_deref(),
            self.index,
            self.current_leader_epoch,
            self.timestamp,
            read_committed,
            from_replica,
        )
    }
}

fn lookup(
    node_id: i32,
    topic: Option<&crate::topics::Topic>,
    index: i32,
    current_leader_epoch: i32,
    timestamp: i64,
    read_committed: bool,
    from_replica: bool,
) -> Result<(i64, i64, i32), ApiError> {
    let partition = topic
        .and_then(|t| t.partition(index))
        .ok_or_else(|| ApiError::code(ErrorCode::UnknownTopicOrPartition))?;
    partition.ensure_leader(node_id)?;
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
        // A consumer on a replicated log sees only what is committed (or stable).
        let bound = (log.is_replicated() && !from_replica).then_some(if read_committed {
            FetchIsolation::TxnCommitted
        } else {
            FetchIsolation::HighWatermark
        });
        match timestamp {
            LATEST if log.is_replicated() && from_replica => {
                Ok((-1, log.log_end_offset(), leader_epoch))
            }
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
            MAX_TIMESTAMP => match match bound {
                Some(isolation) => log.max_timestamp_offset_isolated(isolation),
                None => log.max_timestamp_offset(),
            }
            .map_err(storage)?
            {
                Some(t) => Ok((t.timestamp, t.offset, t.leader_epoch.unwrap_or(-1))),
                None => Ok((-1, -1, -1)),
            },
            ts if ts < 0 => Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("unsupported ListOffsets timestamp {ts}"),
            )),
            ts => match match bound {
                Some(isolation) => log.offset_for_timestamp_isolated(ts, isolation),
                None => log.offset_for_timestamp(ts),
            }
            .map_err(storage)?
            {
                Some(t) => Ok((t.timestamp, t.offset, t.leader_epoch.unwrap_or(-1))),
                None => Ok((-1, -1, -1)),
            },
        }
    })?
}
