//! Topic configs: Kafka's names, types, defaults and validation, the broker keys that
//! supply their cluster-wide defaults (synonyms, highest precedence first), and what
//! Strait does with each ([`TopicEffect`]). A topic key missing here is refused by
//! CreateTopics / AlterConfigs / IncrementalAlterConfigs with INVALID_CONFIG, as Kafka
//! refuses keys it does not know.

use super::{ConfigType, Validator};

/// A broker key that sets a topic default, and the factor that turns its unit into the
/// topic key's unit (for example `log.retention.hours` → ms).
#[derive(Debug, Clone, Copy)]
pub struct Synonym {
    pub key: &'static str,
    pub factor: i64,
}

/// Where a topic config takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicEffect {
    /// Flows into `strait_storage::LogConfig` (`TopicDefaults::log_config`).
    Log,
    /// Applied by the Produce path (`TopicDefaults::produce_settings`).
    Produce,
    /// Read by the active controller's partition elections (`controller::elections`).
    Replication,
}

#[derive(Debug, Clone, Copy)]
pub struct TopicKeyDef {
    pub name: &'static str,
    pub synonyms: &'static [Synonym],
    pub kind: ConfigType,
    pub default: &'static str,
    pub validator: Validator,
    pub effect: TopicEffect,
    pub doc: &'static str,
    /// A valid, non-default value, used by the tests that prove the key has an effect.
    pub example: &'static str,
}

const fn syn(key: &'static str) -> Synonym {
    Synonym { key, factor: 1 }
}

const MAX_LONG: &str = "9223372036854775807";

