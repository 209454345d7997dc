//! One partition: its log (behind its own lock), leader epoch, I/O lane and append watch.
//!
//! Invariants:
//! * Every mutation goes through [`Partition::with_log_mut`], which publishes the log's
//!   positions to the partition's [`PositionWatch`] before releasing the write lock, so a
//!   fetch waiting on this partition is woken by every append, truncation, marker, restore
//!   or retention move of it — and by nothing that happens to other partitions.
//! * A deleted partition's log is taken out (`None`): requests racing a delete see
//!   UNKNOWN_TOPIC_OR_PARTITION, and its waiters are woken to answer that.
//! * The partition's registration (replicas, ISR, leader) is the metadata image's, set by
//!   the topic publisher; [`Partition::ensure_leader`] is the one leadership check every
//!   partition-level data API makes. A partition built without one (tests, and the moment
//!   between open and publish) is led by this node, as on a single node.
//! * Request-issued mutations are submitted to [`Partition::lane`] (see
//!   [`crate::log_manager`]), which keeps them in arrival order.
//! * The replica role ([`Partition::replica`], see [`crate::replication::replica`]) is
//!   locked BEFORE the log: code holding the log lock never takes the replica lock.
//! * The partition epoch only moves up, like the leader epoch; both are the image's,
//!   published before the replica role is recomputed from them.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use strait_protocol::ErrorCode;
use strait_storage::PartitionLog;

use crate::error::ApiError;
use crate::log_manager::{Lane, PositionWatch, Positions};
use crate::replication::replica::ReplicaState;
use crate::replication::PartitionRegistration;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Where a partition's replicas live and who leads it, as the metadata image records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Assignment order; the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// [`crate::replication::NO_LEADER`] when no replica leads.
    pub leader: i32,
}

/// One partition: its log, leader epoch and registration.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    log: RwLock<Option<PartitionLog>>,
    registration: RwLock<Option<Registration>>,
    pub(super) leader_epoch: AtomicI32,
    /// The registration's partition epoch (bumped by every ISR / leader change).
    pub(super) partition_epoch: AtomicI32,
    /// The replica role: unreplicated, leader (with the followers' state) or follower.
    replica: ReplicaState,
    lane: Arc<Lane>,
    watch: PositionWatch,
}

impl Partition {
    pub(crate) fn new(topic: &str, index: i32, log: PartitionLog, epoch: i32) -> Self {
        Partition {
            topic: topic.to_string(),
            index,
            watch: PositionWatch::new(Positions::of(&log)),
            log: RwLock::new(Some(log)),
            registration: RwLock::new(None),
            leader_epoch: AtomicI32::new(epoch),
            partition_epoch: AtomicI32::new(0),
            replica: ReplicaState::default(),
            lane: Arc::new(Lane::default()),
        }
    }

    /// The registration the metadata image gives this partition (`None`: not published
    /// yet, i.e. this node alone).
    pub fn registration(&self) -> Option<Registration> {
        read(&self.registration).clone()
    }

    pub(crate) fn set_registration(&self, r: Registration) {
        *write(&self.registration) = Some(r);
    }

    /// Kafka's NOT_LEADER_OR_FOLLOWER unless `node_id` leads this partition: what every
    /// partition-level data API (Produce, Fetch, ListOffsets, OffsetForLeaderEpoch,
    /// DeleteRecords, DescribeProducers, WriteTxnMarkers) answers for a partition another
    /// broker leads or none does, so the client refreshes its metadata and goes there.
    pub fn ensure_leader(&self, node_id: i32) -> Result<(), ApiError> {
        match read(&self.registration).as_ref() {
            Some(r) if r.leader != node_id => Err(ApiError::new(
                ErrorCode::NotLeaderOrFollower,
                format!(
                    "Broker {node_id} is not the leader of partition {}-{} (leader: {}).",
                    self.topic, self.index, r.leader
                ),
            )),
            _ => Ok(()),
        }
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// The registration's partition epoch as last published (0 before any).
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch.load(Ordering::Acquire)
    }

