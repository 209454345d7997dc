//! TxnOffsetCommit (key 28, v0-3): a transactional producer commits a consumer group's
//! offsets inside its transaction (`sendOffsetsToTransaction`). The offsets stay pending —
//! invisible to OffsetFetch — until the transaction coordinator completes the transaction
//! ([`crate::groups::GroupCoordinator::end_txn_offsets`]).
//!
//! Checks in Kafka's order (KafkaApis.handleTxnOffsetCommitRequest): WRITE on the
//! transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED everywhere), READ on the group
//! (GROUP_AUTHORIZATION_FAILED everywhere), READ per topic (TOPIC_AUTHORIZATION_FAILED),
//! unknown topic-partitions (UNKNOWN_TOPIC_OR_PARTITION); then the transaction coordinator
//! verifies that the producer's transaction is ongoing and has the group (its code goes to
//! every remaining partition); then the group coordinator validates the member (v3,
//! KIP-447) and the metadata size. v2+ carries `committed_leader_epoch`.
//!
//! v4 (KIP-890: TRANSACTION_ABORTABLE instead of INVALID_TXN_STATE when the group is not in
//! an ongoing transaction) and v5 (implicit AddOffsetsToTxn, transactions V2) are not
//! advertised: the verification cannot yet tell those cases apart.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::groups::{CommitPartition, TxnCommitRequest};

/// The outcome of one requested topic: decided here, or handed to the coordinator.
enum Topic {
    Done(Vec<(i32, i16)>),
    /// Index into the coordinator's answer, plus partitions decided here.
    Coordinator(usize, Vec<(i32, i16)>),
}

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let v = ctx.api_version;
    let transactional_id = req.transactional_id.0.to_string();
    let group_id = req.group_id.0.to_string();
    let fail_all = if !crate::auth::allow_transactional_id(
        broker,
        ctx,
        AclOperation::Write,
        &transactional_id,
    ) {
        Some(ErrorCode::TransactionalIdAuthorizationFailed)
    } else if !crate::auth::allow_group(broker, ctx, AclOperation::Read, &group_id) {
        Some(ErrorCode::GroupAuthorizationFailed)
    } else {
        None
    };
    if let Some(code) = fail_all {
        return respond(req.topics.iter().map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, code.code()))
                .collect();
            (t.name.clone(), parts)
        }));
    }
    let mut names = Vec::with_capacity(req.topics.len());
    let mut outcomes = Vec::with_capacity(req.topics.len());
    let mut to_commit: Vec<(String, Vec<CommitPartition>)> = Vec::new();
    for t in req.topics {
        let name = t.name.0.to_string();
        names.push(t.name);
        if !crate::auth::allow_topic(broker, ctx, AclOperation::Read, &name) {
            let code = ErrorCode::TopicAuthorizationFailed.code();
            outcomes.push(Topic::Done(
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, code))
                    .collect(),
            ));
            continue;
        }
        let count = broker.topics.get(&name).map(|t| t.partition_count());
        let mut unknown = Vec::new();
        let mut known = Vec::new();
        for p in t.partitions {
            if count.is_some_and(|c| p.partition_index >= 0 && p.partition_index < c) {
                known.push(CommitPartition {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if v >= 2 { p.committed_leader_epoch } else { -1 },
                    // Kafka stores a null metadata as "".
                    metadata: Some(
                        p.committed_metadata
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                    ),
                });
            } else {
                unknown.push((p.partition_index, ErrorCode::UnknownTopicOrPartition.code()));
            }
        }
        if known.is_empty() {
            outcomes.push(Topic::Done(unknown));
        } else {
            outcomes.push(Topic::Coordinator(to_commit.len(), unknown));
            to_commit.push((name, known));
        }
    }
    let mut committed = Vec::new();
    if !to_commit.is_empty() {
        let (producer_id, producer_epoch) = (req.producer_id.0, req.producer_epoch);
        let commit = TxnCommitRequest {
            group_id: group_id.clone(),
            producer_id,
            producer_epoch,
            generation_id: if v >= 3 { req.generation_id } else { -1 },
            member_id: if v >= 3 {
                req.member_id.to_string()
            } else {
                String::new()
            },
            group_instance_id: if v >= 3 {
                req.group_instance_id.map(|s| s.to_string())
            } else {
                None
            },
            topics: to_commit,
        };
        committed = broker.groups.commit_txn_offsets(commit, || {
            broker
                .txn
                .verify_group(&transactional_id, producer_id, producer_epoch, &group_id)
                // PRODUCER_FENCED exists from v3 (KIP-588); older clients get
                // INVALID_PRODUCER_EPOCH, as Kafka answers them.
                .map_err(|e| crate::txn::fenced_code(e.code, v, 3).code())
        });
    }
    let mut committed: Vec<Option<Vec<(i32, i16)>>> = committed
        .into_iter()
        .map(|(_, parts)| Some(parts.into_iter().map(|(p, e)| (p, e.code())).collect()))
        .collect();
    respond(names.into_iter().zip(outcomes).map(|(name, outcome)| {
        let parts = match outcome {
            Topic::Done(parts) => parts,
            Topic::Coordinator(i, unknown) => {
                let mut parts = committed
                    .get_mut(i)
                    .and_then(Option::take)
                    .unwrap_or_default();
                parts.extend(unknown);
                parts
            }
        };
        (name, parts)
    }))
}

fn respond(topics: impl Iterator<Item = (TopicName, Vec<(i32, i16)>)>) -> TxnOffsetCommitResponse {
    TxnOffsetCommitResponse::default().with_topics(
        topics
            .map(|(name, parts)| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(name)
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, e)| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(e)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
