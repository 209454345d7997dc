//! InitProducerId (key 22).
//!
//! * Without a transactional id (idempotent producers): a request carrying an existing
//!   producer id and epoch (KIP-360, v3+) gets the same id with the epoch bumped; otherwise
//!   a fresh id with epoch 0. Needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
//! * With a transactional id: the transaction coordinator ([`crate::txn`]) answers
//!   (fencing by epoch, KIP-360 bumps, an ongoing transaction aborted first). Needs WRITE
//!   on the TRANSACTIONAL_ID. PRODUCER_FENCED is spelled INVALID_PRODUCER_EPOCH below v4.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use strait_protocol::ErrorCode;

use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let transactional_id = req.transactional_id.as_ref().map(|t| t.to_string());
    if let Some(e) = crate::auth::check_init_producer_id(broker, ctx, transactional_id.as_deref()) {
        return resp.with_error_code(e.code());
    }
    let expected = match (req.producer_id.0, req.producer_epoch) {
        (-1, -1) => None,
        (-1, _) | (_, -1) => {
            return resp.with_error_code(ErrorCode::InvalidRequest.code());
        }
        (pid, epoch) => Some((pid, epoch)),
    };
    if let Some(id) = transactional_id {
        return match broker
            .txn
            .init_producer_id(&id, req.transaction_timeout_ms, expected)
        {
            Ok((pid, epoch)) => resp
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(e) => {
                tracing::debug!(transactional_id = %id, error = %e, "InitProducerId refused");
                resp.with_error_code(crate::txn::fenced_code(e.code, ctx.api_version, 4).code())
            }
        };
    }
    if let Some((pid, epoch)) = expected.filter(|(p, e)| *p >= 0 && (0..i16::MAX - 1).contains(e)) {
        return resp
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch + 1);
    }
    match broker.next_producer_id() {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => resp.with_error_code(e.error_code()),
    }
}
