"""Data replication (issue 12, RF > 1) on a 3-node Strait cluster, against real clients:
kcat, confluent-kafka (librdkafka 2.16) and the Apache Kafka Java client.

What Kafka promises and these tests check, each on its own 3-node cluster (cluster.py,
REPLICATION_TIMING: 3 s session and replica lag timeouts, so failover takes seconds):
1. an RF=3 topic lists 3 replicas and an ISR of 3 for every partition, leaders spread over
   the brokers, the same through kcat, confluent-kafka and Admin.describeTopics;
2. 5,000 keyed records (acks=all, idempotent, min.insync.replicas=2) read back exactly, in
   order, from a consumer bootstrapped on another node; every replica's segment files hold
   the same batches, byte for byte, up to the high watermark;
3. kill -9 of a partition leader under an acks=all idempotent stream: the producer carries
   on with a new leader from the ISR, every acknowledged record is there exactly once and in
   order; the killed node catches up and rejoins the ISR;
4. acks=all below min.insync.replicas: NOT_ENOUGH_REPLICAS once the ISR has shrunk, no
   acknowledgement at all with two of three nodes down, while acks=1 still succeeds on the
   live leader; acks=all works again once they are back;
5. a follower killed and restarted catches up and rejoins the ISR, and when the leader then
   dies it is elected (Kafka's clean election: the first live ISR member in assignment order)
   and serves every acknowledged record;
6. a rolling restart (SIGTERM, one node at a time, each caught up and back in the ISR in
   between) under an acks=all producer loses nothing acknowledged; kill -9 of all three
   nodes at once loses nothing acknowledged either;
7. a leader cut off from the other two by the network (netns.py) cannot acknowledge an
   acks=all write, the majority elects a new leader that takes writes, and after the heal
   the old leader drops its unreplicated tail and holds the majority's log.

Records of the streaming tests carry their sequence number (value `v<seq>`, partition
`seq % partitions`), so "exactly once and in order" is a check on each partition's values.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import NewTopic

import ck
import kafka_wire as kw
from cluster import REPLICATION_TIMING, Cluster, Node, log_batches, partitions, wait_isr
from conftest import scaled, wait_until
from test_cluster import create, produce_keyed, read_all
from test_cluster_apis import Admin, admin_classes  # noqa: F401 - admin_classes is a fixture
from test_netns_partition import net, netns_capable  # noqa: F401 - fixtures

KCAT = shutil.which("kcat")
ALL = {1, 2, 3}

# Kafka error codes a leader answers an acks=all Produce with when it cannot replicate it.
REQUEST_TIMED_OUT = 7
NOT_LEADER_OR_FOLLOWER = 6
NOT_ENOUGH_REPLICAS = 19
NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20


@pytest.fixture
def cluster(request, tmp_path):
    c = Cluster(tmp_path, overrides=REPLICATION_TIMING)
    request.node._strait_brokers = c.nodes  # conftest prints each node's stderr tail on failure
    try:
        c.start()
        yield c
    finally:
        c.stop()


def bootstrap_all(cluster: Cluster) -> str:
    return ",".join(n.bootstrap for n in cluster.nodes)


def create_rf3(cluster: Cluster, via: Node, topic: str, count: int, min_isr: int = 2) -> dict:
    """An RF=3 topic with min.insync.replicas, created through `via`; waits until every node
    lists a leader and the full ISR for each partition, and returns that view."""
    r = create(via.bootstrap, [NewTopic(topic, num_partitions=count, replication_factor=3,
                                        config={"min.insync.replicas": str(min_isr)})])
    assert r == {topic: None}, r
    return wait_isr(cluster, topic, ALL, count=count, timeout=30)


def send_one(bootstrap: str, topic: str, value: bytes, acks: str, timeout: float = 20.0, partition: int = 0,
             **conf) -> tuple[KafkaError | None, int]:
    """One record through a fresh confluent-kafka producer (no retries: the first answer is
    the outcome); (delivery error or None, offset)."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "retries": 0,
                  "message.timeout.ms": int(scaled(timeout) * 1000), **conf})
    out: list = []
    p.produce(topic, value=value, partition=partition, on_delivery=lambda err, msg: out.append((err, msg.offset())))
    left = p.flush(scaled(timeout) + 10)
    assert left == 0 and len(out) == 1, f"no delivery report within {scaled(timeout) + 10:.0f}s"
    return out[0]


