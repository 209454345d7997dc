//! Completing a decided transaction: a COMMIT or ABORT control batch (Kafka's marker
//! format, with the producer id and epoch of the PREPARE_* state and the coordinator epoch)
//! on every partition of the transaction, the transactional offsets of every group
//! completed, then COMPLETE_* persisted.
//!
//! # Invariants
//! * Runs without the coordinator lock (the id is PREPARE_*, so nothing else changes it;
//!   `Inner::completing` keeps a second task from writing the same markers concurrently).
//! * The markers are written on the I/O threads, each on its partition's lane, so a marker
//!   lands after every append queued on its partition before it; the caller waits without
//!   doing file I/O on its own thread.
//! * Retriable failures (a storage error: the log is offline or an I/O error, or the group
//!   store cannot be written) leave the id PREPARE_*; the timer drives it again. Writing
//!   the markers again is harmless (a marker for a producer with no open transaction only
//!   takes an offset, as in Kafka).
//! * A deleted topic or partition is skipped. A partition that refuses the marker for good
//!   (a newer producer epoch or coordinator epoch there) is skipped with a warning: retrying
//!   would never succeed.

use strait_storage::AppendError;

use super::state::{self, TxnMetadata, TxnState};
use super::TransactionCoordinator;
use crate::error::ApiError;
use crate::topics::now_ms;

impl TransactionCoordinator {
    /// Completes `transactional_id` if it is PREPARE_*. `Ok(true)`: it is complete (or was
    /// not prepared); `Ok(false)`: not yet (another task is at it, or a marker failed).
    pub(crate) fn drive_completion(&self, transactional_id: &str) -> Result<bool, ApiError> {
        let md = {
            let mut st = self.lock_state();
            let Some(md) = st.txns.get(transactional_id).cloned() else {
                return Ok(true);
            };
            if !md.state.is_prepare() {
                return Ok(true);
            }
            if !st.completing.insert(transactional_id.to_string()) {
                return Ok(false);
            }
            md
        };
        let written = self.write_markers(&md);
        let mut st = self.lock_state();
        st.completing.remove(transactional_id);
        if !written {
            return Ok(false);
        }
        // Nothing moves a PREPARE_* id but this function; check anyway.
        match st.txns.get(transactional_id) {
            Some(cur) if *cur == md => {}
            _ => return Ok(true),
        }
        match state::complete(&md, now_ms()) {
            Some(next) => {
                st.persist(next)?;
                Ok(true)
            }
            None => Ok(true),
        }
    }

    /// Writes the markers and completes the groups' offsets. `true` when nothing is left to
    /// retry. The markers go to their partitions' lanes of the log manager in one hand-off
    /// (each after the appends queued on its partition before it, on an I/O thread), and
    /// this waits for them all (see [`crate::log_manager::LogManager::run_on_lanes_blocking`]).
    fn write_markers(&self, md: &TxnMetadata) -> bool {
        let commit = md.state == TxnState::PrepareCommit;
        let mut all = true;
        let mut jobs = Vec::with_capacity(md.partitions.len());
        for (topic, index) in &md.partitions {
            let Some(partition) = self.topics.get(topic).and_then(|t| t.partition(*index)) else {
                tracing::info!(transactional_id = %md.transactional_id, %topic, partition = index, "no marker for a deleted partition");
                continue;
            };
            #[cfg(test)]
            if self
                .fail_markers
                .fetch_update(
                    std::sync::atomic::Ordering::AcqRel,
                    std::sync::atomic::Ordering::Acquire,
                    |n| n.checked_sub(1),
                )
                .is_ok()
            {
                all = false;
                continue;
            }
            jobs.push((partition.lane().clone(), (partition, topic.clone())));
        }
        let (producer_id, producer_epoch, coordinator_epoch) =
            (md.producer_id, md.producer_epoch, self.coordinator_epoch);
        let written = self
            .topics
            .io()
            .run_on_lanes_blocking(jobs, move |(p, topic)| {
                let epoch = p.leader_epoch();
                let result = p.with_log_mut(|l| {
                    l.append_control_marker(
                        producer_id,
                        producer_epoch,
                        coordinator_epoch,
                        commit,
                        epoch,
                        now_ms(),
                    )
                });
                (topic, p.index, result)
            });
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                // Shutting down: the decision is durable (PREPARE_*); the next start
                // writes the markers.
                tracing::warn!(transactional_id = %md.transactional_id, error = %e, "cannot write the transaction markers; will retry");
                return false;
            }
        };
        for (topic, index, result) in written {
            match result {
                Err(_) => {
                    tracing::info!(transactional_id = %md.transactional_id, %topic, partition = index, "no marker for a deleted partition");
                }
                Ok(Ok(_offset)) => {}
                Ok(Err(e @ (AppendError::Io(_) | AppendError::Offline(_)))) => {
                    tracing::warn!(transactional_id = %md.transactional_id, %topic, partition = index, error = %e, "cannot write a transaction marker; will retry");
                    all = false;
                }
                Ok(Err(e)) => {
                    tracing::warn!(transactional_id = %md.transactional_id, %topic, partition = index, error = %e, "partition refuses the transaction marker; skipped");
                }
            }
        }
        // Each marker's `with_log_mut` woke the fetches waiting on its partition.
        for group in &md.groups {
            if let Err(e) = self.groups.end_txn_offsets(group, md.producer_id, commit) {
                tracing::warn!(transactional_id = %md.transactional_id, %group, error = %e, "cannot complete the group's transactional offsets; will retry");
                all = false;
            }
        }
        all
    }
}
