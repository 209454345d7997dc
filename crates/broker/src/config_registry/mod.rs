//! The configuration registry: every key Strait accepts, one table per scope.
//!
//! * [`broker_keys`]: static `server.properties` keys (listeners, threads, sockets, groups,
//!   the log cleaner, KRaft shape).
//! * [`security_keys`]: TLS, SASL and authorizer keys; most may also be given per listener
//!   as `listener.name.<listener>.<key>`.
//! * [`topic_keys`]: topic configs with their broker synonyms (`log.*` and friends), which
//!   are the broker's dynamic keys.
//!
//! Each entry has Kafka's name, type, default, validator and documentation, whether it can
//! change at run time, and what Strait does with it ([`Support`]). Everything that reads
//! or shows configuration is driven by these tables, so they cannot drift apart:
//! `BrokerConfig::from_properties` validates every supplied key here and reads its values
//! (or the registry default) through [`Props`]; topic validation, DescribeConfigs and the
//! README tables (`readme.rs`, checked by a test) are generated from them.
//!
//! Invariant (issue 8, DESIGN invariant 7): a key Strait accepts does what Kafka means by
//! it. A key Strait cannot honour is either absent (unknown: a warning, as Kafka does) or
//! listed with [`Support::Refused`], and then any value stops start-up naming the key.
//! Keys that only make sense in a multi-node cluster are [`Support::SingleNode`]: the
//! values that describe one combined node are accepted, anything else is refused.

pub mod broker_keys;
pub mod readme;
pub mod security_keys;
pub mod topic_keys;

use std::collections::BTreeMap;

/// Kafka's `DescribeConfigsResponse` config types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

impl ConfigType {
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "boolean",
            ConfigType::String => "string",
            ConfigType::Int => "int",
            ConfigType::Short => "short",
            ConfigType::Long => "long",
            ConfigType::Double => "double",
            ConfigType::List => "list",
            ConfigType::Class => "class",
            ConfigType::Password => "password",
        }
    }
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

/// A value check beyond the type (Kafka's `ConfigDef.Validator`s).
#[derive(Debug, Clone, Copy)]
pub enum Validator {
    None,
    AtLeast(i64),
    Between(i64, i64),
    /// Inclusive range of a DOUBLE.
    Range(f64, f64),
    /// Case-sensitive, as Kafka's `ValidString`.
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose items must each be one of these.
    ListOf(&'static [&'static str]),
    /// Anything else; the message says what is wrong (the caller adds key and value).
    Custom(fn(&str) -> Result<(), String>),
}

/// What Strait does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Takes effect as Kafka documents.
    Applied,
    /// Describes the cluster: only values that describe a single combined KRaft node are
    /// accepted (checked in `config_registry::broker_keys::check_single_node`).
    SingleNode,
    /// Validated, stored and described; it takes effect once Strait replicates (on one node
    /// there is no other replica for it to act on).
    Replication,
    /// Accepted only at its default (which is what Strait does); any other value is
    /// refused, and the text says why.
    OnlyDefault(&'static str),
    /// Refused whatever its value; the text says why.
    Refused(&'static str),
}

impl Support {
    pub fn label(self) -> &'static str {
        match self {
            Support::Applied => "applied",
            Support::SingleNode => "single node only",
            Support::Replication => "stored for replication",
            Support::OnlyDefault(_) => "only the default",
            Support::Refused(_) => "refused",
        }
    }
}

/// One key of the broker or security registry.
#[derive(Debug, Clone, Copy)]
pub struct KeyDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// `None` is Kafka's null default.
    pub default: Option<&'static str>,
    pub validator: Validator,
    pub support: Support,
    /// May be given as `listener.name.<listener>.<name>` (security keys).
    pub per_listener: bool,
    pub doc: &'static str,
    /// A valid, non-default value, used by the tests that prove the key has an effect.
    pub example: &'static str,
}

impl KeyDef {
    /// Kafka hides PASSWORD values from DescribeConfigs (and so does Strait).
    pub fn sensitive(&self) -> bool {
        self.kind == ConfigType::Password
    }
}