def raw_produce(node: Node, topic: str, partition: int, value: bytes, acks: int, timeout_ms: int) -> tuple[int, int]:
    """Produce v3 sent to exactly this node (no client routing or retries): (error, base offset)."""
    corr = int(time.monotonic_ns() % 2**31)
    batch = kw.record_batch([kw.Record(value=value)])
    body = (kw.string(None) + kw.i16(acks) + kw.i32(timeout_ms)
            + kw.array([kw.string(topic) + kw.array([kw.i32(partition) + kw.kbytes(batch)])]))
    req = kw.frame(kw.request_header_v1(kw.API_PRODUCE, 3, corr) + body)
    with kw.Conn(node.addr, node.client_port, timeout=timeout_ms / 1000 + scaled(10)) as c:
        res = kw.parse_produce_v3(c.roundtrip(req, corr))[(topic, partition)]
    return res.error_code, res.base_offset


def wait_replicas_identical(cluster: Cluster, topic: str, count: int, timeout: float = 60.0) -> dict[int, int]:
    """Until, for every partition, the leader's high watermark equals its log end (everything
    replicated) and the three nodes' segment files hold the same batches, byte for byte, up
    to it. Returns partition -> high watermark. Every node must be running."""
    bootstrap = bootstrap_all(cluster)

    def same():
        parts = partitions(cluster.nodes[0], topic)
        hws = {}
        for p in range(count):
            hw = ck.watermarks(bootstrap, topic, p)[1]
            views = {n.node_id: log_batches(n, topic, p) for n in cluster.nodes}
            leader_end = views[parts[p].leader][-1].last_offset + 1 if views[parts[p].leader] else 0
            if leader_end != hw:
                raise AssertionError(f"[{p}] leader {parts[p].leader}: log end {leader_end}, high watermark {hw}")
            upto = {nid: [b for b in bs if b.base_offset < hw] for nid, bs in views.items()}
            for nid, bs in upto.items():
                end = bs[-1].last_offset + 1 if bs else 0
                if end != hw or (bs and bs[0].base_offset != 0):
                    raise AssertionError(f"[{p}] node {nid} holds offsets "
                                         f"{bs[0].base_offset if bs else None}..{end} of 0..{hw}")
            first = upto[parts[p].leader]
            for nid, bs in upto.items():
                if bs != first:
                    diff = next((i for i, (a, b) in enumerate(zip(bs, first)) if a != b), min(len(bs), len(first)))
                    raise AssertionError(f"[{p}] node {nid} differs from the leader at batch {diff}: "
                                         f"{bs[diff:diff + 1]} vs {first[diff:diff + 1]}")
            hws[p] = hw
        return hws

    return wait_until(same, timeout=timeout, interval=0.3,
                      what=f"{topic}: every replica's log identical to the leader's up to its high watermark")


def read_acked(bootstrap: str, topic: str, count: int, acked) -> dict[tuple[int, int], tuple[bytes, bytes]]:
    """read_all once every partition's high watermark covers the acknowledged (partition,
    offset)s: a newly elected or restarted leader may start from a lower high watermark (its
    follower view or checkpoint) and raises it once its ISR has fetched, as in Kafka."""
    want = {p: 0 for p in range(count)}
    for p, o in acked:
        want[p] = max(want[p], o + 1)

    def covered():
        hws = {p: ck.watermarks(bootstrap, topic, p)[1] for p in range(count)}
        if any(hws[p] < want[p] for p in range(count)):
            raise AssertionError(f"high watermarks {hws}, acknowledged up to {want}")
        return True

    wait_until(covered, timeout=30, interval=0.2, what=f"{topic}: high watermarks covering every acknowledged record")
    return read_all(bootstrap, topic, list(range(count)))


