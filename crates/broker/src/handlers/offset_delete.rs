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
    ctx: &RequestContext,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if let Err(e) = crate::auth::check_group(
        broker,
        ctx,
        crate::auth::acl::AclOperation::Delete,
        &req.group_id.0,
    ) {
        return OffsetDeleteResponse::default().with_error_code(e.error_code());
    }
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
    let (topics, denied): (Vec<_>, Vec<_>) = topics.into_iter().partition(|(t, _)| {
        crate::auth::allow_topic(broker, ctx, crate::auth::acl::AclOperation::Read, t)
    });
    match broker
        .groups
        .delete_offsets(req.group_id.0.as_str(), &topics)
    {
        Err(e) => OffsetDeleteResponse::default().with_error_code(e.code()),
        Ok(results) => OffsetDeleteResponse::default().with_topics(
            results
                .into_iter()
                .map(|(t, parts)| (t, parts.into_iter().map(|(p, e)| (p, e.code())).collect()))
                .chain(denied.into_iter().map(|(t, parts)| {
                    let e = strait_protocol::ErrorCode::TopicAuthorizationFailed.code();
                    (t, parts.into_iter().map(|p| (p, e)).collect::<Vec<_>>())
                }))
                .map(|(topic, parts)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(TopicName(str_bytes(topic)))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|(p, e)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(e)
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}
