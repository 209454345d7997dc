//! Partition replication (issue 12). The decision logic ([`leader`], [`election`],
//! [`follower`], [`reassign`]) is sans I/O: no tokio, no files, no clocks (callers pass
//! `now_ms`); [`replica`], [`manager`] and [`fetcher`] wire it to Fetch (replica id ≥ 0),
//! Produce (`acks=all`), OffsetForLeaderEpoch, AlterPartition and the metadata quorum.
//!
//! # What this module owns
//! * [`leader`]: [`LeaderPartitionState`], one partition on its leader — per-follower fetch
//!   state, the ISR (committed and pending, KIP-497), the high watermark, `acks=all`
//!   admission and delayed-produce completion (the waiters live in `acks`), leader-epoch
//!   fencing of follower fetches.
//! * [`election`]: the controller's partition changes as Kafka's `PartitionChangeBuilder`
//!   makes them — leader election (clean, unclean, preferred), AlterPartition validation,
//!   removing fenced / shutting-down brokers from the ISR (KIP-841), epoch bumps.
//! * [`follower`]: the follower's truncation decision from the leader's OffsetForLeaderEpoch
//!   answer. The epoch-walk step itself has one owner, `strait_link::failback`, which the
//!   cluster link's failback uses too (the link crate cannot depend on this crate, and does
//!   not depend on `strait-storage` either, so the shared function lives there).
//! * [`reassign`]: AlterPartitionReassignments (KIP-455): start, complete, cancel.
//!
//! The wiring (issue 12, RF > 1), with I/O:
//! * [`replica`]: each partition's replica role (unreplicated / leader / follower) and the
//!   `acks=all` waiters, owned by `Partition`; the leader's high watermark pushed to the log.
//! * [`manager`]: the per-broker `ReplicaManager` — role transitions from the published
//!   registrations, the ISR-expiration / checkpoint timer, AlterPartition proposals.
//! * [`fetcher`]: the follower's fetchers (one task per leader broker).
//!
//! # Invariants (checked by the property and simulation tests in this module)
//! * The high watermark never decreases while one leader holds the partition, and never
//!   exceeds the log end offset of any member of the *maximal* ISR (see [`leader`]).
//! * A record below the high watermark is on every committed-ISR member's log.
//! * An `acks=all` produce succeeds only when the high watermark has passed it and the
//!   maximal ISR has at least `min.insync.replicas` members.
//! * A clean election only picks an ISR member that is alive; unclean only when enabled.
//!   Leader changes bump the leader epoch and the partition epoch; ISR-only changes bump the
//!   partition epoch. Epochs never decrease.
//! * The ISR is never empty: removing its last member leaves it in place with no leader.
//!
//! # Not done yet (next session)
//! * Replication throttles (`leader.replication.throttled.replicas`) are not modelled, and
//!   a replica moved away by a reassignment keeps its (idle) log directory.
//! * KIP-966 ELR (eligible leader replicas) is deliberately absent: pre-ELR semantics.
//! * Broker epochs on follower fetches (KIP-903 STALE_BROKER_EPOCH) are the caller's check.

mod acks;
pub mod election;
pub mod fetcher;
pub mod follower;
pub mod leader;
pub mod manager;
pub mod reassign;
pub mod replica;

pub use election::{Election, PartitionRegistration};
pub use leader::{AlterPartitionProposal, FetchOutcome, LeaderPartitionState, NotEnoughReplicas};

/// A broker id (`node.id`), Kafka's replica id in Fetch and the ISR.
pub type ReplicaId = i32;

/// Kafka's "no leader" in a partition registration.
pub const NO_LEADER: ReplicaId = -1;

#[cfg(test)]
mod leader_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod sim;
