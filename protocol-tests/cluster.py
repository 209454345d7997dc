"""A multi-node Strait cluster for the end-to-end tests (test_cluster.py, test_replication.py).

What it owns: N combined nodes (`process.roles=broker,controller`, every node a voter) on
127.0.0.1, each with a client port and a CONTROLLER (quorum) port picked free before the
first start and kept across restarts, its own data dir under the test's tmp dir, and the
shared `--cluster-id`. Nodes are `conftest.Broker`s, so the conftest failure hook prints
every node's stderr tail when a test fails (the fixture puts them on the test item).

Also here: a Metadata v1 request sent to exactly one node (librdkafka-based clients answer
metadata from whichever broker they happen to be connected to, so "node 3 lists 3 brokers"
needs a raw request), and wait helpers built on conftest.wait_until (deadlines, no sleeps).

For replication (RF > 1, test_replication.py): REPLICATION_TIMING (Kafka's ISR and replica
fetcher keys, small), per-partition views of one node's Metadata (`partitions`, `wait_isr`),
and the on-disk view of a replica's log (`log_batches`: the record batches in
`<log.dirs>/<topic>-<partition>/*.log`, whole batches only, in offset order), which is how
the tests check that followers hold byte-for-byte the leader's batches: only a leader
answers ListOffsets and Fetch from clients, so the files are the one view of a follower.

Invariants: node ids are 1..N in order; `voters` names every node's CONTROLLER port; a node's
ports never change, so a restarted node rejoins under the address its peers know.
"""

from __future__ import annotations

import base64
import itertools
import socket
import struct
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import kafka_wire as kw
from conftest import Broker, strait_bin, wait_until

# Kafka's keys, small so that elections and fencing happen within test deadlines.
FAST_TIMING = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "300",
    "controller.quorum.election.timeout.ms": "1000",
    "controller.quorum.fetch.timeout.ms": "2000",
}

# FAST_TIMING plus Kafka's replication keys, small so that an ISR shrinks (a follower that
# has not caught up for replica.lag.time.max.ms) and a follower retries a failed fetch
# within test deadlines.
REPLICATION_TIMING = {
    **FAST_TIMING,
    "replica.lag.time.max.ms": "3000",
    "replica.fetch.wait.max.ms": "200",
    "replica.fetch.backoff.ms": "200",
    "replica.socket.timeout.ms": "3000",
}

_corr = itertools.count(1000)


