//! ElectLeaders (key 43), v0-2: preferred or unclean leader election, as Kafka's controller
//! answers it. ALTER on the CLUSTER is required.
//!
//! Per partition: UNKNOWN_TOPIC_OR_PARTITION for a topic or partition that does not exist;
//! ELECTION_NOT_NEEDED when the preferred replica already leads (PREFERRED) or a leader
//! exists (UNCLEAN); PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE when no
//! acceptable replica can take over. A null topic list means every partition, and then
//! partitions that need no election are left out of the answer (Kafka's rule). The election
//! itself is [`crate::replication::election::elect_leaders`] over the committed
//! registration and [`ClusterView`]'s liveness; a successful one is committed as one
//! PartitionChangeRecord entry per partition (leader epoch and partition epoch + 1) before
//! it is answered. Any node may answer: its proposals reach the quorum's leader. A
//! proposal that fails (no quorum leader, or the partition changed meanwhile) answers that
//! partition with the proposal's error.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::cluster_view::ClusterView;
use crate::controller::elections;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::metadata::MetadataImage;
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
    // One image for the whole request: every election is computed from committed
    // registrations (a refused proposal means the partition changed meanwhile).
    let image = broker.topics.metadata_log().image();
    let results = match &req.topic_partitions {
        Some(topics) => topics
            .iter()
            .map(|t| {
                let partition_result = t
                    .partitions
                    .iter()
                    .map(|&p| result(p, elect(broker, &view, &image, &t.topic.0, p, election)))
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
                        .map(|p| (p, elect(broker, &view, &image, &t.name, p, election)))
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

/// One partition's election: `Ok` once the new leader is committed (its own
/// PartitionChangeRecord entry, leader epoch and partition epoch + 1).
fn elect(
    broker: &Broker,
    view: &ClusterView,
    image: &MetadataImage,
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
    let record = image.topics.iter().find(|r| r.name == topic);
    let (Some(p), Some((topic_id, registered))) = (
        t.partition(partition),
        record.and_then(|r| {
            usize::try_from(partition)
                .ok()
                .and_then(|i| r.partitions.get(i))
                .map(|p| (r.topic_id.as_str(), p))
        }),
    ) else {
        return Err(ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("No such partition as {topic}-{partition}"),
        ));
    };
    // The registration as committed (with its partition epoch); liveness as the cluster
    // view sees it (a fenced broker, or this node's offline log, cannot lead).
    let current = elections::registration(registered);
    let liveness = view.partition(&p);
    let next = elect_leaders(&current, election, |r| liveness.acceptable_leader(view, r))
        .map_err(|code| ApiError::new(code, default_message(code)))?;
    let change = elections::change_record(topic_id, partition, &current, &next);
    broker.topics.propose_partition_change(change)?;
    tracing::info!(
        topic,
        partition,
        ?election,
        old_leader = current.leader,
        new_leader = next.leader,
        leader_epoch = next.leader_epoch,
        partition_epoch = next.partition_epoch,
        "partition leader elected by ElectLeaders"
    );
    Ok(())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::cluster_view::BrokerView;
    use crate::metadata_log::records::{
        BrokerEndpoint, PartitionChangeRecord, RegisterBrokerRecord,
    };

    fn view(ids: &[i32]) -> ClusterView {
        let b = |id| BrokerView {
            id,
            host: "127.0.0.1".into(),
            port: 9092,
            rack: None,
            listener: "PLAINTEXT".into(),
        };
        ClusterView::from_brokers(1, ids.iter().map(|&i| b(i)).collect())
    }

    /// Node 1 (one voter) with brokers 1 and 2 registered and a partition on [2, 1] whose
    /// ISR is both but led by 1: its preferred replica does not lead.
    fn broker(dir: &std::path::Path) -> Broker {
        let config =
            crate::BrokerConfig::load(None, &[format!("log.dirs={}", dir.display())]).unwrap();
        let broker = Broker::open(config).unwrap();
        for id in 1..=2 {
            broker
                .topics
                .metadata_log()
                .register_broker(RegisterBrokerRecord {
                    broker_id: id,
                    endpoints: vec![BrokerEndpoint {
                        name: "PLAINTEXT".into(),
                        host: "127.0.0.1".into(),
                        port: 9092,
                        security_protocol: "PLAINTEXT".into(),
                    }],
                    rack: None,
                })
                .unwrap();
        }
        let t = broker
            .topics
            .create_topic_placed("t", vec![vec![2, 1]], Default::default(), false)
            .unwrap();
        broker
            .topics
            .propose_partition_change(PartitionChangeRecord {
                topic_id: t.topic_id.to_string(),
                partition_id: 0,
                leader_epoch: 1,
                replicas: None,
                isr: None,
                leader: Some(1),
                partition_epoch: Some(1),
                adding_replicas: None,
                removing_replicas: None,
            })
            .unwrap();
        broker
    }

    fn registration(broker: &Broker) -> (i32, i32, i32) {
        let image = broker.topics.metadata_log().image();
        let p = &image.topics[0].partitions[0];
        (p.leader, p.leader_epoch, p.partition_epoch)
    }

    #[test]
    fn a_preferred_election_is_committed_with_both_epochs_bumped() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path());
        assert_eq!(registration(&broker), (1, 1, 1));
        let elect_now = |v: &ClusterView| {
            let image = broker.topics.metadata_log().image();
            elect(&broker, v, &image, "t", 0, ElectionType::Preferred)
        };
        // Broker 2 not live: refused, nothing committed.
        let e = elect_now(&view(&[1])).unwrap_err();
        assert_eq!(e.code, ErrorCode::PreferredLeaderNotAvailable);
        assert_eq!(registration(&broker), (1, 1, 1));
        elect_now(&view(&[1, 2])).unwrap();
        assert_eq!(registration(&broker), (2, 2, 2));
        assert_eq!(
            elect_now(&view(&[1, 2])).unwrap_err().code,
            ErrorCode::ElectionNotNeeded
        );
        // Unclean: a leader exists, so nothing to do.
        let image = broker.topics.metadata_log().image();
        let e = elect(
            &broker,
            &view(&[1, 2]),
            &image,
            "t",
            0,
            ElectionType::Unclean,
        );
        assert_eq!(e.unwrap_err().code, ErrorCode::ElectionNotNeeded);
        let e = elect(
            &broker,
            &view(&[1, 2]),
            &image,
            "t",
            5,
            ElectionType::Preferred,
        );
        assert_eq!(e.unwrap_err().code, ErrorCode::UnknownTopicOrPartition);
    }
}
