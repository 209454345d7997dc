//! Link configuration: Java-properties text exactly like Confluent's `source.config`.
//!
//! Two kinds of keys live in one file:
//! * **source connection** keys, standard Kafka client configs (`bootstrap.servers`,
//!   `security.protocol`, `sasl.mechanism`, `sasl.jaas.config`, `ssl.*` ...), handed to the
//!   client that reaches the source;
//! * **link options** (`auto.create.mirror.topics.enable`, `consumer.offset.sync.enable`,
//!   `acl.sync.enable`, the filter documents, sync intervals, `mirror.start.offset.spec`,
//!   `cluster.link.prefix`, fetch sizes and waits ...), each validated here.
//!
//! Any other key is an error naming it. Secrets (`sasl.jaas.config`, `*.password`,
//! `ssl.keystore.key`) are kept but never shown: [`LinkConfig::describe`] masks them and
//! `Debug` does not print them.

use std::collections::BTreeMap;

use crate::filters::{
    parse_acl_filters, parse_group_filters, parse_topic_filters, AclFilters, FilterError,
    NameFilters,
};

/// Standard Kafka client keys a source config may carry that the link accepts and has no
/// use for (its client keeps its own connection and retry policy).
const ACCEPTED_CLIENT_KEYS: &[&str] = &[
    "client.dns.lookup",
    "connections.max.idle.ms",
    "retry.backoff.ms",
];

/// Is `key` a source-connection key (handed to the client) rather than a link option?
fn is_client_key(key: &str) -> bool {
    strait_client::config::KNOWN_KEYS.contains(&key) || ACCEPTED_CLIENT_KEYS.contains(&key)
}

/// Is this key's value a secret?
pub fn is_sensitive(key: &str) -> bool {
    key == "sasl.jaas.config"
        || key == "ssl.keystore.key"
        || key.ends_with(".password")
        || key.contains("secret")
}

/// Where the link starts mirroring a partition that has no local data yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffsetSpec {
    Earliest,
    Latest,
    /// First offset with a timestamp at or after this (ms since the epoch).
    Timestamp(i64),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkConfigError {
    #[error("unknown link config '{0}'")]
    UnknownKey(String),
    #[error("missing required link config '{0}'")]
    Missing(&'static str),
    #[error("invalid value '{value}' for link config {key}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("link config {key}: {source}")]
    Filter {
        key: &'static str,
        source: FilterError,
    },
    #[error("{0}")]
    Conflict(String),
}

/// A validated link configuration.
#[derive(Clone, PartialEq)]
pub struct LinkConfig {
    /// Every key as given (source connection keys and options), for persistence.
    raw: BTreeMap<String, String>,
    pub bootstrap_servers: Vec<String>,
    pub auto_create_mirror_topics: bool,
    pub topic_filters: NameFilters,
    pub consumer_offset_sync: bool,
    pub group_filters: NameFilters,
    pub consumer_offset_sync_ms: u64,
    pub consumer_group_prefix: bool,
    pub acl_sync: bool,
    pub acl_filters: AclFilters,
    pub acl_sync_ms: u64,
    pub topic_config_sync_ms: u64,
    pub topic_config_sync_include: Vec<String>,
    /// `link.target.latency.ms`: the replication latency the link's sync status is judged
    /// against (IN_SYNC / STALE / OUT_OF_SYNC).
    pub target_latency_ms: i64,
    pub cluster_link_prefix: Option<String>,
    pub start_offset: StartOffsetSpec,
    pub paused: bool,
    pub fetch_max_bytes: i32,
    pub fetch_response_max_bytes: i32,
    pub fetch_wait_max_ms: i32,
    pub fetch_min_bytes: i32,
    pub fetch_backoff_ms: u64,
    pub metadata_max_age_ms: u64,
    pub retry_timeout_ms: u64,
    pub availability_check_ms: u64,
}

impl std::fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<(String, String)> = self
            .describe()
            .into_iter()
            .map(|(k, v, _)| (k, v.unwrap_or_else(|| "[hidden]".into())))
            .collect();
        f.debug_struct("LinkConfig")
            .field("configs", &shown)
            .finish()
    }
}

struct Parser<'a> {
    map: &'a BTreeMap<String, String>,
}

