#!/usr/bin/env python3
"""Replication (RF > 1) on a 3-node Strait cluster, driven by librdkafka (confluent-kafka).

One invocation measures, side by side on the same machine:

  A. On one 3-node cluster with Strait's (= Kafka's) default timing:
     1. produce throughput: --records records of --size bytes as fast as the producer goes
        (linger 5 ms, batch.size 1 MiB, no compression, not idempotent so that acks=1 and
        acks=all run the same client), wall time from the first produce() to the end of
        flush(), MB/s and records/s, and the CPU seconds of all three brokers over it;
     2. ack latency at a fixed rate: --rate records/s for --seconds (linger 0), each send at
        its slot on a fixed clock (a slow broker cannot lower the offered rate);
        latency = delivery report time - slot; p50 / p99 / p99.9 / max;
     for three configurations, interleaved --repeat times (a fresh topic each time, deleted
     after): RF=1 acks=1, RF=3 acks=1, RF=3 acks=all with min.insync.replicas=2. The ratios
     to RF=1 are of the medians in this run.
  B. Leader kill -> first acknowledgement, once on cluster A (defaults) and once on a fresh
     cluster with --short-session-ms (broker.session.timeout.ms; broker.heartbeat.interval.ms
     --short-heartbeat-ms): an RF=3 one-partition topic (min.insync.replicas=2) whose
     preferred leader is a node that is not the active controller (--kill-controller: the
     controller), an idempotent acks=all producer at --kill-rate records/s; after
     --warmup-s the partition leader gets SIGKILL. Measured from the kill:
       - the first delivery report after the kill of a record the NEW leader appended
         (its batch carries a partition_leader_epoch above the old leader's, read back by a
         consumer), and the first delivery report of any kind (old leader's answers still in
         the socket buffer count there);
       - when a metadata poll (every 50 ms, a survivor's view) first shows a new leader;
       - when the active controller fenced the victim (and at what contact age) and elected
         a new leader, from its own log lines' UTC timestamps;
       - how many records were acknowledged before / after, and that every acknowledged
         record is in the log at its acknowledged offset, no sequence number twice, in order
         (the bench fails otherwise).
     The kill is reported next to broker.session.timeout.ms: the controller does not fence the
     dead leader (and elect another one from the ISR) before its last contact with the
     leader's node is that old, checked every broker.heartbeat.interval.ms.
Diagnostics: --producer-set KEY=VALUE (leader-kill producer, e.g. debug=metadata,topic,eos),
--broker-set KEY=VALUE (both clusters), --skip-a, --short-only, --json-out FILE.

Every broker listens on free loopback ports with a fresh temp dir; every wait has a deadline;
every process is stopped on exit (common.py). The load average is logged next to every line.

Usage (from the repository root; see benches/README.md, "Replication"):
  CARGO_TARGET_DIR=/work/target-h5 cargo build --release -p strait-broker --bin strait
  STRAIT_BIN_DIR=/work/target-h5/release protocol-tests/.venv/bin/python benches/e2e/replication.py
Smoke (~1 min): --records 20000 --seconds 3 --repeat 1 --short-only
"""

import argparse
import base64
import calendar
import json
import os
import re
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (cpu_seconds, free_port, loadavg, spawn, strait_bin, temp_dir,  # noqa: E402
                    wait_port, wait_until)

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*m")
DEFAULT_SESSION_MS = 9000     # broker.session.timeout.ms default (Kafka's and Strait's)
DEFAULT_HEARTBEAT_MS = 2000   # broker.heartbeat.interval.ms default


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True)


def pct(sorted_ms: list, p: float) -> float:
    if not sorted_ms:
        return float("nan")
    i = min(len(sorted_ms) - 1, int(round(p / 100 * (len(sorted_ms) - 1))))
    return sorted_ms[i]


