//! OffsetFetch (key 9, v1-9): committed offsets with their leader epoch (v5+) and
//! metadata; -1 for partitions without a committed offset. v2+ a null topic list means
//! every committed offset of the group; v8+ batches groups. Offsets pending in an open
//! transaction (TxnOffsetCommit) are never returned; with `require_stable` (v7+, KIP-447) a
//! partition that has one answers UNSTABLE_OFFSET_COMMIT (offset -1) and the client
//! retries — per partition in every version, as Kafka (v8+ within its group).

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::groups::{CommittedOffset, StableFetchedOffsets};

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let v = ctx.api_version;
    let require_stable = v >= 7 && req.require_stable;
    if v >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let fetched = broker.groups.fetch_offsets_stable(
                    g.group_id.0.as_str(),
                    topics,
                    require_stable,
                );
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(
                        fetched
                            .into_iter()
                            .map(|(topic, parts)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(str_bytes(topic)))
                                    .with_partitions(
                                        parts
                                            .into_iter()
                                            .map(|(p, o, e)| {
                                                let (offset, epoch, metadata) = values(o);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(offset)
                                                    .with_committed_leader_epoch(epoch)
                                                    .with_metadata(Some(str_bytes(metadata)))
                                                    .with_error_code(e.code())
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    // v1 has no "all topics" form: a null list is only meaningful from v2.
    let topics = match req.topics {
        Some(ts) => Some(
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect(),
        ),
        None if v >= 2 => None,
        None => Some(Vec::new()),
    };
    let fetched: StableFetchedOffsets =
        broker
            .groups
            .fetch_offsets_stable(req.group_id.0.as_str(), topics, require_stable);
    OffsetFetchResponse::default().with_topics(
        fetched
            .into_iter()
            .map(|(topic, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, o, e)| {
                                let (offset, epoch, metadata) = values(o);
                                let mut r = OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_metadata(Some(str_bytes(metadata)))
                                    .with_error_code(e.code());
                                if v >= 5 {
                                    r.committed_leader_epoch = epoch;
                                }
                                r
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

fn values(o: Option<CommittedOffset>) -> (i64, i32, String) {
    match o {
        Some(o) => (o.offset, o.leader_epoch, o.metadata.unwrap_or_default()),
        None => (-1, -1, String::new()),
    }
}
