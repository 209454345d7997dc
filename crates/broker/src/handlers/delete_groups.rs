//! DeleteGroups (key 42): deletes empty groups and their committed offsets
//! (NON_EMPTY_GROUP while members remain, GROUP_ID_NOT_FOUND for unknown groups).

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = req.groups_names.iter().map(|g| g.0.to_string()).collect();
    let allowed: Vec<bool> = ids
        .iter()
        .map(|g| crate::auth::allow_group(broker, ctx, crate::auth::acl::AclOperation::Delete, g))
        .collect();
    let permitted: Vec<String> = ids
        .iter()
        .zip(&allowed)
        .filter(|(_, ok)| **ok)
        .map(|(g, _)| g.clone())
        .collect();
    let mut deleted = broker.groups.delete_groups(&permitted).into_iter();
    let errors: Vec<i16> = allowed
        .iter()
        .map(|ok| match ok {
            true => deleted.next().map_or(-1, |e| e.code()),
            false => strait_protocol::ErrorCode::GroupAuthorizationFailed.code(),
        })
        .collect();
    DeleteGroupsResponse::default().with_results(
        req.groups_names
            .into_iter()
            .zip(errors)
            .map(|(g, e)| {
                DeletableGroupResult::default()
                    .with_group_id(g)
                    .with_error_code(e)
            })
            .collect(),
    )
}