def new_cluster_id() -> str:
    """Kafka's form (22 url-safe base64 characters), never starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        if not cid.startswith("-"):
            return cid


# --------------------------------------------------------------------------
# A 3-node cluster of combined nodes


class Node:
    def __init__(self, node_id: int, workdir: str, client_port: int, ctrl_port: int):
        self.node_id = node_id
        self.client_port = client_port
        self.ctrl_port = ctrl_port
        self.data = os.path.join(workdir, f"node{node_id}-data")
        self.log_path = os.path.join(workdir, f"node{node_id}.log")
        self.proc = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """Three combined nodes (broker + controller, all voters) on 127.0.0.1."""

    def __init__(self, name: str, overrides: dict, base: str = None):
        self.workdir = temp_dir(f"bench-repl-{name}-", base)
        self.cluster_id = new_cluster_id()
        # Bind all six ports at once so that none repeats (free_port() closes before returning).
        ports = set()
        while len(ports) < 6:
            ports.add(free_port())
        ports = sorted(ports)
        self.nodes = [Node(i + 1, self.workdir, ports[i], ports[3 + i]) for i in range(3)]
        self.voters = ",".join(f"{n.node_id}@127.0.0.1:{n.ctrl_port}" for n in self.nodes)
        self.overrides = dict(overrides)

    def argv(self, n: Node) -> list:
        props = {
            "node.id": str(n.node_id),
            "process.roles": "broker,controller",
            "listeners": f"PLAINTEXT://127.0.0.1:{n.client_port},CONTROLLER://127.0.0.1:{n.ctrl_port}",
            "controller.listener.names": "CONTROLLER",
            "controller.quorum.voters": self.voters,
            "log.dirs": n.data,
            **self.overrides,
        }
        argv = [strait_bin(), f"--cluster-id={self.cluster_id}"]
        for k, v in props.items():
            argv += ["--override", f"{k}={v}"]
        return argv

    def start(self) -> "Cluster":
        # All at once: a node may accept clients only once a quorum majority is up.
        for n in self.nodes:
            n.proc = spawn(self.argv(n), n.log_path)
        for n in self.nodes:
            wait_port(n.client_port, 60, n.proc)
        admin = self.admin()
        wait_until(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 60, "3 registered brokers")
        return self

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def admin(self, nodes: list = None) -> AdminClient:
        bs = ",".join(n.bootstrap for n in (nodes or self.nodes))
        return AdminClient({"bootstrap.servers": bs})

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    def broker_cpu(self) -> float:
        return sum(cpu_seconds(n.proc.pid) for n in self.nodes if n.alive)

    def controller_id(self) -> int:
        return self.admin([n for n in self.nodes if n.alive]).list_topics(timeout=5).controller_id


def create_topic(cluster: Cluster, topic: str, partitions: int, rf: int, config: dict = None,
                 assignment: list = None) -> None:
    """Creates the topic and waits until every partition has a leader and a full ISR."""
    admin = cluster.admin()
    if assignment is not None:
        nt = NewTopic(topic, num_partitions=len(assignment), replication_factor=-1, replica_assignment=assignment,
                      config=config or {})
    else:
        nt = NewTopic(topic, num_partitions=partitions, replication_factor=rf, config=config or {})
    for f in admin.create_topics([nt]).values():
        f.result(30)

    def ready():
        md = admin.list_topics(topic, timeout=5).topics.get(topic)
        if md is None or md.error is not None or len(md.partitions) != partitions:
            return None
        ok = all(p.leader >= 0 and len(p.isrs) == rf and p.error is None for p in md.partitions.values())
        return md if ok else None

    wait_until(ready, 60, f"{topic}: a leader and a full ISR of {rf} for every partition", 0.1)


def delete_topic(cluster: Cluster, topic: str) -> None:
    """Best effort: keeps the disk from filling over repeats. A refusal is logged, not fatal."""
    admin = cluster.admin()  # kept alive until the future resolves
    try:
        for f in admin.delete_topics([topic]).values():
            f.result(30)
    except Exception as e:  # noqa: BLE001 - logged; the data stays in the temp dir
        log(f"delete {topic}: {e}")


def warm(cluster: Cluster, topic: str, partitions: int) -> None:
    """Connections, metadata and every partition's leader path ready before a clock starts."""
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(partitions * 10):
        p.produce(topic, b"warm", partition=i % partitions)
    if p.flush(30) != 0:
        raise RuntimeError(f"{topic}: warm-up records not delivered")


