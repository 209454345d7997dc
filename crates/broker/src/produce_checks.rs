//! Transaction verification for the produce path (KIP-890 part 1): before a partition's
//! transactional records are appended, the transaction coordinator must confirm that the
//! producer's transaction is ongoing and holds the partition.
//!
//! Kafka's shape (`ReplicaManager.appendRecords` → `maybeSendPartitionsToTransactionCoordinator`
//! → `Partition.maybeStartTransactionVerification`, then `UnifiedLog.append` with the
//! `VerificationGuard`):
//! * no transactional batch, or no `transactional_id` in the request → no coordinator call;
//!   the log then accepts transactional batches only if they continue a transaction already
//!   open there, else INVALID_TXN_STATE (Kafka answers a transactional batch without a
//!   transactional id the same way);
//! * the producer's transaction (same epoch) is already open in the log → no coordinator call;
//! * otherwise the log hands out a guard, the coordinator is asked, and the append must
//!   present the guard. A marker written between the check and the append voids the guard,
//!   so a check that raced with EndTxn cannot open a transaction nobody will close.
//!
//! Coordinator errors are translated as Kafka translates them for produce clients: the
//! coordinator's PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH (since 2.7 the produce
//! path answers that, so the client aborts and retries instead of dying), retriable
//! coordinator errors become NOT_ENOUGH_REPLICAS (older clients retry it without a
//! metadata refresh), INVALID_TXN_STATE says the partition was not added.

use strait_protocol::ErrorCode;
use strait_records::BatchIter;
use strait_storage::{TxnVerification, VerificationGuard};

use crate::broker::Broker;
use crate::error::ApiError;
use crate::topics::Partition;

/// The verification guard to append `records` with: [`VerificationGuard::NONE`] unless the
/// records are transactional, the request names a transactional id and the producer has no
/// transaction open on this partition yet; then the coordinator's answer decides.
pub(crate) fn verify_transactional_records(
    broker: &Broker,
    partition: &Partition,
    topic: &str,
    index: i32,
    transactional_id: Option<&str>,
    records: &[u8],
    now_ms: i64,
) -> Result<VerificationGuard, ApiError> {
    let Some((producer_id, producer_epoch)) = transactional_producer(records) else {
        return Ok(VerificationGuard::NONE);
    };
    let Some(transactional_id) = transactional_id else {
        return Ok(VerificationGuard::NONE);
    };
    let guard = match partition
        .with_log_mut(|log| log.start_txn_verification(producer_id, producer_epoch, now_ms))?
    {
        TxnVerification::Ongoing => return Ok(VerificationGuard::NONE),
        TxnVerification::Required(guard) => guard,
    };
    broker
        .txn
        .verify_partition(transactional_id, producer_id, producer_epoch, topic, index)
        .map_err(|e| produce_error_of(e, topic, index))?;
    Ok(guard)
}

/// `(producer id, epoch)` of the first transactional data batch, if any. Framing errors
/// are left to the append, which reports them precisely; mixed or multi-producer
/// transactional appends are refused there too.
fn transactional_producer(records: &[u8]) -> Option<(i64, i16)> {
    let batches = BatchIter::frame_all(records).ok()?;
    batches.iter().find_map(|b| {
        let h = b.header();
        (h.is_transactional() && !h.is_control() && h.producer_id >= 0)
            .then_some((h.producer_id, h.producer_epoch))
    })
}

/// Kafka's translation of a coordinator verification error into a produce error
/// (`AddPartitionsToTxnManager` and `ReplicaManager.appendRecords`).
fn produce_error_of(e: ApiError, topic: &str, index: i32) -> ApiError {
    // Kafka names the underlying error by its constant.
    let underlying = match e.code {
        ErrorCode::ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
        ErrorCode::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
        ErrorCode::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
        ErrorCode::NotCoordinator => "NOT_COORDINATOR",
        _ => "NETWORK_EXCEPTION",
    };
    match e.code {
        ErrorCode::ProducerFenced => ApiError::new(
            ErrorCode::InvalidProducerEpoch,
            e.message
                .unwrap_or_else(|| format!("{topic}-{index}: the producer was fenced")),
        ),
        ErrorCode::InvalidTxnState => ApiError::new(
            ErrorCode::InvalidTxnState,
            "Partition was not added to the transaction",
        ),
        ErrorCode::ConcurrentTransactions
        | ErrorCode::CoordinatorLoadInProgress
        | ErrorCode::CoordinatorNotAvailable
        | ErrorCode::NotCoordinator
        | ErrorCode::NetworkException => ApiError::new(
            ErrorCode::NotEnoughReplicas,
            format!(
                "Unable to verify the partition has been added to the transaction. Underlying error: {underlying}"
            ),
        ),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_errors_become_produce_errors() {
        let fenced = produce_error_of(ApiError::code(ErrorCode::ProducerFenced), "t", 0);
        assert_eq!(fenced.code, ErrorCode::InvalidProducerEpoch);
        let busy = produce_error_of(ApiError::code(ErrorCode::ConcurrentTransactions), "t", 0);
        assert_eq!(busy.code, ErrorCode::NotEnoughReplicas);
        let state = produce_error_of(ApiError::code(ErrorCode::InvalidTxnState), "t", 0);
        assert_eq!(
            state.message.as_deref(),
            Some("Partition was not added to the transaction")
        );
        let mapping = produce_error_of(ApiError::code(ErrorCode::InvalidProducerIdMapping), "t", 0);
        assert_eq!(mapping.code, ErrorCode::InvalidProducerIdMapping);
    }

    #[test]
    fn only_transactional_data_needs_verification() {
        let plain = strait_records::BatchBuilder::new(0)
            .producer(3, 1, 0)
            .append(0, None, Some(b"v"))
            .build()
            .unwrap_or_default();
        assert_eq!(transactional_producer(&plain), None);
        let txn = strait_records::BatchBuilder::new(0)
            .producer(3, 1, 0)
            .transactional(true)
            .append(0, None, Some(b"v"))
            .build()
            .unwrap_or_default();
        assert_eq!(transactional_producer(&txn), Some((3, 1)));
        assert_eq!(transactional_producer(b"garbage"), None);
    }
}
