//! Offsets committed inside a transaction (TxnOffsetCommit).
//!
//! SKELETON (lead seam): the transaction coordinator calls [`GroupCoordinator::end_txn_offsets`]
//! for every group of a transaction when it writes the transaction's markers.

use super::GroupCoordinator;
use crate::metadata::MetadataError;

impl GroupCoordinator {
    /// Completes the pending transactional offsets of `producer_id` in `group`: on commit
    /// they become the group's committed offsets (visible to OffsetFetch), on abort they
    /// are discarded. Persisted before it returns; idempotent (nothing pending: no-op).
    pub fn end_txn_offsets(
        &self,
        group: &str,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), MetadataError> {
        let _ = (group, producer_id, commit);
        Ok(())
    }
}