# --------------------------------------------------------------------------
# A. Throughput and fixed-rate latency


CONFIGS = [  # label, replication factor, acks
    ("RF=1 acks=1", 1, "1"),
    ("RF=3 acks=1", 3, "1"),
    ("RF=3 acks=all", 3, "all"),
]


def run_throughput(cluster: Cluster, topic: str, acks: str, args) -> dict:
    errors = [0]

    def report(err, _msg):
        if err is not None:
            errors[0] += 1

    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": acks, "linger.ms": 5,
                  "batch.size": 1 << 20, "enable.idempotence": False,
                  "queue.buffering.max.messages": 1_000_000, "queue.buffering.max.kbytes": 1 << 20})
    wait_until(lambda: p.list_topics(topic, timeout=5).topics.get(topic), 30, "topic metadata")
    payload = os.urandom(args.size)
    cpu0 = cluster.broker_cpu()
    load0 = loadavg()
    t0 = time.perf_counter()
    for i in range(args.records):
        while True:
            try:
                p.produce(topic, payload, partition=i % args.partitions, on_delivery=report)
                break
            except BufferError:
                p.poll(0.005)
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(120)
    wall = time.perf_counter() - t0
    cpu = cluster.broker_cpu() - cpu0
    mb = args.records * args.size / 1e6
    return {"wall_s": round(wall, 3), "mb_s": round(mb / wall, 1), "records_s": round(args.records / wall),
            "errors": errors[0], "unflushed": left, "brokers_cpu_s": round(cpu, 2),
            "load_before": load0, "load_after": loadavg()}


def run_latency(cluster: Cluster, topic: str, acks: str, args) -> dict:
    lat, errors = [], [0]
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": acks, "linger.ms": 0,
                  "enable.idempotence": False, "queue.buffering.max.messages": 1_000_000})
    wait_until(lambda: p.list_topics(topic, timeout=5).topics.get(topic), 30, "topic metadata")
    payload = os.urandom(args.size)

    def report(err, _msg, slot):
        if err is not None:
            errors[0] += 1
        else:
            lat.append((time.perf_counter() - slot) * 1000)

    total = int(args.rate * args.seconds)
    load0 = loadavg()
    start = time.perf_counter() + 0.2
    for i in range(total):
        slot = start + i / args.rate
        while True:
            now = time.perf_counter()
            if now >= slot:
                break
            p.poll(min(slot - now, 0.001))
        p.produce(topic, payload, partition=i % args.partitions, on_delivery=lambda e, m, s=slot: report(e, m, s))
        p.poll(0)
    left = p.flush(60)
    lat.sort()
    return {"sent": total, "acked": len(lat), "errors": errors[0], "unflushed": left,
            "p50_ms": round(pct(lat, 50), 3), "p99_ms": round(pct(lat, 99), 3),
            "p999_ms": round(pct(lat, 99.9), 3), "max_ms": round(lat[-1], 3) if lat else None,
            "load_before": load0, "load_after": loadavg()}


def phase_a(cluster: Cluster, args) -> list:
    rows = []
    for rep in range(args.repeat):
        for label, rf, acks in CONFIGS:
            cfg = {"min.insync.replicas": "2"} if rf == 3 else {}
            for kind, fn in (("throughput", run_throughput), ("latency", run_latency)):
                topic = f"bench-{kind}-rf{rf}-acks{acks}-{rep}"
                create_topic(cluster, topic, args.partitions, rf, cfg)
                warm(cluster, topic, args.partitions)
                r = {"kind": kind, "config": label, "rep": rep, **fn(cluster, topic, acks, args)}
                log(json.dumps(r))
                if r["errors"] or r["unflushed"]:
                    log(f"WARNING {label} {kind}: {r['errors']} delivery errors, {r['unflushed']} not delivered")
                rows.append(r)
                delete_topic(cluster, topic)
    return rows