/// Every broker-scope key that is not a topic-config synonym: [`broker_keys::BROKER_KEYS`]
/// then [`security_keys::SECURITY_KEYS`].
pub fn static_keys() -> impl Iterator<Item = &'static KeyDef> {
    broker_keys::BROKER_KEYS
        .iter()
        .chain(security_keys::SECURITY_KEYS.iter())
}

/// The registry entry of broker key `name`.
pub fn static_key(name: &str) -> Option<&'static KeyDef> {
    static_keys().find(|d| d.name == name)
}

/// How a supplied broker key is known: itself, or `listener.name.<l>.<key>` of a
/// per-listener key (`<mechanism>.sasl.jaas.config` included).
pub fn resolve_static_key(name: &str) -> Option<&'static KeyDef> {
    if let Some(d) = static_key(name) {
        return Some(d);
    }
    let rest = name.strip_prefix("listener.name.")?;
    let (_, key) = rest.split_once('.')?;
    let base = security_keys::jaas_base(key).unwrap_or(key);
    static_key(base).filter(|d| d.per_listener)
}

/// Checks `value` against type and validator; the message names `key` and what was wrong.
pub fn check_value(
    key: &str,
    kind: ConfigType,
    validator: Validator,
    value: &str,
) -> Result<(), String> {
    let v = value.trim();
    let bad = |why: &str| {
        Err(format!(
            "Invalid value {value} for configuration {key}: {why}"
        ))
    };
    let number = |n: i64| match validator {
        Validator::AtLeast(min) if n < min => bad(&format!("Value must be at least {min}")),
        Validator::Between(lo, hi) if n < lo || n > hi => {
            bad(&format!("Value must be between {lo} and {hi}"))
        }
        _ => Ok(()),
    };
    match kind {
        ConfigType::Boolean => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return bad("Expected value to be either true or false");
            }
        }
        ConfigType::Short => match v.parse::<i16>() {
            Ok(n) => number(i64::from(n))?,
            Err(_) => return bad("Not a number of type SHORT"),
        },
        ConfigType::Int => match v.parse::<i32>() {
            Ok(n) => number(i64::from(n))?,
            Err(_) => return bad("Not a number of type INT"),
        },
        ConfigType::Long => match v.parse::<i64>() {
            Ok(n) => number(n)?,
            Err(_) => return bad("Not a number of type LONG"),
        },
        ConfigType::Double => match v.parse::<f64>() {
            Ok(n) if n.is_finite() => {
                if let Validator::Range(lo, hi) = validator {
                    if !(lo..=hi).contains(&n) {
                        return bad(&format!("Value must be in the range [{lo}, {hi}]"));
                    }
                }
            }
            _ => return bad("Not a number of type DOUBLE"),
        },
        ConfigType::String | ConfigType::Class | ConfigType::Password => {
            if let Validator::OneOf(allowed) = validator {
                if !allowed.contains(&v) {
                    return bad(&format!("String must be one of: {}", allowed.join(", ")));
                }
            }
        }
        ConfigType::List => {
            if let Validator::ListOf(allowed) = validator {
                let items = v.split(',').map(str::trim).filter(|s| !s.is_empty());
                for item in items {
                    if !allowed.contains(&item) {
                        return bad(&format!(
                            "Invalid value {item}; list items must be among: {}",
                            allowed.join(", ")
                        ));
                    }
                }
            }
        }
    }
    if let Validator::Custom(f) = validator {
        f(v).or_else(|why| bad(&why))?;
    }
    Ok(())
}

/// Validates one supplied broker key (registry entry `def`, supplied as `key`).
pub fn check_static(def: &KeyDef, key: &str, value: &str) -> Result<(), String> {
    match def.support {
        Support::Refused(why) => {
            return Err(format!(
                "Configuration {key} is not supported by Strait: {why}"
            ))
        }
        Support::OnlyDefault(why) => {
            let default = def.default.unwrap_or_default();
            if !value.trim().eq_ignore_ascii_case(default) {
                return Err(format!(
                    "Invalid value {value} for configuration {key}: only {default:?} is supported ({why})"
                ));
            }
        }
        _ => {}
    }
    check_value(key, def.kind, def.validator, value)
}

