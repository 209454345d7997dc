//! Broker configuration, the Kafka way: a `server.properties` file plus `--override k=v`,
//! with Kafka's key names. Which keys exist, their defaults and validation live in
//! [`crate::config_registry`]; this module reads a validated set into [`BrokerConfig`].
//! Every supplied value is validated at start-up; an invalid one (or a key Strait refuses)
//! is an error that names the key, and the binary exits with code 2. Unknown keys get
//! Kafka's warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strait_protocol::properties;

use crate::config_registry::topic_keys::{topic_key_for_broker_key, validate_synonym};
use crate::config_registry::{self as registry, broker_keys, Props};
use crate::topic_config::TopicDefaults;

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

/// Validated broker settings. Every field is read through the registry
/// ([`crate::config_registry`]), so its default is the one DescribeConfigs and the README
/// show.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Option<Vec<Listener>>,
    /// `controller.listener.names`: listeners in `listeners` that clients never see. A
    /// single node binds none; with several voters the first is the quorum's TCP port.
    pub controller_listener_names: Vec<String>,
    /// The listener brokers replicate over (`inter.broker.listener.name`, else the first
    /// non-controller listener of `security.inter.broker.protocol`): the follower fetchers
    /// connect to the leader's endpoint of this name. `None` on a single node without one.
    pub inter_broker_listener_name: Option<String>,
    /// `controller.quorum.voters` when it names more than this node; empty for a single
    /// node (a quorum of itself, whether or not the voters key spells it out), so the
    /// single node behaves exactly as without the key.
    pub quorum_voters: BTreeMap<u64, strait_quorum::VoterAddr>,
    /// `--cluster-id` (Kafka's `kafka-storage format -t`): formats an empty data directory
    /// with this id; a directory of another cluster refuses to start. Not a property.
    pub cluster_id: Option<String>,
    /// `broker.session.timeout.ms`: the active controller fences a broker not heard from
    /// for this long.
    pub broker_session_timeout_ms: u64,
    /// `auto.leader.rebalance.enable` (true): the active controller restores preferred
    /// leaders every `leader_imbalance_check_interval_seconds` (300).
    pub auto_leader_rebalance_enable: bool,
    /// `controlled.shutdown.enable` (true): see [`crate::Broker::controlled_shutdown`].
    pub controlled_shutdown_enable: bool,
    pub leader_imbalance_check_interval_seconds: u64,
    /// `broker.heartbeat.interval.ms`: how often the active controller checks liveness.
    pub broker_heartbeat_interval_ms: u64,
    /// `controller.quorum.election.timeout.ms`.
    pub controller_quorum_election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms`.
    pub controller_quorum_fetch_timeout_ms: u64,
    pub log_dir: PathBuf,
    pub num_partitions: i32,
    /// `default.replication.factor` (Kafka's default 1): RF of topics created without one.
    pub default_replication_factor: i16,
    /// `replica.lag.time.max.ms` (30000): a follower not caught up for this long leaves
    /// the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `replica.fetch.max.bytes` (1048576): per-partition bytes of a follower's fetch.
    pub replica_fetch_max_bytes: i32,
    /// `replica.fetch.response.max.bytes` (10485760): bytes of a follower's fetch response.
    pub replica_fetch_response_max_bytes: i32,
    /// `replica.fetch.wait.max.ms` (500): at most `replica_socket_timeout_ms` and
    /// `replica_lag_time_max_ms` (Kafka's rules, checked at load).
    pub replica_fetch_wait_max_ms: i32,
    /// `replica.fetch.min.bytes` (1).
    pub replica_fetch_min_bytes: i32,
    /// `replica.fetch.backoff.ms` (1000): pause after a failed replication fetch.
    pub replica_fetch_backoff_ms: u64,
    /// `replica.socket.timeout.ms` (30000): timeout of a follower's requests to its leader.
    pub replica_socket_timeout_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms` (5000).
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    /// `socket.send.buffer.bytes`: SO_SNDBUF of accepted sockets; `None` = OS default (-1).
    pub socket_send_buffer_bytes: Option<u32>,
    /// `socket.receive.buffer.bytes`: SO_RCVBUF of listening and accepted sockets.
    pub socket_receive_buffer_bytes: Option<u32>,
    /// `socket.listen.backlog.size`.
    pub socket_listen_backlog_size: u32,
    /// `num.network.threads` and `num.io.threads`: see [`BrokerConfig::worker_threads`].
    pub num_network_threads: usize,
    pub num_io_threads: usize,
    /// `num.recovery.threads.per.data.dir`: threads that open partition logs at start-up.
    pub num_recovery_threads_per_data_dir: usize,
    /// `broker.rack`, reported in Metadata and DescribeCluster.
    pub broker_rack: Option<String>,
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
    /// Transaction coordinator: `transaction.max.timeout.ms` (default 900000).
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms` (default 604800000, 7 days).
    pub transactional_id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (default 10000).
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: u64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms` (default 3600000).
    pub transaction_remove_expired_transaction_cleanup_interval_ms: u64,
    /// The log cleaner (`log.cleaner.*` keys).
    pub log_cleaner: strait_storage::CleanerConfig,
    /// Topic defaults from `log.*` keys (static part; dynamic part is persisted metadata).
    pub topic_defaults: TopicDefaults,
    /// Listener security (TLS, SASL), the authorizer and bootstrap SCRAM credentials.
    pub security: crate::auth::config::SecurityConfig,
    /// Everything supplied, for DescribeConfigs on the broker resource.
    pub supplied: BTreeMap<String, String>,
}

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

    /// Validates every supplied key against the registry, then reads the settings.
    pub fn from_properties(props: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut topic_defaults = TopicDefaults::default();
        for (k, v) in &props {
            if let Some(def) = registry::resolve_static_key(k) {
                registry::check_static(def, k, v)
                    .map_err(|reason| invalid(k, v, reason_only(k, v, &reason)))?;
            } else if let Some((def, _)) = topic_key_for_broker_key(k) {
                validate_synonym(def, k, v)
                    .map_err(|reason| invalid(k, v, reason_only(k, v, &reason)))?;
                topic_defaults
                    .static_broker
                    .insert(k.clone(), v.trim().to_string());
            } else {
                // Kafka's behaviour for a key it does not know: a warning, not an error.
                tracing::warn!(key = %k, "The configuration '{k}' was supplied but isn't a known config; Strait ignores it.");
            }
        }
        let p = Props { supplied: &props };
        let key_err =
            |(key, value, reason): (String, String, String)| invalid(&key, &value, reason);
        let node_id = match props.get("node.id").or_else(|| props.get("broker.id")) {
            Some(v) => parse_num::<i32>("node.id", v.trim(), 0, i32::MAX)?,
            None => p.i32("node.id").map_err(key_err)?,
        };
        broker_keys::check_single_node(&p, node_id).map_err(key_err)?;
        let listeners = parse_listeners("listeners", &p.value("listeners").unwrap_or_default())?;
        let listener_names: Vec<String> = listeners.iter().map(|l| l.name.clone()).collect();
        let security = crate::auth::config::parse(&props, &listener_names).map_err(key_err)?;
        let advertised_listeners = p
            .value("advertised.listeners")
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
        let log_dir = p
            .value("log.dirs")
            .or_else(|| p.value("log.dir"))
            .unwrap_or_default();
        let log_dir = PathBuf::from(
            log_dir
                .split(',')
                .map(str::trim)
                .find(|s| !s.is_empty())
                .unwrap_or("strait-data"),
        );
        let group_min_session_timeout_ms =
            p.i32("group.min.session.timeout.ms").map_err(key_err)?;
        let group_max_session_timeout_ms =
            p.i32("group.max.session.timeout.ms").map_err(key_err)?;
        if group_max_session_timeout_ms < group_min_session_timeout_ms {
            return Err(invalid(
                "group.max.session.timeout.ms",
                &group_max_session_timeout_ms.to_string(),
                format!("must not be below group.min.session.timeout.ms ({group_min_session_timeout_ms})"),
            ));
        }
        let buffer = |key: &str| -> Result<Option<u32>, ConfigError> {
            let n = p.i32(key).map_err(key_err)?;
            Ok(u32::try_from(n).ok().filter(|n| *n > 0))
        };
        let count = |key: &str| -> Result<usize, ConfigError> {
            Ok(usize::try_from(p.i32(key).map_err(key_err)?)
                .unwrap_or(1)
                .max(1))
        };
        let millis = |key: &str| -> Result<u64, ConfigError> {
            Ok(u64::try_from(p.i64(key).map_err(key_err)?).unwrap_or(0))
        };
        let voters_value = p.list("controller.quorum.voters").join(",");
        let mut quorum_voters = if voters_value.is_empty() {
            BTreeMap::new()
        } else {
            strait_quorum::parse_voters(&voters_value)
                .map_err(|e| invalid("controller.quorum.voters", &voters_value, e.0.to_string()))?
        };
        if quorum_voters.len() == 1 {
            // This node alone (check_single_node made sure it is this node).
            quorum_voters.clear();
        }
        let controller_listener_names = broker_keys::controller_listener_names(&p);
        let inter_broker_listener_name = inter_broker_listener(
            &p,
            &listeners,
            &controller_listener_names,
            &security,
            quorum_voters.len() > 1,
        )?;
        Ok(BrokerConfig {
            node_id,
            controller_listener_names,
            inter_broker_listener_name,
            quorum_voters,
            cluster_id: None,
            broker_session_timeout_ms: millis("broker.session.timeout.ms")?,
            auto_leader_rebalance_enable: p
                .bool("auto.leader.rebalance.enable")
                .map_err(key_err)?,
            controlled_shutdown_enable: p.bool("controlled.shutdown.enable").map_err(key_err)?,
            leader_imbalance_check_interval_seconds: millis(
                "leader.imbalance.check.interval.seconds",
            )?,
            broker_heartbeat_interval_ms: millis("broker.heartbeat.interval.ms")?,
            controller_quorum_election_timeout_ms: millis("controller.quorum.election.timeout.ms")?,
            controller_quorum_fetch_timeout_ms: millis("controller.quorum.fetch.timeout.ms")?,
            listeners,
            advertised_listeners,
            log_dir,
            num_partitions: p.i32("num.partitions").map_err(key_err)?,
            default_replication_factor: i16::try_from(
                p.i32("default.replication.factor").map_err(key_err)?,
            )
            .unwrap_or(i16::MAX),
            replica_lag_time_max_ms: millis("replica.lag.time.max.ms")?,
            replica_fetch_max_bytes: p.i32("replica.fetch.max.bytes").map_err(key_err)?,
            replica_fetch_response_max_bytes: p
                .i32("replica.fetch.response.max.bytes")
                .map_err(key_err)?,
            replica_fetch_wait_max_ms: p.i32("replica.fetch.wait.max.ms").map_err(key_err)?,
            replica_fetch_min_bytes: p.i32("replica.fetch.min.bytes").map_err(key_err)?,
            replica_fetch_backoff_ms: millis("replica.fetch.backoff.ms")?,
            replica_socket_timeout_ms: millis("replica.socket.timeout.ms")?,
            replica_high_watermark_checkpoint_interval_ms: millis(
                "replica.high.watermark.checkpoint.interval.ms",
            )?,
            auto_create_topics_enable: p.bool("auto.create.topics.enable").map_err(key_err)?,
            delete_topic_enable: p.bool("delete.topic.enable").map_err(key_err)?,
            socket_request_max_bytes: count("socket.request.max.bytes")?,
            socket_send_buffer_bytes: buffer("socket.send.buffer.bytes")?,
            socket_receive_buffer_bytes: buffer("socket.receive.buffer.bytes")?,
            socket_listen_backlog_size: u32::try_from(count("socket.listen.backlog.size")?)
                .unwrap_or(u32::MAX),
            num_network_threads: count("num.network.threads")?,
            num_io_threads: count("num.io.threads")?,
            num_recovery_threads_per_data_dir: count("num.recovery.threads.per.data.dir")?,
            broker_rack: p.value("broker.rack").filter(|r| !r.is_empty()),
            log_retention_check_interval_ms: millis("log.retention.check.interval.ms")?,
            log_flush_scheduler_interval_ms: millis("log.flush.scheduler.interval.ms")?,
            group_initial_rebalance_delay_ms: millis("group.initial.rebalance.delay.ms")?,
            group_min_session_timeout_ms,
            group_max_session_timeout_ms,
            group_max_size: p.i32("group.max.size").map_err(key_err)?,
            offset_metadata_max_bytes: usize::try_from(
                p.i32("offset.metadata.max.bytes").map_err(key_err)?,
            )
            .unwrap_or(0),
            offsets_retention_minutes: i64::from(
                p.i32("offsets.retention.minutes").map_err(key_err)?,
            ),
            offsets_retention_check_interval_ms: millis("offsets.retention.check.interval.ms")?,
            transaction_max_timeout_ms: p.i32("transaction.max.timeout.ms").map_err(key_err)?,
            transactional_id_expiration_ms: i64::from(
                p.i32("transactional.id.expiration.ms").map_err(key_err)?,
            ),
            transaction_abort_timed_out_transaction_cleanup_interval_ms: millis(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            )?,
            transaction_remove_expired_transaction_cleanup_interval_ms: millis(
                "transaction.remove.expired.transaction.cleanup.interval.ms",
            )?,
            log_cleaner: broker_keys::cleaner_config(&p).map_err(key_err)?,
            topic_defaults,
            security,
            supplied: props,
        })
    }

    /// Threads of the async runtime: `num.network.threads`, as in Kafka the threads that
    /// serve sockets (read, decode, dispatch, encode, write). Partition file I/O runs on
    /// `num.io.threads` separate log manager threads ([`crate::log_manager`]), Kafka's
    /// request handler pool.
    pub fn worker_threads(&self) -> usize {
        self.num_network_threads.max(1)
    }

    /// Sets `--cluster-id`, checked as Kafka's `kafka-storage format -t` checks it: a
    /// Kafka UUID in its 22-character URL-safe base64 form.
    pub fn with_cluster_id(mut self, id: Option<String>) -> Result<Self, ConfigError> {
        if let Some(id) = &id {
            let ok = id.len() == 22
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(invalid(
                    "--cluster-id",
                    id,
                    "must be a Kafka cluster id: 22 characters of URL-safe base64 (e.g. from kafka-storage random-uuid)",
                ));
            }
        }
        self.cluster_id = id;
        Ok(self)
    }

    /// Whether this node is one voter of several (a metadata quorum over the network).
    pub fn is_multi_voter(&self) -> bool {
        self.quorum_voters.len() > 1
    }

    /// The listener this node serves the metadata quorum on: the first controller listener
    /// in `listeners`, when there are several voters.
    pub fn quorum_listener(&self) -> Option<&Listener> {
        if !self.is_multi_voter() {
            return None;
        }
        self.controller_listener_names
            .iter()
            .find_map(|n| self.listeners.iter().find(|l| &l.name == n))
    }

    /// The listeners Strait's Kafka server binds: `listeners` without the controller
    /// listeners (the quorum binds its own).
    pub fn bound_listeners(&self) -> impl Iterator<Item = &Listener> {
        self.listeners
            .iter()
            .filter(|l| !self.controller_listener_names.contains(&l.name))
    }
}

