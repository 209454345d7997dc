//! The owner of every mirror partition's write state for one link ([`MirrorOwner`]), and
//! with it the cutover state machine (DESIGN.md invariant 8).
//!
//! Each mirror partition has one slot: MIRRORING (the fetcher may write), DRAINING to a
//! target offset (the fetcher may write until the local log end reaches the target), or
//! FENCED (nobody but the commit may touch the partition). Every local mutation the link
//! makes to a mirror partition (append, epoch raise, truncation, log-start move) runs
//! *inside* [`MirrorOwner::write`], which holds the slot while the mutation runs and
//! refuses it once the slot is fenced. So:
//!
//! * fencing a slot ([`MirrorOwner::fence`]) returns only after any write in flight has
//!   finished (it needed the slot), and no write can start afterwards: when it returns,
//!   the fetcher has acknowledged the fence by construction, whatever it is doing;
//! * a DRAINING slot fences itself inside the write that reaches its target, so not one
//!   append lands after the last one the promotion asked for;
//! * promote = drain every partition to a source high watermark read after the request,
//!   wait until all are fenced, then one commit; failover = fence, then commit.
//!
//! Slots are in memory: after a restart a PENDING_STOPPED mirror starts its promotion
//! again (new targets, same outcome), and the broker's mirror append path still refuses
//! writes to a topic that is no longer mirroring.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::local::{LocalCluster, LocalError};
use crate::shared::lock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Mirroring,
    /// Writable until the local log end offset reaches the target.
    Draining(i64),
    Fenced,
}

/// (mirror topic, partition) -> its slot; each slot has its own lock so partitions of
/// one link never wait on each other's appends.
type Slots = HashMap<(String, i32), Arc<Mutex<Slot>>>;

/// The single owner of the mirror partitions' write state of one link.
pub struct MirrorOwner {
    slots: Mutex<Slots>,
    /// Bumped whenever a slot becomes fenced (promotions wait on it).
    fenced: watch::Sender<u64>,
}

impl Default for MirrorOwner {
    fn default() -> Self {
        MirrorOwner {
            slots: Mutex::new(HashMap::new()),
            fenced: watch::channel(0).0,
        }
    }
}

fn log_end(local: &dyn LocalCluster, topic: &str, partition: i32) -> Option<i64> {
    local
        .partition_position(topic, partition)
        .ok()
        .map(|p| p.log_end_offset)
}

impl MirrorOwner {
    fn slot(&self, topic: &str, partition: i32) -> Arc<Mutex<Slot>> {
        lock(&self.slots)
            .entry((topic.to_string(), partition))
            .or_insert_with(|| Arc::new(Mutex::new(Slot::Mirroring)))
            .clone()
    }

    fn set_fenced(&self, slot: &mut Slot) {
        if *slot != Slot::Fenced {
            *slot = Slot::Fenced;
            self.fenced.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Runs one local mutation of a mirror partition on the link's behalf, holding the
    /// partition's slot. `None`: the partition is fenced and `f` did not run.
    pub fn write<T>(
        &self,
        local: &dyn LocalCluster,
        topic: &str,
        partition: i32,
        f: impl FnOnce() -> Result<T, LocalError>,
    ) -> Option<Result<T, LocalError>> {
        let slot = self.slot(topic, partition);
        let mut slot = lock(&slot);
        if *slot == Slot::Fenced {
            return None;
        }
        let out = f();
        if let Slot::Draining(target) = *slot {
            if log_end(local, topic, partition).is_some_and(|leo| leo >= target) {
                self.set_fenced(&mut slot);
            }
        }
        Some(out)
    }

    /// Lets the fetcher write until the local log end reaches `target`, then fences (at
    /// once if it already has). A fenced partition stays fenced.
    pub fn drain(&self, local: &dyn LocalCluster, topic: &str, partition: i32, target: i64) {
        let slot = self.slot(topic, partition);
        let mut slot = lock(&slot);
        if *slot == Slot::Fenced {
            return;
        }
        if log_end(local, topic, partition).is_some_and(|leo| leo >= target) {
            self.set_fenced(&mut slot);
        } else {
            *slot = Slot::Draining(target);
        }
    }

    /// Takes the partition from the fetcher. Returns once no write is in flight; none
    /// can start later.
    pub fn fence(&self, topic: &str, partition: i32) {
        let slot = self.slot(topic, partition);
        let mut slot = lock(&slot);
        self.set_fenced(&mut slot);
    }

    pub fn is_fenced(&self, topic: &str, partition: i32) -> bool {
        *lock(&self.slot(topic, partition)) == Slot::Fenced
    }

    /// Waits until partitions `0..partitions` of `topic` are all fenced, or `give_up`
    /// returns true (checked whenever a slot changes and at least every `poll`).
    pub async fn wait_fenced(
        &self,
        topic: &str,
        partitions: i32,
        poll: Duration,
        mut give_up: impl FnMut() -> bool,
    ) -> bool {
        let mut changed = self.fenced.subscribe();
        loop {
            if (0..partitions).all(|p| self.is_fenced(topic, p)) {
                return true;
            }
            if give_up() {
                return false;
            }
            let _ = tokio::time::timeout(poll, changed.changed()).await;
        }
    }

    /// Forgets a topic's slots (a mirror of this name is being created afresh).
    pub fn reset(&self, topic: &str) {
        lock(&self.slots).retain(|(t, _), _| t != topic);
    }
}

/// Test hook: a delay the fetcher sleeps between receiving a fetch response and appending
/// it, to widen the window a promotion must not race. Zero (the default) costs one load.
static APPEND_DELAY_MS: AtomicU64 = AtomicU64::new(0);

/// Sets the fault-injection delay of [`append_delay`] (tests only; process-wide).
pub fn set_test_append_delay(delay: Duration) {
    APPEND_DELAY_MS.store(
        u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

pub(crate) fn append_delay() -> Option<Duration> {
    match APPEND_DELAY_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_slot_refuses_writes() {
        let owner = MirrorOwner::default();
        assert!(!owner.is_fenced("t", 0));
        owner.fence("t", 0);
        assert!(owner.is_fenced("t", 0));
        owner.reset("t");
        assert!(!owner.is_fenced("t", 0));
    }
}