def log_end(node: Node, topic: str, partition: int) -> int:
    """The log end offset of `node`'s own replica, from its segment files."""
    bs = log_batches(node, topic, partition)
    return bs[-1].last_offset + 1 if bs else 0


def wait_caught_up(cluster: Cluster, node: Node, topic: str, count: int, timeout: float = 60.0) -> None:
    """Until `node`'s own log of each partition reaches the high watermark its leader reports
    now: proof that a (re)started follower fetched, which the ISR in metadata alone is not
    (a broker is still listed there until the ISR shrink is committed)."""
    bootstrap = bootstrap_all(cluster)
    hws = {p: ck.watermarks(bootstrap, topic, p)[1] for p in range(count)}

    def reached():
        ends = {p: log_end(node, topic, p) for p in range(count)}
        if any(ends[p] < hws[p] for p in range(count)):
            raise AssertionError(f"node {node.node_id} log ends {ends}, leaders' high watermarks {hws}")
        return True

    wait_until(reached, timeout=timeout, interval=0.2, what=f"node {node.node_id} to catch up on {topic}")


class SeqProducer:
    """An idempotent acks=all confluent-kafka producer in a thread: sends seq 0, 1, 2, ...
    (key k<seq % 13>, value v<seq>, partition seq % partitions) until stop(), keeping every
    acknowledgement (seq -> (partition, offset)), every delivery failure and fatal error."""

    def __init__(self, bootstrap: str, topic: str, count: int, in_flight: int = 2000):
        self.bootstrap, self.topic, self.count, self.in_flight = bootstrap, topic, count, in_flight
        self.acked: dict[int, tuple[int, int]] = {}
        self.failed: list[tuple[int, str]] = []
        self.fatal: list[str] = []
        self.sent = 0
        self.left: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="seq-producer")
        self._thread.start()

    def _run(self) -> None:
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                      "linger.ms": 5, "message.timeout.ms": int(scaled(90) * 1000),
                      "error_cb": lambda e: self.fatal.append(str(e)) if e.fatal() else None})

        def report(err, msg):
            seq = int(msg.value()[1:])
            if err is not None:
                self.failed.append((seq, str(err)))
            else:
                self.acked[seq] = (msg.partition(), msg.offset())

        while not self._stop.is_set():
            # Bounded backlog: while a partition has no leader the queue must not grow
            # without limit, or the final flush would take longer than the test.
            if self.sent - len(self.acked) - len(self.failed) < self.in_flight:
                for _ in range(10):
                    seq = self.sent
                    try:
                        p.produce(self.topic, key=f"k{seq % 13}".encode(), value=f"v{seq}".encode(),
                                  partition=seq % self.count, on_delivery=report)
                    except BufferError:
                        break
                    self.sent += 1
            p.poll(0.01)
        self.left = p.flush(scaled(90))

    def acked_in(self, partition: int) -> int:
        return sum(1 for p, _ in list(self.acked.values()) if p == partition)

    def wait_acks(self, more: int, partition: int | None = None, timeout: float = 60.0) -> None:
        base = len(self.acked) if partition is None else self.acked_in(partition)
        where = "" if partition is None else f" on partition {partition}"
        wait_until(lambda: (len(self.acked) if partition is None else self.acked_in(partition)) >= base + more,
                   timeout=timeout, interval=0.1,
                   what=f"{more} more acknowledgements{where} (failures so far {self.failed[:3]}, fatal {self.fatal})")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=scaled(120))
        assert not self._thread.is_alive(), "producer thread did not finish its flush"
        print(f"sent {self.sent}, acknowledged {len(self.acked)}, failed {len(self.failed)} {self.failed[:3]}, "
              f"fatal {self.fatal}, left {self.left}")
        assert not self.fatal, f"fatal producer errors: {self.fatal}"
        assert not self.failed, f"{len(self.failed)} delivery failures, e.g. {self.failed[:5]}"
        assert self.left == 0, f"{self.left} records never delivered"


