//! The registry of link config keys: every key a cluster link accepts, with its type,
//! default, validation, documentation, mutability and what Strait does with it.
//!
//! This table is the single source of truth: [`crate::config::LinkConfig`] parses and
//! validates through it (defaults are read from here and nowhere else),
//! [`crate::config::LinkConfig::describe`] shows what it lists, and the README's link
//! config table is rendered from it by [`readme_table`] (a unit test fails when the README
//! drifts).
//!
//! Invariant (issue 8, DESIGN invariant 7): a key Strait accepts does what Confluent means
//! by it. A key Strait cannot honour is either unknown (refused as unknown) or listed here
//! with [`Support::Refused`] / [`Support::OnlyDefault`], and then a value Strait cannot
//! honour is refused with a message naming the key.

/// The value type of a key (Kafka's `ConfigDef.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Boolean,
    Int,
    Long,
    String,
    List,
    /// Secret: kept and persisted, never shown.
    Password,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Boolean => "boolean",
            KeyType::Int => "int",
            KeyType::Long => "long",
            KeyType::String => "string",
            KeyType::List => "list",
            KeyType::Password => "password",
        }
    }
}

/// A value check beyond the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    None,
    /// Inclusive numeric range.
    Between(i64, i64),
    /// One of these words, case-insensitively.
    OneOf(&'static [&'static str]),
    /// Checked by [`crate::config`] (filter JSON, host:port lists, timestamps ...); the text
    /// says what is expected.
    Custom(&'static str),
}

/// What Strait does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Takes effect with Confluent's (or, for source connection keys, Kafka's) meaning.
    Applied,
    /// Only the default value is implemented; any other value is refused, and the text
    /// says why.
    OnlyDefault(&'static str),
    /// Refused whatever its value; the text says why.
    Refused(&'static str),
    /// Applied, except that these values (compared case-insensitively) are refused; the
    /// text says why.
    RefusedValues(&'static [&'static str], &'static str),
}

impl Support {
    pub fn label(self) -> &'static str {
        match self {
            Support::Applied => "applied",
            Support::OnlyDefault(_) => "only the default",
            Support::Refused(_) => "refused",
            Support::RefusedValues(..) => "applied (some values refused)",
        }
    }
}

/// Who reads the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A link option, read by the link itself.
    Link,
    /// A Kafka client config, handed to the client that connects to the source.
    Source,
}

/// One link config key.
#[derive(Debug, Clone, Copy)]
pub struct LinkKey {
    pub name: &'static str,
    pub kind: KeyType,
    /// `None`: no default (unset means "not configured").
    pub default: Option<&'static str>,
    pub validator: Validator,
    pub support: Support,
    pub scope: Scope,
    /// The key may be changed on an existing link (`cluster-links --alter`), and the
    /// running link applies the new value without re-mirroring (see
    /// `crate::manager::alter`). Keys fixed at creation are those Confluent makes
    /// read-only after creation (the link's shape and the names it gives mirrors and
    /// groups): [`fixed_reason`] says why for each.
    pub alterable: bool,
    pub doc: &'static str,
    /// A valid, non-default value, used by the tests that prove the key has an effect.
    pub example: &'static str,
}

impl LinkKey {
    pub fn sensitive(&self) -> bool {
        self.kind == KeyType::Password
    }
}

const I32_MAX: i64 = i32::MAX as i64;

const fn key(
    name: &'static str,
    kind: KeyType,
    default: Option<&'static str>,
    validator: Validator,
    alterable: bool,
    doc: &'static str,
    example: &'static str,
) -> LinkKey {
    LinkKey {
        name,
        kind,
        default,
        validator,
        support: Support::Applied,
        scope: Scope::Link,
        alterable,
        doc,
        example,
    }
}

const fn source(
    name: &'static str,
    kind: KeyType,
    default: Option<&'static str>,
    doc: &'static str,
    example: &'static str,
) -> LinkKey {
    LinkKey {
        name,
        kind,
        default,
        validator: Validator::None,
        support: Support::Applied,
        scope: Scope::Source,
        alterable: true,
        doc,
        example,
    }
}

const fn refused(name: &'static str, kind: KeyType, why: &'static str) -> LinkKey {
    LinkKey {
        name,
        kind,
        default: None,
        validator: Validator::None,
        support: Support::Refused(why),
        scope: Scope::Link,
        alterable: false,
        doc: "",
        example: "",
    }
}

