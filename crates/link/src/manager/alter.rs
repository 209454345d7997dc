//! Altering a running link's configs (`cluster-links --alter`), applied live.
//!
//! Order, so a refused alter changes nothing: the new key/value map is built from the
//! current one, then every named key is checked (registered, alterable, a delete of a key
//! that is set), then the *whole* new map is validated exactly as a create would
//! ([`LinkConfig::from_map`] and the source client config), then — when the source
//! connection settings changed and validation is wanted — the source is reached with the
//! new settings and must be the cluster the link already mirrors. Only then is the new map
//! persisted (one metadata write replacing the link record) and installed in the running
//! link.
//!
//! What "live" means: the running link reads its config snapshot on every pass (fetch
//! sizes, intervals, filters, fetcher count), so most keys apply on the next pass with no
//! reconnect; a change to a source connection key (bootstrap, security, SASL, TLS, client
//! id, timeouts) bumps the link's client generation and the link loop and availability
//! checker reconnect with the new settings. Mirrors are never restarted or re-created:
//! each fetcher restarts at its mirror partition's local log end offset, which is the only
//! record of progress, so no record is skipped or copied twice. `cluster.link.paused`
//! pauses (the link drops its source connections) or resumes the link; changed topic
//! filters are applied by an immediate discovery pass.

use std::collections::BTreeMap;
use std::time::Duration;

use strait_protocol::ErrorCode;

use super::{client_config, err, probe_source, LinkError, LinkManager};
use crate::config::{is_sensitive, LinkConfig};
use crate::local::StoredLink;
use crate::registry::{fixed_reason, link_key};
use crate::state::LinkState;

/// The changes one alter asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    /// Keys to add or replace.
    pub set: BTreeMap<String, String>,
    /// Keys to remove (back to their default).
    pub delete: Vec<String>,
}

/// What an accepted alter changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlterOutcome {
    /// Keys whose effective value changed, sorted.
    pub changed: Vec<String>,
    /// Source connection settings changed: the link reconnects with them.
    pub reconnects: bool,
}

fn invalid(message: String) -> LinkError {
    err(ErrorCode::InvalidConfig, message)
}

/// The value a key has in effect: as given, else its registry default.
fn effective(raw: &BTreeMap<String, String>, key: &str) -> Option<String> {
    raw.get(key)
        .map(|v| v.trim().to_string())
        .or_else(|| link_key(key).and_then(|d| d.default).map(str::to_string))
}

/// Do two effective values mean the same? Words compare case-insensitively (as the
/// registry's validators do), other values exactly.
fn same_value(key: &str, a: &Option<String>, b: &Option<String>) -> bool {
    let words = link_key(key).is_some_and(|d| {
        matches!(d.validator, crate::registry::Validator::OneOf(_))
            || d.kind == crate::registry::KeyType::Boolean
    });
    match (a, b) {
        (Some(a), Some(b)) if words => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

/// Builds and checks the new key/value map (everything that does not need the network).
pub(crate) fn apply_change(
    link: &str,
    current: &BTreeMap<String, String>,
    change: &ConfigChange,
) -> Result<BTreeMap<String, String>, LinkError> {
    if change.set.is_empty() && change.delete.is_empty() {
        return Err(err(
            ErrorCode::InvalidRequest,
            format!("no config change given for cluster link '{link}' (use --add-config, --delete-config or --config-file)"),
        ));
    }
    for key in change.set.keys().chain(change.delete.iter()) {
        if link_key(key).is_none() {
            return Err(invalid(format!("unknown link config '{key}'")));
        }
        if change.set.contains_key(key) && change.delete.iter().any(|d| d == key) {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("link config '{key}' is both set and deleted; give it once"),
            ));
        }
    }
    let mut next = current.clone();
    for key in &change.delete {
        if next.remove(key).is_none() {
            // Kafka's ConfigCommand refuses to delete a config that is not set: the
            // operator's picture of the link is wrong, so say so rather than no-op.
            return Err(invalid(format!(
                "link config '{key}' is not set on cluster link '{link}' (it already has its default), nothing to delete"
            )));
        }
    }
    for (k, v) in &change.set {
        next.insert(k.clone(), v.clone());
    }
    for key in change.set.keys().chain(change.delete.iter()) {
        let Some(def) = link_key(key) else { continue };
        if def.alterable {
            continue;
        }
        let before = effective(current, key);
        let after = effective(&next, key);
        if !same_value(key, &before, &after) {
            return Err(invalid(format!(
                "link config '{key}' cannot be altered on an existing link: {}; delete and re-create the link to change it",
                fixed_reason(def)
            )));
        }
    }
    Ok(next)
}