def new_cluster_id() -> str:
    """Kafka's cluster id form: a random UUID as 22 characters of url-safe base64. Like
    Kafka's Uuid.randomUuid, never one starting with '-', which a command line would take
    for an option."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        if not cid.startswith("-"):
            return cid


def free_ports(n: int) -> list[int]:
    """n distinct ports that were free a moment ago (all bound at once, so no repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Node(Broker):
    """One combined node. `argv()` is also what the bad-input tests run by hand."""

    def __init__(self, workdir: Path, node_id: int, client_port: int, controller_port: int,
                 cluster_id: str | None, voters: str, overrides: dict[str, str],
                 addr: str = "127.0.0.1", wrap: Callable[[list[str]], list[str]] | None = None):
        super().__init__(workdir, overrides, name=f"node{node_id}")
        self.node_id = node_id
        self.addr = addr
        self.wrap = wrap
        self.client_port = client_port
        self.controller_port = controller_port
        self.cluster_id = cluster_id
        self.voters = voters

    def argv(self) -> list[str]:
        argv = [str(strait_bin())]
        if self.cluster_id is not None:
            argv += ["--cluster-id", self.cluster_id]
        props = {
            "node.id": str(self.node_id),
            "process.roles": "broker,controller",
            "listeners": f"PLAINTEXT://{self.addr}:{self.client_port},CONTROLLER://{self.addr}:{self.controller_port}",
            "controller.listener.names": "CONTROLLER",
            "controller.quorum.voters": self.voters,
            "log.dirs": str(self.data_dir),
            **self.overrides,
        }
        for k, v in props.items():
            argv += ["--override", f"{k}={v}"]
        return argv

    def _argv(self, port: int) -> list[str]:  # conftest.Broker's hook; the port is fixed here
        return self.wrap(self.argv()) if self.wrap else self.argv()

    def start(self, port: int = 0, timeout: float = 30.0) -> "Node":
        return super().start(self.client_port, timeout)


@dataclass
class Cluster:
    tmp: Path
    size: int = 3
    overrides: dict[str, str] = field(default_factory=dict)
    cluster_id: str = field(default_factory=new_cluster_id)
    # Per node: the address it binds and advertises, and a wrapper for its argv (netns.py's
    # `ip netns exec`); default 127.0.0.1, run directly.
    addrs: list[str] | None = None
    wraps: list[Callable[[list[str]], list[str]]] | None = None
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self):
        ports = free_ports(2 * self.size)
        self.client_ports = ports[: self.size]
        self.controller_ports = ports[self.size:]
        addrs = self.addrs or ["127.0.0.1"] * self.size
        self.voters = ",".join(f"{i + 1}@{addrs[i]}:{p}" for i, p in enumerate(self.controller_ports))
        ov = {**FAST_TIMING, **self.overrides}
        for i in range(self.size):
            self.nodes.append(Node(self.tmp / f"node{i + 1}", i + 1, self.client_ports[i],
                                   self.controller_ports[i], self.cluster_id, self.voters, ov,
                                   addrs[i], self.wraps[i] if self.wraps else None))

    # -- lifecycle ---------------------------------------------------------

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    def start(self, timeout: float = 60.0) -> "Cluster":
        """Start every node, then wait until each lists all N brokers. The nodes start in
        parallel, since a node may print its ready line only once a quorum majority is up.
        Each start runs in a thread that then lives as long as that process: the harness's
        PR_SET_PDEATHSIG is tied to the thread that spawned the child, not to pytest."""
        errors: list[BaseException] = []
        started = [threading.Event() for _ in self.nodes]

        def own(n: Node, done: threading.Event) -> None:
            try:
                n.start()
                proc = n.proc
            except BaseException as e:  # noqa: BLE001 - re-raised below
                errors.append(e)
                return
            finally:
                done.set()
            proc.wait()

        for n, done in zip(self.nodes, started):
            threading.Thread(target=own, args=(n, done), daemon=True, name=f"{n.name}-owner").start()
        for done in started:
            done.wait()
        if errors:
            raise errors[0]
        self.wait_brokers(set(range(1, self.size + 1)), timeout=timeout)
        return self

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    def alive(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    # -- observation -------------------------------------------------------

    def wait_brokers(self, ids: set[int], via: list[Node] | None = None, timeout: float = 60.0) -> dict[int, "Meta"]:
        """Until every node in `via` (default: the live ones) lists exactly `ids` as brokers
        and all agree on one controller among them; returns each node's Metadata."""
        via = via or self.alive()

        def agreed():
            metas = {n.node_id: metadata(n) for n in via}
            if all(set(m.brokers) == ids for m in metas.values()) and \
                    len({m.controller_id for m in metas.values()}) == 1 and \
                    next(iter(metas.values())).controller_id in ids:
                return metas
            # "Not yet": wait_until reports the last one, i.e. what each node said.
            raise AssertionError(f"node -> (brokers, controller): "
                                 f"{ {i: (sorted(m.brokers), m.controller_id) for i, m in metas.items()} }")

        return wait_until(agreed, timeout=timeout, interval=0.2,
                          what=f"nodes {[n.node_id for n in via]} to list brokers {sorted(ids)} with one controller")

    def controller_id(self, via: Node | None = None) -> int:
        return metadata(via or self.alive()[0]).controller_id


# --------------------------------------------------------------------------
# Metadata v1 to exactly one node


@dataclass
class PartitionMeta:
    error: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass
class Meta:
    brokers: dict[int, tuple[str, int]]
    controller_id: int
    topics: dict[str, tuple[int, dict[int, PartitionMeta]]]  # name -> (error, partitions)


def metadata(node: Node, topics: list[str] | None = None, timeout: float = 5.0) -> Meta:
    """Metadata v1 (all topics unless named) answered by `node` itself."""
    corr = next(_corr)
    with kw.Conn(node.addr, node.client_port, timeout=timeout) as c:
        body = c.roundtrip(kw.metadata_request_v1(topics, corr), corr)
    r = kw.Reader(body)
    brokers = {}
    for _ in range(r.i32()):
        bid, host, port = r.i32(), r.string(), r.i32()
        r.string()  # rack
        brokers[bid] = (host, port)
    controller = r.i32()
    out = {}
    for _ in range(r.i32()):
        err, name = r.i16(), r.string()
        r.i8()  # is_internal
        parts = {}
        for _ in range(r.i32()):
            perr, pid, leader = r.i16(), r.i32(), r.i32()
            replicas = [r.i32() for _ in range(r.i32())]
            isr = [r.i32() for _ in range(r.i32())]
            parts[pid] = PartitionMeta(perr, leader, replicas, isr)
        out[name] = (err, parts)
    return Meta(brokers, controller, out)


def partitions(node: Node, topic: str) -> dict[int, PartitionMeta]:
    """`topic`'s partitions as `node` reports them; raises while the topic errors there."""
    err, parts = metadata(node, [topic]).topics[topic]
    if err != 0:
        raise AssertionError(f"node {node.node_id}: {topic} error {err}")
    return parts


def wait_isr(cluster: Cluster, topic: str, isr: set[int] | None = None, count: int | None = None,
             via: list[Node] | None = None, timeout: float = 60.0) -> dict[int, PartitionMeta]:
    """Until every node in `via` (default: the live ones) reports, for each of `count`
    partitions (default: whatever it lists), a live leader and the ISR `isr` (default: all
    replicas), and they agree; returns that view. The leader must be in the ISR (Kafka
    elects only from it unless unclean election is on)."""
    via = via or cluster.alive()
    live = {n.node_id for n in cluster.alive()}

    def agreed():
        views = {n.node_id: partitions(n, topic) for n in via}
        first = next(iter(views.values()))
        for nid, parts in views.items():
            if count is not None and sorted(parts) != list(range(count)):
                raise AssertionError(f"node {nid} lists partitions {sorted(parts)}")
            for p, pm in parts.items():
                want = isr if isr is not None else set(pm.replicas)
                if pm.error != 0 or pm.leader not in live or set(pm.isr) != want or pm.leader not in pm.isr:
                    raise AssertionError(f"node {nid} [{p}]: {pm}; want isr {sorted(want)}, live {sorted(live)}")
            if {p: (pm.leader, sorted(pm.isr)) for p, pm in parts.items()} != \
                    {p: (pm.leader, sorted(pm.isr)) for p, pm in first.items()}:
                raise AssertionError(f"nodes disagree: { {i: v for i, v in views.items()} }")
        return first

    return wait_until(agreed, timeout=timeout, interval=0.2,
                      what=f"{topic}: a live leader and ISR {sorted(isr) if isr else 'all replicas'} on nodes "
                           f"{[n.node_id for n in via]}")


@dataclass(frozen=True)
class Batch:
    base_offset: int
    last_offset: int
    partition_leader_epoch: int
    data: bytes  # the whole batch, as on disk (and on the wire)


def log_batches(node: Node, topic: str, partition: int) -> list[Batch]:
    """The complete record batches in `node`'s segment files of topic-partition, in offset
    order. A batch still being written at the tail (short read) is left out, so this can be
    called while the node runs."""
    pdir = node.data_dir / f"{topic}-{partition}"
    out: list[Batch] = []
    for seg in sorted(pdir.glob("*.log")):  # 20-digit base offsets: name order is offset order
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):  # 61: a record batch v2 header
            base, length = struct.unpack_from(">qi", data, pos)
            end = pos + 12 + length
            if length <= 0 or end > len(data):
                break
            epoch, = struct.unpack_from(">i", data, pos + 12)
            last_delta, = struct.unpack_from(">i", data, pos + 23)
            out.append(Batch(base, base + last_delta, epoch, data[pos:end]))
            pos = end
    return out
