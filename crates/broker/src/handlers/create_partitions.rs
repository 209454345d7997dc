//! CreatePartitions (key 37): grow a topic's partition count. Manual assignments must name
//! this node.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let node = broker.node_id();
    let results =
        req.topics
            .into_iter()
            .map(|t| {
                let bad_assignment =
                    t.assignments.iter().flatten().any(|a| {
                        a.broker_ids.is_empty() || a.broker_ids.iter().any(|b| b.0 != node)
                    });
                let mirror = broker
                    .topics
                    .get(&t.name.0)
                    .and_then(|topic| topic.read_only_reason());
                let outcome = if let Err(e) =
                    crate::auth::check_topic(broker, ctx, AclOperation::Alter, &t.name.0)
                {
                    Err(e)
                } else if let Some(reason) = mirror {
                    Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("{reason}; its partition count follows the source topic"),
                    ))
                } else if bad_assignment {
                    Err(ApiError::new(
                        ErrorCode::InvalidReplicaAssignment,
                        format!(
                        "assignments must name only broker {node}, the only broker in this cluster"
                    ),
                    ))
                } else {
                    broker
                        .topics
                        .create_partitions(&t.name.0, t.count, req.validate_only)
                };
                let mut r = CreatePartitionsTopicResult::default().with_name(t.name);
                if let Err(e) = outcome {
                    r.error_code = e.error_code();
                    r.error_message = e.message.map(str_bytes);
                }
                r
            })
            .collect();
    CreatePartitionsResponse::default().with_results(results)
}