def summarize_a(rows: list) -> list:
    out = []
    base = {}
    for label, _, _ in CONFIGS:
        t = [r for r in rows if r["config"] == label and r["kind"] == "throughput"]
        lt = [r for r in rows if r["config"] == label and r["kind"] == "latency"]
        s = {"config": label,
             "mb_s": statistics.median(r["mb_s"] for r in t),
             "mb_s_trials": [r["mb_s"] for r in t],
             "records_s": statistics.median(r["records_s"] for r in t),
             "brokers_cpu_s": statistics.median(r["brokers_cpu_s"] for r in t),
             "p50_ms": statistics.median(r["p50_ms"] for r in lt),
             "p50_trials": [r["p50_ms"] for r in lt],
             "p99_ms": statistics.median(r["p99_ms"] for r in lt),
             "p99_trials": [r["p99_ms"] for r in lt],
             "loads": sorted({r["load_before"] for r in t + lt})}
        base = base or s
        s["mb_s_ratio"] = round(s["mb_s"] / base["mb_s"], 3)
        s["p50_ratio"] = round(s["p50_ms"] / base["p50_ms"], 2)
        s["p99_ratio"] = round(s["p99_ms"] / base["p99_ms"], 2)
        out.append(s)
    return out


# --------------------------------------------------------------------------
# B. Leader kill -> first acknowledgement


class LeaderWatch:
    """Polls the survivors' metadata every 50 ms; remembers when a leader other than the victim
    first appears and when the victim first leaves the ISR."""

    def __init__(self, cluster: Cluster, topic: str, victim: int):
        self.admin = cluster.admin([n for n in cluster.nodes if n.node_id != victim])
        self.topic, self.victim = topic, victim
        self.new_leader_at = None
        self.new_leader = None
        self.isr_shrunk_at = None
        self.errors = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name="leader-watch")
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                md = self.admin.list_topics(self.topic, timeout=1).topics[self.topic].partitions[0]
                now = time.perf_counter()
                if self.new_leader_at is None and md.leader not in (-1, self.victim):
                    self.new_leader_at, self.new_leader = now, md.leader
                if self.isr_shrunk_at is None and self.victim not in md.isrs:
                    self.isr_shrunk_at = now
            except (KafkaException, KeyError):
                self.errors += 1
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._t.join(10)