/// Every link config key, link options first, then source connection keys, then keys that
/// Confluent knows and Strait refuses.
pub const LINK_KEYS: &[LinkKey] = &[
    // --- link shape -------------------------------------------------------------------
    key("link.mode", KeyType::String, Some("DESTINATION"), Validator::OneOf(&["DESTINATION", "SOURCE", "BIDIRECTIONAL"]), false,
        "Which side of the link this is. DESTINATION: this broker connects to the source and pulls. BIDIRECTIONAL: the same link name exists on both clusters, each pulling from the other (the peer must be a Strait cluster whose same-named link is BIDIRECTIONAL and points back here; until it does, the link shows the REMOTE_LINK_NOT_FOUND_ERROR task error); mirror topics whose data came from this cluster are never mirrored back (see the README's bidirectional links section). SOURCE (with connection.mode=OUTBOUND): the source side of a source-initiated link; this broker connects to the destination's bootstrap.servers and serves the destination's same-named connection.mode=INBOUND link over those connections (see the README's source-initiated links section); only connection keys, local.* and retry.backoff.* apply.", "BIDIRECTIONAL"),
    key("connection.mode", KeyType::String, Some("OUTBOUND"), Validator::OneOf(&["OUTBOUND", "INBOUND"]), false,
        "Who opens the connections. OUTBOUND: this broker connects to bootstrap.servers. INBOUND (destination of a source-initiated link, link.mode=DESTINATION): the source cluster's link.mode=SOURCE link of the same name connects to this cluster and the link pulls over those connections; bootstrap.servers and the security keys are refused (the source side's local.* keys authenticate to the source).", "INBOUND"),
    key("cluster.link.prefix", KeyType::String, None, Validator::Custom("ASCII alphanumerics, '.', '_' and '-'; not with acl.sync.enable=true"), false,
        "Prefix of every mirror topic name (source `t` is mirrored as `<prefix>t`) and, with consumer.group.prefix.enable, of synced group names.", "dr."),
    key("cluster.link.paused", KeyType::Boolean, Some("false"), Validator::None, true,
        "Pauses the whole link: nothing is fetched or synced, mirrors show LINK_PAUSED.", "true"),
    key("mirror.produce.forwarding.enable", KeyType::Boolean, Some("false"), Validator::None, true,
        "Strait extension (AutoMQ-style write forwarding): Produce to an ACTIVE mirror of this link is forwarded to the source partition leader with the client's acks and acknowledged with the source's offset, the offset the record gets in the mirror; idempotent producers get their producer ids from the source while forwarding (see the README's write forwarding section). Transactional produce is not forwarded (INVALID_TXN_STATE). Off: produce to a mirror fails with non-retriable INVALID_REQUEST naming the link.", "true"),
    key("mirror.start.offset.spec", KeyType::String, Some("earliest"), Validator::Custom("earliest, latest or an ISO-8601 timestamp"), true,
        "Where the partitions of a newly created mirror topic start: the source's earliest offset, its latest, or the first offset at or after a timestamp. Partitions added later start at their first offset; a restart resumes at the local log end.", "latest"),
    // --- replication --------------------------------------------------------------------
    key("num.cluster.link.fetchers", KeyType::Int, Some("1"), Validator::Between(1, 256), true,
        "Fetcher tasks per source broker. Each has its own connection and fetch session; the broker's mirror partitions are spread over them evenly and stickily (a partition keeps its fetcher while the spread stays even).", "3"),
    key("metadata.max.age.ms", KeyType::Long, Some("300000"), Validator::Between(100, I32_MAX), true,
        "How often source metadata is refreshed: topic discovery, partition growth, leader moves, deleted topics.", "1000"),
    key("replica.fetch.max.bytes", KeyType::Int, Some("1048576"), Validator::Between(1024, I32_MAX), true,
        "Bytes requested per partition in each fetch (the source still returns at least one whole batch).", "65536"),
    key("replica.fetch.response.max.bytes", KeyType::Int, Some("10485760"), Validator::Between(1024, I32_MAX), true,
        "Bytes requested per fetch response, over all partitions.", "1048576"),
    key("replica.fetch.wait.max.ms", KeyType::Int, Some("500"), Validator::Between(0, 60_000), true,
        "How long the source may hold a fetch (long poll) waiting for replica.fetch.min.bytes.", "100"),
    key("replica.fetch.min.bytes", KeyType::Int, Some("1"), Validator::Between(1, I32_MAX), true,
        "Bytes the source waits for before answering a fetch (up to replica.fetch.wait.max.ms).", "1024"),
    key("replica.fetch.backoff.ms", KeyType::Int, Some("1000"), Validator::Between(0, 3_600_000), true,
        "How long a mirror partition whose fetch or append failed waits before it is fetched again; the back-off is the partition's own, the other partitions keep fetching at full speed.", "100"),
    key("retry.backoff.ms", KeyType::Long, Some("100"), Validator::Between(0, I32_MAX), true,
        "First wait before the link reconnects after losing the source (a failed connect or metadata request); doubles on each consecutive failure up to retry.backoff.max.ms and starts over once the source answers.", "50"),
    key("retry.backoff.max.ms", KeyType::Long, Some("1000"), Validator::Between(0, I32_MAX), true,
        "Upper bound of the growing retry.backoff.ms wait.", "2000"),
    key("cluster.link.retry.timeout.ms", KeyType::Int, Some("300000"), Validator::Between(0, I32_MAX), true,
        "How long the operations of a mirror partition may keep failing, retried with back-off, before the link gives up and marks the mirror topic FAILED with the partition's reason: a source topic missing from source metadata (SOURCE_TOPIC_MAY_BE_DELETED), partition errors in fetch responses (SOURCE_PARTITION_GONE, OFFSET_OUT_OF_RANGE, UNEXPECTED_TRUNCATION, SOURCE_ERROR), failed local appends (LOCAL_STORAGE_ERROR). A source partition without a leader or refusing as not its leader (SOURCE_UNAVAILABLE) is retried without limit; a corrupt source batch (SOURCE_DATA_CORRUPT) fails the mirror at once. 0 gives up at the first failure. Time the source is unreachable does not count (see availability.check.ms). On a source without topic ids, a topic deleted and recreated within this time is mirrored on as the same topic.", "1000"),
    key("availability.check.ms", KeyType::Int, Some("60000"), Validator::Between(100, I32_MAX), true,
        "How often the link checks that the source answers (a metadata request, which must answer within this interval).", "500"),
    key("availability.check.consecutive.failure.threshold", KeyType::Int, Some("5"), Validator::Between(1, I32_MAX), true,
        "Consecutive failed availability checks after which the link becomes UNAVAILABLE and its mirrors SOURCE_UNAVAILABLE (with the reason); the first successful check or source request makes them ACTIVE again and mirroring resumes where the local log ends.", "2"),
    key("link.target.latency.ms", KeyType::Long, Some("60000"), Validator::Between(1, I32_MAX), true,
        "Strait extension: the replication latency the link's sync status (IN_SYNC / STALE / OUT_OF_SYNC) is judged against.", "1000"),
    // --- syncs --------------------------------------------------------------------------
    key("auto.create.mirror.topics.enable", KeyType::Boolean, Some("false"), Validator::None, true,
        "Create a mirror for every source topic auto.create.mirror.topics.filters selects (internal `__*` topics never).", "true"),
    key("auto.create.mirror.topics.filters", KeyType::String, None, Validator::Custom("topicFilters JSON"), true,
        "Confluent topicFilters JSON: which source topics are mirrored automatically. Exclude wins; unmatched is excluded.", r#"{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#),
    key("consumer.offset.sync.enable", KeyType::Boolean, Some("false"), Validator::None, true,
        "Copy committed offsets of the groups consumer.offset.group.filters selects, for partitions of this link's mirrors.", "true"),
    key("consumer.offset.group.filters", KeyType::String, None, Validator::Custom("groupFilters JSON"), true,
        "Confluent groupFilters JSON: which source groups' offsets are synced (none without a filter).", r#"{"groupFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#),
    key("consumer.offset.sync.ms", KeyType::Int, Some("30000"), Validator::Between(1000, I32_MAX), true,
        "How often consumer offsets are synced.", "5000"),
    key("consumer.group.prefix.enable", KeyType::Boolean, Some("false"), Validator::None, false,
        "Also prefix synced consumer group names with cluster.link.prefix.", "true"),
    key("acl.sync.enable", KeyType::Boolean, Some("false"), Validator::None, true,
        "Make the destination's ACLs that acl.filters selects equal the source's selected ACLs (needs acl.filters; not with cluster.link.prefix).", "true"),
    key("acl.filters", KeyType::String, None, Validator::Custom("aclFilters JSON"), true,
        "Confluent aclFilters JSON: which ACLs are synced.", r#"{"aclFilters":[{"resourceFilter":{"resourceType":"any","patternType":"any"},"accessFilter":{"operation":"any","permissionType":"any"}}]}"#),
    key("acl.sync.ms", KeyType::Int, Some("5000"), Validator::Between(100, I32_MAX), true,
        "How often ACLs are synced.", "1000"),
    key("topic.config.sync.ms", KeyType::Int, Some("5000"), Validator::Between(100, I32_MAX), true,
        "How often the synced topic configs are copied from each source topic.", "1000"),
    key("topic.config.sync.include", KeyType::List, None, Validator::Custom("optionally synced topic configs"), true,
        "Optionally synced topic configs (retention, segment and flush settings) to copy as well.", "retention.ms"),
    // --- source connection (Kafka client configs) -----------------------------------------
    LinkKey {
        validator: Validator::Custom("host:port[,host:port...]"),
        ..source("bootstrap.servers", KeyType::String, None,
            "Required. The source cluster's bootstrap brokers.", "other:9092")
    },
    source("client.id", KeyType::String, Some("strait-cluster-link"),
        "Client id sent to the source in every request header.", "dr-link"),
    LinkKey {
        validator: Validator::OneOf(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
        ..source("security.protocol", KeyType::String, Some("PLAINTEXT"),
            "How to reach the source. ssl.* keys apply only to SSL / SASL_SSL and sasl.* keys only to SASL_*, as in Kafka.", "SSL")
    },
    LinkKey {
        validator: Validator::OneOf(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
        ..source("sasl.mechanism", KeyType::String, None,
            "SASL mechanism (Kafka's GSSAPI default is not implemented, so it must be set with SASL).", "SCRAM-SHA-512")
    },
    source("sasl.jaas.config", KeyType::Password, None,
        "PlainLoginModule / ScramLoginModule with username and password (SCRAM: optional tokenauth).", "x"),
    source("ssl.truststore.type", KeyType::String, None,
        "Only PEM (JKS/PKCS12 are refused); unset means the store must be PEM text.", "PEM"),
    source("ssl.truststore.location", KeyType::String, None,
        "PEM file of the CA certificates the source's certificate must chain to (default: the system store).", "/etc/ca.pem"),
    source("ssl.truststore.certificates", KeyType::Password, None,
        "The same CA certificates inline, as PEM.", "x"),
    source("ssl.truststore.password", KeyType::Password, None,
        "Must be unset for a PEM truststore (as in Kafka).", "x"),
    source("ssl.keystore.type", KeyType::String, None,
        "Only PEM.", "PEM"),
    source("ssl.keystore.location", KeyType::String, None,
        "PEM file with this link's client certificate chain and unencrypted private key (mTLS).", "/etc/me.pem"),
    source("ssl.keystore.certificate.chain", KeyType::Password, None,
        "The client certificate chain inline, as PEM.", "x"),
    source("ssl.keystore.key", KeyType::Password, None,
        "The client private key inline, as unencrypted PEM.", "x"),
    source("ssl.keystore.password", KeyType::Password, None,
        "Refused when set: encrypted private keys are not supported.", "x"),
    source("ssl.key.password", KeyType::Password, None,
        "Refused when set: encrypted private keys are not supported.", "x"),
    LinkKey {
        validator: Validator::OneOf(&["https", ""]),
        ..source("ssl.endpoint.identification.algorithm", KeyType::String, Some("https"),
            "https checks the source broker's host name against its certificate; empty checks only the chain.", "")
    },
    source("request.timeout.ms", KeyType::Int, Some("30000"),
        "How long a source request may take (a fetch adds its replica.fetch.wait.max.ms); a timed-out request closes its connection.", "5000"),
    source("socket.connection.setup.timeout.ms", KeyType::Long, Some("10000"),
        "TCP connect plus TLS handshake timeout.", "2000"),
    LinkKey {
        support: Support::OnlyDefault("Strait's client always tries every address a host name resolves to"),
        ..key("client.dns.lookup", KeyType::String, Some("use_all_dns_ips"), Validator::OneOf(&["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"]), true,
            "How host names are resolved: every address is tried in turn.", "resolve_canonical_bootstrap_servers_only")
    },
    // --- known to Confluent, refused here ---------------------------------------------------
    refused("connections.max.idle.ms", KeyType::Long, "the link keeps its source connections open while it runs; idle connections are not closed"),
    refused("replica.socket.timeout.ms", KeyType::Int, "set request.timeout.ms, which bounds every source request"),
    refused("replica.socket.receive.buffer.bytes", KeyType::Int, "socket buffer sizes are the operating system's"),
    refused("default.api.timeout.ms", KeyType::Int, "set request.timeout.ms, which bounds every source request"),
    // --- source side of a source-initiated link (link.mode=SOURCE only) -------------------
    key("local.security.protocol", KeyType::String, None, Validator::OneOf(&["PLAINTEXT", "SASL_PLAINTEXT"]), false,
        "link.mode=SOURCE only: the protocol of this cluster's own listener that the destination's requests are relayed to (default PLAINTEXT; SSL is not offered: there are no local.ssl.* keys). The principal it authenticates as is the one this cluster's ACLs apply to.", "SASL_PLAINTEXT"),
    key("local.sasl.mechanism", KeyType::String, None, Validator::OneOf(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]), false,
        "link.mode=SOURCE only: SASL mechanism for this cluster's own listener (with local.security.protocol=SASL_PLAINTEXT).", "PLAIN"),
    key("local.sasl.jaas.config", KeyType::Password, None, Validator::None, false,
        "link.mode=SOURCE only: PlainLoginModule / ScramLoginModule credentials for this cluster's own listener.", "x"),
];

/// Why a key that is not [`LinkKey::alterable`] cannot change on an existing link.
pub fn fixed_reason(def: &LinkKey) -> &'static str {
    match def.name {
        "link.mode" | "connection.mode" => "it fixes which side of the link connects and pulls",
        "cluster.link.prefix" => {
            "the names of the link's existing mirror topics are derived from it"
        }
        "consumer.group.prefix.enable" => {
            "the names of the consumer groups the link already synced are derived from it"
        }
        _ => match def.support {
            Support::Refused(_) => "it is not supported",
            _ => "it is fixed when the link is created",
        },
    }
}

/// The registry entry of `name`.
pub fn link_key(name: &str) -> Option<&'static LinkKey> {
    LINK_KEYS.iter().find(|k| k.name == name)
}

/// Checks a value against the key's type and simple validator (not [`Validator::Custom`],
/// which [`crate::config`] checks). `Err` is the reason, without key or value.
pub fn check_simple(def: &LinkKey, value: &str) -> Result<(), String> {
    let v = value.trim();
    match def.kind {
        KeyType::Boolean => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return Err("expected true or false".into());
            }
        }
        KeyType::Int | KeyType::Long => {
            let n: i64 = v.parse().map_err(|_| "not a number".to_string())?;
            if def.kind == KeyType::Int && i32::try_from(n).is_err() {
                return Err("not a number of type INT".into());
            }
            if let Validator::Between(lo, hi) = def.validator {
                if n < lo || n > hi {
                    return Err(format!("must be between {lo} and {hi}"));
                }
            }
        }
        KeyType::String | KeyType::List | KeyType::Password => {}
    }
    if let Validator::OneOf(words) = def.validator {
        if !words.iter().any(|w| w.eq_ignore_ascii_case(v)) {
            let shown: Vec<String> = words
                .iter()
                .map(|w| {
                    if w.is_empty() {
                        "an empty value".to_string()
                    } else {
                        (*w).to_string()
                    }
                })
                .collect();
            return Err(format!("expected one of {}", shown.join(", ")));
        }
    }
    match def.support {
        Support::Applied => Ok(()),
        Support::Refused(why) => Err(format!("not supported: {why}")),
        Support::OnlyDefault(why) => {
            let default = def.default.unwrap_or("");
            if v.eq_ignore_ascii_case(default) {
                Ok(())
            } else {
                Err(format!("only {default} is supported: {why}"))
            }
        }
        Support::RefusedValues(refused, why) => {
            if refused.iter().any(|r| r.eq_ignore_ascii_case(v)) {
                Err(format!(
                    "{} is not supported: {why}",
                    v.to_ascii_uppercase()
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The README's link config table (between the `link-config-table` markers).
pub fn readme_table() -> String {
    let mut out = String::from(
        "| key | type | default | alterable | Strait | meaning |\n|---|---|---|---|---|---|\n",
    );
    for k in LINK_KEYS {
        let default = match k.default {
            Some("") => "(empty)".to_string(),
            Some(d) => format!("`{d}`"),
            None => "none".to_string(),
        };
        let (support, doc) = match k.support {
            Support::Applied => ("applied".to_string(), k.doc.to_string()),
            Support::OnlyDefault(why) => (
                "only the default".to_string(),
                format!("{} Other values are refused: {why}.", k.doc),
            ),
            Support::Refused(why) => ("refused".to_string(), format!("Refused: {why}.")),
            Support::RefusedValues(refused, why) => (
                "applied".to_string(),
                format!("{} Refused values: {} ({why}).", k.doc, refused.join(", ")),
            ),
        };
        let alterable = if k.alterable { "yes" } else { "no" };
        out.push_str(&format!(
            "| `{}` | {} | {} | {alterable} | {support} | {} |\n",
            k.name,
            k.kind.name(),
            cell(&default),
            cell(&doc)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- link-config-table:begin -->\n";
    const END: &str = "<!-- link-config-table:end -->";

    /// The README table must be exactly the registry's. `STRAIT_UPDATE_README=1 cargo test
    /// -p strait-link readme` rewrites it.
    #[test]
    fn readme_table_matches_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let text = std::fs::read_to_string(path).expect("README.md");
        let start = text
            .find(BEGIN)
            .expect("README lacks the link-config-table:begin marker")
            + BEGIN.len();
        let end = text
            .find(END)
            .expect("README lacks the link-config-table:end marker");
        let want = readme_table();
        if text[start..end] != want {
            if std::env::var_os("STRAIT_UPDATE_README").is_some() {
                let updated = format!("{}{want}{}", &text[..start], &text[end..]);
                std::fs::write(path, updated).expect("write README.md");
                return;
            }
            panic!(
                "README.md's link config table differs from crates/link/src/registry.rs; run STRAIT_UPDATE_README=1 cargo test -p strait-link readme\n--- registry ---\n{want}"
            );
        }
    }

    #[test]
    fn registry_is_consistent() {
        let mut names: Vec<&str> = LINK_KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate keys");
        for k in LINK_KEYS {
            if let Some(d) = k.default {
                assert!(
                    check_simple(k, d).is_ok(),
                    "{}: default {d} invalid",
                    k.name
                );
            }
            match k.support {
                Support::Applied => {
                    assert!(!k.doc.is_empty(), "{} has no doc", k.name);
                    assert_ne!(
                        Some(k.example),
                        k.default,
                        "{}: example is the default",
                        k.name
                    );
                }
                Support::OnlyDefault(_) => {
                    assert!(check_simple(k, k.example).is_err(), "{}", k.name)
                }
                Support::Refused(_) => assert!(check_simple(k, "1").is_err(), "{}", k.name),
                Support::RefusedValues(refused, _) => {
                    assert!(check_simple(k, k.example).is_ok(), "{}", k.name);
                    for r in refused {
                        assert!(check_simple(k, r).is_err(), "{}={r}", k.name);
                    }
                }
            }
        }
    }

    #[test]
    fn refusals_name_why() {
        assert!(check_simple(link_key("link.mode").unwrap(), "bidirectional").is_ok());
        assert!(check_simple(link_key("link.mode").unwrap(), "source").is_ok());
        assert!(check_simple(link_key("connection.mode").unwrap(), "inbound").is_ok());
        assert!(check_simple(link_key("connection.mode").unwrap(), "outbound").is_ok());
        let e = check_simple(link_key("local.security.protocol").unwrap(), "SSL").unwrap_err();
        assert!(e.contains("expected one of"), "{e}");
        let e = check_simple(link_key("connections.max.idle.ms").unwrap(), "1000").unwrap_err();
        assert!(e.starts_with("not supported"), "{e}");
    }
}
