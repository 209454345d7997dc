//! Topic-level configs: Kafka's names, types, defaults, validation, and the broker keys
//! (`log.*` and friends) that supply cluster-wide defaults.
//!
//! Resolution order for a topic key, as in Kafka: the topic's own override, then this
//! broker's dynamic config, then the dynamic cluster-wide default (both set through
//! AlterConfigs), then the static `server.properties` value of the broker synonym, then the
//! built-in default. [`ConfigSource`] records which one won.

use std::collections::BTreeMap;

use strait_records::TimestampType;
use strait_storage::LogConfig;

/// Kafka's `DescribeConfigsResponse` config types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// Kafka's `DescribeConfigsResponse` config sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    DynamicBrokerConfig = 2,
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

#[derive(Debug, Clone, Copy)]
pub enum Validator {
    None,
    AtLeast(i64),
    Range(f64, f64),
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose items must each be one of these.
    ListOf(&'static [&'static str]),
}

/// A broker key that sets a topic default, and the factor that turns its unit into the
/// topic key's unit (for example `log.retention.hours` → ms).
#[derive(Debug, Clone, Copy)]
pub struct Synonym {
    pub key: &'static str,
    pub factor: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub synonyms: &'static [Synonym],
    pub kind: ConfigType,
    pub default: &'static str,
    pub validator: Validator,
    pub doc: &'static str,
}

const fn syn(key: &'static str) -> Synonym {
    Synonym { key, factor: 1 }
}

const MAX_LONG: &str = "9223372036854775807";

/// Every topic config Strait honours.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        synonyms: &[syn("log.cleanup.policy")],
        kind: ConfigType::List,
        default: "delete",
        validator: Validator::ListOf(&["delete", "compact"]),
        doc: "Retention policy for old segments: delete and/or compact.",
    },
    TopicConfigDef {
        name: "compression.type",
        synonyms: &[syn("compression.type")],
        kind: ConfigType::String,
        default: "producer",
        validator: Validator::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        doc: "Final compression type for the topic; 'producer' keeps the producer's codec.",
    },
    TopicConfigDef {
        name: "delete.retention.ms",
        synonyms: &[syn("log.cleaner.delete.retention.ms")],
        kind: ConfigType::Long,
        default: "86400000",
        validator: Validator::AtLeast(0),
        doc: "How long delete tombstones are retained on compacted topics.",
    },
    TopicConfigDef {
        name: "file.delete.delay.ms",
        synonyms: &[syn("log.segment.delete.delay.ms")],
        kind: ConfigType::Long,
        default: "60000",
        validator: Validator::AtLeast(0),
        doc: "Time to wait before deleting a file from the filesystem.",
    },
    TopicConfigDef {
        name: "flush.messages",
        synonyms: &[syn("log.flush.interval.messages")],
        kind: ConfigType::Long,
        default: MAX_LONG,
        validator: Validator::AtLeast(1),
        doc: "fsync the log after this many messages.",
    },
    TopicConfigDef {
        name: "flush.ms",
        synonyms: &[syn("log.flush.interval.ms")],
        kind: ConfigType::Long,
        default: MAX_LONG,
        validator: Validator::AtLeast(0),
        doc: "fsync the log when this much time has passed since the last fsync.",
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        synonyms: &[syn("log.index.interval.bytes")],
        kind: ConfigType::Int,
        default: "4096",
        validator: Validator::AtLeast(0),
        doc: "Bytes between offset index entries.",
    },
    TopicConfigDef {
        name: "max.compaction.lag.ms",
        synonyms: &[syn("log.cleaner.max.compaction.lag.ms")],
        kind: ConfigType::Long,
        default: MAX_LONG,
        validator: Validator::AtLeast(1),
        doc: "Maximum time a message remains ineligible for compaction.",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        synonyms: &[syn("message.max.bytes")],
        kind: ConfigType::Int,
        default: "1048588",
        validator: Validator::AtLeast(0),
        doc: "Largest record batch size allowed.",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        synonyms: &[syn("log.message.timestamp.type")],
        kind: ConfigType::String,
        default: "CreateTime",
        validator: Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        doc: "Whether record timestamps are the producer's or the broker's append time.",
    },
    TopicConfigDef {
        name: "min.cleanable.dirty.ratio",
        synonyms: &[syn("log.cleaner.min.cleanable.ratio")],
        kind: ConfigType::Double,
        default: "0.5",
        validator: Validator::Range(0.0, 1.0),
        doc: "Dirty ratio at which the log becomes eligible for cleaning.",
    },
    TopicConfigDef {
        name: "min.compaction.lag.ms",
        synonyms: &[syn("log.cleaner.min.compaction.lag.ms")],
        kind: ConfigType::Long,
        default: "0",
        validator: Validator::AtLeast(0),
        doc: "Minimum time a message remains uncompacted.",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        synonyms: &[syn("min.insync.replicas")],
        kind: ConfigType::Int,
        default: "1",
        validator: Validator::AtLeast(1),
        doc: "Minimum in-sync replicas for acks=all.",
    },
    TopicConfigDef {
        name: "preallocate",
        synonyms: &[syn("log.preallocate")],
        kind: ConfigType::Boolean,
        default: "false",
        validator: Validator::None,
        doc: "Preallocate segment files.",
    },
    TopicConfigDef {
        name: "retention.bytes",
        synonyms: &[syn("log.retention.bytes")],
        kind: ConfigType::Long,
        default: "-1",
        validator: Validator::AtLeast(-1),
        doc: "Maximum partition size before old segments are deleted; -1 for no limit.",
    },
    TopicConfigDef {
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
        doc: "Maximum age of a segment before it is deleted; -1 for no limit.",
    },
    TopicConfigDef {
        name: "segment.bytes",
        synonyms: &[syn("log.segment.bytes")],
        kind: ConfigType::Int,
        default: "1073741824",
        validator: Validator::AtLeast(14),
        doc: "Segment file size.",
    },
    TopicConfigDef {
        name: "segment.index.bytes",
        synonyms: &[syn("log.index.size.max.bytes")],
        kind: ConfigType::Int,
        default: "10485760",
        validator: Validator::AtLeast(4),
        doc: "Maximum size of a segment's offset index.",
    },
    TopicConfigDef {
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
        doc: "Maximum random jitter subtracted from segment.ms.",
    },
    TopicConfigDef {
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
        doc: "Time after which a segment is rolled even if not full.",
    },
    TopicConfigDef {
        name: "unclean.leader.election.enable",
        synonyms: &[syn("unclean.leader.election.enable")],
        kind: ConfigType::Boolean,
        default: "false",
        validator: Validator::None,
        doc: "Allow out-of-sync replicas to become leader.",
    },
];

pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The topic config whose broker synonym is `broker_key`, with the unit factor.
pub fn def_for_broker_key(broker_key: &str) -> Option<(&'static TopicConfigDef, i64)> {
    TOPIC_CONFIGS.iter().find_map(|d| {
        d.synonyms
            .iter()
            .find(|s| s.key == broker_key)
            .map(|s| (d, s.factor))
    })
}

/// Checks `value` against `def`; the message names the key and what was wrong.
pub fn validate(def: &TopicConfigDef, value: &str) -> Result<(), String> {
    let v = value.trim();
    let bad = |why: &str| {
        Err(format!(
            "Invalid value {value} for configuration {}: {why}",
            def.name
        ))
    };
    match def.kind {
        ConfigType::Boolean => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return bad("Expected value to be either true or false");
            }
        }
        ConfigType::Int => match v.parse::<i32>() {
            Ok(n) => check_at_least(def, i64::from(n)).or_else(|e| bad(&e))?,
            Err(_) => return bad("Not a number of type INT"),
        },
        ConfigType::Long => match v.parse::<i64>() {
            Ok(n) => check_at_least(def, n).or_else(|e| bad(&e))?,
            Err(_) => return bad("Not a number of type LONG"),
        },
        ConfigType::Double => match v.parse::<f64>() {
            Ok(n) => {
                if let Validator::Range(lo, hi) = def.validator {
                    if !(lo..=hi).contains(&n) {
                        return bad(&format!("Value must be in the range [{lo}, {hi}]"));
                    }
                }
            }
            Err(_) => return bad("Not a number of type DOUBLE"),
        },
        ConfigType::String => {
            if let Validator::OneOf(allowed) = def.validator {
                if !allowed.contains(&v) {
                    return bad(&format!("String must be one of: {}", allowed.join(", ")));
                }
            }
        }
        ConfigType::List => {
            if let Validator::ListOf(allowed) = def.validator {
                let items: Vec<&str> = v.split(',').map(str::trim).collect();
                if items.iter().any(|i| !allowed.contains(i)) {
                    return bad(&format!("List items must be among: {}", allowed.join(", ")));
                }
            }
        }
    }
    Ok(())
}

fn check_at_least(def: &TopicConfigDef, n: i64) -> Result<(), String> {
    match def.validator {
        Validator::AtLeast(min) if n < min => Err(format!("Value must be at least {min}")),
        _ => Ok(()),
    }
}

/// Broker-level defaults for topic configs, each layer keyed by broker key
/// (`log.retention.ms` ...).
#[derive(Debug, Clone, Default)]
pub struct TopicDefaults {
    pub static_broker: BTreeMap<String, String>,
    /// Dynamic cluster-wide defaults (broker resource "").
    pub dynamic_default: BTreeMap<String, String>,
    /// Dynamic configs of this broker (broker resource = node id).
    pub dynamic_broker: BTreeMap<String, String>,
}

/// One resolved config value and where it came from.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    pub def: &'static TopicConfigDef,
    pub value: String,
    pub source: ConfigSource,
}

