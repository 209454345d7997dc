//! Which topic configs a mirror takes from its source.
//!
//! *Always synced* configs define what the data means (how it is cleaned, how big a batch
//! may be, whose clock stamps it), so a mirror must not differ from its source; local
//! changes to them are refused while the topic mirrors. Everything else (retention, segment
//! sizes, flush policy ...) is the destination's own business.

/// Topic configs copied from the source and immutable on a mirror until it is promoted.
pub const ALWAYS_SYNCED_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
];
