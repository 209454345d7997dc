//! Static broker keys (`server.properties` / `--override`), and the cross-key rules that
//! keep a configuration describing what Strait is: combined KRaft nodes
//! (`process.roles=broker,controller`), either one alone (a quorum of itself, no
//! controller listener bound) or several voters of one metadata quorum
//! (`controller.quorum.voters`), each serving its quorum on its controller listener.
//! Partition data is replicated (`default.replication.factor`, `replica.*`); group offsets
//! and transaction state are not yet, so their topics' replication keys stay 1.

use std::collections::BTreeMap;

use super::{ConfigType, KeyDef, Props, Support, Validator};

const fn key(
    name: &'static str,
    kind: ConfigType,
    default: Option<&'static str>,
    validator: Validator,
    support: Support,
    doc: &'static str,
    example: &'static str,
) -> KeyDef {
    KeyDef {
        name,
        kind,
        default,
        validator,
        support,
        per_listener: false,
        doc,
        example,
    }
}

/// Why a broker-only or controller-only process is refused.
pub const COMBINED_ONLY: &str =
    "every node of a Strait cluster is a combined node (process.roles=broker,controller) for now";

/// Why the group / transaction state replication keys must be 1.
pub const NO_REPLICATION: &str =
    "Strait keeps committed offsets and transaction state in node-local stores that are not replicated yet";

/// Why a controller bootstrap list is refused beyond this node.
pub const STATIC_VOTERS: &str =
    "Strait's quorum membership is static: name the voters in controller.quorum.voters";

fn listeners(v: &str) -> Result<(), String> {
    crate::config::parse_listeners("listeners", v)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn one_dir(v: &str) -> Result<(), String> {
    match v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .count()
    {
        0 => Err("no directory given".into()),
        1 => Ok(()),
        _ => Err("Strait keeps all partitions in one log directory; give exactly one".into()),
    }
}

/// Kafka: -1 keeps the OS default; any other value is a buffer size in bytes.
fn buffer_size(v: &str) -> Result<(), String> {
    match v.parse::<i32>() {
        Ok(-1) => Ok(()),
        Ok(n) if n >= 1 => Ok(()),
        _ => Err("expected -1 (the OS default) or a positive number of bytes".into()),
    }
}

fn one_replica(v: &str) -> Result<(), String> {
    if v.trim() == "1" {
        Ok(())
    } else {
        Err(format!("must be 1: {NO_REPLICATION}"))
    }
}

/// `process.roles`, parsed as Kafka does (`strait_quorum::parse_process_roles`: unknown
/// and duplicate roles refused with Kafka's wording); then only the combined node is
/// accepted, because a broker-only or controller-only process needs other nodes.
fn roles(v: &str) -> Result<(), String> {
    let roles =
        strait_quorum::parse_process_roles(v).map_err(|e| kafka_reason("process.roles", v, e))?;
    match (roles.broker, roles.controller) {
        (true, true) => Ok(()),
        (true, false) => Err(format!(
            "a broker-only process needs a separate controller quorum: {COMBINED_ONLY}"
        )),
        _ => Err(format!(
            "a controller-only process serves brokers running elsewhere: {COMBINED_ONLY}"
        )),
    }
}

/// `controller.quorum.voters`, parsed as Kafka does (`strait_quorum::parse_voters`:
/// `{id}@{host}:{port}` entries, duplicate ids refused); empty means absent (a quorum of
/// this node alone). Checked against node.id in [`check_single_node`].
fn voters(v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        return Ok(());
    }
    strait_quorum::parse_voters(v)
        .map(|_| ())
        .map_err(|e| kafka_reason("controller.quorum.voters", v, e))
}

/// The reason of a `strait_quorum` error, which is worded as Kafka's ConfigException
/// ("Invalid value V for configuration K: reason"): ours names the key and value already.
fn kafka_reason(key: &str, value: &str, e: strait_quorum::ConfigError) -> String {
    let prefix = format!("Invalid value {value} for configuration {key}: ");
    match e.0.strip_prefix(prefix.as_str()) {
        Some(reason) => reason.to_string(),
        None => e.0,
    }
}

