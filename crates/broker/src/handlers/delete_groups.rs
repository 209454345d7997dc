//! DeleteGroups (key 42): deletes empty groups and their committed offsets
//! (NON_EMPTY_GROUP while members remain, GROUP_ID_NOT_FOUND for unknown groups).

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = req.groups_names.iter().map(|g| g.0.to_string()).collect();
    let errors = broker.groups.delete_groups(&ids);
    DeleteGroupsResponse::default().with_results(
        req.groups_names
            .into_iter()
            .zip(errors)
            .map(|(g, e)| {
                DeletableGroupResult::default()
                    .with_group_id(g)
                    .with_error_code(e.code())
            })
            .collect(),
    )
}
