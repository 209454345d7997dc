//! OffsetCommit (key 8, v2-9): commits from group members (validated against the member
//! and generation) and standalone commits (generation -1, empty member id) that admin and
//! offset-sync tools send. Acknowledged only once the offsets are written to the store.
//! v6+ carries `committed_leader_epoch`; v7+ `group_instance_id`.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::groups::{CommitPartition, CommitRequest};

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let v = ctx.api_version;
    let commit = CommitRequest {
        group_id: req.group_id.0.to_string(),
        generation_id: req.generation_id_or_member_epoch,
        member_id: req.member_id.to_string(),
        group_instance_id: if v >= 7 {
            req.group_instance_id.map(|s| s.to_string())
        } else {
            None
        },
        topics: req
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .into_iter()
                    .map(|p| CommitPartition {
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: if v >= 6 { p.committed_leader_epoch } else { -1 },
                        // Kafka stores a null metadata as "".
                        metadata: Some(
                            p.committed_metadata
                                .map(|m| m.to_string())
                                .unwrap_or_default(),
                        ),
                    })
                    .collect();
                (t.name.0.to_string(), partitions)
            })
            .collect(),
    };
    let results = broker.groups.commit_offsets(commit);
    OffsetCommitResponse::default().with_topics(
        results
            .into_iter()
            .map(|(topic, parts)| {
                OffsetCommitResponseTopic::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, e)| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(e.code())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
