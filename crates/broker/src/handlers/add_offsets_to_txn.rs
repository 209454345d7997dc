//! AddOffsetsToTxn (key 25, v0-3): a consumer group joins the producer's transaction, so
//! the offsets it commits with TxnOffsetCommit are completed with the transaction's
//! markers. Needs WRITE on the TRANSACTIONAL_ID and READ on the GROUP.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let id = req.transactional_id.to_string();
    let group = req.group_id.to_string();
    let code = if !crate::auth::allow_transactional_id(broker, ctx, AclOperation::Write, &id) {
        ErrorCode::TransactionalIdAuthorizationFailed.code()
    } else if let Err(e) = crate::auth::check_group(broker, ctx, AclOperation::Read, &group) {
        e.code.code()
    } else if id.is_empty() {
        ErrorCode::InvalidRequest.code()
    } else {
        match broker
            .txn
            .add_offsets(&id, req.producer_id.0, req.producer_epoch, &group)
        {
            Ok(()) => 0,
            Err(e) => {
                tracing::debug!(transactional_id = %id, %group, error = %e, "AddOffsetsToTxn refused");
                crate::txn::fenced_code(e.code, ctx.api_version, 2).code()
            }
        }
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
