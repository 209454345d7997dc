//! InitProducerId (key 22).
//!
//! * Without a transactional id (idempotent producers): a request carrying an existing
//!   producer id and epoch (KIP-360, v3+) gets the same id with the epoch bumped; otherwise
//!   a fresh id with epoch 0. Needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
//! * With a transactional id: the transaction coordinator ([`crate::txn`]) answers
//!   (fencing by epoch, KIP-360 bumps, an ongoing transaction aborted first). Needs WRITE
//!   on the TRANSACTIONAL_ID. PRODUCER_FENCED is spelled INVALID_PRODUCER_EPOCH below v4.
//! * In a multi-node cluster a transactional id is refused (INVALID_REQUEST, with the
//!   reason logged): the coordinator's state and its markers are node-local until the
//!   transaction log is replicated, so markers could not reach partitions led by other
//!   brokers. Refusing keeps a transaction from committing on some partitions only.
//! * Write forwarding: while a cluster link has `mirror.produce.forwarding.enable=true`,
//!   a request without a transactional id is forwarded to that link's source (fresh ids
//!   and KIP-360 bumps alike), so an idempotent producer writing to a forwarding mirror
//!   holds an id the source allocated: a destination id could belong to another producer
//!   on the source. Its sequences then reach the mirror with the mirrored batches, and
//!   after promote the same id continues here. The id is reserved locally as well (this
//!   broker never allocates it later). The source's errors pass through (unreachable:
//!   REQUEST_TIMED_OUT, retriable); see `strait_link::forward`.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use strait_protocol::ErrorCode;

use crate::broker::Broker;
use crate::dispatch::RequestContext;

/// How long a forwarded InitProducerId may wait for the source (the request has no
/// timeout of its own; Kafka clients wait `request.timeout.ms`, 30 s by default).
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn handle(
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
        if broker.config.is_multi_voter() {
            tracing::warn!(transactional_id = %id, "InitProducerId refused: transactions are not supported in a multi-node Strait cluster yet (the transaction coordinator is node-local)");
            return resp.with_error_code(ErrorCode::InvalidRequest.code());
        }
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
    if let Some(links) = broker.links() {
        let deadline = std::time::Instant::now() + FORWARD_TIMEOUT;
        let (pid, epoch) = expected.unwrap_or((-1, -1));
        if let Some(forwarded) = links.forward_init_producer_id(pid, epoch, deadline).await {
            return match forwarded {
                Ok((pid, epoch, link)) => match broker.topics.reserve_producer_ids_above(pid) {
                    Ok(()) => {
                        tracing::debug!(producer_id = pid, epoch, link = %link, "producer id from the forwarding link's source");
                        resp.with_producer_id(ProducerId(pid))
                            .with_producer_epoch(epoch)
                    }
                    Err(e) => resp.with_error_code(e.error_code()),
                },
                Err(e) => {
                    tracing::warn!(code = %e.code, "InitProducerId refused: {}", e.message);
                    resp.with_error_code(e.code.code())
                }
            };
        }
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