    /// This node's replica role for the partition (lock it before the log, never under).
    pub fn replica(&self) -> &ReplicaState {
        &self.replica
    }

    /// The registration as the replication layer sees it (with both epochs); `None` when
    /// no registration was published.
    pub fn partition_registration(&self) -> Option<PartitionRegistration> {
        let r = self.registration()?;
        Some(PartitionRegistration {
            replicas: r.replicas,
            isr: r.isr,
            leader: r.leader,
            leader_epoch: self.leader_epoch(),
            partition_epoch: self.partition_epoch(),
        })
    }

    /// The partition's ordered I/O queue.
    pub fn lane(&self) -> &Arc<Lane> {
        &self.lane
    }

    /// The fetches waiting on this partition, and its last published positions.
    pub fn watch(&self) -> &PositionWatch {
        &self.watch
    }

    /// Whether the log went offline, as of its last mutation, without its lock.
    pub fn is_offline(&self) -> bool {
        self.watch.positions().offline
    }

    /// Runs `f` on the log, or returns UNKNOWN_TOPIC_OR_PARTITION if it was deleted.
    pub fn with_log<R>(&self, f: impl FnOnce(&PartitionLog) -> R) -> Result<R, ApiError> {
        match read(&self.log).as_ref() {
            Some(log) => Ok(f(log)),
            None => Err(self.gone()),
        }
    }

    /// [`Partition::with_log`] unless a writer holds (or waits for) the lock: `None` then,
    /// so an I/O thread never parks on a partition whose write is stuck on its disk.
    pub fn try_with_log<R>(
        &self,
        f: impl FnOnce(&PartitionLog) -> R,
    ) -> Option<Result<R, ApiError>> {
        match self.log.try_read() {
            Ok(guard) => Some(match guard.as_ref() {
                Some(log) => Ok(f(log)),
                None => Err(self.gone()),
            }),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(match e.into_inner().as_ref() {
                Some(log) => Ok(f(log)),
                None => Err(self.gone()),
            }),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// [`Partition::with_log_mut`] unless the lock is taken: `None` then (background upkeep
    /// skips a busy partition until its next pass rather than park an I/O thread).
    pub fn try_with_log_mut<R>(
        &self,
        f: impl FnOnce(&mut PartitionLog) -> R,
    ) -> Option<Result<R, ApiError>> {
        let mut guard = match self.log.try_write() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(match guard.as_mut() {
            Some(log) => {
                let out = f(log);
                self.watch.publish(Positions::of(log));
                Ok(out)
            }
            None => Err(self.gone()),
        })
    }

    /// Runs `f` on the log with the write lock, then wakes the fetches waiting on a
    /// position `f` moved.
    pub fn with_log_mut<R>(&self, f: impl FnOnce(&mut PartitionLog) -> R) -> Result<R, ApiError> {
        let mut guard = write(&self.log);
        match guard.as_mut() {
            Some(log) => {
                let out = f(log);
                // Under the write lock: publishes stay in mutation order.
                self.watch.publish(Positions::of(log));
                Ok(out)
            }
            None => Err(self.gone()),
        }
    }

    fn gone(&self) -> ApiError {
        ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("partition {}-{} was deleted", self.topic, self.index),
        )
    }

    /// Checks a client's `current_leader_epoch` the way Kafka's leader does.
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), ApiError> {
        let ours = self.leader_epoch();
        if requested < 0 || requested == ours {
            Ok(())
        } else if requested < ours {
            Err(ApiError::code(ErrorCode::FencedLeaderEpoch))
        } else {
            Err(ApiError::code(ErrorCode::UnknownLeaderEpoch))
        }
    }

    pub(super) fn take_log(&self) -> Option<PartitionLog> {
        let mut guard = write(&self.log);
        let log = guard.take();
        if log.is_some() {
            let last = self.watch.positions();
            self.watch.publish(Positions { gone: true, ..last });
        }
        log
    }
}
