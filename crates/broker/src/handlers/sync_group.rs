//! SyncGroup (key 14): the leader hands in every member's assignment; followers park until
//! it arrives. v5+ carries the protocol type and name (checked against the group's).

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::groups::SyncRequest;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let v = ctx.api_version;
    if let Err(e) = crate::auth::check_group(
        broker,
        ctx,
        crate::auth::acl::AclOperation::Read,
        &req.group_id.0,
    ) {
        return SyncGroupResponse::default().with_error_code(e.error_code());
    }
    let sync = SyncRequest {
        group_id: req.group_id.0.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: if v >= 3 {
            req.group_instance_id.map(|s| s.to_string())
        } else {
            None
        },
        protocol_type: if v >= 5 {
            req.protocol_type.map(|s| s.to_string())
        } else {
            None
        },
        protocol_name: if v >= 5 {
            req.protocol_name.map(|s| s.to_string())
        } else {
            None
        },
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let r = broker.groups.sync(sync).await;
    let mut resp = SyncGroupResponse::default()
        .with_error_code(r.error.code())
        .with_assignment(r.assignment);
    if v >= 5 {
        resp.protocol_type = r.protocol_type.map(str_bytes);
        resp.protocol_name = r.protocol_name.map(str_bytes);
    }
    resp
}
