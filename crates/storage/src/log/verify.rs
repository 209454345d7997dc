//! Transaction verification guards for leader appends (KIP-890 part 1; Kafka's
//! `VerificationGuard`, `VerificationStateEntry` and `UnifiedLog.maybeStartTransactionVerification`).
//!
//! A transactional batch may only **open** a transaction on this partition after the
//! transaction coordinator confirmed that the producer's transaction is ongoing and holds
//! the partition. The produce path asks the log first ([`PartitionLog::start_txn_verification`]):
//! * the producer already has a transaction open here at the batch's epoch → nothing to
//!   verify, the batch continues it (Kafka skips the coordinator then too);
//! * otherwise the log hands out a [`VerificationGuard`] and remembers it for the
//!   producer (requests in flight together share it); the caller asks the coordinator,
//!   then appends presenting the guard.
//!
//! # Invariants
//! * A guard is accepted only while it is the producer's remembered one. A transaction
//!   marker for the producer (any path: coordinator, WriteTxnMarkers, mirror, cutover)
//!   forgets it, so a check that raced with the end of the transaction can never open a
//!   transaction the coordinator already closed (it would hang the LSO forever).
//! * A transactional append that opens the transaction consumes the guard: the open
//!   transaction itself is the proof from then on.
//! * Guards live in memory only (a restart drops them; the producer's retry verifies
//!   again) and are pruned once older than [`GUARD_TTL_MS`], so failed checks do not
//!   accumulate.

use std::sync::atomic::{AtomicU64, Ordering};

use super::PartitionLog;

/// Process-wide source of guard values; 0 is [`VerificationGuard::NONE`], so a guard taken
/// on one log (or before a reopen) never matches another's.
static NEXT_GUARD: AtomicU64 = AtomicU64::new(1);

/// How long an unused guard is remembered: far above any produce request's lifetime.
pub(super) const GUARD_TTL_MS: i64 = 10 * 60 * 1000;

/// Prune stale guards only once this many are remembered (keeps the common path O(1)).
const PRUNE_ABOVE: usize = 1024;

/// Proof that the transaction coordinator was asked about one producer on one partition.
/// [`VerificationGuard::NONE`] (Kafka's `SENTINEL`) proves nothing: every non-produce
/// caller passes it, and with it a transactional batch is accepted only if it continues a
/// transaction already open in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerificationGuard(u64);

impl VerificationGuard {
    pub const NONE: Self = VerificationGuard(0);
}

/// What the caller must do before a transactional append of one producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnVerification {
    /// The producer's transaction at this epoch is already open in this log: append with
    /// [`VerificationGuard::NONE`], no coordinator round trip needed.
    Ongoing,
    /// Ask the coordinator; if it confirms, append with this guard.
    Required(VerificationGuard),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct VerificationEntry {
    guard: VerificationGuard,
    epoch: i16,
    created_ms: i64,
}

impl PartitionLog {
    /// Starts verifying a transactional append of `producer_id` at `producer_epoch` (see
    /// the module docs). Requests in flight together for the same producer and epoch (a
    /// producer pipelines up to five) share one guard, as Kafka's
    /// `maybeCreateVerificationStateEntry` reuses the entry: the first append spends it and
    /// the others continue the transaction it opened. Another epoch gets a fresh guard.
    pub fn start_txn_verification(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        now_ms: i64,
    ) -> TxnVerification {
        if self.has_ongoing_txn(producer_id, producer_epoch) {
            return TxnVerification::Ongoing;
        }
        if self.verifications.len() >= PRUNE_ABOVE {
            self.verifications
                .retain(|_, v| now_ms.saturating_sub(v.created_ms) < GUARD_TTL_MS);
        }
        if let Some(v) = self
            .verifications
            .get(&producer_id)
            .filter(|v| v.epoch == producer_epoch)
        {
            return TxnVerification::Required(v.guard);
        }
        let guard = VerificationGuard(NEXT_GUARD.fetch_add(1, Ordering::Relaxed));
        self.verifications.insert(
            producer_id,
            VerificationEntry {
                guard,
                epoch: producer_epoch,
                created_ms: now_ms,
            },
        );
        TxnVerification::Required(guard)
    }

    /// Whether `producer_id` has a transaction open in this log at `producer_epoch`.
    pub(super) fn has_ongoing_txn(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.producers
            .get(producer_id)
            .is_some_and(|e| e.current_txn_first_offset.is_some() && e.epoch == producer_epoch)
    }

    /// Whether `guard` is `producer_id`'s remembered guard for `producer_epoch`.
    pub(super) fn guard_matches(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        guard: VerificationGuard,
    ) -> bool {
        guard != VerificationGuard::NONE
            && self
                .verifications
                .get(&producer_id)
                .is_some_and(|v| v.guard == guard && v.epoch == producer_epoch)
    }

    /// Forgets `producer_id`'s guard (a marker ended its transaction, or an append opened it).
    pub(super) fn clear_verification(&mut self, producer_id: i64) {
        self.verifications.remove(&producer_id);
    }
}
