//! WriteTxnMarkers (key 27, v1; the codec, like Kafka 4.0, has dropped v0): writes COMMIT/ABORT control batches to partitions this
//! broker leads. Kafka's transaction coordinator sends it to partition leaders; here the
//! coordinator writes its markers in-process, so this is what `Admin.abortTransaction` /
//! `kafka-transactions abort` use to close a hanging transaction (found with
//! DescribeProducers) so the last stable offset can move again.
//!
//! Kafka's `KafkaApis.handleWriteTxnMarkersRequest`: CLUSTER_ACTION on the cluster, else
//! every partition gets CLUSTER_AUTHORIZATION_FAILED; per partition
//! `PartitionLog::append_control_marker` with the request's producer id/epoch and
//! coordinator epoch, errors as Kafka's COORDINATOR-origin append: an unknown topic or
//! partition is UNKNOWN_TOPIC_OR_PARTITION, a producer epoch below the partition's is
//! INVALID_PRODUCER_EPOCH, a coordinator epoch below the last marker's is
//! TRANSACTION_COORDINATOR_FENCED, an I/O error or offline log is KAFKA_STORAGE_ERROR.
//!
//! A read-only mirror topic refuses with INVALID_REQUEST (non-retriable): its markers are
//! the source's, copied by the link, and a marker of our own would break the byte-for-byte
//! offsets; cutover aborts what is still open there. Consumer-offset commits of a
//! transaction are completed by the coordinator itself, not through this API.
//! Fetches waiting on a partition that got a marker are woken (the LSO may have moved).
//!
//! The markers are written on the partitions' lanes of the log manager, all of the request
//! in one hand-off ([`crate::log_manager::RequestBatch`]): each marker
//! lands after the appends queued on its partition before it, on an I/O thread.

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use strait_protocol::ErrorCode;
use strait_storage::AppendError;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::log_manager::{PoolClosed, RequestBatch};
use crate::topics::now_ms;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let denied = crate::auth::check_cluster(broker, ctx, AclOperation::ClusterAction).err();
    let mut batch = RequestBatch::default();
    for m in &req.markers {
        for t in &m.topics {
            let name = t.name.0.to_string();
            for &index in &t.partition_indexes {
                let checked = match &denied {
                    Some(e) => Err(e.clone()),
                    None => prepare_marker(
                        broker,
                        &name,
                        index,
                        m.producer_id.0,
                        m.producer_epoch,
                        m.coordinator_epoch,
                        m.transaction_result,
                    ),
                };
                batch.push(checked.map_err(Err));
            }
        }
    }
    let mut written = batch
        .run(broker.topics.io(), MarkerJob::run, || {
            Err(PoolClosed.to_api_error())
        })
        .await
        .into_iter();
    let markers = req
        .markers
        .into_iter()
        .map(|m| {
            let topics = m
                .topics
                .into_iter()
                .map(|t| {
                    let name = t.name.0.to_string();
                    let partitions = t
                        .partition_indexes
                        .into_iter()
                        .map(|index| {
                            let outcome = written
                                .next()
                                .unwrap_or_else(|| Err(PoolClosed.to_api_error()));
                            let code = match outcome {
                                Ok(offset) => {
                                    tracing::info!(topic = %name, partition = index, producer_id = m.producer_id.0, producer_epoch = m.producer_epoch, commit = m.transaction_result, offset, "transaction marker written");
                                    0
                                }
                                Err(e) => {
                                    tracing::info!(topic = %name, partition = index, producer_id = m.producer_id.0, error = %e, "transaction marker refused");
                                    e.error_code()
                                }
                            };
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(index)
                                .with_error_code(code)
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(t.name)
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics)
        })
        .collect();
    // Each marker's `with_log_mut` woke the fetches waiting on its partition.
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// A checked marker, written on an I/O thread in its partition's lane order.
pub(crate) struct MarkerJob {
    partition: std::sync::Arc<crate::topics::Partition>,
    topic: String,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
}

type Lane = std::sync::Arc<crate::log_manager::Lane>;

impl MarkerJob {
    /// The marker's offset, or the error for this partition.
    fn run(self) -> Result<i64, ApiError> {
        let leader_epoch = self.partition.leader_epoch();
        let index = self.partition.index;
        self.partition
            .with_log_mut(|log| {
                log.append_control_marker(
                    self.producer_id,
                    self.producer_epoch,
                    self.coordinator_epoch,
                    self.commit,
                    leader_epoch,
                    now_ms(),
                )
            })?
            .map_err(|e| marker_error(&self.topic, index, e))
    }
}

/// Checks one partition's marker; the job to write it, or the error for this partition.
fn prepare_marker(
    broker: &Broker,
    topic: &str,
    index: i32,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> Result<(Lane, MarkerJob), ApiError> {
    let unknown = || {
        ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("This server does not host this topic-partition: {topic}-{index}"),
        )
    };
    let t = broker.topics.get(topic).ok_or_else(unknown)?;
    let partition = t.partition(index).ok_or_else(unknown)?;
    partition.ensure_leader(broker.node_id())?;
    if let Some(reason) = t.read_only_reason() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{reason}; its transaction markers come from the source"),
        ));
    }
    Ok((
        partition.lane().clone(),
        MarkerJob {
            partition,
            topic: topic.to_string(),
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
        },
    ))
}

fn marker_error(topic: &str, index: i32, e: AppendError) -> ApiError {
    let code = match &e {
        AppendError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
        AppendError::TransactionCoordinatorFenced { .. } => ErrorCode::TransactionCoordinatorFenced,
        // A negative producer id: Kafka's marker append has no such case; the request is bad.
        AppendError::InvalidTxnState(_) => ErrorCode::InvalidRequest,
        AppendError::Io(_) | AppendError::Offline(_) => ErrorCode::KafkaStorageError,
        _ => ErrorCode::UnknownServerError,
    };
    ApiError::new(code, format!("{topic}-{index}: {e}"))
}
