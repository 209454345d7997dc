//! Link configuration: Java-properties text exactly like Confluent's `source.config`.
//!
//! Two kinds of keys live in one file:
//! * **source connection** keys, standard Kafka client configs (`bootstrap.servers`,
//!   `security.protocol`, `sasl.mechanism`, `sasl.jaas.config`, `ssl.*` ...), handed to the
//!   client that reaches the source;
//! * **link options** (`auto.create.mirror.topics.enable`, `consumer.offset.sync.enable`,
//!   `acl.sync.enable`, the filter documents, sync intervals, `mirror.start.offset.spec`,
//!   `cluster.link.prefix`, fetcher count, fetch sizes, retry and availability timing ...).
//!
//! Every key, its type, default and validation come from [`crate::registry`]: a key not
//! there is an error naming it, a value Strait cannot honour is an error naming the key, and
//! defaults are read from the registry only. Secrets (`sasl.jaas.config`, passwords,
//! inline PEM keys) are kept but never shown: [`LinkConfig::describe`] masks them and
//! `Debug` does not print them.

use std::collections::BTreeMap;

use crate::filters::{
    parse_acl_filters, parse_group_filters, parse_topic_filters, AclFilters, FilterError,
    NameFilters,
};
use crate::registry::{check_simple, link_key, LinkKey, Scope, Support, LINK_KEYS};

/// Is this key's value a secret? Registry keys say so by type; for anything else (a typo
/// that is about to be refused) err on the side of hiding.
pub fn is_sensitive(key: &str) -> bool {
    match link_key(key) {
        Some(def) => def.sensitive(),
        None => {
            key == "sasl.jaas.config"
                || key == "ssl.keystore.key"
                || key.ends_with(".password")
                || key.contains("secret")
        }
    }
}

/// Where the link starts mirroring a partition that has no local data yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffsetSpec {
    Earliest,
    Latest,
    /// First offset with a timestamp at or after this (ms since the epoch).
    Timestamp(i64),
}

/// `link.mode`: which side of the link this broker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkMode {
    /// This broker connects to the source and pulls (Confluent's default).
    #[default]
    Destination,
    /// The same link name exists on both clusters, each pulling from the other; the peer
    /// link must exist, be BIDIRECTIONAL and point back here (see [`crate::loops`]).
    Bidirectional,
    /// The source side of a source-initiated link. Refused by the registry until
    /// implemented.
    Source,
}

impl LinkMode {
    /// Confluent's spelling, as `link.mode` takes it and describe shows it.
    pub fn name(self) -> &'static str {
        match self {
            LinkMode::Destination => "DESTINATION",
            LinkMode::Bidirectional => "BIDIRECTIONAL",
            LinkMode::Source => "SOURCE",
        }
    }

    /// Parses a `link.mode` value, case-insensitively.
    pub fn parse(v: &str) -> Option<LinkMode> {
        [
            LinkMode::Destination,
            LinkMode::Bidirectional,
            LinkMode::Source,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(v.trim()))
    }
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
    /// `link.mode`.
    pub link_mode: LinkMode,
    /// `connection.mode` (see [`crate::tunnel`]).
    pub connection_mode: crate::tunnel::ConnectionMode,
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
    /// `mirror.produce.forwarding.enable`: Produce to an ACTIVE mirror goes to the source
    /// (see [`crate::forward`]).
    pub produce_forwarding: bool,
    /// `num.cluster.link.fetchers`: fetcher tasks (and connections) per source broker.
    pub num_fetchers: usize,
    pub fetch_max_bytes: i32,
    pub fetch_response_max_bytes: i32,
    pub fetch_wait_max_ms: i32,
    pub fetch_min_bytes: i32,
    pub fetch_backoff_ms: u64,
    pub metadata_max_age_ms: u64,
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    pub retry_timeout_ms: u64,
    pub availability_check_ms: u64,
    pub availability_failure_threshold: u32,
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

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> LinkConfigError {
    LinkConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Reads validated keys, falling back to the registry default.
struct Parser<'a> {
    map: &'a BTreeMap<String, String>,
}

