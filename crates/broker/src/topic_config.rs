//! Topic-level config resolution: which value a topic has for each key of the registry
//! ([`crate::config_registry::topic_keys`]) and what storage and the Produce path get
//! from it.
//!
//! Resolution order for a topic key, as in Kafka: the topic's own override, then this
//! broker's dynamic config, then the dynamic cluster-wide default (both set through
//! AlterConfigs), then the static `server.properties` value of the broker synonym, then the
//! built-in default. [`ConfigSource`] records which one won.

use std::collections::BTreeMap;

use strait_protocol::ErrorCode;
use strait_records::{Compression, TimestampType};
use strait_storage::LogConfig;

use crate::error::ApiError;

pub use crate::config_registry::topic_keys::{
    topic_key as topic_config_def, topic_key_for_broker_key as def_for_broker_key, validate,
    Synonym, TopicEffect, TopicKeyDef as TopicConfigDef, TOPIC_KEYS as TOPIC_CONFIGS,
};
pub use crate::config_registry::{ConfigSource, ConfigType, Validator};

/// Validates a complete set of topic overrides: each key known and valid (INVALID_CONFIG
/// naming it otherwise, as Kafka answers for unknown topic keys), then Kafka's cross-key
/// rules on the values the topic would have (`defaults` fill what is not overridden).
pub fn validate_overrides(
    configs: &BTreeMap<String, String>,
    defaults: &TopicDefaults,
) -> Result<(), ApiError> {
    for (k, v) in configs {
        let def = topic_config_def(k).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidConfig,
                format!("Unknown topic config name: {k} (Strait refuses topic configs it does not honour)"),
            )
        })?;
        validate(def, v).map_err(|m| ApiError::new(ErrorCode::InvalidConfig, m))?;
    }
    let value = |name: &str| -> i64 {
        let v = match (configs.get(name), topic_config_def(name)) {
            (Some(v), _) => v.clone(),
            (None, Some(def)) => defaults.broker_default(def).0,
            (None, None) => String::new(),
        };
        v.trim().parse().unwrap_or_default()
    };
    let (min_lag, max_lag) = (
        value("min.compaction.lag.ms"),
        value("max.compaction.lag.ms"),
    );
    if min_lag > max_lag {
        return Err(ApiError::new(
            ErrorCode::InvalidConfig,
            format!("conflict topic config setting min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"),
        ));
    }
    Ok(())
}

/// What the Produce path applies for a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceSettings {
    /// `compression.type`: `None` for `producer` (keep the producer's codec).
    pub compression: Option<strait_records::Compression>,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
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

    /// The value of topic key `name` for a topic with `overrides` (`None`: no such key).
    pub fn resolve(&self, name: &str, overrides: &BTreeMap<String, String>) -> Option<String> {
        let def = topic_config_def(name)?;
        Some(match overrides.get(name) {
            Some(v) => v.trim().to_string(),
            None => self.broker_default(def).0,
        })
    }

    /// The Produce path's settings for a topic with `overrides`.
    pub fn produce_settings(&self, overrides: &BTreeMap<String, String>) -> ProduceSettings {
        let compression = match self.resolve("compression.type", overrides).as_deref() {
            Some("uncompressed") => Some(Compression::None),
            Some("gzip") => Some(Compression::Gzip),
            Some("snappy") => Some(Compression::Snappy),
            Some("lz4") => Some(Compression::Lz4),
            Some("zstd") => Some(Compression::Zstd),
            _ => None,
        };
        let min_insync_replicas = self
            .resolve("min.insync.replicas", overrides)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        ProduceSettings {
            compression,
            min_insync_replicas,
        }
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

    /// Every registry topic key changes what storage or the Produce path gets; a key added
    /// to the registry without wiring fails here.
    #[test]
    fn every_topic_key_has_an_effect() {
        let d = TopicDefaults::default();
        let base_log = format!("{:?}", d.log_config(&BTreeMap::new()));
        let base_produce = d.produce_settings(&BTreeMap::new());
        for def in TOPIC_CONFIGS {
            let mut o = BTreeMap::new();
            o.insert(def.name.to_string(), def.example.to_string());
            match def.effect {
                TopicEffect::Log => assert_ne!(
                    format!("{:?}", d.log_config(&o)),
                    base_log,
                    "{} does not reach LogConfig",
                    def.name
                ),
                TopicEffect::Produce => assert_ne!(
                    d.produce_settings(&o),
                    base_produce,
                    "{} does not reach the Produce path",
                    def.name
                ),
                // Described (tests/configs.rs); nothing on one node acts on it.
                TopicEffect::Replication => {
                    assert_eq!(d.resolve(def.name, &o).as_deref(), Some(def.example))
                }
            }
        }
    }

    #[test]
    fn cross_key_rules_and_unknown_keys() {
        let d = TopicDefaults::default();
        let mut o = BTreeMap::new();
        o.insert("min.compaction.lag.ms".to_string(), "10".to_string());
        o.insert("max.compaction.lag.ms".to_string(), "5".to_string());
        let e = validate_overrides(&o, &d).unwrap_err();
        assert!(e.to_string().contains("min.compaction.lag.ms"), "{e}");
        let mut o = BTreeMap::new();
        o.insert("compression.zstd.level".to_string(), "3".to_string());
        let e = validate_overrides(&o, &d).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert!(e.to_string().contains("compression.zstd.level"), "{e}");
    }
}
