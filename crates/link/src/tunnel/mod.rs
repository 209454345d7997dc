//! Source-initiated cluster links: the source cluster opens the connections, the
//! destination pulls over them (Confluent's `link.mode=SOURCE` + `connection.mode=OUTBOUND`
//! on the source, `connection.mode=INBOUND` on the destination).
//!
//! * [`pool`]: the destination side. A LinkTunnel request that names an INBOUND link parks
//!   its connection in the link's [`pool::TunnelPool`]; the link's client dials through the
//!   pool (a [`strait_client::dial::Dialer`]) instead of TCP, and answering the parked
//!   request is the claim.
//! * [`source`]: the source side. The SOURCE link keeps [`source::IDLE_TUNNELS`] tunnels
//!   parked at the destination and, once one is claimed, relays it byte for byte to a
//!   connection to this broker's own listener, authenticated with the `local.*` keys.
//!
//! Who authenticates what (Confluent's meaning): on the SOURCE link, `bootstrap.servers`,
//! `security.protocol`, `sasl.*` and `ssl.*` reach and authenticate to the *destination*
//! (its listener checks them as for any client, and LinkTunnel needs CLUSTER ALTER there);
//! `local.security.protocol`, `local.sasl.mechanism` and `local.sasl.jaas.config` say how
//! the link's traffic authenticates to the *source* cluster itself, so the source's ACLs
//! for that principal govern what the destination may read. The INBOUND link has no
//! connection keys at all: it cannot reach the source, and it speaks plaintext Kafka inside
//! the tunnel, which is as protected as the source's connection to the destination.
//!
//! Invariant: a key that means nothing for the link's mode is refused by name
//! ([`check_modes`]), so a SOURCE link never carries mirror or sync options it would ignore.

pub mod pool;
pub mod source;

use std::collections::BTreeMap;

use crate::config::{LinkConfigError, LinkMode};
use crate::registry::{link_key, Scope};

/// The name of the link task that reports tunnel health in `cluster-links --describe`.
pub const TUNNEL_TASK: &str = "link_tunnel";

/// The bootstrap "address" of an INBOUND link's client: any tunnel of the link serves it.
pub const TUNNEL_BOOTSTRAP: &str = "source-via-tunnel:1";

/// `connection.mode`: which side opens the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionMode {
    /// This broker connects to `bootstrap.servers` (Confluent's default).
    #[default]
    Outbound,
    /// The other cluster connects to this one (the destination of a source-initiated link).
    Inbound,
}

impl ConnectionMode {
    pub fn name(self) -> &'static str {
        match self {
            ConnectionMode::Outbound => "OUTBOUND",
            ConnectionMode::Inbound => "INBOUND",
        }
    }

    pub fn parse(v: &str) -> Option<ConnectionMode> {
        [ConnectionMode::Outbound, ConnectionMode::Inbound]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(v.trim()))
    }
}

/// The `local.*` keys: how a SOURCE link authenticates to its own cluster.
pub const LOCAL_KEYS: &[&str] = &[
    "local.security.protocol",
    "local.sasl.mechanism",
    "local.sasl.jaas.config",
];

/// Link options a SOURCE link reads; every other link option is refused on it.
const SOURCE_LINK_OPTIONS: &[&str] = &[
    "link.mode",
    "connection.mode",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
];

/// Source connection keys an INBOUND link still reads (they do not say how to reach the
/// source).
/// `socket.connection.setup.timeout.ms` bounds the wait for a parked tunnel.
const INBOUND_CLIENT_KEYS: &[&str] = &[
    "client.id",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
];

fn conflict(msg: String) -> LinkConfigError {
    LinkConfigError::Conflict(msg)
}