impl Parser<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(|v| v.trim())
    }
    fn invalid(key: &str, value: &str, reason: impl Into<String>) -> LinkConfigError {
        LinkConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
    fn bool(&self, key: &str, default: bool) -> Result<bool, LinkConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(Self::invalid(key, v, "expected true or false")),
        }
    }
    fn num(&self, key: &str, default: i64, min: i64, max: i64) -> Result<i64, LinkConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| Self::invalid(key, v, "not a number"))?;
                if n < min || n > max {
                    return Err(Self::invalid(
                        key,
                        v,
                        format!("must be between {min} and {max}"),
                    ));
                }
                Ok(n)
            }
        }
    }
}

impl LinkConfig {
    /// Parses Java-properties text (the `--config-file`).
    pub fn from_properties_text(text: &str) -> Result<Self, LinkConfigError> {
        let map =
            strait_protocol::properties::parse(text).map_err(|e| LinkConfigError::Invalid {
                key: format!("(line {})", e.line),
                value: String::new(),
                reason: e.message,
            })?;
        Self::from_map(map)
    }

    /// Validates a key/value map.
    pub fn from_map(map: BTreeMap<String, String>) -> Result<Self, LinkConfigError> {
        for k in map.keys() {
            if !is_client_key(k) && !OPTION_KEYS.contains(&k.as_str()) {
                return Err(LinkConfigError::UnknownKey(k.clone()));
            }
        }
        let p = Parser { map: &map };
        let bootstrap = p
            .get("bootstrap.servers")
            .ok_or(LinkConfigError::Missing("bootstrap.servers"))?;
        let bootstrap_servers: Vec<String> = bootstrap
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if bootstrap_servers.is_empty() {
            return Err(Parser::invalid(
                "bootstrap.servers",
                bootstrap,
                "no address given",
            ));
        }
        for b in &bootstrap_servers {
            let ok = b
                .rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(Parser::invalid(
                    "bootstrap.servers",
                    b,
                    "expected host:port",
                ));
            }
        }
        if let Some(v) = p.get("security.protocol") {
            if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
                .contains(&v.to_ascii_uppercase().as_str())
            {
                return Err(Parser::invalid(
                    "security.protocol",
                    v,
                    "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                ));
            }
        }
        if let Some(v) = p.get("sasl.mechanism") {
            if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
                .contains(&v.to_ascii_uppercase().as_str())
            {
                return Err(Parser::invalid(
                    "sasl.mechanism",
                    v,
                    "expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                ));
            }
        }
        for mode in ["link.mode", "connection.mode"] {
            if let Some(v) = p.get(mode) {
                let expected = if mode == "link.mode" {
                    "DESTINATION"
                } else {
                    "OUTBOUND"
                };
                if !v.eq_ignore_ascii_case(expected) {
                    return Err(Parser::invalid(
                        mode,
                        v,
                        format!("only {expected} links are supported"),
                    ));
                }
            }
        }

        let filter = |key: &'static str,
                      parse: fn(&str) -> Result<NameFilters, FilterError>|
         -> Result<NameFilters, LinkConfigError> {
            match p.get(key) {
                None | Some("") => Ok(NameFilters::default()),
                Some(v) => parse(v).map_err(|source| LinkConfigError::Filter { key, source }),
            }
        };
        let topic_filters = filter("auto.create.mirror.topics.filters", parse_topic_filters)?;
        let group_filters = filter("consumer.offset.group.filters", parse_group_filters)?;
        let acl_filters = match p.get("acl.filters") {
            None | Some("") => AclFilters::default(),
            Some(v) => parse_acl_filters(v).map_err(|source| LinkConfigError::Filter {
                key: "acl.filters",
                source,
            })?,
        };

        let acl_sync = p.bool("acl.sync.enable", false)?;
        if acl_sync && acl_filters.is_empty() {
            return Err(LinkConfigError::Conflict(
                "ACL migration is enabled but acl.filters is not set: set acl.filters (--acl-filters-json-file) or acl.sync.enable=false".into(),
            ));
        }
        let cluster_link_prefix = match p.get("cluster.link.prefix") {
            None | Some("") => None,
            Some(v) => {
                if !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
                {
                    return Err(Parser::invalid(
                        "cluster.link.prefix",
                        v,
                        "may contain only ASCII alphanumerics, '.', '_' and '-'",
                    ));
                }
                if acl_sync {
                    return Err(LinkConfigError::Conflict(
                        "cluster.link.prefix cannot be combined with acl.sync.enable=true".into(),
                    ));
                }
                Some(v.to_string())
            }
        };
        let start_offset = match p.get("mirror.start.offset.spec") {
            None => StartOffsetSpec::Earliest,
            Some(v) if v.eq_ignore_ascii_case("earliest") => StartOffsetSpec::Earliest,
            Some(v) if v.eq_ignore_ascii_case("latest") => StartOffsetSpec::Latest,
            Some(v) => {
                let ts = time::OffsetDateTime::parse(
                    v,
                    &time::format_description::well_known::Iso8601::DEFAULT,
                )
                .map_err(|e| {
                    Parser::invalid(
                        "mirror.start.offset.spec",
                        v,
                        format!("expected earliest, latest or an ISO-8601 timestamp ({e})"),
                    )
                })?;
                StartOffsetSpec::Timestamp((ts.unix_timestamp_nanos() / 1_000_000) as i64)
            }
        };
        let topic_config_sync_include: Vec<String> = p
            .get("topic.config.sync.include")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for key in &topic_config_sync_include {
            if !crate::sync::OPTIONALLY_SYNCED_TOPIC_CONFIGS.contains(&key.as_str()) {
                let why = if crate::sync::ALWAYS_SYNCED_TOPIC_CONFIGS.contains(&key.as_str()) {
                    "it is always synced".to_string()
                } else if crate::sync::NEVER_SYNCED_TOPIC_CONFIGS.contains(&key.as_str()) {
                    "it is never synced (it describes the destination cluster, not the data)"
                        .to_string()
                } else {
                    format!(
                        "optionally synced configs are {}",
                        crate::sync::OPTIONALLY_SYNCED_TOPIC_CONFIGS.join(", ")
                    )
                };
                return Err(Parser::invalid("topic.config.sync.include", key, why));
            }
        }
        let target_latency_ms = p.num("link.target.latency.ms", 60_000, 1, i64::from(i32::MAX))?;
        let consumer_offset_sync = p.bool("consumer.offset.sync.enable", false)?;
        Ok(LinkConfig {
            bootstrap_servers,
            auto_create_mirror_topics: p.bool("auto.create.mirror.topics.enable", false)?,
            topic_filters,
            consumer_offset_sync,
            group_filters,
            consumer_offset_sync_ms: p.num(
                "consumer.offset.sync.ms",
                30_000,
                1000,
                i64::from(i32::MAX),
            )? as u64,
            consumer_group_prefix: p.bool("consumer.group.prefix.enable", false)?,
            acl_sync,
            acl_filters,
            acl_sync_ms: p.num("acl.sync.ms", 5000, 100, i64::from(i32::MAX))? as u64,
            topic_config_sync_ms: p.num("topic.config.sync.ms", 5000, 100, i64::from(i32::MAX))?
                as u64,
            topic_config_sync_include,
            target_latency_ms,
            cluster_link_prefix,
            start_offset,
            paused: p.bool("cluster.link.paused", false)?,
            fetch_max_bytes: p.num(
                "replica.fetch.max.bytes",
                1_048_576,
                1024,
                i64::from(i32::MAX),
            )? as i32,
            fetch_response_max_bytes: p.num(
                "replica.fetch.response.max.bytes",
                10_485_760,
                1024,
                i64::from(i32::MAX),
            )? as i32,
            fetch_wait_max_ms: p.num("replica.fetch.wait.max.ms", 500, 0, 60_000)? as i32,
            fetch_min_bytes: p.num("replica.fetch.min.bytes", 1, 1, i64::from(i32::MAX))? as i32,
            fetch_backoff_ms: p.num("replica.fetch.backoff.ms", 1000, 0, 3_600_000)? as u64,
            metadata_max_age_ms: p.num("metadata.max.age.ms", 300_000, 100, i64::from(i32::MAX))?
                as u64,
            retry_timeout_ms: p.num(
                "cluster.link.retry.timeout.ms",
                300_000,
                0,
                i64::from(i32::MAX),
            )? as u64,
            availability_check_ms: p.num(
                "availability.check.ms",
                60_000,
                100,
                i64::from(i32::MAX),
            )? as u64,
            raw: map,
        })
    }

    /// Every key as given, secrets included: for persistence only.
    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.raw
    }

    /// The source-connection keys, for building the source client.
    pub fn client_properties(&self) -> BTreeMap<String, String> {
        self.raw
            .iter()
            .filter(|(k, _)| is_client_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `(key, value, sensitive)` for display: secrets have no value.
    pub fn describe(&self) -> Vec<(String, Option<String>, bool)> {
        self.raw
            .iter()
            .map(|(k, v)| {
                if is_sensitive(k) {
                    (k.clone(), None, true)
                } else {
                    (k.clone(), Some(v.clone()), false)
                }
            })
            .collect()
    }

    /// The mirror topic name for a source topic.
    pub fn mirror_name(&self, source_topic: &str) -> String {
        match &self.cluster_link_prefix {
            Some(p) => format!("{p}{source_topic}"),
            None => source_topic.to_string(),
        }
    }
}

/// Link option keys (everything that is not a source-connection key).
const OPTION_KEYS: &[&str] = &[
    "link.mode",
    "metadata.max.age.ms",
    "connection.mode",
    "auto.create.mirror.topics.enable",
    "auto.create.mirror.topics.filters",
    "consumer.offset.sync.enable",
    "consumer.offset.group.filters",
    "consumer.offset.sync.ms",
    "consumer.group.prefix.enable",
    "acl.sync.enable",
    "acl.filters",
    "acl.sync.ms",
    "topic.config.sync.ms",
    "topic.config.sync.include",
    "link.target.latency.ms",
    "cluster.link.prefix",
    "mirror.start.offset.spec",
    "cluster.link.paused",
    "cluster.link.retry.timeout.ms",
    "availability.check.ms",
    "num.cluster.link.fetchers",
    "replica.fetch.max.bytes",
    "replica.fetch.response.max.bytes",
    "replica.fetch.wait.max.ms",
    "replica.fetch.min.bytes",
    "replica.fetch.backoff.ms",
];

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n\
        sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"hunter2\";\n\
        bootstrap.servers=src.example:9092\nauto.create.mirror.topics.enable=true\nconsumer.offset.sync.enable=true\nacl.sync.enable=true\n";

    fn with_acl(text: &str) -> String {
        format!("{text}acl.filters={{\"aclFilters\":[{{\"resourceFilter\":{{\"resourceType\":\"any\",\"patternType\":\"any\"}},\"accessFilter\":{{\"operation\":\"any\",\"permissionType\":\"any\"}}}}]}}\n")
    }

    #[test]
    fn seed_004_source_config() {
        // As written in the seed, acl.sync.enable=true needs the ACL filter file too.
        let e = LinkConfig::from_properties_text(SEED).unwrap_err();
        assert!(e.to_string().contains("acl.filters"), "{e}");
        let c = LinkConfig::from_properties_text(&with_acl(SEED)).unwrap();
        assert_eq!(c.bootstrap_servers, vec!["src.example:9092"]);
        assert!(c.auto_create_mirror_topics && c.consumer_offset_sync && c.acl_sync);
        assert_eq!(c.start_offset, StartOffsetSpec::Earliest);
        let shown = format!("{c:?} {:?}", c.describe());
        assert!(!shown.contains("hunter2"), "secrets leak: {shown}");
        assert_eq!(c.client_properties().len(), 4);
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let e = LinkConfig::from_properties_text("bootstrap.servers=a:1\nfetch.speed=fast\n")
            .unwrap_err();
        assert_eq!(e, LinkConfigError::UnknownKey("fetch.speed".into()));
        assert_eq!(
            LinkConfig::from_properties_text("acl.sync.enable=false\n").unwrap_err(),
            LinkConfigError::Missing("bootstrap.servers")
        );
        for (text, key) in [
            ("bootstrap.servers=nohost\n", "bootstrap.servers"),
            ("bootstrap.servers=a:1\nconsumer.offset.sync.ms=10\n", "consumer.offset.sync.ms"),
            ("bootstrap.servers=a:1\nmirror.start.offset.spec=yesterday\n", "mirror.start.offset.spec"),
            ("bootstrap.servers=a:1\nauto.create.mirror.topics.filters={\"topicFilters\":[{\"nam\":\"x\"}]}\n", "auto.create.mirror.topics.filters"),
            ("bootstrap.servers=a:1\nlink.mode=BIDIRECTIONAL\n", "link.mode"),
            ("bootstrap.servers=a:1\nsasl.mechanism=GSSAPI\n", "sasl.mechanism"),
        ] {
            let e = LinkConfig::from_properties_text(text).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn start_offset_timestamp_and_prefix() {
        let c = LinkConfig::from_properties_text("bootstrap.servers=a:1\nmirror.start.offset.spec=2026-01-02T03:04:05Z\ncluster.link.prefix=dr.\n").unwrap();
        assert_eq!(
            c.start_offset,
            StartOffsetSpec::Timestamp(1_767_323_045_000)
        );
        assert_eq!(c.mirror_name("orders"), "dr.orders");
    }
}