def check_stream(got: dict[tuple[int, int], tuple[bytes, bytes]], prod: SeqProducer) -> None:
    """Every acknowledged record at its acknowledged offset; nothing in any partition twice,
    nothing out of order (an idempotent producer's per-partition order is send order)."""
    for p in range(prod.count):
        seqs = [int(v[1:]) for (pp, _), (_, v) in sorted(got.items()) if pp == p]
        assert all(s % prod.count == p for s in seqs), f"[{p}] holds records of other partitions"
        dupes = len(seqs) - len(set(seqs))
        assert dupes == 0, f"[{p}] {dupes} records are in the log more than once"
        bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b < a]
        assert not bad, f"[{p}] out of order: {bad[:5]}"
    lost = {s: po for s, po in prod.acked.items() if got.get(po, (None, None))[1] != f"v{s}".encode()}
    assert not lost, (f"{len(lost)} of {len(prod.acked)} acknowledged records not at their offsets, "
                      f"e.g. {sorted(lost.items())[:5]}")


def replica_ids(x: list) -> list[int]:
    return [r["id"] if isinstance(r, dict) else r for r in x]


# --------------------------------------------------------------------------
# 1. An RF=3 topic as every client sees it


def test_rf3_topic_lists_three_replicas_and_full_isr_in_every_client(cluster, topic, admin_classes):  # noqa: F811
    view = create_rf3(cluster, cluster.nodes[1], topic, 6)
    for p, pm in view.items():
        assert sorted(pm.replicas) == [1, 2, 3] and set(pm.isr) == ALL, (p, pm)
        assert pm.leader == pm.replicas[0], f"[{p}] leader {pm.leader} is not the preferred replica: {pm}"
    assert {pm.leader for pm in view.values()} == ALL, f"leaders not spread over the brokers: {view}"
    expect = {p: (pm.leader, pm.replicas, set(pm.isr)) for p, pm in view.items()}

    assert KCAT is not None, "kcat not installed (run-all.sh installs it)"
    for n in cluster.nodes:
        out = subprocess.run([KCAT, "-b", n.bootstrap, "-L", "-J", "-t", topic, "-m", "10"],
                             capture_output=True, text=True, timeout=scaled(60))
        assert out.returncode == 0, out.stderr
        (t,) = json.loads(out.stdout)["topics"]
        got = {x["partition"]: (x["leader"], replica_ids(x["replicas"]), set(replica_ids(x["isrs"])))
               for x in t["partitions"]}
        assert got == expect, f"kcat via node {n.node_id}: {got} != {expect}"

        a = ck.admin(n.bootstrap)
        md = a.list_topics(topic, timeout=scaled(10)).topics[topic]
        got = {p: (pm.leader, list(pm.replicas), set(pm.isrs)) for p, pm in md.partitions.items()}
        assert got == expect, f"confluent-kafka via node {n.node_id}: {got} != {expect}"

        (d,) = Admin(admin_classes, n.bootstrap)("describe-topics", 2000, topic)
        got = {x["p"]: (x["leader"], x["replicas"], set(x["isr"])) for x in d["partitions"]}
        assert got == expect, f"Admin.describeTopics via node {n.node_id}: {got} != {expect}"


# --------------------------------------------------------------------------
# 2. acks=all stream, read back through another node, replica logs identical


