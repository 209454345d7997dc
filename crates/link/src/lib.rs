//! Cluster links: the link manager embedded in the destination broker.
//!
//! A link is a named connection to a source cluster plus the rules for what it carries.
//!
//! # Layout
//! * [`registry`]: every link config key (type, default, validation, doc, what Strait
//!   does with it); [`config`] parses Java-properties text exactly like Confluent's
//!   `source.config` through it; secrets never printed back.
//! * [`filters`]: `topicFilters`, `groupFilters`, `aclFilters` in Confluent's JSON.
//! * [`local`]: [`local::LocalCluster`], the narrow view of the destination broker the link
//!   uses (implemented by the broker, fakeable in tests).
//! * [`manager`]: admin operations (create/list/delete links, create/describe/alter
//!   mirrors) and the registry of running links.
//! * [`runtime`]: one task per link: source metadata, discovery, partition growth, failure
//!   detection, promotion; [`shared`]: the state it shares; [`sync_tasks`]: config, ACL
//!   and offset syncs; [`availability`]: the source availability check; [`fetcher`]:
//!   `num.cluster.link.fetchers` tasks per source broker, spread by [`assign`];
//!   [`faults`]: per-partition fault state (reason codes, which fail the topic, what
//!   counts as in error).
//! * [`cutover`]: [`cutover::MirrorOwner`], the one owner of each mirror partition's write
//!   state (fetcher appends need it; promote and failover fence through it);
//!   [`promote`]: the promotion task (fence, final catch-up, one commit).
//! * [`failback`]: the divergence search of truncate-and-restore (Kafka's follower
//!   truncation over OffsetForLeaderEpoch); `manager::restore` stages it (validate, one
//!   metadata write, truncate, mirror) and `manager::reverse` runs reverse-and-start/pause
//!   through the peer's admin API.
//! * [`forward`]: write forwarding (`mirror.produce.forwarding.enable`): Produce to an
//!   ACTIVE mirror and idempotent producers' InitProducerId sent to the source.
//! * [`loops`]: loop prevention (never mirror a source topic whose origin chain contains
//!   this cluster) and the peer check of `link.mode=BIDIRECTIONAL` links.
//! * [`tunnel`]: source-initiated links (`link.mode=SOURCE` / `connection.mode=INBOUND`):
//!   tunnels the source opens to the destination, parked there until the link claims one.
//! * [`state`]: mirror and link states.
//! * [`shadow`]: local normal topics under a would-be mirror's name (auto-created by a
//!   client before the link mirrored them), reported rather than skipped silently.
//!
//! # Invariants (DESIGN.md)
//! * Mirrored batches are appended byte-for-byte through the broker's mirror path; the local
//!   log end offset is the only record of progress, so restarts resume with no gap and no
//!   duplicate.
//! * Mirror topics are read-only until promoted (after lag 0) or failed over.
//! * Cutover cannot race: no mirrored append lands after the fence that precedes the
//!   promote/failover commit (see [`cutover`]).
//! * The destination leader epoch stays >= every source epoch copied.
//! * The link fetches as a consumer of the source (replica id -1, read_uncommitted), so it
//!   never copies data the source could still truncate.

pub mod assign;
pub mod availability;
pub mod config;
pub mod cutover;
pub mod failback;
pub mod faults;
pub mod fetcher;
pub mod filters;
pub mod forward;
pub mod local;
pub mod loops;
pub mod manager;
pub mod metrics;
pub mod promote;
pub mod registry;
pub mod runtime;
pub mod shadow;
pub mod shared;
pub mod state;
pub mod sync;
pub mod sync_tasks;
pub mod tunnel;

pub use manager::{ConfigChange, LinkManager};
