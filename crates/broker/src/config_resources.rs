//! Config resources as DescribeConfigs / AlterConfigs / IncrementalAlterConfigs see them:
//! topics (type 2) and the broker (type 4): name = node id for this broker's own dynamic
//! configs, or empty for the dynamic cluster-wide defaults, as in Kafka. Shared by the three handlers so they agree on names, values and sources.
//!
//! Broker resources expose the `log.*`-style keys that default topic configs (dynamic:
//! alterable, persisted, applied to every log at once) and every static key of the
//! registry ([`crate::config_registry`]; read-only, PASSWORD values hidden).

use std::collections::BTreeMap;

use strait_protocol::ErrorCode;

use crate::broker::Broker;
use crate::config_registry as registry;
use crate::error::ApiError;
use crate::topic_config::{
    def_for_broker_key, validate_overrides, ConfigSource, ConfigType, TOPIC_CONFIGS,
};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// One config as described to clients.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    pub source: ConfigSource,
    pub sensitive: bool,
    pub config_type: ConfigType,
    pub doc: Option<&'static str>,
    /// Kafka's synonyms, highest precedence first: (name, value, source).
    pub synonyms: Vec<(String, String, ConfigSource)>,
}

/// Which resource a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Topic(String),
    /// `cluster_default`: the "" resource (cluster-wide defaults) rather than this node.
    Broker {
        cluster_default: bool,
    },
}

pub fn resolve_resource(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<Resource, ApiError> {
    match resource_type {
        RESOURCE_TOPIC => {
            if broker.topics.get(name).is_none() {
                return Err(ApiError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                ));
            }
            Ok(Resource::Topic(name.to_string()))
        }
        RESOURCE_BROKER => {
            if !name.is_empty() && name != broker.node_id().to_string() {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Unexpected broker id, expected {} or empty string, but received {name}",
                        broker.node_id()
                    ),
                ));
            }
            Ok(Resource::Broker {
                cluster_default: name.is_empty(),
            })
        }
        other => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "Unsupported resource type {other}: Strait has topic (2) and broker (4) configs"
            ),
        )),
    }
}

/// Every config of the resource, or only `keys` when given.
pub fn describe(broker: &Broker, resource: &Resource, keys: Option<&[String]>) -> Vec<ConfigEntry> {
    let wanted = |n: &str| keys.is_none_or(|k| k.iter().any(|x| x == n));
    let defaults = broker.topics.defaults();
    match resource {
        Resource::Topic(name) => {
            let overrides = broker
                .topics
                .get(name)
                .map(|t| t.configs())
                .unwrap_or_default();
            defaults
                .resolve_all(&overrides)
                .into_iter()
                .filter(|r| wanted(r.def.name))
                .map(|r| {
                    let mut synonyms = Vec::new();
                    if let Some(v) = overrides.get(r.def.name) {
                        synonyms.push((
                            r.def.name.to_string(),
                            v.clone(),
                            ConfigSource::TopicConfig,
                        ));
                    }
                    let (bv, bs) = defaults.broker_default(r.def);
                    let broker_key = r.def.synonyms.first().map_or(r.def.name, |s| s.key);
                    synonyms.push((
                        if bs == ConfigSource::DefaultConfig {
                            r.def.name.to_string()
                        } else {
                            broker_key.to_string()
                        },
                        bv,
                        bs,
                    ));
                    ConfigEntry {
                        name: r.def.name.to_string(),
                        value: Some(r.value),
                        read_only: false,
                        source: r.source,
                        sensitive: false,
                        config_type: r.def.kind,
                        doc: Some(r.def.doc),
                        synonyms,
                    }
                })
                .collect()
        }
        Resource::Broker { .. } => {
            let mut out = Vec::new();
            for def in TOPIC_CONFIGS {
                let Some(primary) = def.synonyms.first() else {
                    continue;
                };
                if wanted(primary.key) {
                    let (value, source) = defaults.broker_default(def);
                    out.push(ConfigEntry {
                        name: primary.key.to_string(),
                        value: Some(value.clone()),
                        read_only: false,
                        source,
                        sensitive: false,
                        config_type: def.kind,
                        doc: Some(def.doc),
                        synonyms: vec![(primary.key.to_string(), value, source)],
                    });
                }
                // Unit variants (log.retention.hours ...) are configs of their own in Kafka,
                // each with its own value and source.
                for s in def.synonyms.iter().skip(1).filter(|s| wanted(s.key)) {
                    let own = [
                        (&defaults.dynamic_broker, ConfigSource::DynamicBrokerConfig),
                        (
                            &defaults.dynamic_default,
                            ConfigSource::DynamicDefaultBrokerConfig,
                        ),
                        (&defaults.static_broker, ConfigSource::StaticBrokerConfig),
                    ]
                    .into_iter()
                    .find_map(|(m, src)| m.get(s.key).map(|v| (Some(v.clone()), src)));
                    let (value, source) = own.unwrap_or_else(|| {
                        (
                            builtin_unit_default(def.default, s.factor),
                            ConfigSource::DefaultConfig,
                        )
                    });
                    out.push(ConfigEntry {
                        name: s.key.to_string(),
                        value: value.clone(),
                        read_only: false,
                        source,
                        sensitive: false,
                        config_type: if s.factor == 1 {
                            def.kind
                        } else {
                            ConfigType::Int
                        },
                        doc: Some(def.doc),
                        synonyms: value
                            .map(|v| vec![(s.key.to_string(), v, source)])
                            .unwrap_or_default(),
                    });
                }
            }
            out.extend(static_entries(broker, &wanted));
            out.sort_by(|a, b| a.name.cmp(&b.name));
            out
        }
    }
}

