//! Heartbeat (key 12): keeps a member's session alive; answers REBALANCE_IN_PROGRESS while
//! the group is preparing a rebalance so the member rejoins.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    if let Err(e) = crate::auth::check_group(
        broker,
        ctx,
        crate::auth::acl::AclOperation::Read,
        &req.group_id.0,
    ) {
        return HeartbeatResponse::default().with_error_code(e.error_code());
    }
    let instance = if ctx.api_version >= 3 {
        req.group_instance_id.as_ref().map(|s| s.as_str())
    } else {
        None
    };
    let error = broker.groups.heartbeat(
        req.group_id.0.as_str(),
        req.member_id.as_str(),
        instance,
        req.generation_id,
    );
    HeartbeatResponse::default().with_error_code(error.code())
}
