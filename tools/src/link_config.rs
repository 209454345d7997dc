//! Link configs from the command line: `--config-file`, `--config k=v,...` and the three
//! filter-JSON flags, merged into the key/value pairs CreateClusterLinks carries.
//!
//! Everything is validated here with `strait_link` before anything is sent, so a typo
//! fails at once (exit 2) with a message naming the file or flag and the key; the broker
//! validates again. Each key remembers where it came from for those messages.
//!
//! Precedence: `--config` entries override `--config-file` lines (like Kafka's tools,
//! the more specific source wins). A filter given both as a config key and through its
//! dedicated flag is an error rather than a silent override.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strait_link::config::{is_sensitive, LinkConfig, LinkConfigError};
use strait_link::filters::{
    parse_acl_filters, parse_group_filters, parse_topic_filters, FilterError,
};
use strait_protocol::admin::ConfigEntry;

use crate::error::ToolError;

pub const TOPIC_FILTERS_KEY: &str = "auto.create.mirror.topics.filters";
pub const GROUP_FILTERS_KEY: &str = "consumer.offset.group.filters";
pub const ACL_FILTERS_KEY: &str = "acl.filters";

/// The three filter documents of `cluster-links --create` and `--alter`, each given as a
/// file or inline (Confluent's flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct FilterArgs {
    /// topicFilters JSON file (auto.create.mirror.topics.filters).
    #[arg(long, value_name = "FILE")]
    pub topic_filters_json_file: Option<PathBuf>,
    /// topicFilters JSON, inline.
    #[arg(long, value_name = "JSON")]
    pub topic_filters_json: Option<String>,
    /// groupFilters JSON file (consumer.offset.group.filters).
    #[arg(long, value_name = "FILE")]
    pub consumer_group_filters_json_file: Option<PathBuf>,
    /// groupFilters JSON, inline.
    #[arg(long, value_name = "JSON")]
    pub consumer_group_filters_json: Option<String>,
    /// aclFilters JSON file (acl.filters).
    #[arg(long, value_name = "FILE")]
    pub acl_filters_json_file: Option<PathBuf>,
    /// aclFilters JSON, inline.
    #[arg(long, value_name = "JSON")]
    pub acl_filters_json: Option<String>,
}

/// The config-related flags of `cluster-links create`, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkConfigArgs {
    pub config_file: Option<PathBuf>,
    pub config: Vec<String>,
    pub filters: FilterArgs,
}

/// A merged value and where it came from ("--config-file /tmp/source.config", ...).
#[derive(Debug, Clone)]
struct Sourced {
    value: String,
    origin: String,
}

/// Reads, merges and validates the link configs; returns them ready to send (sorted by
/// key, secrets flagged sensitive).
pub fn build_link_configs(args: &LinkConfigArgs) -> Result<Vec<ConfigEntry>, ToolError> {
    let mut merged: BTreeMap<String, Sourced> = BTreeMap::new();

    if let Some(path) = &args.config_file {
        let origin = format!("--config-file {}", path.display());
        let text = read_file(&origin, path)?;
        let map = strait_protocol::properties::parse(&text)
            .map_err(|e| ToolError::usage(format!("{origin}: {e}")))?;
        for (k, v) in map {
            merged.insert(
                k,
                Sourced {
                    value: v,
                    origin: origin.clone(),
                },
            );
        }
    }
    for arg in &args.config {
        for (k, v) in parse_config_arg(arg)? {
            merged.insert(
                k,
                Sourced {
                    value: v,
                    origin: "--config".into(),
                },
            );
        }
    }

    for (key, origin, text) in filter_documents(&args.filters)? {
        if let Some(existing) = merged.get(key) {
            return Err(ToolError::usage(format!(
                "{key} is set both by {} and by {origin}; give it once",
                existing.origin
            )));
        }
        merged.insert(
            key.to_string(),
            Sourced {
                value: text,
                origin,
            },
        );
    }

    let values: BTreeMap<String, String> = merged
        .iter()
        .map(|(k, s)| (k.clone(), s.value.clone()))
        .collect();
    LinkConfig::from_map(values).map_err(|e| describe_error(e, &merged))?;

    Ok(merged
        .into_iter()
        .map(|(name, s)| ConfigEntry {
            sensitive: is_sensitive(&name),
            name,
            value: Some(s.value),
        })
        .collect())
}

/// The config flags of `cluster-links --alter`, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlterConfigArgs {
    /// `--config-file`: every key in the file is set (keys not in it keep their value).
    pub config_file: Option<PathBuf>,
    /// `--add-config k=v,...` (repeatable).
    pub add_config: Vec<String>,
    /// `--delete-config k,...` (repeatable).
    pub delete_config: Vec<String>,
    pub filters: FilterArgs,
}

/// What `--alter` asks for: keys to set (with values) and keys to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlterConfigs {
    pub set: BTreeMap<String, String>,
    pub delete: Vec<String>,
}