impl LinkManager {
    /// AlterClusterLinkConfigs: validates the whole new config, persists it and applies it
    /// to the running link (see the module docs). Nothing changes on error.
    pub async fn alter_link_configs(
        &self,
        name: &str,
        change: ConfigChange,
        validate_only: bool,
        validate_link: bool,
        timeout: Duration,
    ) -> Result<AlterOutcome, LinkError> {
        // One alter at a time: each reads the config the previous one installed.
        let _serial = self.alter_lock.lock().await;
        let shared = self.get(name).ok_or_else(|| {
            err(
                ErrorCode::ResourceNotFound,
                format!("cluster link '{name}' does not exist"),
            )
        })?;
        let old = shared.config();
        let next = apply_change(name, old.raw(), &change)?;
        let config = LinkConfig::from_map(next.clone()).map_err(|e| invalid(e.to_string()))?;
        let cc = self.tunnel_client_config(name, &config, client_config(&config)?);
        let reconnects = config.client_properties() != old.client_properties();
        let mut changed: Vec<String> = change
            .set
            .keys()
            .chain(change.delete.iter())
            .filter(|k| !same_value(k, &effective(old.raw(), k), &effective(&next, k)))
            .cloned()
            .collect();
        changed.sort();
        changed.dedup();
        let known_id = shared
            .status()
            .source_cluster_id
            .or_else(|| shared.stored.source_cluster_id.clone());
        if reconnects && validate_link {
            let id = probe_source(name, &config, &cc, timeout).await?;
            if let (Some(known), Some(now)) = (&known_id, &id) {
                if known != now {
                    return Err(invalid(format!(
                        "the new source connection settings of cluster link '{name}' reach cluster '{now}', but the link mirrors cluster '{known}'; a link cannot change its source cluster (create a new link)"
                    )));
                }
            }
        }
        if validate_only {
            return Ok(AlterOutcome {
                changed,
                reconnects,
            });
        }
        if changed.is_empty() && !reconnects {
            // Same values again (e.g. a re-applied config file): nothing to persist.
            return Ok(AlterOutcome::default());
        }
        let stored = StoredLink {
            configs: next,
            source_cluster_id: known_id,
            ..shared.stored.clone()
        };
        self.local.store_link(&stored)?;
        let resumed = old.paused && !config.paused;
        let paused = !old.paused && config.paused;
        shared.replace_config(config, cc, reconnects);
        if paused {
            shared.set_status(LinkState::Paused, None);
        } else if resumed {
            // Availability checks and the source's first answer take it from here.
            shared.set_status(LinkState::Active, None);
        }
        // Wake the link loop (resume, reconnect, new intervals) and run discovery at once
        // (new topic filters).
        shared.wake.notify_one();
        shared.refresh.notify_one();
        if paused {
            // Answer once the link loop has let go of the source (its fetchers are
            // dropped with its connection), so "paused" means nothing more is copied
            // from here on. Bounded by the request timeout.
            let deadline = tokio::time::Instant::now() + timeout;
            while crate::shared::lock(&shared.client).is_some()
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let shown: Vec<String> = changed
            .iter()
            .map(|k| {
                if is_sensitive(k) {
                    format!("{k}=[hidden]")
                } else {
                    format!("{k}={}", effective(&stored.configs, k).unwrap_or_default())
                }
            })
            .collect();
        tracing::info!(link = name, changed = %shown.join(", "), reconnects, "cluster link configs altered");
        Ok(AlterOutcome {
            changed,
            reconnects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn change(set: &[(&str, &str)], delete: &[&str]) -> ConfigChange {
        ConfigChange {
            set: map(set),
            delete: delete.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn set_and_delete() {
        let cur = map(&[("bootstrap.servers", "a:1"), ("acl.sync.ms", "1000")]);
        let next = apply_change(
            "l",
            &cur,
            &change(&[("consumer.offset.sync.ms", "5000")], &["acl.sync.ms"]),
        )
        .unwrap();
        assert_eq!(
            next,
            map(&[
                ("bootstrap.servers", "a:1"),
                ("consumer.offset.sync.ms", "5000")
            ])
        );
    }

    #[test]
    fn refusals_name_the_key() {
        let cur = map(&[("bootstrap.servers", "a:1"), ("cluster.link.prefix", "dr.")]);
        for (c, want) in [
            (
                change(&[("fetch.speed", "fast")], &[]),
                "unknown link config 'fetch.speed'",
            ),
            (
                change(&[("cluster.link.prefix", "x.")], &[]),
                "'cluster.link.prefix' cannot be altered",
            ),
            (
                change(&[], &["cluster.link.prefix"]),
                "'cluster.link.prefix' cannot be altered",
            ),
            (
                change(&[("link.mode", "SOURCE")], &[]),
                "'link.mode' cannot be altered",
            ),
            (
                change(&[("consumer.group.prefix.enable", "true")], &[]),
                "'consumer.group.prefix.enable' cannot be altered",
            ),
            (change(&[], &["acl.sync.ms"]), "'acl.sync.ms' is not set"),
            (
                change(&[("acl.sync.ms", "1")], &["acl.sync.ms"]),
                "both set and deleted",
            ),
            (change(&[], &[]), "no config change"),
        ] {
            let e = apply_change("l", &cur, &c).unwrap_err().message;
            assert!(e.contains(want), "{c:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // Restating a fixed key's current value is not a change.
        assert!(apply_change(
            "l",
            &cur,
            &change(
                &[("link.mode", "destination"), ("cluster.link.prefix", "dr.")],
                &[]
            )
        )
        .is_ok());
    }
}
