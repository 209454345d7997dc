//! DescribeGroups (key 15, v0-5): state, protocol, and members with client id/host; the
//! members' metadata and assignment bytes only when the group is Stable (as Kafka does).
//! An unknown group is described as Dead with no error.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

/// Kafka's ACL operation codes a group supports: READ(3), DELETE(6), DESCRIBE(8),
/// DESCRIBE_CONFIGS(10), ALTER_CONFIGS(11). Strait has no authorizer, so all are allowed.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11);

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let v = ctx.api_version;
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            if let Err(e) = crate::auth::check_group(
                broker,
                ctx,
                crate::auth::acl::AclOperation::Describe,
                &id.0,
            ) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(e.error_code());
            }
            let d = broker.groups.describe_group(id.0.as_str());
            let mut g = DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes(d.state.as_str()))
                .with_protocol_type(str_bytes(d.protocol_type))
                .with_protocol_data(str_bytes(d.protocol))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            let mut out = DescribedGroupMember::default()
                                .with_member_id(str_bytes(m.member_id))
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if v >= 4 {
                                out.group_instance_id = m.group_instance_id.map(str_bytes);
                            }
                            out
                        })
                        .collect(),
                );
            if v >= 3 && req.include_authorized_operations {
                g.authorized_operations = GROUP_OPERATIONS
                    & crate::auth::authorized_operations(
                        broker,
                        ctx,
                        crate::auth::acl::ResourceType::Group,
                        &g.group_id.0,
                    );
            }
            g
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