/// Reads and checks the alter flags locally (known keys, value types and ranges, filter
/// JSON, a key given twice): a typo fails at once with exit 2, naming the flag and key.
/// The broker validates the whole resulting config again, and alone knows the current
/// one (alterability, deleting a key that is not set).
pub fn build_alter_configs(args: &AlterConfigArgs) -> Result<AlterConfigs, ToolError> {
    let mut set: BTreeMap<String, Sourced> = BTreeMap::new();
    let mut put = |k: String, v: String, origin: &str| -> Result<(), ToolError> {
        if let Some(prev) = set.get(&k) {
            if prev.origin != origin || prev.value != v {
                return Err(ToolError::usage(format!(
                    "link config '{k}' is given both by {} and by {origin}; give it once",
                    prev.origin
                )));
            }
        }
        set.insert(
            k,
            Sourced {
                value: v,
                origin: origin.to_string(),
            },
        );
        Ok(())
    };
    if let Some(path) = &args.config_file {
        let origin = format!("--config-file {}", path.display());
        let text = read_file(&origin, path)?;
        let map = strait_protocol::properties::parse(&text)
            .map_err(|e| ToolError::usage(format!("{origin}: {e}")))?;
        for (k, v) in map {
            put(k, v, &origin)?;
        }
    }
    for arg in &args.add_config {
        for (k, v) in parse_config_arg(arg)
            .map_err(|e| ToolError::usage(e.to_string().replace("--config:", "--add-config:")))?
        {
            put(k, v, "--add-config")?;
        }
    }
    for (key, origin, text) in filter_documents(&args.filters)? {
        put(key.to_string(), text, &origin)?;
    }
    let mut delete: Vec<String> = Vec::new();
    for arg in &args.delete_config {
        for k in arg.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if !delete.iter().any(|d| d == k) {
                delete.push(k.to_string());
            }
        }
    }
    for k in &delete {
        if let Some(s) = set.get(k) {
            return Err(ToolError::usage(format!(
                "link config '{k}' is both set (by {}) and deleted (by --delete-config); give it once",
                s.origin
            )));
        }
        if strait_link::registry::link_key(k).is_none() {
            return Err(ToolError::usage(format!(
                "--delete-config: unknown link config '{k}'"
            )));
        }
    }
    for (k, s) in &set {
        let Some(def) = strait_link::registry::link_key(k) else {
            return Err(ToolError::usage(format!(
                "{}: unknown link config '{k}'",
                s.origin
            )));
        };
        if let Err(reason) = strait_link::registry::check_simple(def, &s.value) {
            return Err(ToolError::usage(if is_sensitive(k) {
                format!("{}: invalid value for link config {k}: {reason}", s.origin)
            } else {
                format!(
                    "{}: invalid value '{}' for link config {k}: {reason}",
                    s.origin,
                    s.value.trim()
                )
            }));
        }
    }
    if set.is_empty() && delete.is_empty() {
        return Err(ToolError::usage(
            "--alter needs at least one of --add-config, --delete-config, --config-file or a filter JSON flag",
        ));
    }
    Ok(AlterConfigs {
        set: set.into_iter().map(|(k, s)| (k, s.value)).collect(),
        delete,
    })
}

/// A filter document's config key, flag stem and validator.
type FilterFlag = (
    &'static str,
    &'static str,
    fn(&str) -> Result<(), FilterError>,
);

/// The three filter documents given on the command line (topic, consumer group, ACL; each
/// as `--X-file F` or inline `--X`), read and validated: `(config key, origin, text)`.
fn filter_documents(f: &FilterArgs) -> Result<Vec<(&'static str, String, String)>, ToolError> {
    let stems: [FilterFlag; 3] = [
        (TOPIC_FILTERS_KEY, "topic-filters-json", |s| {
            parse_topic_filters(s).map(drop)
        }),
        (GROUP_FILTERS_KEY, "consumer-group-filters-json", |s| {
            parse_group_filters(s).map(drop)
        }),
        (ACL_FILTERS_KEY, "acl-filters-json", |s| {
            parse_acl_filters(s).map(drop)
        }),
    ];
    let given = [
        (&f.topic_filters_json_file, &f.topic_filters_json),
        (
            &f.consumer_group_filters_json_file,
            &f.consumer_group_filters_json,
        ),
        (&f.acl_filters_json_file, &f.acl_filters_json),
    ];
    let mut out = Vec::new();
    for ((key, flag, parse), (file, inline)) in stems.into_iter().zip(given) {
        let (origin, text) = match (file, inline) {
            (Some(_), Some(_)) => {
                return Err(ToolError::usage(format!(
                    "give only one of --{flag}-file and --{flag}"
                )))
            }
            (Some(path), None) => {
                let origin = format!("--{flag}-file {}", path.display());
                let text = read_file(&origin, path)?;
                (origin, text)
            }
            (None, Some(text)) => (format!("--{flag}"), text.clone()),
            (None, None) => continue,
        };
        let text = text.trim().to_string();
        parse(&text).map_err(|e| ToolError::usage(format!("{origin}: {e}")))?;
        out.push((key, origin, text));
    }
    Ok(out)
}

