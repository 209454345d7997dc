//! DescribeProducers (key 61, KIP-664): the producer state each requested partition holds —
//! what `kafka-transactions describe-producers` / `find-hanging` and
//! `Admin.describeProducers` read to find a transaction left open (then closed with
//! WriteTxnMarkers, see [`super::write_txn_markers`]).
//!
//! Per Kafka's `KafkaApis.handleDescribeProducersRequest`: READ on the topic, else
//! TOPIC_AUTHORIZATION_FAILED for every requested partition; an unknown topic or
//! partition is UNKNOWN_TOPIC_OR_PARTITION; an offline log is KAFKA_STORAGE_ERROR. Mirror
//! topics are described too (their producer state is built from the mirrored batches),
//! so a transaction still open on a mirror can be found before cutover.
//! `last_timestamp` is the max timestamp of the producer's last batch (-1 when the state
//! was loaded from a snapshot that predates it, until the producer's next batch).
//!
//! The reads run on the partitions' lanes of the log manager, all of the request in one
//! hand-off: an async worker never waits for a log lock a stuck write may hold.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::log_manager::{PoolClosed, RequestBatch};

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    type Producers = Result<Vec<strait_storage::ProducerSummary>, ApiError>;
    let mut batch: RequestBatch<_, Producers> = RequestBatch::default();
    for t in &req.topics {
        let name = t.name.0.to_string();
        let denied = crate::auth::check_topic(broker, ctx, AclOperation::Read, &name).err();
        let topic = broker.topics.get(&name);
        for &index in &t.partition_indexes {
            let prepared = match (&denied, &topic) {
                (Some(e), _) => Err(e.clone()),
                (None, None) => Err(unknown(&name, index)),
                (None, Some(topic)) => topic
                    .partition(index)
                    .ok_or_else(|| unknown(&name, index))
                    .and_then(|p| p.ensure_leader(broker.node_id()).map(|()| p)),
            };
            batch.push(prepared.map(|p| (p.lane().clone(), p)).map_err(Err));
        }
    }
    let mut answers = batch
        .run(
            broker.topics.io(),
            |p| p.with_log(producers_of)?,
            || Err(PoolClosed.to_api_error()),
        )
        .await
        .into_iter();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .into_iter()
                .map(|index| {
                    let outcome = answers
                        .next()
                        .unwrap_or_else(|| Err(PoolClosed.to_api_error()));
                    let mut r = PartitionResponse::default().with_partition_index(index);
                    match outcome {
                        Ok(producers) => {
                            r.active_producers = producers
                                .into_iter()
                                .map(|p| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(p.producer_id))
                                        .with_producer_epoch(i32::from(p.producer_epoch))
                                        .with_last_sequence(p.last_sequence)
                                        .with_last_timestamp(p.last_timestamp)
                                        .with_coordinator_epoch(p.coordinator_epoch)
                                        .with_current_txn_start_offset(p.current_txn_start_offset)
                                })
                                .collect();
                        }
                        Err(e) => {
                            r.error_code = e.error_code();
                            r.error_message = e.message.map(str_bytes);
                        }
                    }
                    r
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

/// The log's producers; an offline log is KAFKA_STORAGE_ERROR (Kafka's offline replica).
fn producers_of(
    log: &strait_storage::PartitionLog,
) -> Result<Vec<strait_storage::ProducerSummary>, ApiError> {
    match log.offline_error() {
        Some(e) => Err(ApiError::new(ErrorCode::KafkaStorageError, e.to_string())),
        None => Ok(log.active_producers()),
    }
}

fn unknown(topic: &str, index: i32) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownTopicOrPartition,
        format!("This server does not host this topic-partition: {topic}-{index}"),
    )
}
