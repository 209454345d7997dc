//! The transaction state machine: one [`TxnMetadata`] per transactional id and the pure
//! functions that compute its next value for each request (Kafka's `TransactionMetadata`
//! transitions and `TransactionCoordinator` checks).
//!
//! # Invariants
//! * Nothing here mutates: every function takes the current metadata (or `None` for an id
//!   never seen) and returns the *next* metadata, or Kafka's error. The coordinator makes
//!   the next value durable in the transaction log and only then installs it, so bad input
//!   (or a failed write) leaves the state exactly as it was.
//! * `partitions` and `groups` are non-empty only in ONGOING / PREPARE_*; a transaction's
//!   completion clears them (as Kafka's `prepareComplete`).
//! * Producer epochs only grow for one producer id; when the epoch is exhausted
//!   (`>= i16::MAX - 1`) InitProducerId rotates to a fresh producer id with epoch 0 and
//!   remembers the previous one (`last_producer_id`) so a retried request is recognised.
//!
//! PREPARE_EPOCH_FENCE is only a name here (DescribeTransactions/ListTransactions filters):
//! Kafka never writes it to its log either (it is a pending state), and Strait performs the
//! fence and the abort in one step (see [`init_producer_id`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use strait_protocol::ErrorCode;

use crate::error::ApiError;

/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH` / `NO_PRODUCER_ID`.
pub const NO_EPOCH: i16 = -1;
pub const NO_PRODUCER_ID: i64 = -1;

/// The states of a transactional id (Kafka's `TransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    PrepareEpochFence,
    Dead,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::PrepareEpochFence,
        TxnState::Dead,
    ];

    /// The name Kafka's admin APIs use (`TransactionState.stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
            TxnState::Dead => "Dead",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// No transaction in flight: a new one may start, the id may expire.
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }

    pub fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// Everything the coordinator knows about one transactional id (Kafka's
/// `TransactionMetadata`); one of these is one record of the transaction log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion), else -1.
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last InitProducerId bump when the client named its epoch
    /// (KIP-360), so a retried InitProducerId gets the same answer; else -1.
    pub last_producer_epoch: i16,
    pub txn_timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub groups: BTreeSet<String>,
    /// When the current (or last) transaction started; -1 if none ever did.
    pub txn_start_timestamp: i64,
    pub txn_last_update_timestamp: i64,
}

/// `producerEpoch >= Short.MaxValue - 1`: bumping further is not possible.
pub fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

fn err(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn fenced(md: &TxnMetadata, epoch: i16) -> ApiError {
    err(
        ErrorCode::ProducerFenced,
        format!(
            "producer epoch {epoch} of transactional id '{}' is not the current epoch {} (a newer producer with the same transactional.id has been initialised)",
            md.transactional_id, md.producer_epoch
        ),
    )
}

fn concurrent(md: &TxnMetadata) -> ApiError {
    err(
        ErrorCode::ConcurrentTransactions,
        format!(
            "transactional id '{}' is completing a transaction ({}); retry",
            md.transactional_id,
            md.state.name()
        ),
    )
}

fn invalid_state(md: &TxnMetadata, what: &str) -> ApiError {
    err(
        ErrorCode::InvalidTxnState,
        format!(
            "{what} is not valid for transactional id '{}' in state {}",
            md.transactional_id,
            md.state.name()
        ),
    )
}

impl TxnMetadata {
    /// A transactional id seen for the first time (Kafka creates it with no epoch and then
    /// bumps it to 0).
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            last_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_EPOCH,
            last_producer_epoch: NO_EPOCH,
            txn_timeout_ms: timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            txn_start_timestamp: -1,
            txn_last_update_timestamp: now_ms,
        }
    }

    /// Checks that (`producer_id`, `epoch`) is the id's current producer (the checks of
    /// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn from a client).
    pub fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), ApiError> {
        if self.state == TxnState::Dead || producer_id != self.producer_id {
            return Err(err(
                ErrorCode::InvalidProducerIdMapping,
                format!(
                    "producer id {producer_id} is not the producer of transactional id '{}'",
                    self.transactional_id
                ),
            ));
        }
        if epoch != self.producer_epoch {
            return Err(fenced(self, epoch));
        }
        Ok(())
    }

    fn transit(&self, state: TxnState, now_ms: i64) -> TxnMetadata {
        let mut next = self.clone();
        next.state = state;
        next.txn_last_update_timestamp = now_ms;
        next
    }
}

fn unknown_id(transactional_id: &str) -> ApiError {
    err(
        ErrorCode::InvalidProducerIdMapping,
        format!(
            "transactional id '{transactional_id}' has no producer (call InitProducerId first)"
        ),
    )
}

