//! CreatePartitions (key 37): grow a topic's partition count, optionally with manual
//! replica assignments for the new partitions, in the order and with the messages of
//! Kafka's controller: duplicate names, ALTER on the topic, existence (and Strait's
//! read-only mirrors), the count, then the assignments, which [`ClusterView`] checks
//! against the registered brokers and the topic's replication factor.

use std::collections::HashMap;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::cluster_view::ClusterView;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let view = ClusterView::new(broker, &ctx.session.listener);
    let mut occurrences: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *occurrences.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut answered = std::collections::HashSet::new();
    let results = req
        .topics
        .iter()
        // Kafka grows none of a topic named twice and answers it once.
        .filter(|t| answered.insert(t.name.0.to_string()))
        .map(|t| {
            let outcome = if occurrences.get(t.name.0.as_str()).copied().unwrap_or(0) > 1 {
                Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Duplicate topic name.",
                ))
            } else {
                crate::auth::check_topic(broker, ctx, AclOperation::Alter, &t.name.0)
                    .and_then(|()| grow(broker, &view, t, req.validate_only))
            };
            let mut r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            if let Err(e) = outcome {
                r.error_code = e.error_code();
                r.error_message = e.message.map(str_bytes);
            }
            r
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

fn grow(
    broker: &Broker,
    view: &ClusterView,
    t: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), ApiError> {
    let name = t.name.0.as_str();
    // A topic that does not exist: the registry answers UNKNOWN_TOPIC_OR_PARTITION below.
    let Some(topic) = broker.topics.get(name) else {
        return broker
            .topics
            .create_partitions(name, t.count, validate_only);
    };
    let placement = {
        if let Some(reason) = topic.read_only_reason() {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("{reason}; its partition count follows the source topic"),
            ));
        }
        let current = topic.partition_count();
        if t.count == current {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!("Topic already has {current} partition(s)."),
            ));
        }
        if t.count < current {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!(
                    "The topic {name} currently has {current} partition(s); {} would not be an increase.",
                    t.count
                ),
            ));
        }
        let additional = t.count - current;
        // New partitions get the topic's replication factor (its first partition's).
        let replication_factor = topic
            .partition(0)
            .map_or(1, |p| view.partition(&p).replicas.len());
        match &t.assignments {
            Some(assignments) => {
                if usize::try_from(additional).ok() != Some(assignments.len()) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidReplicaAssignment,
                        format!(
                            "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                            assignments.len()
                        ),
                    ));
                }
                let mut placement = Vec::with_capacity(assignments.len());
                for (i, a) in assignments.iter().enumerate() {
                    let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                    view.validate_manual_assignment(&replicas, Some(replication_factor))?;
                    if view.live_replicas(&replicas).is_empty() {
                        return Err(ApiError::new(
                            ErrorCode::InvalidReplicaAssignment,
                            format!(
                                "All brokers specified in the manual partition assignment for partition {} are fenced or in controlled shutdown.",
                                i64::from(current) + i64::try_from(i).unwrap_or(0)
                            ),
                        ));
                    }
                    placement.push(replicas);
                }
                placement
            }
            None => {
                let rf = i16::try_from(replication_factor).unwrap_or(i16::MAX);
                view.check_replication_factor(rf)?;
                (current..t.count).map(|i| view.place(i, rf)).collect()
            }
        }
    };
    broker
        .topics
        .create_partitions_placed(name, placement, validate_only)
}
