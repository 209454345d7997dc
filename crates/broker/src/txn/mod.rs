//! The transaction coordinator: the one owner of every transactional id's state
//! (producer id and epoch, timeout, state, partitions and groups in the transaction).
//!
//! SKELETON (lead seam): the public API below is what the produce path, the group
//! coordinator and the handlers call. The implementation replaces the bodies.

use std::sync::Arc;

use strait_protocol::ErrorCode;

use crate::config::BrokerConfig;
use crate::error::ApiError;
use crate::groups::GroupCoordinator;
use crate::metadata::MetadataError;
use crate::topics::TopicManager;

/// Owns all transactional-id state of this broker (it coordinates every transactional id).
pub struct TransactionCoordinator {
    #[allow(dead_code)]
    topics: Arc<TopicManager>,
    #[allow(dead_code)]
    groups: Arc<GroupCoordinator>,
}

impl TransactionCoordinator {
    /// Opens (replays) the persisted transaction state under `config.log_dir`.
    pub fn open(
        _config: &BrokerConfig,
        topics: Arc<TopicManager>,
        groups: Arc<GroupCoordinator>,
    ) -> Result<Self, MetadataError> {
        Ok(TransactionCoordinator { topics, groups })
    }

    /// Starts the background work (completing PREPARE_* transactions found at open,
    /// aborting timed-out transactions, expiring idle transactional ids). Needs a tokio
    /// runtime; idempotent.
    pub fn start(self: &Arc<Self>) {}

    /// Produce-path verification (KIP-890 part 1): `Ok` when `transactional_id`'s current
    /// producer is (`producer_id`, `producer_epoch`), its transaction is ONGOING and
    /// `topic`-`partition` was added to it with AddPartitionsToTxn. Errors carry Kafka's
    /// code: INVALID_PRODUCER_EPOCH / PRODUCER_FENCED for an old epoch,
    /// INVALID_PRODUCER_ID_MAPPING for an unknown id or producer, INVALID_TXN_STATE when the
    /// partition is not in an ongoing transaction.
    pub fn verify_partition(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ApiError> {
        let _ = (transactional_id, producer_id, producer_epoch, topic, partition);
        Err(ApiError::new(
            ErrorCode::InvalidTxnState,
            "transaction coordinator not implemented yet",
        ))
    }

    /// TxnOffsetCommit verification: `Ok` when `transactional_id`'s current producer is
    /// (`producer_id`, `producer_epoch`), its transaction is ONGOING and `group` was added
    /// with AddOffsetsToTxn. Same error codes as [`Self::verify_partition`].
    pub fn verify_group(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group: &str,
    ) -> Result<(), ApiError> {
        let _ = (transactional_id, producer_id, producer_epoch, group);
        Err(ApiError::new(
            ErrorCode::InvalidTxnState,
            "transaction coordinator not implemented yet",
        ))
    }
}