fn bootstrap_servers(v: &str) -> Result<(), String> {
    let items: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for item in &items {
        item.rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .ok_or_else(|| format!("'{item}': expected host:port"))?;
    }
    if items.len() > 1 {
        return Err(format!(
            "names {} controllers: {STATIC_VOTERS}",
            items.len()
        ));
    }
    Ok(())
}

fn dedupe_buffer(v: &str) -> Result<(), String> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(()),
        _ => Err("must be a non-negative number of bytes".into()),
    }
}

use ConfigType::{Boolean, Double, Int, List, Long, Short, String as Str};
use Support::{Applied, OnlyDefault, Refused, SingleNode};

pub const BROKER_KEYS: &[KeyDef] = &[
    key("node.id", Int, Some("1"), Validator::Between(0, i32::MAX as i64), Applied,
        "This node's id (Kafka requires one; Strait defaults to 1). A data directory remembers it.", "5"),
    key("broker.id", Int, None, Validator::Between(0, i32::MAX as i64), Applied,
        "Older name of node.id; if both are set they must be equal.", "5"),
    key("listeners", Str, Some("PLAINTEXT://127.0.0.1:9092"), Validator::Custom(listeners), Applied,
        "Where to listen, NAME://host:port,... (port 0 = any free port). Listeners named in controller.listener.names are not bound (see there).",
        "PLAINTEXT://127.0.0.1:0"),
    key("advertised.listeners", Str, None, Validator::Custom(listeners), Applied,
        "What Metadata tells clients, per listener name; default: the bound listener.",
        "PLAINTEXT://broker.example.com:9092"),
    key("log.dirs", Str, None, Validator::Custom(one_dir), Applied,
        "The one data directory (wins over log.dir).", "/var/lib/strait"),
    key("log.dir", Str, Some("strait-data"), Validator::Custom(one_dir), Applied,
        "The data directory when log.dirs is not set (Kafka's default is /tmp/kafka-logs).", "/var/lib/strait"),
    key("num.partitions", Int, Some("1"), Validator::AtLeast(1), Applied,
        "Partitions of topics created without a count (auto-created, or CreateTopics with -1).", "4"),
    key("auto.create.topics.enable", Boolean, Some("true"), Validator::None, Applied,
        "Create unknown topics named in Metadata requests.", "false"),
    key("delete.topic.enable", Boolean, Some("true"), Validator::None, Applied,
        "Allow DeleteTopics.", "false"),
    key("socket.request.max.bytes", Int, Some("104857600"), Validator::AtLeast(1), Applied,
        "Larger request frames close the connection.", "1048576"),
    key("socket.send.buffer.bytes", Int, Some("102400"), Validator::Custom(buffer_size), Applied,
        "SO_SNDBUF of accepted connections; -1 = the OS default (autotuning).", "-1"),
    key("socket.receive.buffer.bytes", Int, Some("102400"), Validator::Custom(buffer_size), Applied,
        "SO_RCVBUF of the listening socket (so the TCP window scale is negotiated for it) and of accepted connections; -1 = the OS default.",
        "-1"),
    key("socket.listen.backlog.size", Int, Some("50"), Validator::AtLeast(1), Applied,
        "Backlog of pending connections of each listening socket.", "128"),
    key("num.network.threads", Int, Some("3"), Validator::AtLeast(1), Applied,
        "Threads of the async runtime that serve sockets and dispatch requests (Kafka's network threads); partition file I/O never runs on them.", "1"),
    key("num.io.threads", Int, Some("8"), Validator::AtLeast(1), Applied,
        "Log manager threads that run partition file I/O: appends and their fsyncs, Fetch reads, ListOffsets lookups, rolls, retention and flushes (Kafka's request handler threads).", "2"),
    key("num.recovery.threads.per.data.dir", Int, Some("2"), Validator::AtLeast(1), Applied,
        "Threads that open (and recover) partition logs at start-up.", "4"),
    key("broker.rack", Str, None, Validator::None, Applied,
        "Rack of this broker, reported in Metadata and DescribeCluster.", "rack-a"),
    key("log.retention.check.interval.ms", Long, Some("300000"), Validator::AtLeast(1), Applied,
        "How often retention runs.", "1000"),
    key("log.flush.scheduler.interval.ms", Long, Some("1000"), Validator::AtLeast(1), Applied,
        "How often the flush policy and segment.ms rolls are checked (Kafka's default is never; Strait's loop also rolls segments).", "500"),
    key(crate::metrics_http::METRICS_LISTENER_KEY, Str, None, Validator::None, Applied,
        "Strait: host:port of a Prometheus GET /metrics endpoint.", "127.0.0.1:0"),
    key("group.initial.rebalance.delay.ms", Int, Some("3000"), Validator::AtLeast(0), Applied,
        "Delay of a new group's first rebalance.", "0"),
    key("group.min.session.timeout.ms", Int, Some("6000"), Validator::AtLeast(0), Applied,
        "Smallest session timeout a member may ask for.", "1000"),
    key("group.max.session.timeout.ms", Int, Some("1800000"), Validator::AtLeast(0), Applied,
        "Largest session timeout a member may ask for.", "60000"),
    key("group.max.size", Int, Some("2147483647"), Validator::AtLeast(1), Applied,
        "Most members a group may have.", "10"),
    key("offset.metadata.max.bytes", Int, Some("4096"), Validator::AtLeast(0), Applied,
        "Largest metadata string of a committed offset.", "100"),
    key("offsets.retention.minutes", Int, Some("10080"), Validator::AtLeast(1), Applied,
        "How long committed offsets of an empty group are kept.", "60"),
    key("offsets.retention.check.interval.ms", Long, Some("600000"), Validator::AtLeast(1), Applied,
        "How often expired offsets are removed.", "1000"),
    key("transaction.max.timeout.ms", Int, Some("900000"), Validator::AtLeast(1), Applied,
        "Largest transaction.timeout.ms a transactional producer may ask for (InitProducerId answers INVALID_TRANSACTION_TIMEOUT above it).", "60000"),
    key("transactional.id.expiration.ms", Int, Some("604800000"), Validator::AtLeast(1), Applied,
        "How long an idle transactional id (no transaction, no InitProducerId) is kept before the coordinator removes it.", "3600000"),
    key("transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, Some("10000"), Validator::AtLeast(1), Applied,
        "How often the coordinator aborts transactions that exceeded their timeout (with a bumped epoch, fencing the producer).", "1000"),
    key("transaction.remove.expired.transaction.cleanup.interval.ms", Int, Some("3600000"), Validator::AtLeast(1), Applied,
        "How often the coordinator removes transactional ids idle for transactional.id.expiration.ms.", "60000"),
    key("log.cleaner.enable", Boolean, Some("true"), Validator::None, Applied,
        "Run the log cleaner (compaction of cleanup.policy=compact topics).", "false"),
    key("log.cleaner.threads", Int, Some("1"), Validator::AtLeast(0), Applied,
        "Log cleaner threads; at least 1 while log.cleaner.enable=true.", "2"),
    key("log.cleaner.backoff.ms", Long, Some("15000"), Validator::AtLeast(0), Applied,
        "Cleaner sleep when no log needs cleaning.", "1000"),
    key("log.cleaner.dedupe.buffer.size", Long, Some("134217728"), Validator::Custom(dedupe_buffer), Applied,
        "Memory for the key → offset maps of all cleaner threads together; at least 1 MiB per thread.", "16777216"),
    key("log.cleaner.io.buffer.size", Int, Some("524288"), Validator::AtLeast(0), Applied,
        "Read/write buffer memory of all cleaner threads together.", "1048576"),
    key("log.cleaner.io.buffer.load.factor", Double, Some("0.9"), Validator::Range(0.0, 1.0), Applied,
        "How full a cleaner's offset map may get.", "0.5"),
    key("log.cleaner.io.max.bytes.per.second", Double, Some("1.7976931348623157E308"), Validator::None, Applied,
        "Read + write throttle of all cleaner threads.", "1048576"),
    key("process.roles", List, Some("broker,controller"), Validator::Custom(roles), SingleNode,
        "KRaft roles: only broker,controller (every node of a Strait cluster is a combined node).", "controller,broker"),
    key("controller.quorum.voters", List, Some(""), Validator::Custom(voters), Applied,
        "The KRaft metadata quorum, id@host:port,... (node.id must be one of them). Empty or this node alone: a single node, no controller listener bound. Several voters: this node serves the quorum on its controller listener (controller.listener.names) and needs a data directory formatted with --cluster-id.",
        "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"),
    key("broker.session.timeout.ms", Int, Some("9000"), Validator::AtLeast(1), Applied,
        "The active controller fences a broker whose node it has not heard from for this long (its partitions then have no leader).", "3000"),
    key("controlled.shutdown.enable", Boolean, Some("true"), Validator::None, Applied,
        "On a cluster, a stopping broker first puts itself in controlled shutdown (KIP-841): the active controller moves the leadership of every partition it leads to another live ISR member, and the broker waits for that (at most broker.session.timeout.ms) before it closes its logs.", "false"),
    key("auto.leader.rebalance.enable", Boolean, Some("true"), Validator::None, Applied,
        "The active controller moves each partition's leadership back to its preferred replica (the first of its replicas) when that replica is alive and in the ISR, every leader.imbalance.check.interval.seconds (KRaft's automatic preferred leader election).", "false"),
    key("leader.imbalance.check.interval.seconds", Long, Some("300"), Validator::AtLeast(1), Applied,
        "How often the active controller looks for partitions not led by their preferred replica (auto.leader.rebalance.enable).", "30"),
    key("leader.imbalance.per.broker.percentage", Int, Some("10"), Validator::AtLeast(0),
        OnlyDefault("a KRaft controller elects every imbalanced partition's preferred leader and does not use this ratio (KAFKA-13682)"),
        "The ZooKeeper-era controller's imbalance ratio that triggered a rebalance.", "10"),
    key("broker.heartbeat.interval.ms", Int, Some("2000"), Validator::AtLeast(1), Applied,
        "How often the active controller checks every broker's liveness against broker.session.timeout.ms.", "500"),
    key("controller.quorum.fetch.timeout.ms", Int, Some("2000"), Validator::AtLeast(1), Applied,
        "A voter that has not heard from the quorum's leader for this long becomes a candidate (starts an election).", "500"),
    key("controller.quorum.election.timeout.ms", Int, Some("1000"), Validator::AtLeast(1), Applied,
        "How long a voter's candidacy lasts at most before it retries; each voter waits a random part of it on top of controller.quorum.fetch.timeout.ms, so voters rarely campaign together.", "500"),
    key("controller.quorum.bootstrap.servers", List, Some(""), Validator::Custom(bootstrap_servers), SingleNode,
        "The KRaft quorum's bootstrap endpoint: at most one (this node).", "127.0.0.1:9093"),
    key("controller.listener.names", List, Some(""), Validator::None, Applied,
        "Controller listeners: must be in listeners, PLAINTEXT, and are never advertised. With several voters the first one is where this node serves the metadata quorum (strait-quorum's protocol, not Kafka's); a single node binds none (clients cannot use a controller listener in Kafka either).",
        "CONTROLLER"),
    key("inter.broker.listener.name", Str, None, Validator::None, Applied,
        "Listener brokers replicate over: followers fetch from the leader's endpoint of this name (default: the first listener of security.inter.broker.protocol). Must name a non-controller listener; with several voters it must be PLAINTEXT (the replica fetchers do not speak TLS or SASL yet).", "PLAINTEXT"),
    key("default.replication.factor", Int, Some("1"), Validator::AtLeast(1), Applied,
        "Replication factor of topics created without one (CreateTopics with -1, auto-created topics); more than the live brokers is refused with INVALID_REPLICATION_FACTOR.", "3"),
    key("replica.lag.time.max.ms", Long, Some("30000"), Validator::AtLeast(1), Applied,
        "A follower that has not caught up to the leader's log end for this long is removed from the ISR.", "10000"),
    key("replica.fetch.max.bytes", Int, Some("1048576"), Validator::AtLeast(0), Applied,
        "Bytes a follower asks per partition in each replication fetch (a larger first batch is still returned).", "524288"),
    key("replica.fetch.response.max.bytes", Int, Some("10485760"), Validator::AtLeast(0), Applied,
        "Bytes a follower asks per replication fetch response.", "1048576"),
    key("replica.fetch.wait.max.ms", Int, Some("500"), Validator::AtLeast(0), Applied,
        "How long the leader may hold a follower's fetch waiting for replica.fetch.min.bytes; at most replica.socket.timeout.ms and replica.lag.time.max.ms.", "100"),
    key("replica.fetch.min.bytes", Int, Some("1"), Validator::AtLeast(0), Applied,
        "Bytes a follower's fetch waits for (up to replica.fetch.wait.max.ms).", "1024"),
    key("replica.fetch.backoff.ms", Int, Some("1000"), Validator::AtLeast(0), Applied,
        "How long a follower waits after a failed replication fetch before retrying.", "100"),
    key("replica.socket.timeout.ms", Int, Some("30000"), Validator::AtLeast(1), Applied,
        "Timeout of a follower's replication requests to the leader; at least replica.fetch.wait.max.ms.", "10000"),
    key("replica.high.watermark.checkpoint.interval.ms", Long, Some("5000"), Validator::AtLeast(1), Applied,
        "How often each replicated partition's high watermark is written to its checkpoint.", "1000"),
    key("offsets.topic.replication.factor", Short, Some("1"), Validator::Custom(one_replica), SingleNode,
        "Only 1 (Kafka's default is 3): Strait keeps committed offsets in its own node-local store, not replicated yet.", "1"),
    key("transaction.state.log.replication.factor", Short, Some("1"), Validator::Custom(one_replica), SingleNode,
        "Only 1 (Kafka's default is 3): transaction state is kept in a node-local log, not replicated yet.", "1"),
    key("transaction.state.log.min.isr", Int, Some("1"), Validator::Custom(one_replica), SingleNode,
        "Only 1 (Kafka's default is 2): transaction state is not replicated yet.", "1"),
    key("share.coordinator.state.topic.replication.factor", Short, Some("1"), Validator::Custom(one_replica), SingleNode,
        "Only 1 (Kafka's default is 3).", "1"),
    key("share.coordinator.state.topic.min.isr", Short, Some("1"), Validator::Custom(one_replica), SingleNode,
        "Only 1 (Kafka's default is 2).", "1"),
    key("offsets.topic.num.partitions", Int, Some("50"), Validator::None,
        Refused("Strait keeps committed offsets in its own store, not in a __consumer_offsets topic"),
        "Partitions of __consumer_offsets.", "50"),
    key("offsets.topic.segment.bytes", Int, Some("104857600"), Validator::None,
        Refused("Strait keeps committed offsets in its own store, not in a __consumer_offsets topic"),
        "Segment size of __consumer_offsets.", "1048576"),
    key("transaction.state.log.num.partitions", Int, Some("50"), Validator::None,
        OnlyDefault("Strait keeps transaction state in one local log (log.dirs/__strait_transactions), not in a partitioned __transaction_state topic"),
        "Partitions of __transaction_state.", "50"),
    key("transaction.state.log.segment.bytes", Int, Some("104857600"), Validator::None,
        OnlyDefault("Strait keeps transaction state in one local log (log.dirs/__strait_transactions, compacted by snapshot), not in __transaction_state segments"),
        "Segment size of __transaction_state.", "104857600"),
    key("zookeeper.connect", Str, None, Validator::None,
        Refused("Strait is KRaft-shaped and never uses ZooKeeper; remove it"),
        "ZooKeeper connection string.", "localhost:2181"),
];

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> (String, String, String) {
    (key.to_string(), value.to_string(), reason.into())
}

