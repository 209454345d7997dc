//! The KRaft keys (`process.roles`, `node.id`, `controller.quorum.voters`,
//! `controller.listener.names`, `listener.security.protocol.map`,
//! `inter.broker.listener.name`): a combined single node spelled out as Kafka's KRaft
//! quickstart spells it behaves exactly as no such keys; several voters make a metadata
//! quorum served on the controller listener; a non-combined node, and every malformed
//! value, stops start-up with one line naming the key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use crate::config::{BrokerConfig, ConfigError};

fn load(overrides: &[&str]) -> Result<BrokerConfig, ConfigError> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    BrokerConfig::load(None, &overrides)
}

/// What the broker does with a configuration, without the record of what was supplied.
fn effective(c: &BrokerConfig) -> String {
    let mut c = c.clone();
    c.supplied = BTreeMap::new();
    format!("{c:?}")
}

fn refused(overrides: &[&str], key: &str, wants: &[&str]) {
    let e = load(overrides)
        .map(|_| ())
        .expect_err(&format!("{overrides:?} was accepted"))
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(e.contains(key), "{overrides:?}: '{e}' does not name {key}");
    for want in wants {
        assert!(e.contains(want), "{overrides:?}: '{e}' lacks '{want}'");
    }
}

#[test]
fn a_combined_single_node_spelled_out_equals_no_kraft_keys() {
    let none = load(&[]).unwrap();
    let spelled = load(&[
        "process.roles=broker,controller",
        "node.id=1",
        "controller.quorum.voters=1@127.0.0.1:9093",
    ])
    .unwrap();
    assert_eq!(effective(&spelled), effective(&none));
    // Role order and spacing are Kafka's business too.
    let reordered = load(&["process.roles= controller , broker"]).unwrap();
    assert_eq!(effective(&reordered), effective(&none));
    // IPv6 voter and another node id that is this node.
    load(&["node.id=7", "controller.quorum.voters=7@[::1]:9093"]).unwrap();
}

#[test]
fn the_kraft_quickstart_shape_loads_and_binds_only_the_broker_listener() {
    let c = load(&[
        "process.roles=broker,controller",
        "node.id=1",
        "controller.quorum.voters=1@127.0.0.1:9093",
        "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:9093",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    ])
    .unwrap();
    let bound: Vec<String> = c.bound_listeners().map(|l| l.name.clone()).collect();
    assert_eq!(bound, ["PLAINTEXT"]);
    assert_eq!(c.controller_listener_names, ["CONTROLLER"]);
}

#[test]
fn process_roles_other_than_the_combined_node_are_refused() {
    refused(
        &["process.roles=broker"],
        "process.roles",
        &[
            "broker-only",
            "every node of a Strait cluster is a combined node",
        ],
    );
    refused(
        &["process.roles=controller"],
        "process.roles",
        &[
            "controller-only",
            "every node of a Strait cluster is a combined node",
        ],
    );
    // Kafka's own complaints (strait_quorum::parse_process_roles).
    refused(
        &["process.roles=broker,broker,controller"],
        "process.roles",
        &["duplicate role names found in `process.roles`: 'broker'"],
    );
    refused(
        &["process.roles=broker,leader"],
        "process.roles",
        &["unknown process role 'leader'"],
    );
}

const THREE: &str = "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097";
const TWO_LISTENERS: &str = "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:9093";

