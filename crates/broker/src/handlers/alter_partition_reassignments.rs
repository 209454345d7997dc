//! AlterPartitionReassignments (key 45), v0: move a partition's replicas (KIP-455), as
//! Kafka's controller answers it. ALTER on the CLUSTER is required.
//!
//! Per partition, in Kafka's order and with its messages: the topic and partition must
//! exist (UNKNOWN_TOPIC_OR_PARTITION); null replicas cancel a reassignment, and with none
//! in progress that is NO_REASSIGNMENT_IN_PROGRESS; a target must be non-empty, name only
//! registered brokers and no broker twice (INVALID_REPLICA_ASSIGNMENT). A target equal to
//! the current replicas succeeds and changes nothing.
//!
//! A valid start or cancel commits one PartitionChangeRecord before the answer
//! ([`crate::replication::reassign::alter_reassignment`] over the image's registration):
//! a start makes `replicas` target ∪ current (target first) with the adding / removing
//! lists; a cancel reverts to the original replicas; a change that needs no new replica
//! (only removals or a reorder) completes at once. The active controller completes the
//! rest once every adding replica is in the ISR (`controller/reassignments.rs`).

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
use crate::metadata::MetadataImage;
use crate::replication::reassign;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let refused = crate::auth::check_cluster(broker, ctx, AclOperation::Alter).err();
    let view = ClusterView::new(broker, &ctx.session.listener);
    // One image for the whole request: each change is computed from a committed
    // registration (a refused proposal means the partition changed meanwhile).
    let image = broker.topics.metadata_log().image();
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
                        None => alter(broker, &view, &image, &t.name.0, p),
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
    image: &MetadataImage,
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
    let registered = image.topics.iter().find(|r| r.name == topic).and_then(|r| {
        usize::try_from(index)
            .ok()
            .and_then(|i| r.partitions.get(i))
            .map(|p| (r.topic_id.as_str(), p))
    });
    let (Some(p), Some((topic_id, registered))) = (t.partition(index), registered) else {
        return Err(ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("Unable to find partition {topic}:{index}."),
        ));
    };
    // The registration as committed (its partition epoch fences a concurrent change);
    // liveness as the cluster view sees it (a fenced broker cannot lead).
    let liveness = view.partition(&p);
    let reassigning = reassign::from_image(registered);
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
    let next = reassign::alter_reassignment(
        &reassigning,
        replicas.as_deref(),
        |b| view.is_registered(b),
        |b| liveness.acceptable_leader(view, b),
    )
    .map_err(|(code, message)| ApiError::new(code, message))?;
    if next == reassigning {
        return Ok(());
    }
    let change = reassign::change_record(topic_id, index, &reassigning, &next);
    broker.topics.propose_partition_change(change)?;
    tracing::info!(
        topic,
        partition = index,
        replicas = ?next.registration.replicas,
        reassignment = ?next.reassignment,
        "partition reassignment committed"
    );
    Ok(())
}
