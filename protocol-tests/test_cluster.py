"""A 3-node Strait cluster (every node broker + controller + voter, RF=1 placement) against
real clients: kcat, confluent-kafka (librdkafka 2.16) and the Apache Kafka Java client.

- every node lists the 3 brokers and the same controller (Metadata to each node, kcat -L,
  DescribeCluster from confluent-kafka and from Admin.describeCluster);
- a 6-partition topic created through node 2 is spread over all 3 brokers; an idempotent
  acks=all producer bootstrapped on node 1 writes 3,000 keyed records that a consumer
  bootstrapped on node 3 reads back exactly (partition, offset, key, value);
- kill -9 of the active controller during a CreateTopics loop: only success or retriable
  errors, a new controller, every created topic on both survivors, the dead broker fenced
  (gone from metadata) then back after a restart, and nothing acknowledged lost;
- a rolling restart (SIGTERM, one node at a time) under a producer loses no acknowledged
  record;
- bad input: voters without this node, duplicate voters, no --cluster-id, a node with
  another cluster id, RF=4 (RF=3 is accepted), a manual assignment naming an unknown broker;
- a node cut off from the other two voters (network namespaces, netns.py) cannot create a
  topic, while the majority side can; after the heal it catches up.

The cluster harness is cluster.py; timing knobs are Kafka's keys (cluster.FAST_TIMING).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

import ck
from cluster import Cluster, Node, free_ports, metadata, new_cluster_id
from conftest import scaled, wait_until
from test_cluster_apis import Admin, admin_classes  # noqa: F401 - admin_classes is a fixture
from test_netns_partition import net, netns_capable  # noqa: F401 - fixtures

KCAT = shutil.which("kcat")
ALL = {1, 2, 3}


@pytest.fixture
def cluster(request, tmp_path):
    c = Cluster(tmp_path)
    request.node._strait_brokers = c.nodes  # conftest prints each node's stderr tail on failure
    try:
        c.start()
        yield c
    finally:
        c.stop()


def create(bootstrap: str, topics: list[NewTopic], timeout: float = 20.0) -> dict[str, KafkaError | None]:
    """CreateTopics through `bootstrap`; per topic None (created) or the Kafka error."""
    a = ck.admin(bootstrap)
    fs = a.create_topics(topics, operation_timeout=scaled(timeout), request_timeout=scaled(timeout))
    out = {}
    for name, f in fs.items():
        try:
            f.result(timeout=scaled(timeout) + 10)
            out[name] = None
        except KafkaException as e:
            out[name] = e.args[0]
    return out


def produce_keyed(bootstrap: str, topic: str, n: int, prefix: str = "") -> dict[tuple[int, int], tuple[bytes, bytes]]:
    """n keyed records through an idempotent acks=all producer; (partition, offset) -> (key, value)."""
    msgs = [{"key": f"{prefix}k{i % 97}".encode(), "value": f"{prefix}v{i}".encode()} for i in range(n)]
    got = ck.produce(bootstrap, topic, msgs, timeout=60, acks="all", **{"enable.idempotence": True, "linger.ms": 5})
    return {(d.partition, d.offset): (d.key, d.value) for d in got}


def read_all(bootstrap: str, topic: str, partitions: list[int], timeout: float = 60.0) -> dict[tuple[int, int], tuple[bytes, bytes]]:
    """Everything in the partitions up to their high watermarks, read through `bootstrap`."""
    c = ck.consumer(bootstrap)
    try:
        highs = {}
        for p in partitions:
            highs[p] = wait_until(lambda p=p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=5),
                                  timeout=timeout, what=f"watermarks of {topic}[{p}]")[1]
        want = {p for p in partitions if highs[p] > 0}
        c.assign([TopicPartition(topic, p, 0) for p in want])
        out: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        done: set[int] = set()
        deadline = time.monotonic() + scaled(timeout)
        while done != want:
            assert time.monotonic() < deadline, f"read {len(out)} records; partitions done {done} of {want}"
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if m.offset() >= highs[m.partition()]:
                        done.add(m.partition())
                    continue
                raise KafkaException(m.error())
            out[(m.partition(), m.offset())] = (m.key(), m.value())
            if m.offset() + 1 >= highs[m.partition()]:
                done.add(m.partition())
        return out
    finally:
        c.close()


def leaders(node: Node, topic: str) -> dict[int, int]:
    err, parts = metadata(node, [topic]).topics[topic]
    assert err == 0, f"{topic}: error {err}"
    return {p: pm.leader for p, pm in parts.items()}


# --------------------------------------------------------------------------
# 1. Every client sees the same 3 brokers and controller


def test_every_client_sees_three_brokers_and_one_controller(cluster, admin_classes):  # noqa: F811
    metas = cluster.wait_brokers(ALL)
    controller = metas[1].controller_id
    for n in cluster.nodes:
        assert metas[n.node_id].brokers == {m.node_id: ("127.0.0.1", m.client_port) for m in cluster.nodes}, metas
        # The quorum port is never advertised to clients.
        assert all(port not in cluster.controller_ports for _, port in metas[n.node_id].brokers.values())

    assert KCAT is not None, "kcat not installed (run-all.sh installs it)"
    for n in cluster.nodes:
        p = subprocess.run([KCAT, "-b", n.bootstrap, "-L", "-J", "-m", "10"], capture_output=True, text=True,
                           timeout=scaled(60))
        assert p.returncode == 0, p.stderr
        md = json.loads(p.stdout)
        assert sorted(b["id"] for b in md["brokers"]) == [1, 2, 3], md
        assert md["controllerid"] == controller, md

    for n in cluster.nodes:
        a = ck.admin(n.bootstrap)  # keep a reference: a collected AdminClient fails its futures
        d = ck.result(a.describe_cluster(request_timeout=scaled(10)))
        assert sorted(x.id for x in d.nodes) == [1, 2, 3], d
        assert d.controller.id == controller and d.cluster_id == cluster.cluster_id, d

    for n in cluster.nodes:
        d = Admin(admin_classes, n.bootstrap).one("describe-cluster")
        assert sorted(x["id"] for x in d["nodes"]) == [1, 2, 3], d
        assert d["controller"] == controller and d["cluster_id"] == cluster.cluster_id, d


# --------------------------------------------------------------------------
# 2. Create on node 2, produce through node 1, consume through node 3


def test_topic_spread_over_three_brokers_produce_and_consume_through_different_nodes(cluster, topic):
    n1, n2, n3 = cluster.nodes
    assert create(n2.bootstrap, [NewTopic(topic, num_partitions=6, replication_factor=1)]) == {topic: None}
    def led():
        x = leaders(n1, topic)
        return len(x) == 6 and all(leader in ALL for leader in x.values()) and x
    lead = wait_until(led, timeout=30, what="6 partitions with leaders on node 1")
    assert set(lead.values()) == ALL, f"leaders not spread over all brokers: {lead}"
    for n in (n2, n3):
        wait_until(lambda n=n: leaders(n, topic) == lead, timeout=30, what=f"node {n.node_id} to agree on leaders")
        err, parts = metadata(n, [topic]).topics[topic]
        assert all(pm.replicas == [pm.leader] and pm.isr == [pm.leader] for pm in parts.values()), parts

    acked = produce_keyed(n1.bootstrap, topic, 3000)
    assert len(acked) == 3000
    for p in range(6):
        offs = sorted(o for (pp, o) in acked if pp == p)
        assert offs == list(range(len(offs))), f"partition {p}: offsets not dense from 0"
    assert read_all(n3.bootstrap, topic, list(range(6))) == acked


# --------------------------------------------------------------------------
# 3. kill -9 of the active controller while topics are being created


# Kafka's retriable CreateTopics errors during an election, and librdkafka's local ones for
# a request that could not reach the (dead) controller in time.
RETRIABLE_CREATE = {KafkaError.REQUEST_TIMED_OUT, KafkaError.NOT_CONTROLLER, KafkaError._TIMED_OUT,
                    KafkaError._TRANSPORT, KafkaError.BROKER_NOT_AVAILABLE}


def test_kill_controller_during_create_topics(cluster, topic):
    before = cluster.wait_brokers(ALL)
    victim = cluster.node(before[1].controller_id)
    survivors = [n for n in cluster.nodes if n is not victim]
    entry = survivors[0]

    assert create(entry.bootstrap, [NewTopic(topic, num_partitions=6, replication_factor=1)]) == {topic: None}
    wait_until(lambda: set(leaders(entry, topic).values()) == ALL, timeout=30, what="leaders on all 3 brokers")
    lead = leaders(entry, topic)
    acked = produce_keyed(entry.bootstrap, topic, 600)

    results: dict[str, KafkaError | None] = {}
    stop = threading.Event()
    successes_after_kill = threading.Event()
    killed = threading.Event()

    def loop():
        for i in range(10_000):
            if stop.is_set():
                return
            name = f"{topic}-loop-{i}"
            r = create(entry.bootstrap, [NewTopic(name, num_partitions=1, replication_factor=1)], timeout=8)
            results[name] = r[name]
            if r[name] is None and killed.is_set():
                successes_after_kill.set()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    wait_until(lambda: sum(e is None for e in list(results.values())) >= 3, timeout=30, what="3 topics created before the kill")
    victim.kill9()
    killed.set()
    try:
        new = wait_until(lambda: (c := metadata(survivors[0]).controller_id) in {s.node_id for s in survivors} and c,
                         timeout=30, what="a new controller among the survivors")
        assert all(metadata(s).controller_id == new for s in survivors)
        wait_until(successes_after_kill.is_set, timeout=60, what="a CreateTopics success after the kill")
    finally:
        stop.set()
        t.join(timeout=scaled(60))
    bad = {n: e for n, e in results.items() if e is not None and e.code() not in RETRIABLE_CREATE and not e.retriable()}
    assert not bad, f"non-retriable CreateTopics errors: {bad}"
    created = [n for n, e in results.items() if e is None]
    print(f"CreateTopics: {len(created)} created, errors: {[str(e) for e in results.values() if e]}")

    # The dead broker is fenced after broker.session.timeout.ms: gone from metadata.
    cluster.wait_brokers({s.node_id for s in survivors}, via=survivors, timeout=30)
    for s in survivors:
        topics = metadata(s).topics
        missing = [n for n in created if n not in topics]
        assert not missing, f"node {s.node_id} lacks created topics {missing}"
        # RF=1: the dead node's partitions are offline, the others keep their leader.
        assert {p: pm.leader for p, pm in topics[topic][1].items()} == \
            {p: (-1 if l == victim.node_id else l) for p, l in lead.items()}
    alive_parts = [p for p, l in lead.items() if l != victim.node_id]
    got = read_all(entry.bootstrap, topic, alive_parts)
    assert got == {k: v for k, v in acked.items() if k[0] in alive_parts}

    victim.restart()
    cluster.wait_brokers(ALL, timeout=60)
    wait_until(lambda: leaders(entry, topic) == lead, timeout=30, what="the restarted node to lead its partitions again")
    assert read_all(entry.bootstrap, topic, list(range(6))) == acked
    # Every partition, the restarted node's included, takes writes again (through that node).
    more = ck.produce(victim.bootstrap, topic, [{"partition": i % 6, "value": b"after"} for i in range(60)],
                      timeout=60, acks="all", **{"enable.idempotence": True})
    assert sorted(d.partition for d in more) == sorted(i % 6 for i in range(60))
    for s in cluster.nodes:
        missing = [n for n in created if n not in metadata(s).topics]
        assert not missing, f"node {s.node_id} lacks created topics {missing}"


# --------------------------------------------------------------------------
# 4. Rolling restart under a producer


def test_rolling_restart_under_a_producer_loses_no_acknowledged_record(cluster, topic):
    n1 = cluster.nodes[0]
    bootstrap = ",".join(n.bootstrap for n in cluster.nodes)
    assert create(n1.bootstrap, [NewTopic(topic, num_partitions=6, replication_factor=1)]) == {topic: None}
    wait_until(lambda: set(leaders(n1, topic).values()) == ALL, timeout=30, what="leaders on all 3 brokers")

    acked: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    failed: list[str] = []
    stop = threading.Event()

    def run():
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                      "linger.ms": 5, "message.timeout.ms": int(scaled(90) * 1000)})

        def cb(err, msg):
            if err is not None:
                failed.append(str(err))
            else:
                acked[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

        i = 0
        while not stop.is_set():
            try:
                p.produce(topic, key=f"k{i % 31}".encode(), value=f"v{i}".encode(), on_delivery=cb)
                i += 1
            except BufferError:
                pass
            p.poll(0.002)
        p.flush(scaled(90))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        for n in cluster.nodes:
            base = len(acked)
            wait_until(lambda b=base: len(acked) >= b + 200, timeout=60, what=f"200 more acks before stopping node {n.node_id}")
            assert n.stop() in (0, -15), f"node {n.node_id} exit status on SIGTERM"
            n.restart()
            cluster.wait_brokers(ALL, timeout=60)
            wait_until(lambda: set(leaders(n1, topic).values()) == ALL, timeout=30, what="every partition led again")
        base = len(acked)
        wait_until(lambda: len(acked) >= base + 200, timeout=60, what="acks after the last restart")
    finally:
        stop.set()
        t.join(timeout=scaled(120))
    assert not t.is_alive()
    print(f"acknowledged {len(acked)}, delivery failures {len(failed)}: {failed[:3]}")
    got = read_all(n1.bootstrap, topic, list(range(6)))
    lost = {k: v for k, v in acked.items() if got.get(k) != v}
    assert not lost, f"{len(lost)} acknowledged records not read back as acknowledged, e.g. {list(lost.items())[:5]}"


# --------------------------------------------------------------------------
# 5. Bad input


def run_node(node: Node, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(node.argv(), capture_output=True, text=True, timeout=scaled(timeout), stdin=subprocess.DEVNULL)


def lone_node(tmp_path, node_id: int, voters: str, cluster_id: str | None) -> Node:
    cp, qp = free_ports(2)
    return Node(tmp_path / f"lone{node_id}", node_id, cp, qp, cluster_id, voters, {})


def test_voters_without_this_node_exit_2(tmp_path):
    ports = free_ports(3)
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(ports))
    p = run_node(lone_node(tmp_path, 4, voters, new_cluster_id()))
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "the node id 4 must be included in the set of voters" in p.stderr, p.stderr[-2000:]


def test_duplicate_voter_ids_exit_2(tmp_path):
    a, b = free_ports(2)
    p = run_node(lone_node(tmp_path, 1, f"1@127.0.0.1:{a},1@127.0.0.1:{b}", new_cluster_id()))
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "duplicate voter id 1" in p.stderr, p.stderr[-2000:]


def test_multi_voter_node_needs_cluster_id_to_format(tmp_path):
    ports = free_ports(3)
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(ports))
    node = lone_node(tmp_path, 1, voters, None)
    node.controller_port = ports[0]
    p = run_node(node)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "cluster-id" in p.stderr, p.stderr[-2000:]


def test_node_with_another_cluster_id_is_refused(cluster, tmp_path, topic):
    n1 = cluster.nodes[0]
    cp, qp = free_ports(2)
    other_id = new_cluster_id()
    stranger = Node(tmp_path / "stranger", 4, cp, qp, other_id, cluster.voters + f",4@127.0.0.1:{qp}", {})
    cluster.nodes.append(stranger)  # stops with the cluster, stderr shown on failure
    try:
        stranger.start(timeout=10)
    except Exception:  # noqa: BLE001 - refusing to start at all is also a refusal
        pass

    def refused():
        # One line naming both ids: the quorum handshake's refusal (argv header lines name one).
        return [line for node in cluster.nodes if node.stderr_path.exists()
                for line in node.stderr_path.read_text(errors="replace").splitlines()
                if other_id in line and cluster.cluster_id in line]
    print(wait_until(refused, timeout=30, what="a log line naming both cluster ids (the handshake refusal)")[0])
    metas = cluster.wait_brokers(ALL, via=cluster.nodes[:3], timeout=30)
    assert all(4 not in m.brokers for m in metas.values())
    assert create(n1.bootstrap, [NewTopic(topic, num_partitions=3, replication_factor=1)]) == {topic: None}


def test_bad_replication_factors_and_assignments(cluster, topic):
    b = cluster.nodes[1].bootstrap
    r = create(b, [NewTopic(f"{topic}-rf4", num_partitions=1, replication_factor=4)])
    assert r[f"{topic}-rf4"] is not None and r[f"{topic}-rf4"].code() == KafkaError.INVALID_REPLICATION_FACTOR, r
    # RF=3 on 3 brokers is accepted (issue 12: replication), every broker a replica.
    r = create(b, [NewTopic(f"{topic}-rf3", num_partitions=1, replication_factor=3)])
    assert r == {f"{topic}-rf3": None}, r
    wait_until(lambda: sorted(metadata(cluster.nodes[0], [f"{topic}-rf3"]).topics[f"{topic}-rf3"][1][0].replicas)
               == [1, 2, 3], timeout=30, what="RF=3 topic with replicas 1, 2, 3")
    r = create(b, [NewTopic(f"{topic}-b9", num_partitions=1, replica_assignment=[[9]])])
    assert r[f"{topic}-b9"] is not None and r[f"{topic}-b9"].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, r
    for n in cluster.nodes:
        names = metadata(n).topics
        refused = [x for x in names if x.startswith(topic) and x != f"{topic}-rf3"]
        assert not refused, f"a refused topic exists on node {n.node_id}: {refused}"


# --------------------------------------------------------------------------
# 6. A minority cut off by the network cannot commit admin writes; the majority can


def test_minority_cannot_create_topics_majority_can(net, request, tmp_path, topic):  # noqa: F811
    hosts = [net.add_node(x) for x in ("a", "b", "c")]
    c = Cluster(tmp_path, addrs=[h.addr for h in hosts],
                wraps=[lambda argv, h=h: net.argv(h, argv) for h in hosts])
    request.node._strait_brokers = c.nodes
    try:
        c.start()
        n1, _, n3 = c.nodes
        net.cut(hosts[2], peers=[hosts[0], hosts[1]])  # node 3 loses the other voters; the host keeps it
        minority, majority = f"{topic}-minority", f"{topic}-majority"
        r = create(n3.bootstrap, [NewTopic(minority, num_partitions=1, replication_factor=1)], timeout=8)
        print(f"CreateTopics on the cut-off node: {r[minority]}")
        # The test host still reaches every node, and librdkafka sends CreateTopics to the
        # controller its metadata names: when that is a majority node the write is committed
        # there, legitimately. The invariant is that an acknowledged write is the majority's.
        acked_by_majority = r[minority] is None
        wait_until(lambda: create(n1.bootstrap, [NewTopic(majority, num_partitions=1, replication_factor=1)],
                                  timeout=8)[majority] is None,
                   timeout=60, what="CreateTopics on the majority side (after its election, if node 3 led)")
        # The other majority node applies the committed record asynchronously, as in Kafka;
        # the minority's topic, if it was committed at all, was committed before it.
        wait_until(lambda: all(majority in metadata(n).topics for n in c.nodes[:2]), timeout=30,
                   what="both majority nodes to list the majority's topic")
        for n in c.nodes[:2]:
            has = minority in metadata(n).topics
            assert has == acked_by_majority, (
                f"node {n.node_id}: topic present={has}, but CreateTopics answered {r[minority]}")
        assert all(majority in metadata(n).topics for n in c.nodes[:2])
        net.heal(hosts[2], peers=[hosts[0], hosts[1]])
        wait_until(lambda: majority in metadata(n3).topics, timeout=60, what="node 3 to learn the majority's topic")
        c.wait_brokers(ALL, timeout=60)
    finally:
        c.stop()


# --------------------------------------------------------------------------
# 7. Coordinators: one per cluster while group/transaction state is node-local


def test_one_group_split_over_two_nodes_shares_its_partitions(cluster, topic):
    """Two members of one group bootstrapped on different nodes are sent to the same
    coordinator, so they split the partitions instead of each owning all of them."""
    n1, n2, n3 = cluster.nodes
    assert create(n1.bootstrap, [NewTopic(topic, num_partitions=6, replication_factor=1)]) == {topic: None}
    wait_until(lambda: len(leaders(n1, topic)) == 6 and leaders(n1, topic), timeout=30, what="6 led partitions")
    from confluent_kafka import Consumer
    members = [Consumer({"bootstrap.servers": n.bootstrap, "group.id": f"{topic}-g",
                         "auto.offset.reset": "earliest"}) for n in (n2, n3)]
    try:
        for c in members:
            c.subscribe([topic])

        def split():
            for c in members:
                c.poll(0.2)
            owned = [{tp.partition for tp in c.assignment()} for c in members]
            return all(owned) and owned[0].isdisjoint(owned[1]) and owned[0] | owned[1] == set(range(6)) and owned
        owned = wait_until(split, timeout=60, what="the two members to split the 6 partitions")
        print("assignments", owned)
    finally:
        for c in members:
            c.close()


def test_transactions_are_refused_on_a_multi_node_cluster(cluster, topic):
    """The transaction coordinator is node-local, so a transactional producer is refused
    (INVALID_REQUEST) rather than committing on some partitions only; idempotence works."""
    n1 = cluster.nodes[0]
    assert create(n1.bootstrap, [NewTopic(topic, num_partitions=3, replication_factor=1)]) == {topic: None}
    p = Producer({"bootstrap.servers": n1.bootstrap, "transactional.id": f"{topic}-tx"})
    with pytest.raises(KafkaException) as e:
        p.init_transactions(scaled(20))
    print("init_transactions:", e.value.args[0])
    assert e.value.args[0].code() == KafkaError.INVALID_REQUEST or "INVALID_REQUEST" in str(e.value.args[0]), e.value.args[0]
