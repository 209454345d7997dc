//! The coordinator's timer task: every
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms` it aborts ONGOING
//! transactions older than their timeout (epoch bumped, as Kafka's
//! `abortTimedOutTransactions`, so the timed-out producer is fenced) and retries PREPARE_*
//! transactions whose markers could not all be written; every
//! `transaction.remove.expired.transaction.cleanup.interval.ms` it removes idle ids
//! (EMPTY / COMPLETE_*) not used for `transactional.id.expiration.ms` (a tombstone
//! record). It also fsyncs the transaction log and compacts it when it has grown.
//!
//! The task holds only a `Weak` reference: it ends when the coordinator is dropped.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::state;
use super::TransactionCoordinator;
use crate::topics::now_ms;

pub(crate) async fn run_timer(weak: Weak<TransactionCoordinator>, wake: Arc<Notify>) {
    loop {
        let (sleep, sync) = match weak.upgrade() {
            Some(c) => c.tick(),
            None => return,
        };
        if let Some(f) = sync {
            if let Err(e) = tokio::task::spawn_blocking(move || f.sync_data()).await {
                tracing::warn!(error = %e, "transaction log fsync task failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = wake.notified() => {}
        }
    }
}

impl TransactionCoordinator {
    /// One round of the timer; returns how long to sleep and a file to fsync.
    pub(crate) fn tick(&self) -> (Duration, Option<std::fs::File>) {
        let now = now_ms();
        let to_complete = self.abort_timed_out(now);
        for id in to_complete {
            match self.drive_completion(&id) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(transactional_id = %id, "transaction not completed yet; retrying later")
                }
                Err(e) => {
                    tracing::warn!(transactional_id = %id, error = %e, "cannot complete a transaction yet")
                }
            }
        }
        let mut st = self.lock_state();
        let remove_every = Duration::from_millis(self.config.remove_interval_ms);
        if st.last_removal_check.elapsed() >= remove_every {
            st.last_removal_check = Instant::now();
            let expired: Vec<String> = st
                .txns
                .values()
                .filter(|m| state::expired(m, now, self.config.id_expiration_ms))
                .map(|m| m.transactional_id.clone())
                .collect();
            for id in expired {
                match st.remove(&id) {
                    Ok(()) => tracing::info!(transactional_id = %id, "transactional id expired"),
                    Err(e) => {
                        tracing::warn!(transactional_id = %id, error = %e, "cannot expire transactional id")
                    }
                }
            }
        }
        if st.store.wants_compaction() {
            let epoch = self.coordinator_epoch;
            let inner = &mut *st;
            if let Err(e) = inner.store.compact(epoch, inner.txns.values()) {
                tracing::warn!(error = %e, "transaction log compaction failed");
            }
        }
        let sync = st.store.sync_handle();
        let every = self
            .config
            .abort_interval_ms
            .min(self.config.remove_interval_ms)
            .max(1);
        (Duration::from_millis(every), sync)
    }

    /// Moves every timed-out ONGOING transaction to PREPARE_ABORT (epoch bumped); returns
    /// those plus every PREPARE_* id not being completed right now.
    fn abort_timed_out(&self, now: i64) -> Vec<String> {
        let mut st = self.lock_state();
        let timed_out: Vec<_> = st
            .txns
            .values()
            .filter_map(|m| state::abort_timed_out(m, now))
            .collect();
        for next in timed_out {
            let id = next.transactional_id.clone();
            let (pid, epoch) = (next.producer_id, next.producer_epoch);
            match st.persist(next) {
                Ok(()) => {
                    tracing::info!(transactional_id = %id, producer_id = pid, producer_epoch = epoch, "aborting a transaction that exceeded its timeout")
                }
                Err(e) => {
                    tracing::warn!(transactional_id = %id, error = %e, "cannot abort a timed-out transaction yet")
                }
            }
        }
        st.txns
            .values()
            .filter(|m| m.state.is_prepare() && !st.completing.contains(&m.transactional_id))
            .map(|m| m.transactional_id.clone())
            .collect()
    }
}
