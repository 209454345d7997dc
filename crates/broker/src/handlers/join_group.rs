//! JoinGroup (key 11): the join phase of a classic group rebalance. The request may park
//! in the coordinator until every member has rejoined (or the rebalance timeout passes).
//! v4+ dynamic members first get MEMBER_ID_REQUIRED with their member id; v5+ static
//! members (`group.instance.id`); v7+ protocol type; v9+ skip_assignment.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::groups::{JoinRequest, UNKNOWN_CLIENT_HOST};

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let v = ctx.api_version;
    if let Err(e) = crate::auth::check_group(
        broker,
        ctx,
        crate::auth::acl::AclOperation::Read,
        &req.group_id.0,
    ) {
        return JoinGroupResponse::default()
            .with_error_code(e.error_code())
            .with_generation_id(-1)
            .with_protocol_name((v < 7).then(|| str_bytes("")));
    }
    let join = JoinRequest {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: if v >= 5 {
            req.group_instance_id.map(|s| s.to_string())
        } else {
            None
        },
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: UNKNOWN_CLIENT_HOST.to_string(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: it is the session timeout.
        rebalance_timeout_ms: if v >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: v >= 4,
        supports_skip_assignment: v >= 9,
    };
    let r = broker.groups.join(join).await;
    let mut resp = JoinGroupResponse::default()
        .with_error_code(r.error.code())
        .with_generation_id(r.generation_id)
        .with_leader(str_bytes(r.leader))
        .with_member_id(str_bytes(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    let mut out = JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_metadata(m.metadata);
                    if v >= 5 {
                        out.group_instance_id = m.group_instance_id.map(str_bytes);
                    }
                    out
                })
                .collect(),
        );
    // Before v7 the protocol name is a non-null string.
    resp.protocol_name = match r.protocol_name {
        Some(n) => Some(str_bytes(n)),
        None if v < 7 => Some(str_bytes("")),
        None => None,
    };
    if v >= 7 {
        resp.protocol_type = r.protocol_type.map(str_bytes);
    }
    if v >= 9 {
        resp.skip_assignment = r.skip_assignment;
    }
    resp
}
