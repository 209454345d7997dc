//! Quorum configuration and Kafka's KRaft keys: `process.roles`, `node.id`,
//! `controller.quorum.voters` (`{id}@{host}:{port},...`).
//!
//! Parsing follows Kafka's `QuorumConfig.parseVoterConnections` and `KafkaConfig`'s KRaft
//! checks, with Kafka's `ConfigException` wording ("Invalid value V for configuration K: ...")
//! so an operator moving from Kafka recognises the complaint. Addresses are kept as
//! `host:port` strings and resolved when dialled, as Kafka does (a name may not resolve yet
//! when the process starts).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::types::NodeId;

pub const PROCESS_ROLES: &str = "process.roles";
pub const NODE_ID: &str = "node.id";
pub const QUORUM_VOTERS: &str = "controller.quorum.voters";
pub const QUORUM_ELECTION_TIMEOUT_MS: &str = "controller.quorum.election.timeout.ms";
pub const QUORUM_FETCH_TIMEOUT_MS: &str = "controller.quorum.fetch.timeout.ms";

/// A bad KRaft configuration value; the message says which key and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn invalid(key: &str, value: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!(
        "Invalid value {value} for configuration {key}: {why}"
    ))
}

/// A voter's `host:port` as configured.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VoterAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for VoterAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<SocketAddr> for VoterAddr {
    fn from(addr: SocketAddr) -> Self {
        VoterAddr {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

/// Parses `controller.quorum.voters`: `{id}@{host}:{port}` entries separated by commas.
///
/// Refused as Kafka refuses them: an entry not of that form, a non-numeric or negative id,
/// a missing host or port, a port out of range, and (Strait is stricter than Kafka's map
/// insert, which silently keeps the last) a duplicate id. An empty value is refused here
/// because Strait has no `controller.quorum.bootstrap.servers` (KIP-853) alternative yet.
pub fn parse_voters(value: &str) -> Result<BTreeMap<NodeId, VoterAddr>, ConfigError> {
    let mut voters = BTreeMap::new();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ConfigError(format!(
            "If using {PROCESS_ROLES}, {QUORUM_VOTERS} must contain a parseable set of controllers"
        )));
    }
    for entry in trimmed.split(',').map(str::trim) {
        let Some((id, address)) = entry.split_once('@').filter(|(_, a)| !a.contains('@')) else {
            return Err(invalid(
                QUORUM_VOTERS,
                value,
                format!("entry '{entry}' should be in the form `{{id}}@{{host}}:{{port}}`"),
            ));
        };
        let id: NodeId = id.trim().parse().map_err(|_| {
            invalid(QUORUM_VOTERS, value, format!("failed to parse voter id '{id}' in entry '{entry}': not a non-negative integer"))
        })?;
        let (host, port) = split_host_port(address).ok_or_else(|| {
            invalid(
                QUORUM_VOTERS,
                value,
                format!("failed to parse host name and port from entry '{entry}'"),
            )
        })?;
        let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
            invalid(QUORUM_VOTERS, value, format!("failed to parse host port from entry '{entry}': '{port}' is not a port in 1-65535"))
        })?;
        if voters
            .insert(
                id,
                VoterAddr {
                    host: host.to_string(),
                    port,
                },
            )
            .is_some()
        {
            return Err(invalid(
                QUORUM_VOTERS,
                value,
                format!("duplicate voter id {id}"),
            ));
        }
    }
    Ok(voters)
}

/// `host:port` or `[v6]:port`; `None` when either half is missing.
fn split_host_port(address: &str) -> Option<(&str, &str)> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        (host, tail.strip_prefix(':')?)
    } else {
        address.rsplit_once(':')?
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    (host_ok && !port.is_empty()).then_some((host, port))
}

/// Kafka's `process.roles`: which of the broker and controller roles this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessRoles {
    pub broker: bool,
    pub controller: bool,
}