/// The supplied `server.properties` values, read through the registry: a key's value is
/// what was supplied or the registry default, so the parser and DescribeConfigs agree.
/// Every supplied key has been validated before values are read, so the typed getters only
/// fail on a registry entry whose default does not parse (a bug a unit test catches).
pub struct Props<'a> {
    pub supplied: &'a BTreeMap<String, String>,
}

impl Props<'_> {
    /// The value (supplied, else default); `None` when neither exists.
    pub fn value(&self, key: &str) -> Option<String> {
        match self.supplied.get(key) {
            Some(v) => Some(v.trim().to_string()),
            None => static_key(key).and_then(|d| d.default).map(str::to_string),
        }
    }
    pub fn is_set(&self, key: &str) -> bool {
        self.supplied.contains_key(key)
    }
    fn parsed<T: std::str::FromStr>(&self, key: &str) -> Result<T, (String, String, String)> {
        let v = self.value(key).unwrap_or_default();
        v.parse::<T>().map_err(|_| {
            (
                key.to_string(),
                v.clone(),
                "not a valid value of its type".to_string(),
            )
        })
    }
    pub fn i64(&self, key: &str) -> Result<i64, (String, String, String)> {
        self.parsed(key)
    }
    pub fn i32(&self, key: &str) -> Result<i32, (String, String, String)> {
        self.parsed(key)
    }
    pub fn f64(&self, key: &str) -> Result<f64, (String, String, String)> {
        self.parsed(key)
    }
    pub fn bool(&self, key: &str) -> Result<bool, (String, String, String)> {
        let v = self.value(key).unwrap_or_default();
        match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err((key.to_string(), v, "expected true or false".to_string())),
        }
    }
    /// Comma-separated items, trimmed, empty items dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.value(key)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_and_example_passes_its_own_validation() {
        for d in static_keys() {
            if matches!(d.support, Support::Refused(_)) {
                continue;
            }
            if let Some(default) = d.default {
                check_value(d.name, d.kind, d.validator, default)
                    .unwrap_or_else(|e| panic!("default of {}: {e}", d.name));
            }
            check_static(d, d.name, d.example)
                .unwrap_or_else(|e| panic!("example of {}: {e}", d.name));
            if d.support == Support::Applied || d.support == Support::Replication {
                assert_ne!(
                    Some(d.example),
                    d.default,
                    "{}: example is the default",
                    d.name
                );
            }
        }
        for d in topic_keys::TOPIC_KEYS {
            check_value(d.name, d.kind, d.validator, d.default)
                .unwrap_or_else(|e| panic!("default of {}: {e}", d.name));
            check_value(d.name, d.kind, d.validator, d.example)
                .unwrap_or_else(|e| panic!("example of {}: {e}", d.name));
            assert_ne!(d.example, d.default, "{}: example is the default", d.name);
        }
    }

    #[test]
    fn names_are_unique_across_scopes() {
        let mut seen = std::collections::BTreeSet::new();
        for d in static_keys() {
            assert!(seen.insert(d.name), "{} listed twice", d.name);
        }
        for d in topic_keys::TOPIC_KEYS {
            for s in d.synonyms {
                assert!(seen.insert(s.key), "{} listed twice", s.key);
            }
        }
    }

    #[test]
    fn per_listener_keys_resolve() {
        assert_eq!(
            resolve_static_key("listener.name.external.ssl.cipher.suites").map(|d| d.name),
            Some("ssl.cipher.suites")
        );
        assert_eq!(
            resolve_static_key("listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config")
                .map(|d| d.name),
            Some("sasl.jaas.config")
        );
        assert!(resolve_static_key("listener.name.x.num.io.threads").is_none());
        assert!(resolve_static_key("no.such.key").is_none());
    }

    #[test]
    fn check_value_messages_name_the_key() {
        let e = check_value("k.x", ConfigType::Int, Validator::AtLeast(1), "0").unwrap_err();
        assert!(e.contains("k.x") && e.contains("at least 1"), "{e}");
        let e = check_value("k.y", ConfigType::Double, Validator::None, "NaN").unwrap_err();
        assert!(e.contains("k.y"), "{e}");
        let e = check_value("k.z", ConfigType::List, Validator::ListOf(&["a"]), "a,b").unwrap_err();
        assert!(e.contains("k.z") && e.contains('b'), "{e}");
    }
}

#[cfg(test)]
mod effect_tests;
