//! AddPartitionsToTxn (key 24, v0-3, the client form): partitions join the producer's
//! transaction (starting one if none is ongoing). v4+ (batched, broker-to-broker
//! verification) is not advertised.
//!
//! As Kafka: WRITE on the TRANSACTIONAL_ID (else every partition gets
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED); WRITE on each topic (TOPIC_AUTHORIZATION_FAILED);
//! an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION. If any partition fails
//! those checks, nothing is added and the others get OPERATION_NOT_ATTEMPTED. A read-only
//! mirror topic cannot join a transaction: its partitions get INVALID_REQUEST
//! (non-retriable, the code Produce to a mirror answers; the reason naming the link is
//! logged, since v0-3 responses carry no message); a mirror whose link forwards writes
//! (`mirror.produce.forwarding.enable`) answers INVALID_TXN_STATE instead: its plain writes
//! are accepted, but transactions are not forwarded. Otherwise every partition gets the
//! coordinator's answer (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2).

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let id = req.v3_and_below_transactional_id.to_string();
    // (topic name as sent, partition, error if it fails a check)
    let mut checked: Vec<(kafka_protocol::messages::TopicName, i32, Option<ErrorCode>)> =
        Vec::new();
    let id_allowed = crate::auth::allow_transactional_id(broker, ctx, AclOperation::Write, &id);
    for t in &req.v3_and_below_topics {
        let name = t.name.to_string();
        let allowed = crate::auth::allow_topic(broker, ctx, AclOperation::Write, &name);
        let topic = broker.topics.get(&name);
        let read_only = topic.as_ref().and_then(|t| t.read_only_reason());
        for &p in &t.partitions {
            let error = if !allowed {
                Some(ErrorCode::TopicAuthorizationFailed)
            } else if topic.as_ref().is_none_or(|t| t.partition(p).is_none()) {
                Some(ErrorCode::UnknownTopicOrPartition)
            } else if let Some(link) = topic
                .as_ref()
                .filter(|t| {
                    matches!(
                        crate::forward_produce::route(broker, t),
                        crate::forward_produce::Route::Forward { .. }
                    )
                })
                .and_then(|t| t.mirror())
                .map(|m| m.link_name)
            {
                tracing::info!(transactional_id = %id, topic = %name, partition = p, link = %link, "AddPartitionsToTxn refused: the topic is a mirror whose writes are forwarded over its cluster link; transactions are not forwarded");
                Some(ErrorCode::InvalidTxnState)
            } else if let Some(reason) = &read_only {
                tracing::info!(transactional_id = %id, partition = p, "AddPartitionsToTxn refused: {reason}");
                Some(ErrorCode::InvalidRequest)
            } else {
                None
            };
            checked.push((t.name.clone(), p, error));
        }
    }
    let all_code = if !id_allowed {
        Some(ErrorCode::TransactionalIdAuthorizationFailed.code())
    } else if id.is_empty() {
        Some(ErrorCode::InvalidRequest.code())
    } else if checked.iter().any(|c| c.2.is_some()) {
        None
    } else {
        let partitions: Vec<(String, i32)> = checked
            .iter()
            .map(|(t, p, _)| (t.to_string(), *p))
            .collect();
        Some(
            match broker.txn.add_partitions(
                &id,
                req.v3_and_below_producer_id.0,
                req.v3_and_below_producer_epoch,
                &partitions,
            ) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::debug!(transactional_id = %id, error = %e, "AddPartitionsToTxn refused");
                    crate::txn::fenced_code(e.code, ctx.api_version, 2).code()
                }
            },
        )
    };
    let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for (name, p, error) in checked {
        let code =
            all_code.unwrap_or_else(|| error.unwrap_or(ErrorCode::OperationNotAttempted).code());
        let r = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(p)
            .with_partition_error_code(code);
        match results.iter_mut().find(|t| t.name == name) {
            Some(t) => t.results_by_partition.push(r),
            None => results.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(name)
                    .with_results_by_partition(vec![r]),
            ),
        }
    }
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}
