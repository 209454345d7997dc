//! ListGroups (key 16): every group with its protocol type; v4+ state filter, v5+ type
//! filter (all of Strait's groups are "classic").

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

const GROUP_TYPE: &str = "classic";

pub fn handle(broker: &Broker, ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let v = ctx.api_version;
    let states: Vec<String> = if v >= 4 {
        req.states_filter.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    };
    let type_ok = v < 5
        || req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case(GROUP_TYPE));
    let groups = if type_ok {
        broker
            .groups
            .list_groups(&states)
            .into_iter()
            .filter(|g| {
                crate::auth::allow_cluster(broker, ctx, crate::auth::acl::AclOperation::Describe)
                    || crate::auth::allow_group(
                        broker,
                        ctx,
                        crate::auth::acl::AclOperation::Describe,
                        &g.group_id,
                    )
            })
            .map(|g| {
                let mut out = ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(g.group_id)))
                    .with_protocol_type(str_bytes(g.protocol_type));
                if v >= 4 {
                    out.group_state = str_bytes(g.state.as_str());
                }
                if v >= 5 {
                    out.group_type = str_bytes(GROUP_TYPE);
                }
                out
            })
            .collect()
    } else {
        Vec::new()
    };
    ListGroupsResponse::default().with_groups(groups)
}
