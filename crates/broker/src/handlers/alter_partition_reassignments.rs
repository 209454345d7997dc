//! AlterPartitionReassignments (key 45), v0: move a partition's replicas (KIP-455), as
//! Kafka's controller answers it. ALTER on the CLUSTER is required.
//!
//! Per partition, in Kafka's order and with its messages: the topic and partition must
//! exist (UNKNOWN_TOPIC_OR_PARTITION); null replicas cancel a reassignment, and with none
//! in progress that is NO_REASSIGNMENT_IN_PROGRESS; a target must be non-empty, name only
//! registered brokers and no broker twice (INVALID_REPLICA_ASSIGNMENT). A target equal to
//! the current replicas succeeds and changes nothing. The state change itself is
//! [`crate::replication::reassign::alter_reassignment`] over [`ClusterView`]'s partition.

use kafka_protocol::messages::alter_partition_reassignments_request::ReassignablePartition;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::cluster_view::ClusterView;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::replication::reassign::{alter_reassignment, ReassigningPartition};

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let refused = crate::auth::check_cluster(broker, ctx, AclOperation::Alter).err();
    let view = ClusterView::new(broker, &ctx.session.listener);
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let outcome = match &refused {
                        Some(e) => Err(e.clone()),
                        None => alter(broker, &view, &t.name.0, p),
                    };
                    let r = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match outcome {
                        Ok(()) => r,
                        Err(e) => r
                            .with_error_code(e.error_code())
                            .with_error_message(e.message.map(str_bytes)),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let resp = AlterPartitionReassignmentsResponse::default().with_responses(responses);
    match refused {
        // Kafka's whole-request error: at the top and on every partition.
        Some(e) => resp
            .with_error_code(e.error_code())
            .with_error_message(e.message.map(str_bytes)),
        None => resp,
    }
}

fn alter(
    broker: &Broker,
    view: &ClusterView,
    topic: &str,
    target: &ReassignablePartition,
) -> Result<(), ApiError> {
    let index = target.partition_index;
    let Some(t) = broker.topics.get(topic) else {
        return Err(ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("Unable to find a topic named {topic}."),
        ));
    };
    let Some(p) = t.partition(index) else {
        return Err(ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("Unable to find partition {topic}:{index}."),
        ));
    };
    let current = view.partition(&p);
    let reassigning = ReassigningPartition {
        registration: current.registration(),
        reassignment: view.reassignment(&t, index),
    };
    let replicas: Option<Vec<i32>> = target
        .replicas
        .as_ref()
        .map(|r| r.iter().map(|b| b.0).collect());
    match &replicas {
        None if reassigning.reassignment.is_none() => {
            return Err(ApiError::new(
                ErrorCode::NoReassignmentInProgress,
                "No partition reassignment is in progress.",
            ));
        }
        None => {}
        Some(r) => view.validate_manual_assignment(r, None)?,
    }
    let next = alter_reassignment(
        &reassigning,
        replicas.as_deref(),
        |b| view.is_registered(b),
        |b| current.acceptable_leader(view, b),
    )
    .map_err(|(code, message)| ApiError::new(code, message))?;
    if next == reassigning {
        return Ok(());
    }
    // Moving replicas needs partition-change records and follower fetching; with one
    // registered broker every valid target equals the current replicas, so this is
    // reached only once the cluster has several brokers (next session).
    Err(ApiError::new(
        ErrorCode::InvalidReplicaAssignment,
        format!("Unable to reassign {topic}:{index}: moving replicas between brokers is not supported yet."),
    ))
}
