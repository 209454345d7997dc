//! The transaction coordinator: the one owner of every transactional id's state
//! (producer id and epoch, timeout, state, partitions and groups in the transaction).
//! This broker coordinates every transactional id (FindCoordinator answers itself).
//!
//! # Shape
//! * [`state`]: the pure state machine (Kafka's `TransactionMetadata` transitions).
//! * [`store`]: the transaction log those transitions are recorded in, replayed at open.
//! * [`markers`]: completing a PREPARE_* transaction: markers on every partition, the
//!   groups' transactional offsets, then COMPLETE_*.
//! * [`expiry`]: the timer (timed-out transactions aborted, idle ids removed, fsync,
//!   compaction, retries of incomplete completions).
//!
//! # Invariants
//! * One `Mutex` guards the map of ids and the store. A transition is computed on a copy
//!   ([`state`]), appended to the log (`write(2)` returned, so it survives `kill -9`), and
//!   only then installed; a failed write changes nothing and answers a retriable error.
//! * The lock is never held across `.await` nor across marker writes: a PREPARE_* state is
//!   installed under the lock, the lock is dropped, the markers are written, and the lock is
//!   taken again to install COMPLETE_*. While an id is PREPARE_* every request for it gets
//!   CONCURRENT_TRANSACTIONS (as in Kafka), so nothing else moves it meanwhile; `completing`
//!   makes sure one task at a time writes an id's markers.
//! * EndTxn answers after COMPLETE_* is durable. If a marker cannot be written (a storage
//!   error), the decision is still durable (PREPARE_*): EndTxn answers success, as Kafka
//!   does once PREPARE_* is written, and the timer retries the markers until they land.
//!   A deleted topic or partition is skipped.
//! * The coordinator epoch is bumped and persisted at every open; markers carry it.
//! * After a restart: PREPARE_* transactions are completed by [`TransactionCoordinator::start`]
//!   (markers written again: a duplicate marker is harmless, as in Kafka); ONGOING ones are
//!   aborted by the timer once they time out, with the epoch bumped.

pub mod expiry;
pub mod markers;
pub mod state;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use strait_protocol::ErrorCode;
use tokio::sync::Notify;

use crate::config::BrokerConfig;
use crate::error::ApiError;
use crate::groups::GroupCoordinator;
use crate::metadata::MetadataError;
use crate::topics::{now_ms, TopicManager};
use state::{EndStep, InitStep, TxnMetadata, TxnState};
use store::{TxnRecord, TxnStore};

/// The coordinator's settings (broker keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: idle ids are removed after this long.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_interval_ms: u64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub remove_interval_ms: u64,
}

impl TxnConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        TxnConfig {
            max_timeout_ms: c.transaction_max_timeout_ms,
            id_expiration_ms: c.transactional_id_expiration_ms,
            abort_interval_ms: c.transaction_abort_timed_out_transaction_cleanup_interval_ms,
            remove_interval_ms: c.transaction_remove_expired_transaction_cleanup_interval_ms,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn store_error(e: &MetadataError) -> ApiError {
    tracing::warn!(error = %e, "cannot write the transaction log");
    ApiError::new(
        ErrorCode::CoordinatorNotAvailable,
        format!("cannot persist transaction state: {e}"),
    )
}

pub(crate) struct Inner {
    pub(crate) txns: HashMap<String, TxnMetadata>,
    store: TxnStore,
    /// Ids whose markers some task is writing right now.
    pub(crate) completing: HashSet<String>,
    pub(crate) last_removal_check: Instant,
}

impl Inner {
    /// Makes `next` durable, then installs it.
    fn persist(&mut self, next: TxnMetadata) -> Result<(), ApiError> {
        self.store
            .append(&TxnRecord::Txn(next.clone()))
            .map_err(|e| store_error(&e))?;
        self.txns.insert(next.transactional_id.clone(), next);
        Ok(())
    }