impl Parser<'_> {
    fn def(key: &str) -> Result<&'static LinkKey, LinkConfigError> {
        // Only reachable if this module reads a key the registry lacks (a unit test
        // parses every key, so that cannot ship).
        link_key(key).ok_or_else(|| LinkConfigError::UnknownKey(key.to_string()))
    }
    /// The given value (trimmed), else the registry default.
    fn get(&self, key: &str) -> Result<Option<&str>, LinkConfigError> {
        let def = Self::def(key)?;
        Ok(self.map.get(key).map(|v| v.trim()).or(def.default))
    }
    /// The given value only (keys without a meaningful default).
    fn given(&self, key: &str) -> Result<Option<&str>, LinkConfigError> {
        Self::def(key)?;
        Ok(self
            .map
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty()))
    }
    fn bool(&self, key: &str) -> Result<bool, LinkConfigError> {
        Ok(self
            .get(key)?
            .is_some_and(|v| v.eq_ignore_ascii_case("true")))
    }
    fn num(&self, key: &str) -> Result<i64, LinkConfigError> {
        let v = self.get(key)?.unwrap_or("");
        // Validated against the registry in the first pass; a bad default fails the
        // registry test.
        v.parse().map_err(|_| invalid(key, v, "not a number"))
    }
    fn ms(&self, key: &str) -> Result<u64, LinkConfigError> {
        let n = self.num(key)?;
        u64::try_from(n).map_err(|_| invalid(key, &n.to_string(), "must not be negative"))
    }
    fn int(&self, key: &str) -> Result<i32, LinkConfigError> {
        let n = self.num(key)?;
        i32::try_from(n).map_err(|_| invalid(key, &n.to_string(), "not a number of type INT"))
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
        // Every key must be registered, and its value pass the registry's checks
        // (type, range, allowed words, refusals).
        for (k, v) in &map {
            let def = link_key(k).ok_or_else(|| LinkConfigError::UnknownKey(k.clone()))?;
            if let Err(reason) = check_simple(def, v) {
                // Error messages travel back to the CLI: never echo a secret.
                let shown = if def.sensitive() {
                    "[hidden]"
                } else {
                    v.trim()
                };
                return Err(invalid(k, shown, reason));
            }
        }
        let p = Parser { map: &map };
        let connection_mode =
            crate::tunnel::ConnectionMode::parse(p.get("connection.mode")?.unwrap_or("OUTBOUND"))
                .unwrap_or_default();
        let mode_text = p.get("link.mode")?.unwrap_or("DESTINATION");
        let link_mode = LinkMode::parse(mode_text).ok_or_else(|| {
            invalid(
                "link.mode",
                mode_text,
                "expected DESTINATION, BIDIRECTIONAL or SOURCE",
            )
        })?;
        crate::tunnel::check_modes(&map, link_mode, connection_mode)?;
        // An INBOUND link reaches the source only through the tunnels the source opens.
        let bootstrap = match p.given("bootstrap.servers")? {
            None if connection_mode == crate::tunnel::ConnectionMode::Inbound => "",
            None => return Err(LinkConfigError::Missing("bootstrap.servers")),
            Some(b) => b,
        };
        let bootstrap_servers: Vec<String> = bootstrap
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if bootstrap_servers.is_empty() && connection_mode != crate::tunnel::ConnectionMode::Inbound
        {
            return Err(invalid("bootstrap.servers", bootstrap, "no address given"));
        }
        for b in &bootstrap_servers {
            let ok = b
                .rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(invalid("bootstrap.servers", b, "expected host:port"));
            }
        }

        let filter = |key: &'static str,
                      parse: fn(&str) -> Result<NameFilters, FilterError>|
         -> Result<NameFilters, LinkConfigError> {
            match p.given(key)? {
                None => Ok(NameFilters::default()),
                Some(v) => parse(v).map_err(|source| LinkConfigError::Filter { key, source }),
            }
        };
        let topic_filters = filter("auto.create.mirror.topics.filters", parse_topic_filters)?;
        let group_filters = filter("consumer.offset.group.filters", parse_group_filters)?;
        let acl_filters = match p.given("acl.filters")? {
            None => AclFilters::default(),
            Some(v) => parse_acl_filters(v).map_err(|source| LinkConfigError::Filter {
                key: "acl.filters",
                source,
            })?,
        };

        let acl_sync = p.bool("acl.sync.enable")?;
        if acl_sync && acl_filters.is_empty() {
            return Err(LinkConfigError::Conflict(
                "ACL migration is enabled but acl.filters is not set: set acl.filters (--acl-filters-json-file) or acl.sync.enable=false".into(),
            ));
        }
        let cluster_link_prefix = match p.given("cluster.link.prefix")? {
            None => None,
            Some(v) => {
                if !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
                {
                    return Err(invalid(
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
        let start_offset = match p.get("mirror.start.offset.spec")?.unwrap_or("earliest") {
            v if v.eq_ignore_ascii_case("earliest") => StartOffsetSpec::Earliest,
            v if v.eq_ignore_ascii_case("latest") => StartOffsetSpec::Latest,
            v => {
                let ts = time::OffsetDateTime::parse(
                    v,
                    &time::format_description::well_known::Iso8601::DEFAULT,
                )
                .map_err(|e| {
                    invalid(
                        "mirror.start.offset.spec",
                        v,
                        format!("expected earliest, latest or an ISO-8601 timestamp ({e})"),
                    )
                })?;
                StartOffsetSpec::Timestamp((ts.unix_timestamp_nanos() / 1_000_000) as i64)
            }
        };
        let topic_config_sync_include: Vec<String> = p
            .given("topic.config.sync.include")?
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
                return Err(invalid("topic.config.sync.include", key, why));
            }
        }
        let retry_backoff_ms = p.ms("retry.backoff.ms")?;
        let retry_backoff_max_ms = p.ms("retry.backoff.max.ms")?;
        Ok(LinkConfig {
            link_mode,
            connection_mode,
            bootstrap_servers,
            auto_create_mirror_topics: p.bool("auto.create.mirror.topics.enable")?,
            topic_filters,
            consumer_offset_sync: p.bool("consumer.offset.sync.enable")?,
            group_filters,
            consumer_offset_sync_ms: p.ms("consumer.offset.sync.ms")?,
            consumer_group_prefix: p.bool("consumer.group.prefix.enable")?,
            acl_sync,
            acl_filters,
            acl_sync_ms: p.ms("acl.sync.ms")?,
            topic_config_sync_ms: p.ms("topic.config.sync.ms")?,
            topic_config_sync_include,
            target_latency_ms: p.num("link.target.latency.ms")?,
            cluster_link_prefix,
            start_offset,
            paused: p.bool("cluster.link.paused")?,
            produce_forwarding: p.bool("mirror.produce.forwarding.enable")?,
            num_fetchers: usize::try_from(p.num("num.cluster.link.fetchers")?).unwrap_or(1),
            fetch_max_bytes: p.int("replica.fetch.max.bytes")?,
            fetch_response_max_bytes: p.int("replica.fetch.response.max.bytes")?,
            fetch_wait_max_ms: p.int("replica.fetch.wait.max.ms")?,
            fetch_min_bytes: p.int("replica.fetch.min.bytes")?,
            fetch_backoff_ms: p.ms("replica.fetch.backoff.ms")?,
            metadata_max_age_ms: p.ms("metadata.max.age.ms")?,
            // Kafka (KIP-580): the maximum wins when it is below the initial back-off.
            retry_backoff_ms: retry_backoff_ms.min(retry_backoff_max_ms),
            retry_backoff_max_ms,
            retry_timeout_ms: p.ms("cluster.link.retry.timeout.ms")?,
            availability_check_ms: p.ms("availability.check.ms")?,
            availability_failure_threshold: u32::try_from(
                p.num("availability.check.consecutive.failure.threshold")?,
            )
            .unwrap_or(u32::MAX),
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
            .filter(|(k, _)| link_key(k).is_some_and(|d| d.scope == Scope::Source))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `(key, value, sensitive)` for display, sorted by key: every key as given plus every
    /// link option's effective default (as Confluent's describe shows them). Secrets have
    /// no value.
    pub fn describe(&self) -> Vec<(String, Option<String>, bool)> {
        let mut shown: BTreeMap<String, Option<String>> = self
            .raw
            .iter()
            .map(|(k, v)| {
                let value = if is_sensitive(k) {
                    None
                } else {
                    Some(v.clone())
                };
                (k.clone(), value)
            })
            .collect();
        for def in LINK_KEYS {
            if def.scope != Scope::Link || matches!(def.support, Support::Refused(_)) {
                continue;
            }
            if let Some(d) = def.default {
                shown
                    .entry(def.name.to_string())
                    .or_insert_with(|| Some(d.to_string()));
            }
        }
        shown
            .into_iter()
            .map(|(k, v)| {
                let sensitive = v.is_none();
                (k, v, sensitive)
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
            ("bootstrap.servers=a:1\nlink.mode=PUSH\n", "link.mode"),
            ("bootstrap.servers=a:1\nsasl.mechanism=GSSAPI\n", "sasl.mechanism"),
        ] {
            let e = LinkConfig::from_properties_text(text).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    /// Link options without the raw map, to compare what a key changed.
    fn effective(c: &LinkConfig) -> LinkConfig {
        let mut c = c.clone();
        c.raw.clear();
        c
    }

    /// Every applied link option changes the parsed configuration (so it reaches the code
    /// that reads it); every source connection key reaches the source client.
    #[test]
    fn every_applied_key_has_an_effect() {
        use crate::registry::{Scope, Support, LINK_KEYS};
        let base_map: BTreeMap<String, String> =
            [("bootstrap.servers".to_string(), "a:1".to_string())].into();
        let base = LinkConfig::from_map(base_map.clone()).unwrap();
        for def in LINK_KEYS {
            if !matches!(def.support, Support::Applied | Support::RefusedValues(..))
                || def.name == "bootstrap.servers"
            {
                continue;
            }
            // Mode-dependent keys (refused on this base link): see tunnel::tests.
            if def.name == "connection.mode" || def.name.starts_with("local.") {
                continue;
            }
            let mut map = base_map.clone();
            map.insert(def.name.to_string(), def.example.to_string());
            if def.name == "acl.sync.enable" {
                let acl = crate::registry::link_key("acl.filters").unwrap().example;
                map.insert("acl.filters".into(), acl.into());
            }
            let c = LinkConfig::from_map(map)
                .unwrap_or_else(|e| panic!("{}={}: {e}", def.name, def.example));
            match def.scope {
                Scope::Link => {
                    let mut expected = effective(&base);
                    if def.name == "acl.sync.enable" {
                        expected = effective(
                            &LinkConfig::from_map(
                                [
                                    ("bootstrap.servers".to_string(), "a:1".to_string()),
                                    (
                                        "acl.filters".to_string(),
                                        crate::registry::link_key("acl.filters")
                                            .unwrap()
                                            .example
                                            .to_string(),
                                    ),
                                ]
                                .into(),
                            )
                            .unwrap(),
                        );
                    }
                    assert!(effective(&c) != expected, "{} has no effect", def.name);
                    assert!(!c.client_properties().contains_key(def.name));
                }
                Scope::Source => {
                    assert!(
                        strait_client::config::KNOWN_KEYS.contains(&def.name),
                        "{} is not read by the source client",
                        def.name
                    );
                    assert!(c.client_properties().contains_key(def.name));
                }
            }
        }
        // And the client reads nothing the registry does not list as a source key.
        for k in strait_client::config::KNOWN_KEYS {
            let def = crate::registry::link_key(k).unwrap_or_else(|| panic!("{k} unregistered"));
            assert_eq!(def.scope, Scope::Source, "{k}");
        }
    }

    #[test]
    fn refused_keys_and_values_are_named() {
        for (text, key, why) in [
            (
                "link.mode=SOURCE\nconnection.mode=INBOUND",
                "connection.mode",
                "needs connection.mode=OUTBOUND",
            ),
            (
                "connection.mode=INBOUND",
                "bootstrap.servers",
                "does not apply to a connection.mode=INBOUND link",
            ),
            (
                "connections.max.idle.ms=1000",
                "connections.max.idle.ms",
                "not supported",
            ),
            (
                "client.dns.lookup=resolve_canonical_bootstrap_servers_only",
                "client.dns.lookup",
                "only use_all_dns_ips",
            ),
            (
                "num.cluster.link.fetchers=0",
                "num.cluster.link.fetchers",
                "between 1 and",
            ),
            (
                "availability.check.consecutive.failure.threshold=0",
                "availability.check.consecutive.failure.threshold",
                "between 1 and",
            ),
        ] {
            let e = LinkConfig::from_properties_text(&format!("bootstrap.servers=a:1\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains(why), "{text}: {e}");
        }
        // OUTBOUND / DESTINATION are what Strait does: accepted, in any case.
        let c = LinkConfig::from_properties_text(
            "bootstrap.servers=a:1\nconnection.mode=outbound\nlink.mode=DESTINATION\n",
        )
        .unwrap();
        assert_eq!(c.num_fetchers, 1);
        assert_eq!(c.retry_timeout_ms, 300_000);
        assert_eq!(c.availability_check_ms, 60_000);
        assert_eq!(c.availability_failure_threshold, 5);
        // A refused secret is named, never shown.
        let e = LinkConfig::from_properties_text(
            "bootstrap.servers=a:1\nlocal.sasl.jaas.config=hunter2\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("local.sasl.jaas.config") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn describe_shows_given_keys_and_link_defaults() {
        let c = LinkConfig::from_properties_text(&with_acl(SEED)).unwrap();
        let d = c.describe();
        let get = |k: &str| d.iter().find(|(n, _, _)| n == k).cloned();
        assert_eq!(
            get("num.cluster.link.fetchers").unwrap().1.as_deref(),
            Some("1")
        );
        assert_eq!(
            get("cluster.link.retry.timeout.ms").unwrap().1.as_deref(),
            Some("300000")
        );
        assert_eq!(get("acl.sync.enable").unwrap().1.as_deref(), Some("true"));
        assert_eq!(
            get("sasl.jaas.config").unwrap(),
            ("sasl.jaas.config".into(), None, true)
        );
        assert!(get("connections.max.idle.ms").is_none());
        let names: Vec<&String> = d.iter().map(|(n, _, _)| n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
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