fn read_file(origin: &str, path: &Path) -> Result<String, ToolError> {
    std::fs::read_to_string(path)
        .map_err(|e| ToolError::usage(format!("{origin}: cannot read: {e}")))
}

/// Rewrites a validation error to name where the key came from, masking secret values.
fn describe_error(e: LinkConfigError, merged: &BTreeMap<String, Sourced>) -> ToolError {
    let origin = |key: &str| {
        merged
            .get(key)
            .map(|s| s.origin.clone())
            .unwrap_or_else(|| "link config".to_string())
    };
    ToolError::usage(match e {
        LinkConfigError::UnknownKey(k) => format!("{}: unknown link config '{k}'", origin(&k)),
        LinkConfigError::Missing(k) => format!(
            "missing required link config '{k}' (set it in --config-file or with --config {k}=...)"
        ),
        LinkConfigError::Invalid { key, value, reason } => {
            if is_sensitive(&key) {
                format!(
                    "{}: invalid value for link config {key}: {reason}",
                    origin(&key)
                )
            } else {
                format!(
                    "{}: invalid value '{value}' for link config {key}: {reason}",
                    origin(&key)
                )
            }
        }
        LinkConfigError::Filter { key, source } => format!("{}: {source}", origin(key)),
        other => other.to_string(),
    })
}

/// Splits one `--config` value into `(key, value)` pairs.
///
/// Accepts Kafka's `k=v,k2=v2` form. A value may itself contain `=` (split on the first)
/// and commas: a comma-separated piece without `=` continues the previous value, so
/// `bootstrap.servers=a:9092,b:9092` stays one entry; commas inside `[...]` or `{...}`
/// never split (JSON filters, Kafka's `k=[a,b]` list syntax, whose brackets are dropped).
/// The error never echoes the text, which may be a secret.
pub fn parse_config_arg(arg: &str) -> Result<Vec<(String, String)>, ToolError> {
    let mut pieces: Vec<String> = Vec::new();
    let mut depth: i32 = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut current = String::new();
    for c in arg.chars() {
        // Quotes only matter inside a JSON value, where a bracket in a string is text.
        if depth > 0 && in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            current.push(c);
            continue;
        }
        match c {
            '"' if depth > 0 => in_string = true,
            '[' | '{' => depth += 1,
            ']' | '}' => depth = (depth - 1).max(0),
            ',' if depth == 0 => {
                pieces.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    pieces.push(current);

    let mut out: Vec<(String, String)> = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        if piece.trim().is_empty() {
            continue;
        }
        match piece.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !k.contains(['{', '[', '"']) => {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
            _ => match out.last_mut() {
                Some((_, v)) => {
                    v.push(',');
                    v.push_str(piece.trim());
                }
                None => {
                    return Err(ToolError::usage(format!(
                        "--config: entry {} is not key=value",
                        i + 1
                    )))
                }
            },
        }
    }
    for (_, v) in &mut out {
        if let Some(inner) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            *v = inner.to_string();
        }
    }
    if out.is_empty() {
        return Err(ToolError::usage(
            "--config: expected key=value[,key=value...]",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse_config_arg(s).unwrap()
    }

    #[test]
    fn config_arg_forms() {
        assert_eq!(pairs("a=1"), vec![("a".into(), "1".into())]);
        assert_eq!(
            pairs("a=1,b=x=y"),
            vec![("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
        assert_eq!(
            pairs("bootstrap.servers=h1:9092,h2:9092,consumer.offset.sync.enable=true"),
            vec![
                ("bootstrap.servers".into(), "h1:9092,h2:9092".into()),
                ("consumer.offset.sync.enable".into(), "true".into())
            ]
        );
        assert_eq!(
            pairs("topic.config.sync.include=[a,b],x=1"),
            vec![
                ("topic.config.sync.include".into(), "a,b".into()),
                ("x".into(), "1".into())
            ]
        );
        assert_eq!(
            pairs(r#"acl.filters={"aclFilters":[{"a":"x,y=z]"}]},b=2"#),
            vec![
                (
                    "acl.filters".into(),
                    r#"{"aclFilters":[{"a":"x,y=z]"}]}"#.into()
                ),
                ("b".into(), "2".into())
            ]
        );
        assert_eq!(
            parse_config_arg("hunter2").unwrap_err(),
            ToolError::usage("--config: entry 1 is not key=value")
        );
        assert!(parse_config_arg("").is_err());
        assert!(parse_config_arg("=x").is_err());
    }
}