/// Checks the keys given against the link's modes; errors name the key and the mode.
pub(crate) fn check_modes(
    map: &BTreeMap<String, String>,
    link_mode: LinkMode,
    connection_mode: ConnectionMode,
) -> Result<(), LinkConfigError> {
    match (link_mode, connection_mode) {
        (LinkMode::Source, ConnectionMode::Inbound) => {
            return Err(conflict("link.mode=SOURCE needs connection.mode=OUTBOUND: the source side of a source-initiated link is the one that connects".into()));
        }
        (LinkMode::Bidirectional, ConnectionMode::Inbound) => {
            return Err(conflict(
                "connection.mode=INBOUND is only implemented for link.mode=DESTINATION links"
                    .into(),
            ));
        }
        _ => {}
    }
    for key in map.keys() {
        let Some(def) = link_key(key) else { continue };
        let local = LOCAL_KEYS.contains(&key.as_str());
        if link_mode == LinkMode::Source {
            if def.scope == Scope::Link && !local && !SOURCE_LINK_OPTIONS.contains(&key.as_str()) {
                return Err(conflict(format!("link config {key} does not apply to a link.mode=SOURCE link: the destination cluster's INBOUND link mirrors and syncs; set it there")));
            }
        } else if local {
            return Err(conflict(format!("link config {key} applies only to link.mode=SOURCE links (it says how the source side authenticates to its own cluster)")));
        }
        if connection_mode == ConnectionMode::Inbound
            && def.scope == Scope::Source
            && !INBOUND_CLIENT_KEYS.contains(&key.as_str())
        {
            return Err(conflict(format!("link config {key} does not apply to a connection.mode=INBOUND link: the source cluster connects to this one (its SOURCE link's local.* keys authenticate to the source)")));
        }
    }
    if link_mode == LinkMode::Source {
        let protocol = map
            .get("local.security.protocol")
            .map(|v| v.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "PLAINTEXT".into());
        let sasl = protocol.starts_with("SASL");
        for key in ["local.sasl.mechanism", "local.sasl.jaas.config"] {
            let given = map.get(key).is_some_and(|v| !v.trim().is_empty());
            if sasl && !given {
                return Err(LinkConfigError::Missing(if key == "local.sasl.mechanism" {
                    "local.sasl.mechanism"
                } else {
                    "local.sasl.jaas.config"
                }));
            }
            if !sasl && given {
                return Err(conflict(format!(
                    "link config {key} needs local.security.protocol=SASL_PLAINTEXT"
                )));
            }
        }
    }
    Ok(())
}

/// The client config with which a SOURCE link connects to its own cluster's listener: the
/// `local.*` keys with the prefix removed.
pub(crate) fn local_client_properties(raw: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    raw.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("local.")
                .filter(|_| LOCAL_KEYS.contains(&k.as_str()))
                .map(|s| (s.to_string(), v.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LinkConfig;

    fn parse(text: &str) -> Result<LinkConfig, String> {
        LinkConfig::from_properties_text(text).map_err(|e| e.to_string())
    }

    #[test]
    fn modes_parse_and_refuse_what_does_not_apply() {
        let c = parse("connection.mode=INBOUND\n").unwrap();
        assert_eq!(c.connection_mode, ConnectionMode::Inbound);
        assert!(c.bootstrap_servers.is_empty());
        let c = parse("link.mode=SOURCE\nconnection.mode=OUTBOUND\nbootstrap.servers=dst:9092\nlocal.security.protocol=SASL_PLAINTEXT\nlocal.sasl.mechanism=PLAIN\nlocal.sasl.jaas.config=x\n").unwrap();
        assert_eq!(c.link_mode, LinkMode::Source);
        assert_eq!(
            local_client_properties(c.raw()).get("security.protocol"),
            Some(&"SASL_PLAINTEXT".to_string())
        );
        assert!(!c.client_properties().contains_key("local.sasl.jaas.config"));
        for (text, names) in [
            (
                "link.mode=SOURCE\nconnection.mode=INBOUND\n",
                "connection.mode=OUTBOUND",
            ),
            (
                "connection.mode=INBOUND\nbootstrap.servers=a:1\n",
                "bootstrap.servers",
            ),
            (
                "connection.mode=INBOUND\nsecurity.protocol=SASL_SSL\n",
                "security.protocol",
            ),
            (
                "link.mode=SOURCE\nbootstrap.servers=a:1\nauto.create.mirror.topics.enable=true\n",
                "auto.create.mirror.topics.enable",
            ),
            (
                "bootstrap.servers=a:1\nlocal.security.protocol=PLAINTEXT\n",
                "local.security.protocol",
            ),
            (
                "link.mode=SOURCE\nbootstrap.servers=a:1\nlocal.security.protocol=SASL_PLAINTEXT\n",
                "local.sasl.mechanism",
            ),
            ("link.mode=SOURCE\n", "bootstrap.servers"),
            (
                "link.mode=SOURCE\nbootstrap.servers=a:1\nlocal.security.protocol=SSL\n",
                "local.security.protocol",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(names), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