/// Kafka's choice of the inter-broker listener: `inter.broker.listener.name`, else the first
/// listener whose protocol is `security.inter.broker.protocol`. With several voters it
/// must exist and be PLAINTEXT: the replica fetchers do not speak TLS or SASL yet, so any
/// other protocol is refused at start-up rather than accepted and not used.
fn inter_broker_listener(
    p: &Props<'_>,
    listeners: &[Listener],
    controllers: &[String],
    security: &crate::auth::config::SecurityConfig,
    multi_voter: bool,
) -> Result<Option<String>, ConfigError> {
    use crate::auth::config::SecurityProtocol;
    let named = p
        .supplied
        .get("inter.broker.listener.name")
        .map(|n| n.trim().to_ascii_uppercase());
    let protocol_value = p
        .value("security.inter.broker.protocol")
        .unwrap_or_else(|| "PLAINTEXT".into());
    let resolved = match named {
        Some(n) => Some(n),
        None => {
            let wanted = SecurityProtocol::parse(&protocol_value);
            listeners
                .iter()
                .filter(|l| !controllers.contains(&l.name))
                .find(|l| Some(security.listener(&l.name).protocol) == wanted)
                .map(|l| l.name.clone())
        }
    };
    if !multi_voter {
        return Ok(resolved);
    }
    let Some(name) = resolved else {
        return Err(invalid(
            "security.inter.broker.protocol",
            &protocol_value,
            "no listener in listeners uses this protocol; brokers need one to replicate over (or set inter.broker.listener.name)",
        ));
    };
    if security.listener(&name).protocol != SecurityProtocol::Plaintext {
        return Err(invalid(
            "inter.broker.listener.name",
            &name,
            "the inter-broker listener must be PLAINTEXT: Strait's replica fetchers do not speak TLS or SASL yet",
        ));
    }
    Ok(Some(name))
}

/// The registry's messages name key and value for API errors; [`ConfigError::Invalid`]
/// already does, so only the reason is kept.
fn reason_only(key: &str, value: &str, message: &str) -> String {
    let prefixes = [
        format!("Invalid value {value} for configuration {key}: "),
        format!("Configuration {key} is "),
    ];
    prefixes
        .iter()
        .find_map(|p| message.strip_prefix(p.as_str()))
        .unwrap_or(message)
        .to_string()
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
