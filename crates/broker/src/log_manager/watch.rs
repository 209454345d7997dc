//! Per-partition append notification: the long-poll fetches waiting on one partition, and
//! the positions they wait to see move (Kafka's fetch purgatory, keyed by partition).
//!
//! Invariants:
//! * A partition's [`PositionWatch`] is published with the log's positions after every
//!   mutation, while the log's write lock is still held (see
//!   [`crate::topics::Partition::with_log_mut`]), so publishes happen in mutation order
//!   and the watch always holds the positions of the latest mutation.
//! * A registration fires at most once, and only when the position it waits on changed
//!   (the high watermark for read_uncommitted, the last stable offset for read_committed,
//!   the log end offset for replica fetchers), or when the partition goes away. A waiter
//!   is never woken by another partition.
//! * A fetch registers before it reads, so an append that lands between its read and its
//!   wait still wakes it: no lost wake-ups. Registrations of finished fetches (their
//!   [`FetchWaiter`] dropped) are pruned at the next publish or registration.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use strait_storage::PartitionLog;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The offsets fetches wait on, as of the partition's last mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Positions {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Epoch of the last batch in the log (the link's `last_fetched_epoch`).
    pub latest_epoch: Option<i32>,
    /// The log went offline after an I/O error (Metadata reports it without taking the
    /// log's lock, which a stuck write may hold).
    pub offline: bool,
    /// The log was taken out (topic deleted): every waiter must answer now.
    pub gone: bool,
}

impl Positions {
    pub fn of(log: &PartitionLog) -> Self {
        Positions {
            high_watermark: log.high_watermark(),
            last_stable_offset: log.last_stable_offset(),
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
            latest_epoch: log.latest_epoch(),
            offline: log.is_offline(),
            gone: false,
        }
    }
}

/// Which position a fetch waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeOn {
    /// read_uncommitted consumers (and cluster links, which are consumers).
    HighWatermark,
    /// read_committed consumers.
    LastStableOffset,
    /// Replica fetchers.
    LogEnd,
}

impl WakeOn {
    fn moved(self, before: &Positions, after: &Positions) -> bool {
        before.gone != after.gone
            || before.offline != after.offline
            || match self {
                WakeOn::HighWatermark => before.high_watermark != after.high_watermark,
                WakeOn::LastStableOffset => before.last_stable_offset != after.last_stable_offset,
                WakeOn::LogEnd => before.log_end_offset != after.log_end_offset,
            }
    }
}

/// One long-polling fetch: woken with the slots (its own partition indexes) that moved.
#[derive(Default)]
pub struct FetchWaiter {
    notify: tokio::sync::Notify,
    woken: Mutex<Vec<usize>>,
}

impl FetchWaiter {
    pub fn new() -> Arc<Self> {
        Arc::new(FetchWaiter::default())
    }

    /// Waits until some registered partition moved (returns at once if one already did
    /// since the last wait: the wake-up is stored, not lost).
    pub async fn wait(&self) {
        self.notify.notified().await;
    }

    /// The slots woken since the last call, each once, in wake order.
    pub fn take_woken(&self) -> Vec<usize> {
        std::mem::take(&mut *lock(&self.woken))
    }

    fn wake(&self, slot: usize) {
        lock(&self.woken).push(slot);
        self.notify.notify_one();
    }
}

struct Registration {
    waiter: Weak<FetchWaiter>,
    slot: usize,
    on: WakeOn,
}

struct Inner {
    positions: Positions,
    waiters: Vec<Registration>,
}

/// Registrations are pruned of finished fetches once the list reaches this length.
const PRUNE_AT: usize = 16;

/// One partition's waiters and last published positions.
pub struct PositionWatch {
    inner: Mutex<Inner>,
}

impl PositionWatch {
    pub fn new(positions: Positions) -> Self {
        PositionWatch {
            inner: Mutex::new(Inner {
                positions,
                waiters: Vec::new(),
            }),
        }
    }

    /// The positions of the latest mutation.
    pub fn positions(&self) -> Positions {
        lock(&self.inner).positions
    }

    /// Wakes `waiter` with `slot` the next time the `on` position moves.
    pub fn register(&self, waiter: &Arc<FetchWaiter>, slot: usize, on: WakeOn) {
        let mut inner = lock(&self.inner);
        if inner.waiters.len() >= PRUNE_AT {
            inner.waiters.retain(|r| r.waiter.strong_count() > 0);
        }
        inner.waiters.push(Registration {
            waiter: Arc::downgrade(waiter),
            slot,
            on,
        });
    }

    /// Fetches currently waiting on this partition (finished ones not counted).
    pub fn registered(&self) -> usize {
        lock(&self.inner)
            .waiters
            .iter()
            .filter(|r| r.waiter.strong_count() > 0)
            .count()
    }

    /// Registrations held, finished fetches not yet pruned included.
    pub fn registrations(&self) -> usize {
        lock(&self.inner).waiters.len()
    }

    /// Records the positions after a mutation and wakes the registrations whose position
    /// moved (each once). Cheap when nothing changed or nobody waits.
    pub fn publish(&self, positions: Positions) {
        let mut inner = lock(&self.inner);
        let before = inner.positions;
        if before == positions {
            return;
        }
        inner.positions = positions;
        if inner.waiters.is_empty() {
            return;
        }
        inner.waiters.retain(|r| {
            let Some(waiter) = r.waiter.upgrade() else {
                return false;
            };
            if r.on.moved(&before, &positions) {
                waiter.wake(r.slot);
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(hw: i64, lso: i64) -> Positions {
        Positions {
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: 0,
            log_end_offset: hw,
            latest_epoch: None,
            offline: false,
            gone: false,
        }
    }

    #[test]
    fn wakes_only_on_the_position_waited_for_and_once() {
        let watch = PositionWatch::new(at(0, 0));
        let uncommitted = FetchWaiter::new();
        let committed = FetchWaiter::new();
        watch.register(&uncommitted, 3, WakeOn::HighWatermark);
        watch.register(&committed, 5, WakeOn::LastStableOffset);
        // A transaction's data moves the high watermark, not the last stable offset.
        watch.publish(at(10, 0));
        assert_eq!(uncommitted.take_woken(), vec![3]);
        assert_eq!(committed.take_woken(), Vec::<usize>::new());
        // Fired registrations are gone; the marker moves the LSO.
        watch.publish(at(11, 11));
        assert_eq!(uncommitted.take_woken(), Vec::<usize>::new());
        assert_eq!(committed.take_woken(), vec![5]);
        assert_eq!(watch.registrations(), 0);
        // The same positions again wake nobody.
        watch.register(&uncommitted, 3, WakeOn::HighWatermark);
        watch.publish(at(11, 11));
        assert_eq!(uncommitted.take_woken(), Vec::<usize>::new());
        // Deletion wakes everyone.
        watch.publish(Positions {
            gone: true,
            ..at(11, 11)
        });
        assert_eq!(uncommitted.take_woken(), vec![3]);
    }

    #[test]
    fn finished_fetches_are_pruned() {
        let watch = PositionWatch::new(at(0, 0));
        for _ in 0..100 {
            let w = FetchWaiter::new();
            watch.register(&w, 0, WakeOn::HighWatermark);
        }
        assert!(
            watch.registrations() <= PRUNE_AT,
            "{}",
            watch.registrations()
        );
        assert_eq!(watch.registered(), 0);
    }
}