#[test]
fn several_voters_make_a_quorum_on_the_controller_listener() {
    let c = load(&[
        "node.id=1",
        THREE,
        TWO_LISTENERS,
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "broker.session.timeout.ms=1500",
        "broker.heartbeat.interval.ms=200",
        "controller.quorum.election.timeout.ms=300",
        "controller.quorum.fetch.timeout.ms=400",
    ])
    .unwrap();
    assert!(c.is_multi_voter());
    assert_eq!(
        c.quorum_voters.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(c.quorum_listener().map(|l| l.port), Some(9093));
    let bound: Vec<String> = c.bound_listeners().map(|l| l.name.clone()).collect();
    assert_eq!(
        bound,
        ["PLAINTEXT"],
        "the controller listener is never a client listener"
    );
    assert_eq!(
        (
            c.broker_session_timeout_ms,
            c.broker_heartbeat_interval_ms,
            c.controller_quorum_election_timeout_ms,
            c.controller_quorum_fetch_timeout_ms
        ),
        (1500, 200, 300, 400)
    );
    // Kafka's defaults.
    let d = load(&[]).unwrap();
    assert!(!d.is_multi_voter() && d.quorum_listener().is_none());
    assert_eq!(d.broker_session_timeout_ms, 9000);
    assert_eq!(d.broker_heartbeat_interval_ms, 2000);
    assert_eq!(d.controller_quorum_election_timeout_ms, 1000);
    assert_eq!(d.controller_quorum_fetch_timeout_ms, 2000);
}

#[test]
fn a_quorum_needs_this_node_a_controller_listener_and_plaintext() {
    refused(
        &[
            "node.id=4",
            THREE,
            TWO_LISTENERS,
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ],
        "controller.quorum.voters",
        &["the node id 4 must be included in the set of voters controller.quorum.voters={1,2,3}"],
    );
    refused(
        &["node.id=1", THREE],
        "controller.listener.names",
        &["must name the listener this node serves the metadata quorum on"],
    );
    refused(
        &[
            "node.id=1",
            THREE,
            TWO_LISTENERS,
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ],
        "listener.security.protocol.map",
        &["controller listener CONTROLLER must be PLAINTEXT"],
    );
    refused(
        &[
            "node.id=1",
            THREE,
            TWO_LISTENERS,
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "advertised.listeners=CONTROLLER://127.0.0.1:9093",
        ],
        "advertised.listeners",
        &["must not contain controller listener CONTROLLER"],
    );
    refused(
        &["offsets.topic.replication.factor=3"],
        "offsets.topic.replication.factor",
        &["not replicated yet"],
    );
    refused(
        &["controller.quorum.bootstrap.servers=a:9093,b:9093"],
        "controller.quorum.bootstrap.servers",
        &["controller.quorum.voters"],
    );
}

#[test]
fn voters_must_include_this_node() {
    refused(
        &["node.id=3", "controller.quorum.voters=1@a:9093"],
        "controller.quorum.voters",
        &["the node id 3 must be included in the set of voters controller.quorum.voters={1}"],
    );
    // Malformed lists get Kafka's QuorumConfig wording, once (not wrapped twice).
    let cases = [
        ("1@a:9093,1@b:9093", "duplicate voter id 1"),
        ("1a:9093", "should be in the form `{id}@{host}:{port}`"),
        ("x@a:9093", "failed to parse voter id 'x'"),
        ("1@a:0", "failed to parse host port"),
        ("1@:9093", "failed to parse host name and port"),
    ];
    for (value, want) in cases {
        let setting = format!("controller.quorum.voters={value}");
        refused(&[&setting], "controller.quorum.voters", &[want]);
        let e = load(&[&setting]).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            e.matches("for configuration").count(),
            1,
            "wrapped twice: {e}"
        );
    }
}

#[test]
fn listener_keys_must_name_listeners_that_exist() {
    refused(
        &["controller.listener.names=CONTROLLER"],
        "controller.listener.names",
        &["controller listener CONTROLLER is not in listeners (PLAINTEXT)"],
    );
    refused(
        &[
            "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=CONTROLLER",
        ],
        "inter.broker.listener.name",
        &["must name a (non-controller) listener"],
    );
    refused(
        &[
            "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT",
        ],
        "listener.security.protocol.map",
        &["CONTROLLER"],
    );
}