def test_acks_all_records_read_back_and_every_replica_log_is_identical(cluster, topic):
    n1, _, n3 = cluster.nodes
    create_rf3(cluster, n1, topic, 3)
    acked = produce_keyed(n1.bootstrap, topic, 5000)
    assert len(acked) == 5000
    for p in range(3):
        offs = sorted(o for (pp, o) in acked if pp == p)
        assert offs == list(range(len(offs))), f"[{p}] offsets not dense from 0"
    keys = {}
    for (p, _), (k, _) in acked.items():
        assert keys.setdefault(k, p) == p, f"key {k} in partitions {keys[k]} and {p}"
    assert read_all(n3.bootstrap, topic, [0, 1, 2]) == acked
    hws = wait_replicas_identical(cluster, topic, 3)
    assert sum(hws.values()) == 5000, hws


# --------------------------------------------------------------------------
# 3. kill -9 of the leader under an acks=all stream (the headline)


def test_leader_kill_during_acks_all_stream_loses_no_acknowledged_record(cluster, topic):
    view = create_rf3(cluster, cluster.nodes[0], topic, 3)
    victim = cluster.node(view[0].leader)
    survivors = [n for n in cluster.nodes if n is not victim]
    prod = SeqProducer(bootstrap_all(cluster), topic, 3)
    try:
        prod.wait_acks(600)
        victim.kill9()
        # A new leader from the ISR, and the dead broker out of every ISR (fenced after
        # broker.session.timeout.ms), as the survivors report it.
        after = wait_isr(cluster, topic, {s.node_id for s in survivors}, via=survivors, timeout=30)
        assert after[0].leader != victim.node_id
        print(f"partition 0: leader {view[0].leader} -> {after[0].leader}")
        prod.wait_acks(300, partition=0)  # the producer carries on with the new leader
    finally:
        prod.stop()
    got = read_acked(survivors[0].bootstrap, topic, 3, prod.acked.values())
    check_stream(got, prod)

    victim.restart()
    cluster.wait_brokers(ALL, timeout=60)
    wait_caught_up(cluster, victim, topic, 3)
    wait_isr(cluster, topic, ALL, count=3, timeout=60)  # and back in every ISR
    wait_replicas_identical(cluster, topic, 3)
    assert read_acked(victim.bootstrap, topic, 3, got) == got


# --------------------------------------------------------------------------
# 4. min.insync.replicas


def test_acks_all_needs_min_insync_replicas_and_acks_1_does_not(cluster, topic):
    """min2 (min.insync.replicas=2) and min3 (=3), one partition each, RF=3."""
    min2, min3 = f"{topic}-min2", f"{topic}-min3"
    leader2 = create_rf3(cluster, cluster.nodes[0], min2, 1, min_isr=2)[0].leader
    leader3 = create_rf3(cluster, cluster.nodes[0], min3, 1, min_isr=3)[0].leader
    # The first node to go leads neither partition; the second is min2's last follower.
    first = next(n for n in cluster.nodes if n.node_id not in (leader2, leader3))
    second = next(n for n in cluster.nodes if n.node_id not in (leader2, first.node_id))
    live = cluster.node(leader2)
    assert send_one(live.bootstrap, min3, b"all-in", "all") == (None, 0)

    # One follower down (the quorum keeps a majority): both ISRs shrink to 2.
    first.kill9()
    rest = {n.node_id for n in cluster.alive()}
    wait_isr(cluster, min2, rest, timeout=30)
    wait_isr(cluster, min3, rest, timeout=30)
    err, _ = send_one(bootstrap_all(cluster), min3, b"below-min", "all")
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    assert raw_produce(cluster.node(leader3), min3, 0, b"below-min-raw", -1, 3000)[0] == NOT_ENOUGH_REPLICAS
    err, off = send_one(bootstrap_all(cluster), min3, b"acks-1", "1")
    assert err is None and off == 1, (err, off)  # the refused acks=all records were never appended
    assert send_one(bootstrap_all(cluster), min2, b"isr-2", "all")[0] is None

    # Two of three down: nothing can join the leader's writes, so acks=all is never
    # acknowledged (NOT_ENOUGH_REPLICAS once the ISR shrank, else the request times out:
    # without a quorum the shrink cannot even be committed); acks=1 is, by the leader.
    second.kill9()
    code, _ = raw_produce(live, min2, 0, b"alone-raw", -1, 3000)
    assert code in (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND), code
    err, _ = send_one(live.bootstrap, min2, b"alone", "all", timeout=6, **{"request.timeout.ms": 3000})
    assert err is not None, "an acks=all record was acknowledged with one live replica of min.insync.replicas=2"
    assert raw_produce(live, min2, 0, b"alone-acks-1", 1, 3000)[0] == 0
    err, _ = send_one(live.bootstrap, min2, b"alone-acks-1-ck", "1")
    assert err is None, err

    first.restart()
    second.restart()
    cluster.wait_brokers(ALL, timeout=60)
    wait_isr(cluster, min2, ALL, timeout=60)
    wait_isr(cluster, min3, ALL, timeout=60)
    for t in (min2, min3):
        err, _ = send_one(bootstrap_all(cluster), t, b"back", "all", **{"enable.idempotence": True, "retries": 5})
        assert err is None, (t, err)
    got = [v for (_, _), (_, v) in sorted(read_all(bootstrap_all(cluster), min3, [0]).items())]
    assert got == [b"all-in", b"acks-1", b"back"], got
    assert b"isr-2" in [v for _, v in read_all(bootstrap_all(cluster), min2, [0]).values()]


