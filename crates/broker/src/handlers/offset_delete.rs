//! OffsetDelete (key 47): deletes committed offsets of a group, refusing partitions of
//! topics an active consumer group subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let topics: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    match broker
        .groups
        .delete_offsets(req.group_id.0.as_str(), &topics)
    {
        Err(e) => OffsetDeleteResponse::default().with_error_code(e.code()),
        Ok(results) => OffsetDeleteResponse::default().with_topics(
            results
                .into_iter()
                .map(|(topic, parts)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(TopicName(str_bytes(topic)))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|(p, e)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(e.code())
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}
