//! DeleteTopics (key 20): by name (v0-5) or by name or topic id (v6).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use strait_protocol::ErrorCode;
use uuid::Uuid;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let v = ctx.api_version;
    let targets: Vec<(Option<String>, Uuid)> = if v >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let resolved = match &name {
                Some(n) => Ok(n.clone()),
                None => broker
                    .topics
                    .get_by_id(id)
                    .map(|t| t.name.clone())
                    .ok_or_else(|| ApiError::code(ErrorCode::UnknownTopicId)),
            };
            let outcome = resolved.and_then(|n| {
                crate::auth::check_topic(broker, ctx, AclOperation::Delete, &n)?;
                if !broker.config.delete_topic_enable {
                    return Err(ApiError::new(
                        ErrorCode::TopicDeletionDisabled,
                        "Topic deletion is disabled (delete.topic.enable=false).",
                    ));
                }
                let topic_id = broker.topics.get(&n).map(|t| t.topic_id).unwrap_or(id);
                broker.topics.delete_topic(&n).map(|()| (n, topic_id))
            });
            let mut r = DeletableTopicResult::default()
                .with_name(name.clone().map(|n| TopicName(str_bytes(n))));
            match outcome {
                Ok((n, topic_id)) => {
                    r.name = Some(TopicName(str_bytes(n)));
                    if v >= 6 {
                        r.topic_id = topic_id;
                    }
                }
                Err(e) => {
                    r.error_code = e.error_code();
                    if v >= 5 {
                        r.error_message = e.message.map(str_bytes);
                    }
                    if v >= 6 {
                        r.topic_id = id;
                    }
                }
            }
            r
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
