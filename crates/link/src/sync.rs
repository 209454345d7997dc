//! Which topic configs a mirror takes from its source, and the periodic config sync.
//!
//! * **Always synced**: configs that define what the data means (how it is cleaned, how big
//!   a batch may be, whose clock stamps it). A mirror must match its source, so they are
//!   copied every `topic.config.sync.ms` and local changes to them are refused while the
//!   topic mirrors.
//! * **Optionally synced**: storage policy the destination may want to keep on its own
//!   (retention, segment sizes, flush policy). Synced only when listed in
//!   `topic.config.sync.include`.
//! * **Never synced**: replication settings, which describe the destination cluster, not
//!   the data. Listing them in `topic.config.sync.include` is an error.

use std::collections::BTreeMap;

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

/// Topic configs synced only when named in `topic.config.sync.include`.
pub const OPTIONALLY_SYNCED_TOPIC_CONFIGS: &[&str] = &[
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "preallocate",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
];

/// Topic configs a link never copies.
pub const NEVER_SYNCED_TOPIC_CONFIGS: &[&str] =
    &["min.insync.replicas", "unclean.leader.election.enable"];

/// The mirror's new config overrides: `local` with every synced key (always synced plus
/// `include`) taken from the source's explicitly set configs, or removed when the source
/// leaves it at its default.
pub fn synced_configs(
    local: &BTreeMap<String, String>,
    source: &BTreeMap<String, String>,
    include: &[String],
) -> BTreeMap<String, String> {
    let mut out = local.clone();
    let keys = ALWAYS_SYNCED_TOPIC_CONFIGS
        .iter()
        .map(|k| k.to_string())
        .chain(include.iter().cloned());
    for key in keys {
        match source.get(&key) {
            Some(v) => {
                out.insert(key, v.clone());
            }
            None => {
                out.remove(&key);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_keys_follow_the_source_and_others_stay_local() {
        let local: BTreeMap<String, String> = [
            ("retention.ms", "1"),
            ("max.message.bytes", "5"),
            ("cleanup.policy", "compact"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let source: BTreeMap<String, String> = [("max.message.bytes", "9"), ("retention.ms", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = synced_configs(&local, &source, &[]);
        assert_eq!(out.get("max.message.bytes").map(String::as_str), Some("9"));
        assert_eq!(out.get("cleanup.policy"), None, "source default wins");
        assert_eq!(
            out.get("retention.ms").map(String::as_str),
            Some("1"),
            "not synced unless included"
        );
        let out = synced_configs(&local, &source, &["retention.ms".to_string()]);
        assert_eq!(out.get("retention.ms").map(String::as_str), Some("2"));
    }
}