/// The static keys of the registry (read-only), and supplied per-listener variants.
/// Refused keys are never described (no value of theirs is accepted); PASSWORD values
/// are hidden, as Kafka hides them.
fn static_entries(broker: &Broker, wanted: &dyn Fn(&str) -> bool) -> Vec<ConfigEntry> {
    let c = &broker.config;
    let entry = |name: &str, def: &registry::KeyDef, value: Option<String>| {
        let source = if c.supplied.contains_key(name) {
            ConfigSource::StaticBrokerConfig
        } else {
            ConfigSource::DefaultConfig
        };
        let value = if def.sensitive() { None } else { value };
        ConfigEntry {
            name: name.to_string(),
            value: value.clone(),
            read_only: true,
            source,
            sensitive: def.sensitive(),
            config_type: def.kind,
            doc: Some(def.doc),
            synonyms: value
                .map(|v| vec![(name.to_string(), v, source)])
                .unwrap_or_default(),
        }
    };
    let mut out = Vec::new();
    for def in registry::static_keys() {
        if matches!(def.support, registry::Support::Refused(_)) || !wanted(def.name) {
            continue;
        }
        let value = match (c.supplied.get(def.name), def.name) {
            (Some(v), _) => Some(v.trim().to_string()),
            (None, "node.id") => Some(c.node_id.to_string()),
            (None, "advertised.listeners") => Some(broker.advertised_listener().to_string()),
            (None, _) => def.default.map(str::to_string),
        };
        out.push(entry(def.name, def, value));
    }
    for (k, v) in &c.supplied {
        if !k.starts_with("listener.name.") || !wanted(k) {
            continue;
        }
        if let Some(def) = registry::resolve_static_key(k) {
            out.push(entry(k, def, Some(v.trim().to_string())));
        }
    }
    out
}

/// Kafka's built-in default of an hours-valued synonym (`log.retention.hours` = 168); the
/// minutes variants have none (null), as in Kafka.
fn builtin_unit_default(default: &str, factor: i64) -> Option<String> {
    if factor != 3_600_000 {
        return None;
    }
    let n: i64 = default.parse().ok()?;
    (n % factor == 0).then(|| (n / factor).to_string())
}

/// The resource's current overrides (topic configs, or dynamic broker configs).
pub fn current_overrides(broker: &Broker, resource: &Resource) -> BTreeMap<String, String> {
    match resource {
        Resource::Topic(name) => broker
            .topics
            .get(name)
            .map(|t| t.configs())
            .unwrap_or_default(),
        Resource::Broker {
            cluster_default: true,
        } => broker.topics.defaults().dynamic_default,
        Resource::Broker {
            cluster_default: false,
        } => broker.topics.defaults().dynamic_broker,
    }
}

/// A mirror's synced configs belong to its source: refuse local changes to them.
fn check_mirror_configs(
    broker: &Broker,
    name: &str,
    configs: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let Some(topic) = broker.topics.get(name) else {
        return Ok(());
    };
    let Some(mirror) = topic.mirror().filter(|m| m.state != "STOPPED") else {
        return Ok(());
    };
    let current = topic.configs();
    for key in strait_link::sync::ALWAYS_SYNCED_TOPIC_CONFIGS {
        if configs.get(*key) != current.get(*key) {
            return Err(ApiError::new(
                ErrorCode::InvalidConfig,
                format!(
                    "config {key} of mirror topic '{name}' is synced from source topic '{}' by cluster link '{}' and cannot be changed here",
                    mirror.source_topic, mirror.link_name
                ),
            ));
        }
    }
    Ok(())
}

/// Validates and stores a complete new set of overrides for the resource.
pub fn replace_overrides(
    broker: &Broker,
    resource: &Resource,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ApiError> {
    match resource {
        Resource::Topic(name) => {
            check_mirror_configs(broker, name, &configs)?;
            validate_overrides(&configs, &broker.topics.defaults())?;
            broker
                .topics
                .set_topic_configs(name, configs, validate_only)
        }
        Resource::Broker { cluster_default } => {
            let mut not_dynamic = Vec::new();
            for (k, v) in &configs {
                match def_for_broker_key(k) {
                    Some((def, _)) => registry::topic_keys::validate_synonym(def, k, v)
                        .map_err(|m| ApiError::new(ErrorCode::InvalidConfig, m))?,
                    None => not_dynamic.push(k.clone()),
                }
            }
            if !not_dynamic.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Cannot update these configs dynamically: {}",
                        not_dynamic.join(", ")
                    ),
                ));
            }
            if validate_only {
                return Ok(());
            }
            broker
                .topics
                .set_dynamic_broker_configs(*cluster_default, configs)
        }
    }
}