/// Every topic config Strait honours.
pub const TOPIC_KEYS: &[TopicKeyDef] = &[
    TopicKeyDef {
        name: "cleanup.policy",
        synonyms: &[syn("log.cleanup.policy")],
        kind: ConfigType::List,
        default: "delete",
        validator: Validator::ListOf(&["delete", "compact"]),
        effect: TopicEffect::Log,
        doc: "Retention policy for old segments: delete (by time/size) and/or compact (keep the latest record per key).",
        example: "compact",
    },
    TopicKeyDef {
        name: "compression.type",
        synonyms: &[syn("compression.type")],
        kind: ConfigType::String,
        default: "producer",
        validator: Validator::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        effect: TopicEffect::Produce,
        doc: "Final compression of the topic's batches: produced batches in another codec are recompressed on append; 'producer' keeps the producer's codec. Mirrored batches are never rewritten.",
        example: "zstd",
    },
    TopicKeyDef {
        name: "delete.retention.ms",
        synonyms: &[syn("log.cleaner.delete.retention.ms")],
        kind: ConfigType::Long,
        default: "86400000",
        validator: Validator::AtLeast(0),
        effect: TopicEffect::Log,
        doc: "How long delete tombstones are retained on compacted topics.",
        example: "1000",
    },
    TopicKeyDef {
        name: "file.delete.delay.ms",
        synonyms: &[syn("log.segment.delete.delay.ms")],
        kind: ConfigType::Long,
        default: "60000",
        validator: Validator::AtLeast(0),
        effect: TopicEffect::Log,
        doc: "Time to wait before deleting a file from the filesystem.",
        example: "1000",
    },
    TopicKeyDef {
        name: "flush.messages",
        synonyms: &[syn("log.flush.interval.messages")],
        kind: ConfigType::Long,
        default: MAX_LONG,
        validator: Validator::AtLeast(1),
        effect: TopicEffect::Log,
        doc: "fsync the log after this many messages.",
        example: "100",
    },
    TopicKeyDef {
        name: "flush.ms",
        synonyms: &[syn("log.flush.interval.ms")],
        kind: ConfigType::Long,
        default: MAX_LONG,
        validator: Validator::AtLeast(0),
        effect: TopicEffect::Log,
        doc: "fsync the log when this much time has passed since the last fsync.",
        example: "1000",
    },
    TopicKeyDef {
        name: "index.interval.bytes",
        synonyms: &[syn("log.index.interval.bytes")],
        kind: ConfigType::Int,
        default: "4096",
        validator: Validator::AtLeast(0),
        effect: TopicEffect::Log,
        doc: "Bytes between offset index entries.",
        example: "8192",
    },
    TopicKeyDef {
        name: "max.compaction.lag.ms",
        synonyms: &[syn("log.cleaner.max.compaction.lag.ms")],
        kind: ConfigType::Long,
        default: MAX_LONG,
        validator: Validator::AtLeast(1),
        effect: TopicEffect::Log,
        doc: "Maximum time a message remains ineligible for compaction.",
        example: "86400000",
    },
    TopicKeyDef {
        name: "max.message.bytes",
        synonyms: &[syn("message.max.bytes")],
        kind: ConfigType::Int,
        default: "1048588",
        validator: Validator::AtLeast(0),
        effect: TopicEffect::Log,
        doc: "Largest record batch size allowed.",
        example: "2000000",
    },
    TopicKeyDef {
        name: "message.timestamp.type",
        synonyms: &[syn("log.message.timestamp.type")],
        kind: ConfigType::String,
        default: "CreateTime",
        validator: Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        effect: TopicEffect::Log,
        doc: "Whether record timestamps are the producer's or the broker's append time.",
        example: "LogAppendTime",
    },
    TopicKeyDef {
        name: "min.cleanable.dirty.ratio",
        synonyms: &[syn("log.cleaner.min.cleanable.ratio")],
        kind: ConfigType::Double,
        default: "0.5",
        validator: Validator::Range(0.0, 1.0),
        effect: TopicEffect::Log,
        doc: "Dirty ratio at which the log becomes eligible for cleaning.",
        example: "0.1",
    },
    TopicKeyDef {
        name: "min.compaction.lag.ms",
        synonyms: &[syn("log.cleaner.min.compaction.lag.ms")],
        kind: ConfigType::Long,
        default: "0",
        validator: Validator::AtLeast(0),
        effect: TopicEffect::Log,
        doc: "Minimum time a message remains uncompacted; must not exceed max.compaction.lag.ms.",
        example: "1000",
    },
    TopicKeyDef {
        name: "min.insync.replicas",
        synonyms: &[syn("min.insync.replicas")],
        kind: ConfigType::Int,
        default: "1",
        validator: Validator::AtLeast(1),
        effect: TopicEffect::Produce,
        doc: "Minimum ISR size for an acks=all produce: with fewer in-sync replicas it fails with NOT_ENOUGH_REPLICAS (before the append) or NOT_ENOUGH_REPLICAS_AFTER_APPEND. Above the replication factor every acks=all produce fails, as in Kafka.",
        example: "2",
    },
    TopicKeyDef {
        name: "preallocate",
        synonyms: &[syn("log.preallocate")],
        kind: ConfigType::Boolean,
        default: "false",
        validator: Validator::None,
        effect: TopicEffect::Log,
        doc: "Preallocate segment files.",
        example: "true",
    },
    TopicKeyDef {
        name: "retention.bytes",
        synonyms: &[syn("log.retention.bytes")],
        kind: ConfigType::Long,
        default: "-1",
        validator: Validator::AtLeast(-1),
        effect: TopicEffect::Log,
        doc: "Maximum partition size before old segments are deleted; -1 for no limit.",
        example: "1000000",
    },
    TopicKeyDef {
        name: "retention.ms",
        synonyms: &[
            syn("log.retention.ms"),
            Synonym {
                key: "log.retention.minutes",
                factor: 60_000,
            },
            Synonym {
                key: "log.retention.hours",
                factor: 3_600_000,
            },
        ],
        kind: ConfigType::Long,
        default: "604800000",
        validator: Validator::AtLeast(-1),
        effect: TopicEffect::Log,
        doc: "Maximum age of a segment before it is deleted; -1 for no limit.",
        example: "1000",
    },
    TopicKeyDef {
        name: "segment.bytes",
        synonyms: &[syn("log.segment.bytes")],
        kind: ConfigType::Int,
        default: "1073741824",
        validator: Validator::AtLeast(14),
        effect: TopicEffect::Log,
        doc: "Segment file size.",
        example: "1048576",
    },
    TopicKeyDef {
        name: "segment.index.bytes",
        synonyms: &[syn("log.index.size.max.bytes")],
        kind: ConfigType::Int,
        default: "10485760",
        validator: Validator::AtLeast(4),
        effect: TopicEffect::Log,
        doc: "Maximum size of a segment's offset index.",
        example: "4096",
    },
    TopicKeyDef {
        name: "segment.jitter.ms",
        synonyms: &[
            syn("log.roll.jitter.ms"),
            Synonym {
                key: "log.roll.jitter.hours",
                factor: 3_600_000,
            },
        ],
        kind: ConfigType::Long,
        default: "0",
        validator: Validator::AtLeast(0),
        effect: TopicEffect::Log,
        doc: "Maximum random jitter subtracted from segment.ms.",
        example: "1000",
    },
    TopicKeyDef {
        name: "segment.ms",
        synonyms: &[
            syn("log.roll.ms"),
            Synonym {
                key: "log.roll.hours",
                factor: 3_600_000,
            },
        ],
        kind: ConfigType::Long,
        default: "604800000",
        validator: Validator::AtLeast(1),
        effect: TopicEffect::Log,
        doc: "Time after which a segment is rolled even if not full.",
        example: "1000",
    },
    TopicKeyDef {
        name: "unclean.leader.election.enable",
        synonyms: &[syn("unclean.leader.election.enable")],
        kind: ConfigType::Boolean,
        default: "false",
        validator: Validator::None,
        effect: TopicEffect::Replication,
        doc: "Let the active controller elect a live replica outside the ISR when no ISR member is alive (the ISR becomes that leader alone; records only the old leader had are lost). Also the broker default.",
        example: "true",
    },
];

pub fn topic_key(name: &str) -> Option<&'static TopicKeyDef> {
    TOPIC_KEYS.iter().find(|d| d.name == name)
}

/// The topic config whose broker synonym is `broker_key`, with the unit factor.
pub fn topic_key_for_broker_key(broker_key: &str) -> Option<(&'static TopicKeyDef, i64)> {
    TOPIC_KEYS.iter().find_map(|d| {
        d.synonyms
            .iter()
            .find(|s| s.key == broker_key)
            .map(|s| (d, s.factor))
    })
}

/// Checks `value` of topic key `def`; the message names the key and what was wrong.
pub fn validate(def: &TopicKeyDef, value: &str) -> Result<(), String> {
    super::check_value(def.name, def.kind, def.validator, value)
}

/// The unit variant of a synonym (`log.retention.hours` ...) is a LONG in Kafka too, but
/// a minutes/hours value must still be validated in its own unit.
pub fn validate_synonym(def: &TopicKeyDef, key: &str, value: &str) -> Result<(), String> {
    super::check_value(key, def.kind, def.validator, value)
}
