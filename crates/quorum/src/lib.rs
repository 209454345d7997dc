//! Strait's metadata quorum: a replicated log of opaque records, on the `openraft` engine,
//! durable on disk and applied by every voter to an in-memory [`Image`].
//!
//! This crate owns consensus and nothing else: what a record means is the image's business
//! (the broker's), where the quorum runs and which keys configure it is the broker's too
//! ([`config`] parses Kafka's KRaft keys for it).
//!
//! Invariants:
//! - Any voter may propose. A record is acknowledged ([`Quorum::propose`] returns `Ok`) only
//!   after it is durable (fsync'd) in the log of a majority of voters, committed, and applied
//!   to the image of the node that proposed it — so the proposer reads its own write locally.
//! - Forwarding (Kafka's forwarding to the active controller): a follower hands its record
//!   to the leader over the peer protocol (a `ClientWrite` request after the handshake, on a
//!   connection of its own) and then waits for its own apply of the returned index. It
//!   retries (with backoff, until `propose_timeout`) only while the record certainly was not
//!   appended — no leader known, the leader unreachable before anything was sent, or a "not
//!   the leader" answer, whose hint it follows. A hand-over whose reply is lost, or a leader
//!   that does not commit in time, ends in `Timeout`: the outcome is unknown, and the record
//!   is never sent twice. Only voters that passed the handshake can forward.
//! - Liveness, as the controller uses it: on the leader, [`Quorum::voter_contact`] is each
//!   voter's time since it last answered this leader's AppendEntries (heartbeats included)
//!   or InstallSnapshot, counted from no earlier than the start of this leadership (a new
//!   leader gives everyone a fresh session, as Kafka's new active controller does). A
//!   follower has no view of it (empty). [`Quorum::subscribe_leader`] publishes the leader as
//!   this node sees it, `Some(own id)` exactly while it leads, so the broker starts and stops
//!   its controller with leadership.
//! - Timers: a follower campaigns within `2 × election_timeout_max` of its leader's last
//!   message; [`QuorumConfig::set_kafka_timeouts`] derives the timers from Kafka's
//!   `controller.quorum.election.timeout.ms` / `controller.quorum.fetch.timeout.ms`.
//! - Every voter applies the same records in the same order, each exactly once per image
//!   lifetime; an image's refusal ([`ApplyError`]) is part of that deterministic history.
//! - Raft terms are the Kafka leader epochs of the metadata log; log indexes are its offsets,
//!   so `high_watermark` = committed index + 1 and `log_end_offset` = last index + 1.
//! - A leader cut off from the majority cannot commit: its proposals (its own and those
//!   forwarded to it) time out and its uncommitted entries are truncated when it rejoins a
//!   newer leader. It does not step down by itself (openraft 0.9 has no check-quorum), so it
//!   keeps reporting itself leader until it hears a higher term.
//! - A connection from another cluster id (or from a node not among the voters) is refused in
//!   the handshake before raft sees a byte of it.
//! - Snapshots (every [`QuorumConfig::snapshot_every`] entries) are written atomically and
//!   the log is purged behind them; lagging voters are caught up by installing them.
//! - The vote is durable before it is cast; the committed log id on disk is a lower bound,
//!   written at most every 200 ms (see `log_store::disk::DiskLog::save_committed` for why
//!   that loses nothing).
//!
//! Initialisation rule: every voter that finds no vote, no log and no snapshot in its
//! directory initialises the membership (openraft's `initialize`) with all configured voters.
//! openraft makes that entry the same on every node (log id term 0 / index 0) and documents
//! initialising several nodes with the same membership as safe, so the quorum forms as soon
//! as any majority is up — no voter (such as the lowest id) has to come first, as with Kafka's
//! static `controller.quorum.voters`. "The same membership" is enforced by the handshake,
//! which refuses a peer configured with another voter set (INCONSISTENT_VOTER_SET). A restart
//! never re-initialises: openraft answers `NotAllowed` once a vote or log exists, and a
//! non-pristine directory skips the call anyway. The voter set is static in this increment
//! (no AddRaftVoter/RemoveRaftVoter yet).
//!
//! A quorum of one may be opened without a listener ([`Quorum::open_single`]): nobody else
//! takes part, so no port is bound; [`Quorum::wait_ready`] has its lone voter campaign at
//! once instead of sitting out an election timeout after a restart.

// openraft's trait signatures fix its (large) error types; boxing them locally buys nothing.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod log_store;
pub mod network;
pub mod state_machine;
pub mod types;

mod forward;
mod fsutil;
mod liveness;
mod quorum;

pub use config::{
    parse_process_roles, parse_voters, ConfigError, ProcessRoles, QuorumConfig, VoterAddr,
};
pub use fsutil::PathError;
pub use quorum::{
    holds_state, read_identity, Applied, ProposeError, Quorum, QuorumDescription, QuorumError,
    VoterState,
};
pub use state_machine::{ApplyError, Image};
pub use types::NodeId;