/// Partition replication's keys: any replication factor ≥ 1 is accepted (placement refuses
/// more than the live brokers), the `replica.*` keys reach the configuration with Kafka's
/// defaults, and Kafka's cross-key rules on the follower's fetch timeouts hold.
#[test]
fn replication_keys_have_kafkas_defaults_and_rules() {
    let c = load(&[]).unwrap();
    assert_eq!(c.default_replication_factor, 1);
    assert_eq!(c.replica_lag_time_max_ms, 30_000);
    assert_eq!(c.replica_fetch_max_bytes, 1_048_576);
    assert_eq!(c.replica_fetch_response_max_bytes, 10_485_760);
    assert_eq!(c.replica_fetch_wait_max_ms, 500);
    assert_eq!(c.replica_fetch_min_bytes, 1);
    assert_eq!(c.replica_fetch_backoff_ms, 1000);
    assert_eq!(c.replica_socket_timeout_ms, 30_000);
    assert_eq!(c.replica_high_watermark_checkpoint_interval_ms, 5000);
    let c = load(&["default.replication.factor=3", "min.insync.replicas=2"]).unwrap();
    assert_eq!(c.default_replication_factor, 3);
    refused(
        &["default.replication.factor=0"],
        "default.replication.factor",
        &["at least 1"],
    );
    refused(
        &[
            "replica.fetch.wait.max.ms=2000",
            "replica.socket.timeout.ms=1000",
        ],
        "replica.socket.timeout.ms",
        &["should always be at least replica.fetch.wait.max.ms (2000)"],
    );
    refused(
        &[
            "replica.fetch.wait.max.ms=2000",
            "replica.lag.time.max.ms=1000",
        ],
        "replica.fetch.wait.max.ms",
        &["less than or equal to replica.lag.time.max.ms (1000)"],
    );
    load(&[
        "replica.fetch.wait.max.ms=1000",
        "replica.socket.timeout.ms=1000",
    ])
    .unwrap();
}

/// The inter-broker listener: named, or found by `security.inter.broker.protocol`; with
/// several voters it must exist and be PLAINTEXT (the replica fetchers' only protocol),
/// never silently another.
#[test]
fn the_inter_broker_listener_is_resolved_and_plaintext_in_a_cluster() {
    let base = ["node.id=1", THREE, "controller.listener.names=CONTROLLER"];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        base.iter().chain(extra).copied().collect()
    }
    let c = load(&with(&base, &[
        "listeners=CLIENTS://127.0.0.1:0,INTERNAL://127.0.0.1:0,CONTROLLER://127.0.0.1:9093",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,CLIENTS:SASL_PLAINTEXT,INTERNAL:PLAINTEXT",
    ]))
    .unwrap();
    assert_eq!(
        c.inter_broker_listener_name.as_deref(),
        Some("INTERNAL"),
        "the first listener of security.inter.broker.protocol (PLAINTEXT)"
    );
    let c = load(&with(
        &base,
        &[
            "listeners=A://127.0.0.1:0,B://127.0.0.1:0,CONTROLLER://127.0.0.1:9093",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,A:PLAINTEXT,B:PLAINTEXT",
            "inter.broker.listener.name=b",
        ],
    ))
    .unwrap();
    assert_eq!(c.inter_broker_listener_name.as_deref(), Some("B"));
    refused(
        &with(
            &base,
            &[
                "listeners=CLIENTS://127.0.0.1:0,CONTROLLER://127.0.0.1:9093",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,CLIENTS:SASL_PLAINTEXT",
                "inter.broker.listener.name=CLIENTS",
            ],
        ),
        "inter.broker.listener.name",
        &["must be PLAINTEXT"],
    );
    refused(
        &with(
            &base,
            &[
                "listeners=CLIENTS://127.0.0.1:0,CONTROLLER://127.0.0.1:9093",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,CLIENTS:SASL_PLAINTEXT",
            ],
        ),
        "security.inter.broker.protocol",
        &["no listener"],
    );
    // A single node has no inter-broker connections: any listener is fine.
    load(&[
        "listeners=CLIENTS://127.0.0.1:0",
        "listener.security.protocol.map=CLIENTS:SASL_PLAINTEXT",
    ])
    .unwrap();
}
