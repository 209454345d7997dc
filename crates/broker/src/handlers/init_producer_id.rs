//! InitProducerId (key 22) for idempotent producers. A request carrying an existing
//! producer id and epoch (KIP-360, v3+) gets the same id with the epoch bumped; otherwise a
//! fresh id with epoch 0. Transactional ids need the transaction coordinator, which Strait
//! does not have yet, and are refused with a message saying so.

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
    if let Some(e) = crate::auth::check_init_producer_id(
        broker,
        ctx,
        req.transactional_id
            .as_ref()
            .map(|t| t.to_string())
            .as_deref(),
    ) {
        return resp.with_error_code(e.code());
    }
    if req.transactional_id.is_some() {
        tracing::info!(
            "refusing InitProducerId with a transactional.id: transactions are not supported yet"
        );
        return resp.with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code());
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return resp
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match broker.next_producer_id() {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => resp.with_error_code(e.error_code()),
    }
}