/// Parses `process.roles` (`broker`, `controller` or both, comma-separated).
pub fn parse_process_roles(value: &str) -> Result<ProcessRoles, ConfigError> {
    let mut roles = ProcessRoles::default();
    let mut seen = Vec::new();
    for role in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        if seen.contains(&role) {
            return Err(invalid(
                PROCESS_ROLES,
                value,
                format!("duplicate role names found in `{PROCESS_ROLES}`: '{role}'"),
            ));
        }
        seen.push(role);
        match role {
            "broker" => roles.broker = true,
            "controller" => roles.controller = true,
            other => {
                return Err(invalid(
                    PROCESS_ROLES,
                    value,
                    format!("unknown process role '{other}' (only 'broker' and 'controller' are allowed roles)"),
                ))
            }
        }
    }
    if seen.is_empty() {
        return Err(invalid(
            PROCESS_ROLES,
            value,
            "at least one of 'broker' and 'controller' is required",
        ));
    }
    Ok(roles)
}

/// Kafka's rule tying `node.id` to the voter set: a controller must be a voter, a process
/// that is only a broker must not be one.
pub fn check_node_in_voters(
    roles: ProcessRoles,
    node_id: NodeId,
    voters: &BTreeMap<NodeId, VoterAddr>,
) -> Result<(), ConfigError> {
    let ids: Vec<String> = voters.keys().map(u64::to_string).collect();
    let ids = ids.join(",");
    if roles.controller && !voters.contains_key(&node_id) {
        return Err(ConfigError(format!(
            "If {PROCESS_ROLES} contains the 'controller' role, the node id {node_id} must be included in the set of voters {QUORUM_VOTERS}={{{ids}}}"
        )));
    }
    if !roles.controller && voters.contains_key(&node_id) {
        return Err(ConfigError(format!(
            "If {PROCESS_ROLES} contains just the 'broker' role, the node id {node_id} must not be included in the set of voters {QUORUM_VOTERS}={{{ids}}}"
        )));
    }
    Ok(())
}

/// Everything [`crate::Quorum::open`] needs. Construct with [`QuorumConfig::new`] and adjust
/// the tuning fields; the defaults suit a metadata log.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: NodeId,
    /// The cluster id every voter must share; checked in every connection's handshake and
    /// against the one recorded in `dir` on first start.
    pub cluster_id: String,
    /// All voters, this node included: Kafka's static `controller.quorum.voters`.
    pub voters: BTreeMap<NodeId, VoterAddr>,
    /// The quorum's own directory (log segments, state, snapshot).
    pub dir: PathBuf,
    /// Where this node's quorum listener binds (ignored by `open_with_listener`).
    pub listen_addr: SocketAddr,
    /// Take a snapshot after this many applied entries since the last one.
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot, so a slightly lagging follower still gets entries
    /// instead of a whole snapshot.
    pub logs_kept_after_snapshot: u64,
    /// A new segment file starts once the active one reaches this size.
    pub segment_bytes: u64,
    /// How long `propose` waits for commit and local apply before it gives up.
    pub propose_timeout: Duration,
    /// How often the leader sends AppendEntries when it has nothing else to send.
    pub heartbeat_interval: Duration,
    /// openraft's randomised election timer is drawn once from
    /// `[election_timeout_min, election_timeout_max)`. A candidate retries after that much; a
    /// follower that stops hearing from its leader campaigns after `election_timeout_max`
    /// (openraft's leader lease) plus that much, i.e. within `2 × election_timeout_max`.
    /// [`QuorumConfig::set_kafka_timeouts`] derives all three from Kafka's keys.
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
}

