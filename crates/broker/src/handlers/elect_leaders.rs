//! ElectLeaders (key 43), v0-2: preferred or unclean leader election, as Kafka's controller
//! answers it. ALTER on the CLUSTER is required.
//!
//! Per partition: UNKNOWN_TOPIC_OR_PARTITION for a topic or partition that does not exist;
//! ELECTION_NOT_NEEDED when the preferred replica already leads (PREFERRED) or a leader
//! exists (UNCLEAN); PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE when no
//! acceptable replica can take over. A null topic list means every partition, and then
//! partitions that need no election are left out of the answer (Kafka's rule). The election
//! itself is [`crate::replication::election::elect_leaders`] over [`ClusterView`]'s
//! partitions.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::cluster_view::ClusterView;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::replication::election::{elect_leaders, ElectionType};

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    if let Err(e) = crate::auth::check_cluster(broker, ctx, AclOperation::Alter) {
        return error_response(ctx.api_version, &req, &e);
    }
    // v0 has no election type field: it decodes as 0, PREFERRED.
    let election = match req.election_type {
        0 => ElectionType::Preferred,
        1 => ElectionType::Unclean,
        other => {
            return error_response(
                ctx.api_version,
                &req,
                &ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("Unknown election type {other}"),
                ),
            )
        }
    };
    let view = ClusterView::new(broker, &ctx.session.listener);
    let results = match &req.topic_partitions {
        Some(topics) => topics
            .iter()
            .map(|t| {
                let partition_result = t
                    .partitions
                    .iter()
                    .map(|&p| result(p, elect(broker, &view, &t.topic.0, p, election)))
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(t.topic.clone())
                    .with_partition_result(partition_result)
            })
            .collect(),
        None => {
            let mut all = broker.topics.list();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            all.iter()
                .map(|t| {
                    let partition_result = (0..t.partition_count())
                        .map(|p| (p, elect(broker, &view, &t.name, p, election)))
                        .filter(
                            |(_, r)| !matches!(r, Err(e) if e.code == ErrorCode::ElectionNotNeeded),
                        )
                        .map(|(p, r)| result(p, r))
                        .collect();
                    ReplicaElectionResult::default()
                        .with_topic(TopicName(str_bytes(t.name.clone())))
                        .with_partition_result(partition_result)
                })
                .collect()
        }
    };
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// One partition's election: `Ok` when a new leader was installed.
fn elect(
    broker: &Broker,
    view: &ClusterView,
    topic: &str,
    partition: i32,
    election: ElectionType,
) -> Result<(), ApiError> {
    let Some(t) = broker.topics.get(topic) else {
        return Err(ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("No such topic as {topic}"),
        ));
    };
    let Some(p) = t.partition(partition) else {
        return Err(ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("No such partition as {topic}-{partition}"),
        ));
    };
    let current = view.partition(&p);
    match elect_leaders(&current.registration(), election, |r| {
        current.acceptable_leader(view, r)
    }) {
        Err(code) => Err(ApiError::new(code, default_message(code))),
        // A leader change needs a metadata record that moves leadership to another broker;
        // with this node as every partition's only replica the election above can only
        // find the partition led already or its one replica unusable, so this arm is
        // reached only once partitions have several replicas (next session).
        Ok(_) => Err(ApiError::new(
            match election {
                ElectionType::Preferred => ErrorCode::PreferredLeaderNotAvailable,
                ElectionType::Unclean => ErrorCode::EligibleLeadersNotAvailable,
            },
            "leader changes are not yet written to the metadata log",
        )),
    }
}

/// Kafka's default message of the election outcomes (its `ApiError(Errors)` text).
fn default_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ElectionNotNeeded => "Leader election not needed for topic partition.",
        ErrorCode::PreferredLeaderNotAvailable => "The preferred leader was not available.",
        ErrorCode::EligibleLeadersNotAvailable => {
            "Eligible topic partition leaders are not available."
        }
        _ => "The election failed.",
    }
}

fn result(partition: i32, outcome: Result<(), ApiError>) -> PartitionResult {
    let r = PartitionResult::default().with_partition_id(partition);
    match outcome {
        Ok(()) => r,
        Err(e) => r
            .with_error_code(e.error_code())
            .with_error_message(e.message.map(str_bytes)),
    }
}

/// Kafka's answer to a request refused as a whole: the top-level error (v1+) and the same
/// error on every named partition.
fn error_response(version: i16, req: &ElectLeadersRequest, e: &ApiError) -> ElectLeadersResponse {
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            ReplicaElectionResult::default()
                .with_topic(t.topic.clone())
                .with_partition_result(
                    t.partitions
                        .iter()
                        .map(|&p| result(p, Err(e.clone())))
                        .collect(),
                )
        })
        .collect();
    let resp = ElectLeadersResponse::default().with_replica_election_results(results);
    // v0 has no top-level error code (the encoder refuses one).
    if version >= 1 {
        resp.with_error_code(e.error_code())
    } else {
        resp
    }
}