    /// Tombstones `id`, then forgets it.
    fn remove(&mut self, id: &str) -> Result<(), ApiError> {
        self.store
            .append(&TxnRecord::Removed {
                transactional_id: id.to_string(),
            })
            .map_err(|e| store_error(&e))?;
        self.txns.remove(id);
        Ok(())
    }
}

/// Owns all transactional-id state of this broker (it coordinates every transactional id).
pub struct TransactionCoordinator {
    config: TxnConfig,
    topics: Arc<TopicManager>,
    groups: Arc<GroupCoordinator>,
    coordinator_epoch: i32,
    state: Mutex<Inner>,
    wake: Arc<Notify>,
    timer: OnceLock<()>,
    recovered: OnceLock<()>,
    /// Tests: this many marker writes fail as a storage error would.
    #[cfg(test)]
    pub(crate) fail_markers: std::sync::atomic::AtomicU32,
}

impl TransactionCoordinator {
    /// Opens (replays) the persisted transaction state under `config.log_dir` and records
    /// the new coordinator epoch.
    pub fn open(
        config: &BrokerConfig,
        topics: Arc<TopicManager>,
        groups: Arc<GroupCoordinator>,
    ) -> Result<Self, MetadataError> {
        let (mut store, loaded) = TxnStore::open(&config.log_dir)?;
        if loaded.truncated_bytes > 0 {
            tracing::warn!(
                dropped_bytes = loaded.truncated_bytes,
                "transaction log had a torn tail; recovered every complete record"
            );
        }
        let coordinator_epoch = loaded.coordinator_epoch.saturating_add(1).max(0);
        store.append(&TxnRecord::CoordinatorEpoch {
            epoch: coordinator_epoch,
        })?;
        let prepared = loaded
            .txns
            .values()
            .filter(|m| m.state.is_prepare())
            .count();
        tracing::info!(
            transactional_ids = loaded.txns.len(),
            prepared,
            coordinator_epoch,
            "transaction coordinator opened"
        );
        Ok(TransactionCoordinator {
            config: TxnConfig::from_broker(config),
            topics,
            groups,
            coordinator_epoch,
            state: Mutex::new(Inner {
                txns: loaded.txns,
                store,
                completing: HashSet::new(),
                last_removal_check: Instant::now(),
            }),
            wake: Arc::new(Notify::new()),
            timer: OnceLock::new(),
            recovered: OnceLock::new(),
            #[cfg(test)]
            fail_markers: std::sync::atomic::AtomicU32::new(0),
        })
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// The epoch markers carry (bumped at every open).
    pub fn coordinator_epoch(&self) -> i32 {
        self.coordinator_epoch
    }

    /// Starts the background work: completes the PREPARE_* transactions found at open
    /// (synchronously, before it returns), then the timer that aborts timed-out transactions
    /// and expires idle transactional ids (needs a tokio runtime, else only the first part
    /// runs). Idempotent.
    pub fn start(self: &Arc<Self>) {
        if self.recovered.set(()).is_ok() {
            let prepared: Vec<String> = lock(&self.state)
                .txns
                .values()
                .filter(|m| m.state.is_prepare())
                .map(|m| m.transactional_id.clone())
                .collect();
            for id in prepared {
                match self.drive_completion(&id) {
                    Ok(true) => {
                        tracing::info!(transactional_id = %id, "completed a transaction left prepared by the previous run")
                    }
                    Ok(false) => {
                        tracing::warn!(transactional_id = %id, "could not complete a prepared transaction yet; retrying in the background")
                    }
                    Err(e) => {
                        tracing::warn!(transactional_id = %id, error = %e, "could not complete a prepared transaction yet; retrying in the background")
                    }
                }
            }
        }
        if self.timer.get().is_some() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.timer.set(()).is_err() {
            return;
        }
        handle.spawn(expiry::run_timer(Arc::downgrade(self), self.wake.clone()));
    }

    /// InitProducerId with a transactional id: the producer id and epoch to use. The
    /// timeout must be in `1..=transaction.max.timeout.ms`. An ongoing transaction of the
    /// id is aborted first with a bumped epoch (fencing the old producer everywhere).
    pub fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ApiError> {
        if transactional_id.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "transactional id must not be empty",
            ));
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ApiError::new(
                ErrorCode::InvalidTransactionTimeout,
                format!(
                    "transaction timeout {timeout_ms} ms must be between 1 and transaction.max.timeout.ms ({} ms)",
                    self.config.max_timeout_ms
                ),
            ));
        }
        // At most: fence+abort, then the bump (twice only if the abort completes).
        for _ in 0..2 {
            let step = {
                let mut st = lock(&self.state);
                let topics = &self.topics;
                let step = state::init_producer_id(
                    st.txns.get(transactional_id),
                    transactional_id,
                    timeout_ms,
                    expected,
                    now_ms(),
                    &mut || topics.next_producer_id(),
                )?;
                match step {
                    InitStep::Ready(next) => {
                        let answer = (next.producer_id, next.producer_epoch);
                        st.persist(next)?;
                        return Ok(answer);
                    }
                    InitStep::FenceAndAbort(next) => {
                        tracing::info!(
                            transactional_id,
                            producer_id = next.producer_id,
                            fenced_epoch = next.producer_epoch - 1,
                            "InitProducerId fences the producer of an ongoing transaction and aborts it"
                        );
                        st.persist(next.clone())?;
                        next
                    }
                }
            };
            if !self.drive_completion(&step.transactional_id)? {
                break;
            }
        }
        Err(ApiError::new(
            ErrorCode::ConcurrentTransactions,
            format!("the ongoing transaction of '{transactional_id}' is being aborted; retry"),
        ))
    }

    /// AddPartitionsToTxn for partitions the handler already checked (they exist, are
    /// writable and authorized).
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ApiError> {
        let mut st = lock(&self.state);
        let next = state::add_partitions(
            st.txns.get(transactional_id),
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            now_ms(),
        )?;
        match next {
            Some(next) => st.persist(next),
            None => Ok(()),
        }
    }

    /// AddOffsetsToTxn: `group` joins the transaction.
    pub fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group: &str,
    ) -> Result<(), ApiError> {
        let mut st = lock(&self.state);
        let next = state::add_group(
            st.txns.get(transactional_id),
            transactional_id,
            producer_id,
            producer_epoch,
            group,
            now_ms(),
        )?;
        match next {
            Some(next) => st.persist(next),
            None => Ok(()),
        }
    }

    /// EndTxn: commit or abort the ongoing transaction; returns once it is complete (or,
    /// if a marker could not be written, once the decision is durable: see the module doc).
    pub fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), ApiError> {
        {
            let mut st = lock(&self.state);
            match state::end_txn(
                st.txns.get(transactional_id),
                transactional_id,
                producer_id,
                producer_epoch,
                commit,
                now_ms(),
            )? {
                EndStep::AlreadyDone => return Ok(()),
                EndStep::Prepare(next) => st.persist(next)?,
            }
        }
        match self.drive_completion(transactional_id) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(transactional_id, commit, "transaction decided, but not every marker is written yet; retrying in the background");
                self.wake.notify_one();
            }
            Err(e) => {
                tracing::warn!(transactional_id, commit, error = %e, "transaction decided, but it could not be completed yet; retrying in the background");
                self.wake.notify_one();
            }
        }
        Ok(())
    }

    /// The metadata of `transactional_id` (DescribeTransactions).
    pub fn describe(&self, transactional_id: &str) -> Option<TxnMetadata> {
        lock(&self.state)
            .txns
            .get(transactional_id)
            .filter(|m| m.state != TxnState::Dead)
            .cloned()
    }

    /// Every live transactional id's metadata (ListTransactions), sorted by id.
    pub fn list(&self) -> Vec<TxnMetadata> {
        let mut all: Vec<TxnMetadata> = lock(&self.state)
            .txns
            .values()
            .filter(|m| m.state != TxnState::Dead)
            .cloned()
            .collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }

    fn check_current(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        old_epoch: ErrorCode,
    ) -> Result<TxnMetadata, ApiError> {
        let st = lock(&self.state);
        let md = st
            .txns
            .get(transactional_id)
            .filter(|m| m.state != TxnState::Dead && m.producer_id == producer_id)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidProducerIdMapping,
                    format!(
                        "producer id {producer_id} is not the producer of transactional id '{transactional_id}'"
                    ),
                )
            })?;
        if producer_epoch != md.producer_epoch {
            return Err(ApiError::new(
                old_epoch,
                format!(
                    "producer epoch {producer_epoch} is not the current epoch {} of transactional id '{transactional_id}'",
                    md.producer_epoch
                ),
            ));
        }
        Ok(md.clone())
    }

    /// Produce-path verification (KIP-890 part 1): `Ok` when `transactional_id`'s current
    /// producer is (`producer_id`, `producer_epoch`), its transaction is ONGOING and
    /// `topic`-`partition` was added to it with AddPartitionsToTxn. Errors carry Kafka's
    /// code: INVALID_PRODUCER_EPOCH (Produce's code) for another epoch,
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
        let md = self.check_current(
            transactional_id,
            producer_id,
            producer_epoch,
            ErrorCode::InvalidProducerEpoch,
        )?;
        if md.state != TxnState::Ongoing || !md.partitions.contains(&(topic.to_string(), partition))
        {
            return Err(ApiError::new(
                ErrorCode::InvalidTxnState,
                format!(
                    "{topic}-{partition} is not in an ongoing transaction of '{transactional_id}' (state {}); call AddPartitionsToTxn first",
                    md.state.name()
                ),
            ));
        }
        Ok(())
    }

    /// TxnOffsetCommit verification: `Ok` when `transactional_id`'s current producer is
    /// (`producer_id`, `producer_epoch`), its transaction is ONGOING and `group` was added
    /// with AddOffsetsToTxn. Errors: PRODUCER_FENCED for another epoch (TxnOffsetCommit v3+
    /// spelling; below v3 Kafka answers INVALID_PRODUCER_EPOCH, see [`fenced_code`]), else as
    /// [`Self::verify_partition`].
    pub fn verify_group(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group: &str,
    ) -> Result<(), ApiError> {
        let md = self.check_current(
            transactional_id,
            producer_id,
            producer_epoch,
            ErrorCode::ProducerFenced,
        )?;
        if md.state != TxnState::Ongoing || !md.groups.contains(group) {
            return Err(ApiError::new(
                ErrorCode::InvalidTxnState,
                format!(
                    "group '{group}' is not in an ongoing transaction of '{transactional_id}' (state {}); call AddOffsetsToTxn first",
                    md.state.name()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state)
    }
}

/// PRODUCER_FENCED exists from InitProducerId v4, AddPartitionsToTxn / AddOffsetsToTxn /
/// EndTxn v2 and TxnOffsetCommit v3 (KIP-588); older versions get INVALID_PRODUCER_EPOCH,
/// which those clients treat the same way (as Kafka's `KafkaApis` does).
pub fn fenced_code(code: ErrorCode, version: i16, fenced_since: i16) -> ErrorCode {
    if code == ErrorCode::ProducerFenced && version < fenced_since {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod coordinator_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_code_per_version() {
        assert_eq!(
            fenced_code(ErrorCode::ProducerFenced, 1, 2),
            ErrorCode::InvalidProducerEpoch
        );
        assert_eq!(
            fenced_code(ErrorCode::ProducerFenced, 2, 2),
            ErrorCode::ProducerFenced
        );
        assert_eq!(
            fenced_code(ErrorCode::InvalidTxnState, 0, 2),
            ErrorCode::InvalidTxnState
        );
    }
}