/// The cross-key rules of combined nodes, and Kafka's own cross-key rules of the keys
/// above. Every supplied key has passed its own validator already.
pub fn check_single_node(p: &Props<'_>, node_id: i32) -> Result<(), (String, String, String)> {
    if let (Some(b), true) = (p.supplied.get("broker.id"), p.is_set("node.id")) {
        if b.trim() != node_id.to_string() {
            return Err(invalid(
                "broker.id",
                b,
                format!("must be equal to node.id ({node_id}) when both are set"),
            ));
        }
    }
    check_quorum_voters(p, node_id)?;
    let listeners = match p.value("listeners") {
        Some(v) => crate::config::parse_listeners("listeners", &v)
            .map_err(|e| invalid("listeners", &v, e.to_string()))?,
        None => Vec::new(),
    };
    let names: Vec<String> = listeners.iter().map(|l| l.name.clone()).collect();
    let controllers = controller_listener_names(p);
    for c in &controllers {
        if !names.contains(c) {
            return Err(invalid(
                "controller.listener.names",
                &controllers.join(","),
                format!(
                    "controller listener {c} is not in listeners ({})",
                    names.join(",")
                ),
            ));
        }
    }
    if !controllers.is_empty() && controllers.len() == names.len() {
        return Err(invalid(
            "controller.listener.names",
            &controllers.join(","),
            "every listener is a controller listener, so no client could connect",
        ));
    }
    let voter_count = strait_quorum::parse_voters(&p.list("controller.quorum.voters").join(","))
        .map_or(0, |m| m.len());
    if voter_count > 1 && controllers.is_empty() {
        return Err(invalid(
            "controller.listener.names",
            "",
            "must name the listener this node serves the metadata quorum on when controller.quorum.voters names several voters",
        ));
    }
    check_controller_protocol(p, &controllers)?;
    if let Some(adv) = p.supplied.get("advertised.listeners") {
        let adv_listeners = crate::config::parse_listeners("advertised.listeners", adv)
            .map_err(|e| invalid("advertised.listeners", adv, e.to_string()))?;
        if let Some(a) = adv_listeners.iter().find(|a| controllers.contains(&a.name)) {
            return Err(invalid(
                "advertised.listeners",
                adv,
                format!("must not contain controller listener {}", a.name),
            ));
        }
    }
    check_replica_fetch_timeouts(p)?;
    if let Some(ibl) = p.supplied.get("inter.broker.listener.name") {
        let ibl = ibl.trim().to_ascii_uppercase();
        if p.is_set("security.inter.broker.protocol") {
            return Err(invalid(
                "inter.broker.listener.name",
                &ibl,
                "only one of inter.broker.listener.name and security.inter.broker.protocol may be set",
            ));
        }
        if !names.contains(&ibl) || controllers.contains(&ibl) {
            return Err(invalid(
                "inter.broker.listener.name",
                &ibl,
                format!(
                    "must name a (non-controller) listener in listeners ({})",
                    names.join(",")
                ),
            ));
        }
    }
    Ok(())
}