impl QuorumConfig {
    pub fn new(
        node_id: NodeId,
        cluster_id: impl Into<String>,
        voters: BTreeMap<NodeId, VoterAddr>,
        dir: impl Into<PathBuf>,
        listen_addr: SocketAddr,
    ) -> Self {
        QuorumConfig {
            node_id,
            cluster_id: cluster_id.into(),
            voters,
            dir: dir.into(),
            listen_addr,
            snapshot_every: 5000,
            logs_kept_after_snapshot: 1000,
            segment_bytes: 64 * 1024 * 1024,
            propose_timeout: Duration::from_secs(10),
            // What `set_kafka_timeouts` derives from Kafka's defaults (1000 / 2000 ms).
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(500),
            election_timeout_max: Duration::from_millis(1000),
        }
    }

    /// Sets the raft timers from Kafka's `controller.quorum.election.timeout.ms` (a
    /// candidate's longest wait before a new election) and
    /// `controller.quorum.fetch.timeout.ms` (a voter's longest time without hearing from the
    /// leader before it campaigns), both upper bounds as Kafka documents them.
    ///
    /// openraft's timer (see the field docs) makes a candidate retry within
    /// `election_timeout_max` and a follower campaign within `2 × election_timeout_max`, so
    /// `election_timeout_max = min(election, fetch / 2)` honours both bounds;
    /// `election_timeout_min` is half of it (the randomised spread that avoids split votes)
    /// and the heartbeat a tenth. Kafka's defaults (1000 / 2000 ms) give 500 / 1000 / 100 ms:
    /// leader loss noticed within 1.5–2 s. Values under 20 ms (election) or 40 ms (fetch)
    /// leave no room for a heartbeat and are refused.
    pub fn set_kafka_timeouts(
        &mut self,
        election_timeout: Duration,
        fetch_timeout: Duration,
    ) -> Result<(), ConfigError> {
        let floor = |key: &str, value: Duration, min: Duration| {
            if value < min {
                Err(invalid(
                    key,
                    &value.as_millis().to_string(),
                    format!("Strait needs at least {} ms", min.as_millis()),
                ))
            } else {
                Ok(())
            }
        };
        floor(
            QUORUM_ELECTION_TIMEOUT_MS,
            election_timeout,
            Duration::from_millis(20),
        )?;
        floor(
            QUORUM_FETCH_TIMEOUT_MS,
            fetch_timeout,
            Duration::from_millis(40),
        )?;
        let max = election_timeout.min(fetch_timeout / 2);
        self.election_timeout_max = max;
        self.election_timeout_min = max / 2;
        self.heartbeat_interval = max / 10;
        Ok(())
    }

