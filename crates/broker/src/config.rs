//! Broker configuration, the Kafka way: a `server.properties` file plus `--override k=v`,
//! with Kafka's key names. Every value is validated at start-up; an invalid one is an error
//! that names the key, and the binary exits non-zero.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strait_protocol::properties;

use crate::topic_config::{def_for_broker_key, validate, TopicDefaults};

/// One `NAME://host:port` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.name, self.host, self.port)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: properties::PropertiesError,
    },
    #[error("invalid override '{0}': expected key=value")]
    Override(String),
    #[error("invalid value '{value}' for configuration {key}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Validated broker settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Option<Vec<Listener>>,
    pub log_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    pub log_retention_check_interval_ms: u64,
    pub log_flush_scheduler_interval_ms: u64,
    /// Group coordinator: `group.initial.rebalance.delay.ms` (default 3000).
    pub group_initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms` (default 6000).
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (default 1800000).
    pub group_max_session_timeout_ms: i32,
    /// `group.max.size` (default unlimited).
    pub group_max_size: i32,
    /// `offset.metadata.max.bytes` (default 4096).
    pub offset_metadata_max_bytes: usize,
    /// `offsets.retention.minutes` (default 10080, 7 days).
    pub offsets_retention_minutes: i64,
    /// `offsets.retention.check.interval.ms` (default 600000).
    pub offsets_retention_check_interval_ms: u64,
    /// The log cleaner (`log.cleaner.*` keys).
    pub log_cleaner: strait_storage::CleanerConfig,
    /// Topic defaults from `log.*` keys (static part; dynamic part is persisted metadata).
    pub topic_defaults: TopicDefaults,
    /// Listener security (TLS, SASL), the authorizer and bootstrap SCRAM credentials.
    pub security: crate::auth::config::SecurityConfig,
    /// Everything supplied, for DescribeConfigs on the broker resource.
    pub supplied: BTreeMap<String, String>,
}

/// Keys from a stock Kafka `server.properties` that Strait accepts and has no use for
/// (KRaft quorum, replication and coordinator-topic settings of a multi-node cluster).
const ACCEPTED_IGNORED: &[&str] = &[
    "process.roles",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "controller.listener.names",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "offsets.topic.replication.factor",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "broker.rack",
    "zookeeper.connect",
];

const KNOWN: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.dir",
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "delete.topic.enable",
    "socket.request.max.bytes",
    "log.retention.check.interval.ms",
    "log.flush.scheduler.interval.ms",
    crate::metrics_http::METRICS_LISTENER_KEY,
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.max.size",
    "offset.metadata.max.bytes",
    "offsets.retention.minutes",
    "offsets.retention.check.interval.ms",
];

impl BrokerConfig {
    /// Loads `file` (if any) and applies `overrides` (`key=value` strings) on top.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut props = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            props = properties::parse(&text).map_err(|source| ConfigError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        }
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::Override(o.clone()))?;
            if k.trim().is_empty() {
                return Err(ConfigError::Override(o.clone()));
            }
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        Self::from_properties(props)
    }

    pub fn from_properties(props: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| props.get(k).map(|v| v.trim().to_string());
        let node_id = match get("node.id").or_else(|| get("broker.id")) {
            Some(v) => parse_num::<i32>("node.id", &v, 0, i32::MAX)?,
            None => 1,
        };
        let listeners = match get("listeners") {
            Some(v) => parse_listeners("listeners", &v)?,
            None => vec![Listener {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
            }],
        };
        let listener_names: Vec<String> = listeners.iter().map(|l| l.name.clone()).collect();
        let security = crate::auth::config::parse(&props, &listener_names)
            .map_err(|(key, value, reason)| invalid(&key, &value, reason))?;
        let advertised_listeners = get("advertised.listeners")
            .map(|v| parse_listeners("advertised.listeners", &v))
            .transpose()?;
        if let Some(adv) = &advertised_listeners {
            for a in adv {
                if a.port == 0 || a.host.is_empty() || a.host == "0.0.0.0" {
                    return Err(invalid(
                        "advertised.listeners",
                        &a.to_string(),
                        "advertised listeners need a concrete host and port",
                    ));
                }
            }
        }
        let log_dir =
            match get("log.dirs").or_else(|| get("log.dir")) {
                Some(v) => {
                    let dirs: Vec<&str> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect();
                    match dirs.as_slice() {
                        [one] => PathBuf::from(one),
                        [] => return Err(invalid("log.dirs", &v, "no directory given")),
                        _ => return Err(invalid(
                            "log.dirs",
                            &v,
                            "Strait keeps all partitions in one log directory; give exactly one",
                        )),
                    }
                }
                None => PathBuf::from("strait-data"),
            };
        let num_partitions = match get("num.partitions") {
            Some(v) => parse_num::<i32>("num.partitions", &v, 1, 100_000)?,
            None => 1,
        };
        let default_replication_factor = match get("default.replication.factor") {
            Some(v) => parse_num::<i16>("default.replication.factor", &v, 1, 1)?,
            None => 1,
        };
        let auto_create_topics_enable = match get("auto.create.topics.enable") {
            Some(v) => parse_bool("auto.create.topics.enable", &v)?,
            None => true,
        };
        let delete_topic_enable = match get("delete.topic.enable") {
            Some(v) => parse_bool("delete.topic.enable", &v)?,
            None => true,
        };
        let socket_request_max_bytes = match get("socket.request.max.bytes") {
            Some(v) => parse_num::<i32>("socket.request.max.bytes", &v, 1, i32::MAX)? as usize,
            None => strait_protocol::frame::DEFAULT_MAX_REQUEST_BYTES,
        };
        let log_retention_check_interval_ms = match get("log.retention.check.interval.ms") {
            Some(v) => parse_num::<i64>("log.retention.check.interval.ms", &v, 1, i64::MAX)? as u64,
            None => 300_000,
        };
        let log_flush_scheduler_interval_ms = match get("log.flush.scheduler.interval.ms") {
            Some(v) => parse_num::<i64>("log.flush.scheduler.interval.ms", &v, 1, i64::MAX)? as u64,
            None => 1000,
        };
        let group_initial_rebalance_delay_ms = match get("group.initial.rebalance.delay.ms") {
            Some(v) => {
                parse_num::<i32>("group.initial.rebalance.delay.ms", &v, 0, i32::MAX)? as u64
            }
            None => 3000,
        };
        let group_min_session_timeout_ms = match get("group.min.session.timeout.ms") {
            Some(v) => parse_num::<i32>("group.min.session.timeout.ms", &v, 0, i32::MAX)?,
            None => 6000,
        };
        let group_max_session_timeout_ms = match get("group.max.session.timeout.ms") {
            Some(v) => parse_num::<i32>("group.max.session.timeout.ms", &v, 0, i32::MAX)?,
            None => 1_800_000,
        };
        if group_max_session_timeout_ms < group_min_session_timeout_ms {
            return Err(invalid(
                "group.max.session.timeout.ms",
                &group_max_session_timeout_ms.to_string(),
                format!("must not be below group.min.session.timeout.ms ({group_min_session_timeout_ms})"),
            ));
        }
        let group_max_size = match get("group.max.size") {
            Some(v) => parse_num::<i32>("group.max.size", &v, 1, i32::MAX)?,
            None => i32::MAX,
        };
        let offset_metadata_max_bytes = match get("offset.metadata.max.bytes") {
            Some(v) => parse_num::<i32>("offset.metadata.max.bytes", &v, 0, i32::MAX)? as usize,
            None => 4096,
        };
        let offsets_retention_minutes = match get("offsets.retention.minutes") {
            Some(v) => i64::from(parse_num::<i32>(
                "offsets.retention.minutes",
                &v,
                1,
                i32::MAX,
            )?),
            None => 10_080,
        };
        let offsets_retention_check_interval_ms = match get("offsets.retention.check.interval.ms") {
            Some(v) => {
                parse_num::<i64>("offsets.retention.check.interval.ms", &v, 1, i64::MAX)? as u64
            }
            None => 600_000,
        };

        let mut topic_defaults = TopicDefaults::default();
        for (k, v) in &props {
            if let Some((def, _)) = def_for_broker_key(k) {
                validate(def, v).map_err(|reason| invalid(k, v, reason))?;
                topic_defaults
                    .static_broker
                    .insert(k.clone(), v.trim().to_string());
            } else if !KNOWN.contains(&k.as_str())
                && !ACCEPTED_IGNORED.contains(&k.as_str())
                && !crate::auth::config::is_security_key(k)
            {
                tracing::warn!(key = %k, "The configuration '{k}' was supplied but isn't a known config.");
            }
        }
        Ok(BrokerConfig {
            node_id,
            listeners,
            advertised_listeners,
            log_dir,
            num_partitions,
            default_replication_factor,
            auto_create_topics_enable,
            delete_topic_enable,
            socket_request_max_bytes,
            log_retention_check_interval_ms,
            log_flush_scheduler_interval_ms,
            group_initial_rebalance_delay_ms,
            group_min_session_timeout_ms,
            group_max_session_timeout_ms,
            group_max_size,
            offset_metadata_max_bytes,
            offsets_retention_minutes,
            offsets_retention_check_interval_ms,
            log_cleaner: strait_storage::CleanerConfig::default(),
            topic_defaults,
            security,
            supplied: props,
        })
    }
}

fn parse_num<T>(key: &str, v: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let n: T = v
        .parse()
        .map_err(|_| invalid(key, v, "not a valid number"))?;
    if n < min || n > max {
        return Err(invalid(key, v, format!("must be between {min} and {max}")));
    }
    Ok(n)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, v, "expected true or false")),
    }
}

/// Parses `NAME://host:port[,NAME2://host:port]`.
pub fn parse_listeners(key: &str, v: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut out: Vec<Listener> = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = item
            .split_once("://")
            .ok_or_else(|| invalid(key, item, "expected NAME://host:port"))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| invalid(key, item, "expected NAME://host:port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| invalid(key, item, "port is not a number in 0..=65535"))?;
        let name = name.to_ascii_uppercase();
        // The name's security protocol comes from listener.security.protocol.map
        // (crate::auth::config), which checks that every listener has one.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                key,
                item,
                "listener names are letters, digits, '_' and '-'",
            ));
        }
        if out.iter().any(|l| l.name == name) {
            return Err(invalid(
                key,
                item,
                format!("listener name {name} appears twice"),
            ));
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        out.push(Listener { name, host, port });
    }
    if out.is_empty() {
        return Err(invalid(key, v, "no listener given"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(overrides: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        BrokerConfig::load(None, &o)
    }

    #[test]
    fn defaults_match_the_readme() {
        let c = load(&[]).unwrap();
        assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://127.0.0.1:9092");
        assert_eq!(c.log_dir, PathBuf::from("strait-data"));
        assert_eq!(c.node_id, 1);
        assert!(c.auto_create_topics_enable);
    }

    #[test]
    fn invalid_values_name_the_key() {
        for (o, key) in [
            ("num.partitions=zero", "num.partitions"),
            ("listeners=127.0.0.1:9092", "listeners"),
            ("log.retention.ms=abc", "log.retention.ms"),
            ("auto.create.topics.enable=yes", "auto.create.topics.enable"),
            (
                "log.message.timestamp.type=Now",
                "log.message.timestamp.type",
            ),
        ] {
            let e = load(&[o]).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        assert!(matches!(load(&["novalue"]), Err(ConfigError::Override(_))));
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(
            &path,
            "node.id=3\nlog.dirs=/tmp/x\nnum.partitions=4\nlog.retention.hours=1\n",
        )
        .unwrap();
        let c = BrokerConfig::load(Some(&path), &["num.partitions=2".to_string()]).unwrap();
        assert_eq!(c.node_id, 3);
        assert_eq!(c.num_partitions, 2);
        assert_eq!(c.log_dir, PathBuf::from("/tmp/x"));
        assert_eq!(
            c.topic_defaults
                .static_broker
                .get("log.retention.hours")
                .map(String::as_str),
            Some("1")
        );
    }
}