/// Kafka's rules (its `KafkaConfig.validateValues`, with its messages): a follower's
/// fetch must not be held longer than its own socket timeout, nor longer than the lag that
/// drops it from the ISR.
fn check_replica_fetch_timeouts(p: &Props<'_>) -> Result<(), (String, String, String)> {
    let wait = p.i64("replica.fetch.wait.max.ms")?;
    let socket = p.i64("replica.socket.timeout.ms")?;
    let lag = p.i64("replica.lag.time.max.ms")?;
    if socket < wait {
        return Err(invalid(
            "replica.socket.timeout.ms",
            &socket.to_string(),
            format!("replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms ({wait}) to prevent unnecessary socket timeouts"),
        ));
    }
    if wait > lag {
        return Err(invalid(
            "replica.fetch.wait.max.ms",
            &wait.to_string(),
            format!("replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms ({lag}) to prevent frequent changes in ISR"),
        ));
    }
    Ok(())
}

/// Kafka's rule (`strait_quorum::config::check_node_in_voters`: a controller, and every
/// Strait node is one, is one of the voters).
fn check_quorum_voters(p: &Props<'_>, node_id: i32) -> Result<(), (String, String, String)> {
    const KEY: &str = "controller.quorum.voters";
    let value = p.list(KEY).join(",");
    if value.is_empty() {
        return Ok(());
    }
    let voters = strait_quorum::parse_voters(&value)
        .map_err(|e| invalid(KEY, &value, kafka_reason(KEY, &value, e)))?;
    let combined = strait_quorum::ProcessRoles {
        broker: true,
        controller: true,
    };
    let node = u64::try_from(node_id).unwrap_or_default();
    strait_quorum::config::check_node_in_voters(combined, node, &voters)
        .map_err(|e| invalid(KEY, &value, e.0))?;
    Ok(())
}