# --------------------------------------------------------------------------
# 5. A restarted follower catches up, and can then lead


def test_restarted_follower_catches_up_rejoins_isr_and_is_elected(cluster, topic):
    view = create_rf3(cluster, cluster.nodes[0], topic, 1)
    lead = cluster.node(view[0].leader)
    # Kafka's clean election picks the first live ISR member in assignment order.
    follower = cluster.node(next(r for r in view[0].replicas if r != lead.node_id))
    other = next(n for n in cluster.nodes if n not in (lead, follower))
    b = bootstrap_all(cluster)

    acked = produce_keyed(b, topic, 1000, prefix="a")
    follower.kill9()
    acked |= produce_keyed(b, topic, 1000, prefix="b")  # waits out the ISR shrink
    wait_isr(cluster, topic, {lead.node_id, other.node_id}, timeout=30)
    follower.restart()
    wait_caught_up(cluster, follower, topic, 1)
    cluster.wait_brokers(ALL, timeout=60)
    wait_isr(cluster, topic, ALL, timeout=60)
    wait_replicas_identical(cluster, topic, 1)

    lead.kill9()
    after = wait_isr(cluster, topic, {follower.node_id, other.node_id}, via=[follower, other], timeout=30)
    assert after[0].leader == follower.node_id, f"expected node {follower.node_id} (assignment order {view[0].replicas})"
    assert read_acked(follower.bootstrap, topic, 1, acked) == acked
    more = produce_keyed(follower.bootstrap, topic, 200, prefix="c")
    assert min(o for _, o in more) == 2000, sorted(more)[:3]
    lead.restart()
    cluster.wait_brokers(ALL, timeout=60)
    wait_caught_up(cluster, lead, topic, 1)
    wait_isr(cluster, topic, ALL, timeout=60)
    wait_replicas_identical(cluster, topic, 1)
    assert read_acked(lead.bootstrap, topic, 1, acked | more) == acked | more


# --------------------------------------------------------------------------
# 6. Rolling restart under an acks=all producer


def test_rolling_restart_with_rf3_loses_no_acknowledged_record(cluster, topic):
    create_rf3(cluster, cluster.nodes[0], topic, 3)
    prod = SeqProducer(bootstrap_all(cluster), topic, 3)
    try:
        for n in cluster.nodes:
            prod.wait_acks(300)
            assert n.stop() in (0, -15), f"node {n.node_id} exit status on SIGTERM"
            n.restart()
            cluster.wait_brokers(ALL, timeout=60)
            wait_caught_up(cluster, n, topic, 3)
            wait_isr(cluster, topic, ALL, count=3, timeout=60)
        prod.wait_acks(300)
    finally:
        prod.stop()
    check_stream(read_acked(bootstrap_all(cluster), topic, 3, prod.acked.values()), prod)
    wait_replicas_identical(cluster, topic, 3)