impl TopicDefaults {
    /// The broker-level default of `def` and its source (without any topic override).
    pub fn broker_default(&self, def: &'static TopicConfigDef) -> (String, ConfigSource) {
        for (map, source) in [
            (&self.dynamic_broker, ConfigSource::DynamicBrokerConfig),
            (
                &self.dynamic_default,
                ConfigSource::DynamicDefaultBrokerConfig,
            ),
            (&self.static_broker, ConfigSource::StaticBrokerConfig),
        ] {
            for s in def.synonyms {
                if let Some(v) = map.get(s.key) {
                    return (scale(v, s.factor), source);
                }
            }
        }
        (def.default.to_string(), ConfigSource::DefaultConfig)
    }

    /// Every topic config resolved for a topic with `overrides`.
    pub fn resolve_all(&self, overrides: &BTreeMap<String, String>) -> Vec<ResolvedConfig> {
        TOPIC_CONFIGS
            .iter()
            .map(|def| match overrides.get(def.name) {
                Some(v) => ResolvedConfig {
                    def,
                    value: v.clone(),
                    source: ConfigSource::TopicConfig,
                },
                None => {
                    let (value, source) = self.broker_default(def);
                    ResolvedConfig { def, value, source }
                }
            })
            .collect()
    }

    /// The storage settings for a topic with `overrides`.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let resolved = self.resolve_all(overrides);
        let get = |name: &str| {
            resolved
                .iter()
                .find(|r| r.def.name == name)
                .map(|r| r.value.trim().to_string())
                .unwrap_or_default()
        };
        let long = |name: &str, fallback: i64| get(name).parse::<i64>().unwrap_or(fallback);
        let defaults = LogConfig::default();
        LogConfig {
            segment_bytes: long("segment.bytes", defaults.segment_bytes as i64).max(14) as u64,
            segment_ms: long("segment.ms", defaults.segment_ms),
            retention_ms: long("retention.ms", defaults.retention_ms),
            retention_bytes: long("retention.bytes", defaults.retention_bytes),
            index_interval_bytes: long("index.interval.bytes", 4096).clamp(0, i64::from(u32::MAX))
                as u32,
            segment_index_bytes: long("segment.index.bytes", 10_485_760)
                .clamp(4, i64::from(u32::MAX)) as u32,
            max_message_bytes: long("max.message.bytes", 1_048_588).clamp(0, i64::from(u32::MAX))
                as u32,
            flush_messages: long("flush.messages", i64::MAX),
            flush_ms: long("flush.ms", i64::MAX),
            message_timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            cleanup_policy: strait_storage::CleanupPolicy::parse(&get("cleanup.policy"))
                .unwrap_or(defaults.cleanup_policy),
            min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio")
                .parse::<f64>()
                .unwrap_or(defaults.min_cleanable_dirty_ratio),
            min_compaction_lag_ms: long("min.compaction.lag.ms", defaults.min_compaction_lag_ms),
            max_compaction_lag_ms: long("max.compaction.lag.ms", defaults.max_compaction_lag_ms),
            delete_retention_ms: long("delete.retention.ms", defaults.delete_retention_ms),
            segment_jitter_ms: long("segment.jitter.ms", defaults.segment_jitter_ms),
            file_delete_delay_ms: long("file.delete.delay.ms", defaults.file_delete_delay_ms),
            preallocate: get("preallocate").eq_ignore_ascii_case("true"),
        }
    }
}

fn scale(value: &str, factor: i64) -> String {
    if factor == 1 {
        return value.to_string();
    }
    match value.trim().parse::<i64>() {
        Ok(n) if n < 0 => n.to_string(),
        Ok(n) => n.saturating_mul(factor).to_string(),
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order_and_units() {
        let mut d = TopicDefaults::default();
        d.static_broker
            .insert("log.retention.hours".into(), "2".into());
        let def = topic_config_def("retention.ms").unwrap();
        assert_eq!(
            d.broker_default(def),
            ("7200000".to_string(), ConfigSource::StaticBrokerConfig)
        );
        d.dynamic_default
            .insert("log.retention.ms".into(), "6".into());
        assert_eq!(
            d.broker_default(def),
            ("6".to_string(), ConfigSource::DynamicDefaultBrokerConfig)
        );
        d.dynamic_broker
            .insert("log.retention.ms".into(), "5".into());
        assert_eq!(
            d.broker_default(def),
            ("5".to_string(), ConfigSource::DynamicBrokerConfig)
        );
        let mut overrides = BTreeMap::new();
        overrides.insert("retention.ms".to_string(), "9".to_string());
        assert_eq!(d.log_config(&overrides).retention_ms, 9);
        assert_eq!(d.log_config(&BTreeMap::new()).retention_ms, 5);
    }

    #[test]
    fn validation_messages_name_the_key() {
        let def = topic_config_def("retention.ms").unwrap();
        assert!(validate(def, "abc").unwrap_err().contains("retention.ms"));
        assert!(validate(def, "-2").is_err());
        assert!(validate(def, "-1").is_ok());
        let policy = topic_config_def("cleanup.policy").unwrap();
        assert!(validate(policy, "compact,delete").is_ok());
        assert!(validate(policy, "archive").is_err());
        let ts = topic_config_def("message.timestamp.type").unwrap();
        assert!(validate(ts, "LogAppendTime").is_ok());
        assert!(validate(ts, "Now").is_err());
    }
}