    /// The checks that need no I/O: this node among the voters, a usable cluster id,
    /// consistent timeouts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_node_in_voters(
            ProcessRoles {
                broker: false,
                controller: true,
            },
            self.node_id,
            &self.voters,
        )?;
        if self.cluster_id.is_empty()
            || !self
                .cluster_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError(format!(
                "cluster id '{}' must be non-empty and use only [A-Za-z0-9_-]",
                self.cluster_id
            )));
        }
        if self.snapshot_every == 0 || self.segment_bytes == 0 {
            return Err(ConfigError(
                "snapshot_every and segment_bytes must be positive".to_string(),
            ));
        }
        if self.election_timeout_min <= self.heartbeat_interval
            || self.election_timeout_max <= self.election_timeout_min
        {
            return Err(ConfigError(format!(
                "need heartbeat_interval < election_timeout_min < election_timeout_max, got {:?} / {:?} / {:?}",
                self.heartbeat_interval, self.election_timeout_min, self.election_timeout_max
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_voters() {
        let v = parse_voters("1@localhost:9093, 2@10.0.0.2:9093,3@[::1]:9095").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(
            v[&1],
            VoterAddr {
                host: "localhost".into(),
                port: 9093
            }
        );
        assert_eq!(v[&3].to_string(), "[::1]:9095");
    }

    #[test]
    fn refuses_bad_voters() {
        let cases = [
            ("", "must contain a parseable set"),
            ("1@a:1,1@b:2", "duplicate voter id 1"),
            ("1a:9093", "should be in the form"),
            ("1@a@b:9093", "should be in the form"),
            ("x@a:9093", "failed to parse voter id 'x'"),
            ("-1@a:9093", "failed to parse voter id '-1'"),
            ("1@:9093", "failed to parse host name"),
            ("1@host", "failed to parse host name"),
            ("1@host:", "failed to parse host name"),
            ("1@host:99999", "failed to parse host port"),
            ("1@host:0", "failed to parse host port"),
            ("1@ho st:1", "failed to parse host name"),
        ];
        for (value, want) in cases {
            let err = parse_voters(value).unwrap_err().0;
            assert!(err.contains(want), "{value:?}: {err}");
            if !value.is_empty() {
                assert!(err.contains(QUORUM_VOTERS), "{value:?}: {err}");
            }
        }
    }

    #[test]
    fn roles_and_node_membership() {
        let both = parse_process_roles("broker,controller").unwrap();
        assert!(both.broker && both.controller);
        assert!(parse_process_roles("broker,broker")
            .unwrap_err()
            .0
            .contains("duplicate role"));
        assert!(parse_process_roles("leader")
            .unwrap_err()
            .0
            .contains("unknown process role 'leader'"));
        assert!(parse_process_roles("").is_err());

        let voters = parse_voters("1@a:1,2@b:2").unwrap();
        check_node_in_voters(both, 1, &voters).unwrap();
        let err = check_node_in_voters(both, 3, &voters).unwrap_err().0;
        assert!(
            err.contains("node id 3 must be included") && err.contains("{1,2}"),
            "{err}"
        );
        let broker = parse_process_roles("broker").unwrap();
        check_node_in_voters(broker, 3, &voters).unwrap();
        assert!(check_node_in_voters(broker, 1, &voters)
            .unwrap_err()
            .0
            .contains("must not be included"));
    }

    #[test]
    fn kafka_timeouts_bound_elections() {
        let voters = parse_voters("1@a:1").unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut c = QuorumConfig::new(1, "abc", voters, "/tmp/x", addr);
        let defaults = (
            c.heartbeat_interval,
            c.election_timeout_min,
            c.election_timeout_max,
        );
        c.set_kafka_timeouts(Duration::from_millis(1000), Duration::from_millis(2000))
            .unwrap();
        assert_eq!(
            (
                c.heartbeat_interval,
                c.election_timeout_min,
                c.election_timeout_max
            ),
            defaults,
            "Kafka's defaults map onto the built-in defaults"
        );
        c.validate().unwrap();
        // A fetch timeout shorter than twice the election timeout bounds the timer.
        c.set_kafka_timeouts(Duration::from_millis(5000), Duration::from_millis(3000))
            .unwrap();
        assert_eq!(c.election_timeout_max, Duration::from_millis(1500));
        assert_eq!(c.election_timeout_min, Duration::from_millis(750));
        c.validate().unwrap();
        let err = c
            .set_kafka_timeouts(Duration::from_millis(10), Duration::from_millis(2000))
            .unwrap_err()
            .0;
        assert!(err.contains(QUORUM_ELECTION_TIMEOUT_MS), "{err}");
        let err = c
            .set_kafka_timeouts(Duration::from_millis(1000), Duration::from_millis(30))
            .unwrap_err()
            .0;
        assert!(err.contains(QUORUM_FETCH_TIMEOUT_MS), "{err}");
    }

    #[test]
    fn validates_config() {
        let voters = parse_voters("1@a:1").unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        QuorumConfig::new(1, "abc_DEF-1", voters.clone(), "/tmp/x", addr)
            .validate()
            .unwrap();
        assert!(QuorumConfig::new(2, "abc", voters.clone(), "/tmp/x", addr)
            .validate()
            .is_err());
        assert!(QuorumConfig::new(1, "a b", voters, "/tmp/x", addr)
            .validate()
            .is_err());
    }
}
