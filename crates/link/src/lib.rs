//! Cluster links: the link manager embedded in the destination broker.
//!
//! A link is a named connection to a source cluster plus the rules for what it carries.
//! This crate owns:
//!
//! * [`config`]: link configuration from Java-properties text exactly like Confluent's
//!   `source.config` (source connection keys plus link options), validated key by key;
//!   secrets are never printed back.
//! * [`filters`]: the three filter documents (`topicFilters`, `groupFilters`,
//!   `aclFilters`) in Confluent's JSON, verbatim; exclude wins, unmatched is excluded,
//!   unknown fields are errors that name the field.
//!
//! Invariants the link maintains (DESIGN.md): mirrored batches are appended byte-for-byte
//! through the broker's mirror append path; mirror topics are read-only until promoted or
//! failed over; the destination leader epoch stays >= every source epoch copied; the link
//! fetches as a consumer of the source (replica id -1, read_uncommitted).

pub mod config;
pub mod filters;