/// What [`init_producer_id`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitStep {
    /// Persist this (state EMPTY) and answer with its producer id and epoch.
    Ready(TxnMetadata),
    /// The id has an ongoing transaction: persist this (PREPARE_ABORT with the epoch
    /// bumped, which fences the old producer), write its abort markers, complete it, then
    /// run [`init_producer_id`] again on the result. Kafka answers CONCURRENT_TRANSACTIONS
    /// here and lets the client retry; doing the retry in the coordinator gives the client
    /// the same final answer in one round trip.
    FenceAndAbort(TxnMetadata),
}

/// InitProducerId with a transactional id. `current` is the id's metadata (`None` for a new
/// id); `expected` the producer id and epoch the request carries (KIP-360, v3+, when not
/// -1); `new_producer_id` hands out a fresh id when one is needed. The timeout was checked
/// by the caller.
pub fn init_producer_id(
    current: Option<&TxnMetadata>,
    transactional_id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    now_ms: i64,
    new_producer_id: &mut dyn FnMut() -> Result<i64, ApiError>,
) -> Result<InitStep, ApiError> {
    let created;
    let md = match current.filter(|m| m.state != TxnState::Dead) {
        Some(m) => m,
        None => {
            created = TxnMetadata::new(transactional_id, new_producer_id()?, timeout_ms, now_ms);
            &created
        }
    };
    if let Some((pid, epoch)) = expected {
        // Kafka's isValidProducerId: a just-created id, the current producer id, or the
        // previous one after a rotation whose response the client never got.
        let valid = md.producer_epoch == NO_EPOCH
            || pid == md.producer_id
            || (pid == md.last_producer_id && epoch_exhausted(epoch));
        if !valid {
            return Err(err(
                ErrorCode::ProducerFenced,
                format!(
                    "producer id {pid} is not the current producer of transactional id '{transactional_id}'"
                ),
            ));
        }
    }
    match md.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort => Err(concurrent(md)),
        TxnState::Ongoing => {
            // Fence: bump the epoch (unless it cannot grow) and abort with it, so the
            // markers fence the old producer at every partition.
            Ok(InitStep::FenceAndAbort(fence(md, now_ms)))
        }
        TxnState::PrepareEpochFence | TxnState::Dead => Err(concurrent(md)),
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
            let mut next = md.transit(TxnState::Empty, now_ms);
            next.txn_timeout_ms = timeout_ms;
            next.partitions.clear();
            next.groups.clear();
            if epoch_exhausted(md.producer_epoch)
                && expected.is_none_or(|(_, e)| e == md.producer_epoch)
            {
                // Kafka's prepareProducerIdRotation.
                next.last_producer_id = md.producer_id;
                next.producer_id = new_producer_id()?;
                next.producer_epoch = 0;
                next.last_producer_epoch = if expected.is_some() {
                    md.producer_epoch
                } else {
                    NO_EPOCH
                };
                return Ok(InitStep::Ready(next));
            }
            // Kafka's prepareIncrementProducerEpoch.
            let bumped = md.producer_epoch + 1;
            let (epoch, last) = match expected {
                None => (bumped, NO_EPOCH),
                Some((_, e)) if md.producer_epoch == NO_EPOCH || e == md.producer_epoch => {
                    (bumped, md.producer_epoch)
                }
                // A retry of a bump whose answer was lost: the same answer again.
                Some((_, e)) if e == md.last_producer_epoch => {
                    (md.producer_epoch, md.last_producer_epoch)
                }
                Some((_, e)) => return Err(fenced(md, e)),
            };
            next.producer_epoch = epoch;
            next.last_producer_epoch = last;
            Ok(InitStep::Ready(next))
        }
    }
}

/// What a member-adding request (AddPartitionsToTxn, AddOffsetsToTxn) decided.
fn begin_or_extend(
    current: Option<&TxnMetadata>,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    now_ms: i64,
    already_in: impl Fn(&TxnMetadata) -> bool,
    add: impl FnOnce(&mut TxnMetadata),
) -> Result<Option<TxnMetadata>, ApiError> {
    let md = current.ok_or_else(|| unknown_id(transactional_id))?;
    md.check_producer(producer_id, epoch)?;
    match md.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
            Err(concurrent(md))
        }
        TxnState::Dead => Err(unknown_id(transactional_id)),
        TxnState::Ongoing if already_in(md) => Ok(None),
        TxnState::Ongoing => {
            let mut next = md.transit(TxnState::Ongoing, now_ms);
            add(&mut next);
            Ok(Some(next))
        }
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
            let mut next = md.transit(TxnState::Ongoing, now_ms);
            next.partitions.clear();
            next.groups.clear();
            next.txn_start_timestamp = now_ms;
            add(&mut next);
            Ok(Some(next))
        }
    }
}

