//! EndTxn (key 26, v0-3): commit or abort the producer's ongoing transaction. The answer
//! comes once the markers are on every partition and the groups' offsets are completed (or
//! once the decision is durable, if a marker has to be retried: see [`crate::txn`]).
//! Needs WRITE on the TRANSACTIONAL_ID. v4+ (TRANSACTION_ABORTABLE, transactions v2) is not
//! advertised.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};
use strait_protocol::ErrorCode;

use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let id = req.transactional_id.to_string();
    let code = if !crate::auth::allow_transactional_id(broker, ctx, AclOperation::Write, &id) {
        ErrorCode::TransactionalIdAuthorizationFailed.code()
    } else if id.is_empty() {
        ErrorCode::InvalidRequest.code()
    } else {
        match broker
            .txn
            .end_txn(&id, req.producer_id.0, req.producer_epoch, req.committed)
        {
            Ok(()) => 0,
            Err(e) => {
                tracing::debug!(transactional_id = %id, commit = req.committed, error = %e, "EndTxn refused");
                crate::txn::fenced_code(e.code, ctx.api_version, 2).code()
            }
        }
    };
    EndTxnResponse::default().with_error_code(code)
}
