//! Fetch from a follower (replica id ≥ 0): the leader side of replication.
//!
//! * The replica id is the request's `replica_id` field below v15 and
//!   `replica_state.replica_id` from v15 (KIP-903); a consumer sends -1 (or -2 for a
//!   debug consumer, which Strait treats as a consumer).
//! * With an authorizer, a follower needs CLUSTER_ACTION on the CLUSTER; without it every
//!   partition answers TOPIC_AUTHORIZATION_FAILED, as Kafka does. Topic READ is not asked.
//! * Only the partition's leader serves it: NOT_LEADER_OR_FOLLOWER otherwise (also while
//!   the role transition has not made this node leader yet). The leader state accounts the
//!   fetch first ([`crate::replication::replica::account_follower_fetch`], on the
//!   partition's lane: it may move the high watermark, which takes the log lock), its
//!   errors (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, OFFSET_OUT_OF_RANGE, a non-replica)
//!   become the partition's error, and a caught-up follower's ISR expansion is handed to the
//!   replica manager.
//! * Reads then go to the log end (`FetchIsolation::LogEnd`), the long poll is woken by the
//!   log end moving, and the response carries the leader's high watermark.

use std::sync::Arc;

use kafka_protocol::messages::FetchRequest;
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::fetch_session::PartitionRequest;
use crate::replication::manager::min_insync_replicas;
use crate::replication::replica::account_follower_fetch;
use crate::topics::{now_ms, Partition, Topic};

/// The fetching replica's id (`-1`: a consumer).
pub(super) fn replica_id(req: &FetchRequest, version: i16) -> i32 {
    if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    }
}

/// Kafka's check for a follower fetch: CLUSTER_ACTION on the cluster.
pub(super) fn authorized(broker: &Broker, ctx: &RequestContext) -> bool {
    crate::auth::allow_cluster(broker, ctx, AclOperation::ClusterAction)
}

/// One partition of a follower's fetch, before its read.
pub(super) struct ReplicaPartition {
    pub(super) topic: Option<Arc<Topic>>,
    pub(super) partition: Option<Arc<Partition>>,
    pub(super) request: PartitionRequest,
}

/// Accounts the fetch on every partition this node leads and returns, per partition, the
/// error to answer instead of reading (`None`: read it).
pub(super) async fn account(
    broker: &Broker,
    replica_id: i32,
    partitions: Vec<ReplicaPartition>,
) -> Vec<Option<ApiError>> {
    let node = broker.node_id();
    let mut errors: Vec<Option<ApiError>> = Vec::with_capacity(partitions.len());
    let mut jobs = Vec::new();
    for (slot, rp) in partitions.into_iter().enumerate() {
        let (Some(topic), Some(partition)) = (rp.topic, rp.partition) else {
            errors.push(Some(ApiError::code(ErrorCode::UnknownTopicOrPartition)));
            continue;
        };
        if let Err(e) = partition.ensure_leader(node) {
            errors.push(Some(e));
            continue;
        }
        if partition.replica().lock().leader().is_none() {
            errors.push(Some(ApiError::new(
                ErrorCode::NotLeaderOrFollower,
                format!(
                    "Broker {node} is not (yet) the leader of partition {}-{}.",
                    topic.name, partition.index
                ),
            )));
            continue;
        }
        errors.push(None);
        jobs.push((
            partition.lane().clone(),
            (slot, topic, partition, rp.request),
        ));
    }
    if jobs.is_empty() {
        return errors;
    }
    let run = move |(slot, topic, partition, request): (
        usize,
        Arc<Topic>,
        Arc<Partition>,
        PartitionRequest,
    )| {
        let epoch = (request.current_leader_epoch >= 0).then_some(request.current_leader_epoch);
        let outcome = account_follower_fetch(
            &partition,
            replica_id,
            request.fetch_offset,
            epoch,
            min_insync_replicas(&topic),
            now_ms(),
        );
        (slot, topic, partition, outcome)
    };
    match broker.topics.io().run_on_lanes(jobs, run).await {
        Ok(done) => {
            for (slot, topic, partition, outcome) in done {
                match outcome {
                    Ok(None) => {}
                    Ok(Some(proposal)) => {
                        tracing::info!(topic = %topic.name, partition = partition.index, follower = replica_id, new_isr = ?proposal.new_isr, "expanding the ISR");
                        if let Some(m) = broker.replica_manager() {
                            m.propose(topic, partition, proposal);
                        }
                    }
                    Err(code) => errors[slot] = Some(follower_error(code, replica_id)),
                }
            }
        }
        Err(closed) => {
            for e in errors.iter_mut().filter(|e| e.is_none()) {
                *e = Some(closed.to_api_error());
            }
        }
    }
    errors
}

fn follower_error(code: ErrorCode, replica_id: i32) -> ApiError {
    let message = match code {
        ErrorCode::NotLeaderOrFollower => {
            format!("broker {replica_id} is not a replica of this partition")
        }
        ErrorCode::OffsetOutOfRange => {
            format!("the fetch offset of follower {replica_id} is beyond the leader's log end")
        }
        _ => return ApiError::code(code),
    };
    ApiError::new(code, message)
}