def read_partition(bootstrap: str, topic: str) -> dict:
    """offset -> (value, leader_epoch) of partition 0, from offset 0 to the high watermark."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-verify-{uuid.uuid4()}",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        tp = TopicPartition(topic, 0, 0)
        _, hw = c.get_watermark_offsets(tp, timeout=10)
        c.assign([tp])
        got = {}
        end = time.monotonic() + 60
        while len(got) < hw:
            if time.monotonic() > end:
                raise TimeoutError(f"read {len(got)} of {hw} records of {topic}[0] in 60 s")
            for m in c.consume(10000, 1.0):
                if m.error() is None:
                    got[m.offset()] = (m.value(), m.leader_epoch())
        return got
    finally:
        c.close()


def leader_kill(cluster: Cluster, session_ms: int, heartbeat_ms: int, args) -> dict:
    topic = f"bench-failover-{session_ms}"
    controller = cluster.controller_id()
    if args.kill_controller:
        victim = controller
    else:
        victim = next(n.node_id for n in cluster.nodes if n.node_id != controller)
    others = [n.node_id for n in cluster.nodes if n.node_id != victim]
    create_topic(cluster, topic, 1, 3, {"min.insync.replicas": "2"}, assignment=[[victim] + others])
    md = cluster.admin().list_topics(topic, timeout=5).topics[topic].partitions[0]
    if md.leader != victim:
        raise RuntimeError(f"{topic}[0] is led by {md.leader}, not the preferred replica {victim}")

    acks = {}      # seq -> (offset, ack time)
    failed = []
    fatal = []
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 0, "message.timeout.ms": 300_000, "queue.buffering.max.messages": 1_000_000,
                  "error_cb": lambda e: fatal.append(str(e)) if e.fatal() else None,
                  **dict(kv.split("=", 1) for kv in args.producer_set)})
    wait_until(lambda: p.list_topics(topic, timeout=5).topics.get(topic), 30, "topic metadata")
    pad = b"x" * max(0, args.size - 12)

    t_kill = None
    n_after = [0]  # acknowledgements after the kill, counted as they arrive

    def report(err, msg):
        seq = int(msg.value()[:12])
        if err is not None:
            failed.append((seq, str(err)))
        else:
            now = time.perf_counter()
            acks[seq] = (msg.offset(), now)
            if t_kill is not None and now > t_kill:
                n_after[0] += 1

    watch = None
    load_at_kill = None
    seq = 0
    start = time.perf_counter() + 0.2
    kill_at = start + args.warmup_s
    deadline = kill_at + 3 * session_ms / 1000 + 60
    after_target = int(args.kill_rate * args.after_s)
    while True:
        slot = start + seq / args.kill_rate
        now = time.perf_counter()
        if t_kill is None and now >= kill_at:
            watch = LeaderWatch(cluster, topic, victim)
            load_at_kill = loadavg()
            t_kill = time.perf_counter()
            kill_wall = time.time()  # to place the brokers' log timestamps (UTC) on this clock
            cluster.node(victim).proc.kill()  # SIGKILL
            log(f"kill -9 node {victim} (controller {controller}) with {len(acks)} acknowledged")
        if t_kill is not None and (n_after[0] >= after_target or now > deadline):
            break
        if now < slot:
            p.poll(min(slot - now, 0.001))
            continue
        p.produce(topic, b"%012d" % seq + pad, partition=0, on_delivery=report)
        seq += 1
        p.poll(0)
    left = p.flush(120)
    watch.stop()
    sent = seq

    # Verify: every acknowledged record at its acknowledged offset, each seq once, in order.
    survivor = cluster.node(others[0])
    got = read_partition(survivor.bootstrap, topic)
    lost = [s for s, (off, _) in acks.items() if got.get(off, (b"",))[0][:12] != b"%012d" % s]
    seqs = [int(v[:12]) for off, (v, _) in sorted(got.items()) if v != b"warm"]
    dupes = len(seqs) - len(set(seqs))
    disorder = sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
    epochs_before = {got[off][1] for s, (off, t) in acks.items() if t <= t_kill and off in got}
    old_epoch = max(epochs_before) if epochs_before else -1
    after = sorted((t, s) for s, (off, t) in acks.items() if t > t_kill)
    by_new = [(t, s) for t, s in after if off_epoch(got, acks[s][0]) > old_epoch]
    first_any = after[0][0] - t_kill if after else None
    first_new = by_new[0][0] - t_kill if by_new else None
    r = {
        "session_timeout_ms": session_ms, "producer_set": args.producer_set, "heartbeat_interval_ms": heartbeat_ms,
        "victim": victim, "controller": controller, "kill_rate": args.kill_rate,
        "sent": sent, "acked": len(acks), "acked_before_kill": len(acks) - len(after),
        "acked_after_kill": len(after), "acked_after_kill_by_old_leader": len(after) - len(by_new),
        "failed": len(failed), "failed_examples": failed[:3], "fatal": fatal, "unflushed": left,
        "first_ack_after_kill_s": round(first_any, 3) if first_any is not None else None,
        "first_new_leader_ack_s": round(first_new, 3) if first_new is not None else None,
        "first_new_leader_ack_over_session": round(first_new * 1000 / session_ms, 2) if first_new else None,
        "metadata_new_leader_s": round(watch.new_leader_at - t_kill, 3) if watch.new_leader_at else None,
        "new_leader": watch.new_leader,
        "metadata_isr_without_victim_s": round(watch.isr_shrunk_at - t_kill, 3) if watch.isr_shrunk_at else None,
        "old_leader_epoch": old_epoch, "new_leader_epoch": off_epoch(got, acks[by_new[0][1]][0]) if by_new else None,
        "records_in_log": len(seqs), "lost_acknowledged": len(lost), "duplicates": dupes, "out_of_order": disorder,
        "load_at_kill": load_at_kill, "load_after": loadavg(),
    }
    r["controller_log"] = controller_lines(cluster, victim)
    r.update(controller_times(r["controller_log"], victim, kill_wall))
    r["verified"] = (not lost and not dupes and not disorder and not fatal and left == 0 and first_new is not None)
    log(json.dumps(r))
    return r


def controller_lines(cluster: Cluster, victim: int) -> list:
    """The controllers' own account of the failover: their log lines fencing the victim
    (with the contact age `since` they fenced at) and electing a new leader."""
    out = []
    for n in cluster.nodes:
        if n.node_id == victim:
            continue
        with open(n.log_path, errors="replace") as f:
            for line in f:
                line = ANSI.sub("", line.strip())
                if ("broker registration changed" in line and f"broker_id={victim} " in line) or \
                        "partition leader elected" in line:
                    out.append(f"node{n.node_id}: {line[:300]}")
    return out


def controller_times(lines: list, victim: int, kill_wall: float) -> dict:
    """From the controller's log: seconds from the kill to the fencing of the victim and to the
    election, and the contact age it fenced at (so `since - fenced_after_kill` is how long
    before the kill the controller last heard from the victim)."""
    out = {"fenced_after_kill_s": None, "fenced_at_contact_age_s": None, "elected_after_kill_s": None}

    def at(line: str) -> float:
        stamp = line.split(": ", 1)[1].split()[0]  # 2026-12-02T02:18:25.788190Z
        whole, frac = stamp.rstrip("Z").split(".")
        return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)

    for line in lines:
        if "fenced=true" in line and out["fenced_after_kill_s"] is None:
            out["fenced_after_kill_s"] = round(at(line) - kill_wall, 3)
            m = re.search(r"since=([0-9.]+)(ms|s)", line)
            if m:
                out["fenced_at_contact_age_s"] = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        if "partition leader elected" in line and f"old_leader={victim} " in line and out["elected_after_kill_s"] is None:
            out["elected_after_kill_s"] = round(at(line) - kill_wall, 3)
    return out


def off_epoch(got: dict, off: int) -> int:
    return got[off][1] if off in got else -1


# --------------------------------------------------------------------------


def print_tables(out: dict) -> None:
    """The README's tables (markdown) on stderr."""
    w = sys.stderr.write
    if out.get("a_summary"):
        w("\n| config | MB/s (trials) | records/s | brokers CPU s | p50 ms (trials) | p99 ms (trials) "
          "| MB/s / RF=1 | p50 / RF=1 | p99 / RF=1 | load (1 min) at trial starts |\n|---|---|---|---|---|---|---|---|---|---|\n")
        for s in out["a_summary"]:
            one_min = [float(x.split()[0]) for x in s["loads"]]
            w(f"| {s['config']} | {s['mb_s']} ({', '.join(map(str, s['mb_s_trials']))}) | {s['records_s']:,} "
              f"| {s['brokers_cpu_s']} | {s['p50_ms']} ({', '.join(map(str, s['p50_trials']))}) "
              f"| {s['p99_ms']} ({', '.join(map(str, s['p99_trials']))}) | {s['mb_s_ratio']} | {s['p50_ratio']} "
              f"| {s['p99_ratio']} | {min(one_min)}-{max(one_min)} |\n")
    w("\n| broker.session.timeout.ms / heartbeat | kill -> fenced (contact age) s | kill -> elected s "
      "| kill -> metadata shows new leader s | kill -> first ack by new leader s | / session timeout | acked before / after kill (old leader after) | lost / dup / out of order "
      "| verified | load at kill |\n|---|---|---|---|---|---|---|---|---|---|\n")
    for k in out["kills"]:
        w(f"| {k['session_timeout_ms']} / {k['heartbeat_interval_ms']} | {k['fenced_after_kill_s']} "
          f"({k['fenced_at_contact_age_s']}) | {k['elected_after_kill_s']} | {k['metadata_new_leader_s']} "
          f"| {k['first_new_leader_ack_s']} | {k['first_new_leader_ack_over_session']} "
          f"| {k['acked_before_kill']:,} / {k['acked_after_kill']:,} ({k['acked_after_kill_by_old_leader']}) "
          f"| {k['lost_acknowledged']} / {k['duplicates']} / {k['out_of_order']} | {k['verified']} | {k['load_at_kill']} |\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=500_000, help="records per throughput trial")
    ap.add_argument("--size", type=int, default=1024, help="value bytes")
    ap.add_argument("--partitions", type=int, default=3, help="partitions of the throughput/latency topics")
    ap.add_argument("--rate", type=float, default=2000, help="records/s of the latency trials")
    ap.add_argument("--seconds", type=float, default=10, help="length of a latency trial")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats of part A")
    ap.add_argument("--kill-rate", type=float, default=1000, help="records/s of the leader-kill producer")
    ap.add_argument("--warmup-s", type=float, default=3, help="acks=all stream before the kill")
    ap.add_argument("--after-s", type=float, default=3,
                    help="stop once this many seconds' worth of records are acknowledged after the kill")
    ap.add_argument("--short-session-ms", type=int, default=2000)
    ap.add_argument("--short-heartbeat-ms", type=int, default=500)
    ap.add_argument("--kill-controller", action="store_true", help="kill the active controller (also the leader)")
    ap.add_argument("--producer-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a librdkafka setting for the leader-kill producer (repeatable), e.g. retry.backoff.max.ms=100")
    ap.add_argument("--broker-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a broker config override for both clusters (repeatable), e.g. replica.fetch.backoff.ms=100")
    ap.add_argument("--skip-a", action="store_true", help="leader kill only")
    ap.add_argument("--short-only", action="store_true", help="part B with the short session timeout only")
    ap.add_argument("--data-dir", default=None, help="where the data dirs go (default: $TMPDIR)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()

    out = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "binary": strait_bin(),
           "args": vars(args), "load_start": loadavg()}
    log(f"binary {strait_bin()}")
    extra = dict(kv.split("=", 1) for kv in args.broker_set)
    a = Cluster("defaults", extra, args.data_dir).start()
    log(f"cluster A (default timing) up, controller {a.controller_id()}")
    if not args.skip_a:
        out["a_rows"] = phase_a(a, args)
        out["a_summary"] = summarize_a(out["a_rows"])
        for s in out["a_summary"]:
            log(json.dumps(s))
    out["kills"] = []
    if not args.short_only:
        out["kills"].append(leader_kill(a, DEFAULT_SESSION_MS, DEFAULT_HEARTBEAT_MS, args))
    short = {**extra, "broker.session.timeout.ms": str(args.short_session_ms),
             "broker.heartbeat.interval.ms": str(args.short_heartbeat_ms)}
    b = Cluster("short-session", short, args.data_dir).start()
    log(f"cluster B ({short}) up, controller {b.controller_id()}")
    out["kills"].append(leader_kill(b, args.short_session_ms, args.short_heartbeat_ms, args))
    out["load_end"] = loadavg()
    print_tables(out)
    print(json.dumps(out, indent=1))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=1)
    bad = [k for k in out["kills"] if not k["verified"]]
    bad_a = [r for r in out.get("a_rows", []) if r["errors"] or r["unflushed"]]
    if bad or bad_a:
        log(f"FAILED: {len(bad)} leader-kill runs not verified, {len(bad_a)} part-A trials with errors")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
