//! LeaveGroup (key 13): members leave (and the group rebalances). v0-2 name one member;
//! v3+ a batch of members, each possibly by `group.instance.id` alone (admin removal of a
//! static member).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::groups::Code;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let v = ctx.api_version;
    if let Err(e) = crate::auth::check_group(
        broker,
        ctx,
        crate::auth::acl::AclOperation::Read,
        &req.group_id.0,
    ) {
        return LeaveGroupResponse::default().with_error_code(e.error_code());
    }
    let members: Vec<(String, Option<String>)> = if v >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let (group_error, errors) = broker.groups.leave(req.group_id.0.as_str(), &members);
    if v < 3 {
        let error = if !group_error.is_none() {
            group_error
        } else {
            errors.first().copied().unwrap_or(Code::None)
        };
        return LeaveGroupResponse::default().with_error_code(error.code());
    }
    LeaveGroupResponse::default()
        .with_error_code(group_error.code())
        .with_members(
            req.members
                .into_iter()
                .zip(errors)
                .map(|(m, e)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id)
                        .with_group_instance_id(m.group_instance_id)
                        .with_error_code(e.code())
                })
                .collect(),
        )
}