/// The metadata quorum's TCP protocol carries neither TLS nor SASL today, so a controller
/// listener must be PLAINTEXT: accepting SSL or SASL there would promise a protection the
/// quorum's connections do not have. (A listener without any mapping is refused when the
/// listeners' security is parsed, with Kafka's message.)
fn check_controller_protocol(
    p: &Props<'_>,
    controllers: &[String],
) -> Result<(), (String, String, String)> {
    let map = crate::auth::config::protocol_map(p.supplied)?;
    for c in controllers {
        if let Some(proto) = map.get(c) {
            if !matches!(proto, crate::auth::config::SecurityProtocol::Plaintext) {
                return Err(invalid(
                    "listener.security.protocol.map",
                    p.supplied
                        .get("listener.security.protocol.map")
                        .map_or("", String::as_str),
                    format!(
                        "controller listener {c} must be PLAINTEXT: the metadata quorum's connections carry no TLS or SASL yet"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `controller.listener.names`, upper-cased as listener names are.
pub fn controller_listener_names(p: &Props<'_>) -> Vec<String> {
    p.list("controller.listener.names")
        .into_iter()
        .map(|n| n.to_ascii_uppercase())
        .collect()
}

/// `log.cleaner.*` into the storage engine's cleaner settings, with Kafka's rule that each
/// thread's share of the dedupe buffer is at least 1 MiB.
pub fn cleaner_config(
    p: &Props<'_>,
) -> Result<strait_storage::CleanerConfig, (String, String, String)> {
    let threads = p.i32("log.cleaner.threads")?;
    let dedupe = p.i64("log.cleaner.dedupe.buffer.size")?;
    let enable = p.bool("log.cleaner.enable")?;
    const MIB: i64 = 1024 * 1024;
    // An enabled cleaner with no thread would accept compacted topics and never compact
    // them (Kafka also wants at least one thread when it reconfigures the cleaner).
    if enable && threads < 1 {
        return Err(invalid(
            "log.cleaner.threads",
            &threads.to_string(),
            "must be at least 1 while log.cleaner.enable=true",
        ));
    }
    if enable && dedupe / i64::from(threads) < MIB {
        return Err(invalid(
            "log.cleaner.dedupe.buffer.size",
            &dedupe.to_string(),
            format!(
                "gives each of the {threads} log.cleaner.threads {} bytes; each needs at least 1 MiB (1048576)",
                dedupe / i64::from(threads)
            ),
        ));
    }
    Ok(strait_storage::CleanerConfig {
        enable,
        threads: usize::try_from(threads).unwrap_or(0),
        backoff_ms: u64::try_from(p.i64("log.cleaner.backoff.ms")?).unwrap_or(0),
        dedupe_buffer_size: u64::try_from(dedupe).unwrap_or(0),
        io_buffer_load_factor: p.f64("log.cleaner.io.buffer.load.factor")?,
        io_buffer_size: u64::try_from(p.i32("log.cleaner.io.buffer.size")?).unwrap_or(0),
        io_max_bytes_per_second: p.f64("log.cleaner.io.max.bytes.per.second")?,
    })
}

/// The keys Strait reads in the order a `BTreeMap` gives (tests and README use it).
pub fn supplied_unknown(supplied: &BTreeMap<String, String>) -> Vec<&str> {
    supplied
        .keys()
        .filter(|k| {
            super::resolve_static_key(k).is_none()
                && super::topic_keys::topic_key_for_broker_key(k).is_none()
        })
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
#[path = "kraft_tests.rs"]
mod kraft_tests;