/// AddPartitionsToTxn: `Ok(None)` when every partition is already in the ongoing
/// transaction (nothing to persist).
pub fn add_partitions(
    current: Option<&TxnMetadata>,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    partitions: &[(String, i32)],
    now_ms: i64,
) -> Result<Option<TxnMetadata>, ApiError> {
    begin_or_extend(
        current,
        transactional_id,
        producer_id,
        epoch,
        now_ms,
        |md| partitions.iter().all(|p| md.partitions.contains(p)),
        |next| next.partitions.extend(partitions.iter().cloned()),
    )
}

/// AddOffsetsToTxn: the group joins the transaction (its TxnOffsetCommit offsets are
/// completed with the markers).
pub fn add_group(
    current: Option<&TxnMetadata>,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    group: &str,
    now_ms: i64,
) -> Result<Option<TxnMetadata>, ApiError> {
    begin_or_extend(
        current,
        transactional_id,
        producer_id,
        epoch,
        now_ms,
        |md| md.groups.contains(group),
        |next| {
            next.groups.insert(group.to_string());
        },
    )
}

/// What [`end_txn`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndStep {
    /// Persist this (PREPARE_COMMIT / PREPARE_ABORT), write the markers, complete.
    Prepare(TxnMetadata),
    /// A retry of an EndTxn that already completed with the same outcome: success.
    AlreadyDone,
}

/// EndTxn from the client (transactions v1: the epoch must be the current one).
pub fn end_txn(
    current: Option<&TxnMetadata>,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    now_ms: i64,
) -> Result<EndStep, ApiError> {
    let md = current.ok_or_else(|| unknown_id(transactional_id))?;
    md.check_producer(producer_id, epoch)?;
    let what = if commit {
        "EndTxn(commit)"
    } else {
        "EndTxn(abort)"
    };
    match (md.state, commit) {
        (TxnState::Ongoing, _) => Ok(EndStep::Prepare(md.transit(
            if commit {
                TxnState::PrepareCommit
            } else {
                TxnState::PrepareAbort
            },
            now_ms,
        ))),
        (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
            Ok(EndStep::AlreadyDone)
        }
        (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => Err(concurrent(md)),
        (TxnState::PrepareEpochFence, _) | (TxnState::Dead, _) => Err(concurrent(md)),
        _ => Err(invalid_state(md, what)),
    }
}

/// PREPARE_COMMIT → COMPLETE_COMMIT, PREPARE_ABORT → COMPLETE_ABORT, once every marker is
/// written. `None` for any other state.
pub fn complete(md: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    let state = match md.state {
        TxnState::PrepareCommit => TxnState::CompleteCommit,
        TxnState::PrepareAbort => TxnState::CompleteAbort,
        _ => return None,
    };
    let mut next = md.transit(state, now_ms);
    next.partitions.clear();
    next.groups.clear();
    Some(next)
}

/// The coordinator's abort of a transaction that outlived its timeout: PREPARE_ABORT with
/// the epoch bumped (fencing the producer, as Kafka's `abortTimedOutTransactions`). `None`
/// when the transaction is not ongoing or not yet timed out.
pub fn abort_timed_out(md: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    if md.state != TxnState::Ongoing
        || md
            .txn_start_timestamp
            .saturating_add(i64::from(md.txn_timeout_ms))
            > now_ms
    {
        return None;
    }
    Some(fence(md, now_ms))
}

/// Kafka's `prepareFenceProducerEpoch` followed by the abort: PREPARE_ABORT with the epoch
/// bumped (unless it cannot grow) and no previous epoch to accept a retry with.
fn fence(md: &TxnMetadata, now_ms: i64) -> TxnMetadata {
    let mut next = md.transit(TxnState::PrepareAbort, now_ms);
    if md.producer_epoch < i16::MAX {
        next.producer_epoch = md.producer_epoch + 1;
    }
    next.last_producer_epoch = NO_EPOCH;
    next
}

/// An idle id not used for `expiration_ms` is removed (`transactional.id.expiration.ms`).
pub fn expired(md: &TxnMetadata, now_ms: i64, expiration_ms: i64) -> bool {
    md.state.is_idle() && md.txn_last_update_timestamp.saturating_add(expiration_ms) <= now_ms
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