# --------------------------------------------------------------------------
# 6b. Every node killed at once


def test_whole_cluster_kill9_and_restart_keeps_every_acknowledged_record(cluster, topic):
    """kill -9 loses no page cache, so an acknowledged record survives on every ISR member;
    after the restart each partition gets a leader whose high watermark covers it (a high
    watermark checkpoint is only a lower bound), and acks=all works again."""
    create_rf3(cluster, cluster.nodes[0], topic, 3)
    acked = produce_keyed(bootstrap_all(cluster), topic, 1500)
    for n in cluster.nodes:
        n.kill9()
    cluster.start()
    wait_isr(cluster, topic, ALL, count=3, timeout=60)
    assert read_acked(bootstrap_all(cluster), topic, 3, acked) == acked
    more = produce_keyed(bootstrap_all(cluster), topic, 300, prefix="after")
    wait_replicas_identical(cluster, topic, 3)
    assert read_acked(bootstrap_all(cluster), topic, 3, acked | more) == acked | more


# --------------------------------------------------------------------------
# 7. A leader cut off by the network


def test_leader_cut_off_cannot_acknowledge_and_majority_takes_over(net, request, tmp_path, topic):  # noqa: F811
    hosts = [net.add_node(x) for x in ("a", "b", "c")]
    c = Cluster(tmp_path, overrides=REPLICATION_TIMING, addrs=[h.addr for h in hosts],
                wraps=[lambda argv, h=h: net.argv(h, argv) for h in hosts])
    request.node._strait_brokers = c.nodes
    try:
        c.start()
        view = create_rf3(c, c.nodes[0], topic, 1)
        acked = produce_keyed(bootstrap_all(c), topic, 300, prefix="before")
        lead = c.node(view[0].leader)
        majority = [n for n in c.nodes if n is not lead]
        net.cut(hosts[lead.node_id - 1], peers=[hosts[n.node_id - 1] for n in majority])  # the host keeps it

        # Written to the cut-off leader: its followers cannot fetch it, so no acks=all. The
        # client goes first, while the leader it learnt from the bootstrap node (the cut-off
        # one) is still the only leader: before the majority's election, which takes at least
        # broker.session.timeout.ms.
        err, _ = send_one(lead.bootstrap, topic, b"cut-off", "all", timeout=6, **{"request.timeout.ms": 3000})
        assert err is not None, "the cut-off leader acknowledged an acks=all write"
        code, _ = raw_produce(lead, topic, 0, b"cut-off-raw", -1, 3000)
        assert code in (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                        NOT_LEADER_OR_FOLLOWER), code
        if code in (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND):
            # Appended and never acknowledged: a tail beyond what the majority will have, which
            # the heal must truncate (checked at the end).
            assert log_end(lead, topic, 0) > 300, f"cut-off leader's log ends at {log_end(lead, topic, 0)}"

        after = wait_isr(c, topic, {n.node_id for n in majority}, via=majority, timeout=30)
        assert after[0].leader != lead.node_id
        acked |= produce_keyed(",".join(n.bootstrap for n in majority), topic, 300, prefix="after")

        net.heal(hosts[lead.node_id - 1])
        c.wait_brokers(ALL, timeout=60)
        wait_isr(c, topic, ALL, timeout=60)
        wait_replicas_identical(c, topic, 1)
        got = read_acked(lead.bootstrap, topic, 1, acked)
        # The old leader's unreplicated tail is truncated away; what was acknowledged stays.
        assert got == acked, (f"{len(got)} records, {len(acked)} acknowledged; "
                              f"extra {sorted(set(got.items()) - set(acked.items()))[:3]}")
    finally:
        c.stop()
