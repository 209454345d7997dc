#!/usr/bin/env python3
"""kill -9 soak for Strait (issue 11 item 8). Opt-in; not part of CI.

Scenario `broker`: one Strait broker, acks=all idempotent confluent-kafka producers
writing sequence-numbered records to a few partitions without pause. Every cycle kills
the broker with SIGKILL at a random moment (the delay comes from --seed), restarts it on
the same port and data dir, waits (with a deadline) until it serves and the producers are
acknowledged again, and goes on. Every --verify-every cycles and at the end, every
partition is read back from offset 0 (read_uncommitted) and checked: each acknowledged
record exactly once, at its acknowledged offset; offsets dense; high watermarks never
below an acknowledged offset after a restart.

Scenario `link`: the same producers write to a source broker that a destination broker
mirrors through a cluster link (`cluster-links create`, auto-created mirror topic). Every
cycle kills the destination. Periodically and at the end: the mirror's raw record batches
(Fetch v4, as stored) equal the source's byte for byte, and every acknowledged record is
in the mirror at its source offset.

    protocol-tests/.venv/bin/python tools/soak/soak.py --cycles 1000 --scenario both --seed 1

Prints one JSON summary line per scenario; exits 1 on any loss, duplicate, misplaced
record, gap or divergence (and 2 on a harness error such as a deadline passing).
See tools/soak/README.md.
"""

from __future__ import annotations

import argparse
import array
import hashlib
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "protocol-tests"))

import kafka_wire as kw  # noqa: E402  (raw ListOffsets / Fetch v4, no client library)
import logging  # noqa: E402

try:
    from confluent_kafka import KafkaError, Producer, TopicPartition  # noqa: E402
    from confluent_kafka import Consumer  # noqa: E402
    from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
except ImportError:  # pragma: no cover
    sys.exit("confluent-kafka is missing: run with protocol-tests/.venv/bin/python "
             "(STRAIT_INSTALL_ONLY=1 bash protocol-tests/run-all.sh creates it)")

READY_RE = re.compile(r"^strait: listening on PLAINTEXT://(?P<host>[^:\s]+):(?P<port>\d+)\s*$")
TOPIC = "soak"
LINK = "soak-link"
CODECS = ["none", "lz4", "zstd", "snappy", "gzip"]


def client_logger(path: Path) -> logging.Logger:
    """librdkafka's log lines (a disconnect per kill) go to a file in the work dir, not the terminal."""
    lg = logging.getLogger("librdkafka")
    if not lg.handlers:
        h = logging.FileHandler(path)
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        lg.addHandler(h)
        lg.setLevel(logging.DEBUG if os.environ.get("SOAK_RDKAFKA_DEBUG") else logging.INFO)
        lg.propagate = False
    return lg


CLIENT_LOG: logging.Logger | None = None


class HarnessError(RuntimeError):
    """The harness could not do its job (a deadline passed, a broker did not start)."""


def log(msg: str) -> None:
    sys.stderr.write(f"[soak {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def wait_until(cond, timeout: float, what: str, interval: float = 0.02):
    """Poll cond() until truthy (exceptions count as not yet); HarnessError at the deadline."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported at the deadline
            last = e
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}" + (f"; last error: {last!r}" if last else ""))
        time.sleep(interval)


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))  # nearest rank
    return round(s[k], 3)


def dist(xs: list[float]) -> dict:
    return {"p50": pct(xs, 50), "p99": pct(xs, 99), "max": round(max(xs), 3) if xs else None}


# --------------------------------------------------------------------------
# Processes


def _die_with_parent() -> None:
    # SIGKILL the broker if this script dies (PR_SET_PDEATHSIG). Brokers are only ever
    # spawned from the main thread, which lives as long as the script.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:  # noqa: BLE001
        pass


LIVE: list["Broker"] = []


class Broker:
    """One strait process, restartable on the same port and data dir."""

    def __init__(self, binary: Path, workdir: Path, name: str, overrides: dict[str, str] | None = None):
        self.binary = binary
        self.name = name
        self.workdir = workdir / name
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.workdir / "stderr.log"
        self.overrides = overrides or {}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0
        LIVE.append(self)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start (port 0 the first time, then the same port). Returns seconds to the ready line."""
        argv = [str(self.binary), "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--override", f"log.dirs={self.data_dir}"]
        for k, v in self.overrides.items():
            argv += ["--override", f"{k}={v}"]
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        while True:
            self.starts += 1
            with open(self.stderr_path, "ab") as err:
                err.write(f"\n===== start #{self.starts}: {' '.join(argv)}\n".encode())
                err.flush()
                self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                             cwd=self.workdir, preexec_fn=_die_with_parent,
                                             env={**os.environ, "RUST_BACKTRACE": "1"})
            port = self._await_ready(deadline)
            if port is not None:
                if self.port and port != self.port:
                    raise HarnessError(f"{self.name}: asked for port {self.port}, strait reports {port}")
                self.port = port
                return time.monotonic() - t0
            # Exited before the ready line (e.g. a bind race): retry until the deadline.
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name} did not start within {timeout:.0f}s (exit {self.proc.returncode})\n{self.stderr_tail()}")
            time.sleep(0.05)

    def _await_ready(self, deadline: float) -> int | None:
        assert self.proc and self.proc.stdout
        found: dict = {}
        ready = threading.Event()
        proc = self.proc

        def pump():
            for raw in proc.stdout:
                m = READY_RE.match(raw.decode(errors="replace").rstrip("\n"))
                if m and not ready.is_set():
                    found["port"] = int(m["port"])
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        while not ready.wait(0.01):
            if proc.poll() is not None:
                return None
            if time.monotonic() > deadline:
                self.kill9()
                raise HarnessError(f"{self.name} printed no ready line in time\n{self.stderr_tail()}")
        return found["port"]

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def stderr_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no stderr)"


def cleanup() -> None:
    for b in LIVE:
        try:
            b.kill9()
        except Exception:  # noqa: BLE001
            pass


# --------------------------------------------------------------------------
# Raw wire: watermarks and batches, no client library in the way


class Wire:
    def __init__(self, addr: str, timeout: float = 10.0):
        host, port = addr.rsplit(":", 1)
        self.conn = kw.Conn(host, int(port), timeout=timeout)
        self.corr = 0

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def list_offset(self, topic: str, partition: int, ts: int) -> int:
        self.corr += 1
        body = self.conn.roundtrip(kw.list_offsets_request_v1(topic, partition, ts, self.corr), self.corr)
        err, _ts, off = kw.parse_list_offsets_v1(body)[(topic, partition)]
        if err:
            raise RuntimeError(f"ListOffsets {topic}-{partition}: error {err}")
        return off

    def fetch(self, topic: str, partition: int, offset: int, max_bytes: int = 1 << 20) -> kw.FetchPartition:
        self.corr += 1
        req = kw.fetch_request_v4(topic, partition, offset, self.corr, max_bytes=max_bytes, partition_max_bytes=max_bytes)
        return kw.parse_fetch_v4(self.conn.roundtrip(req, self.corr))[(topic, partition)]


def watermarks(addr: str, topic: str, partitions: int) -> list[tuple[int, int]]:
    with Wire(addr, timeout=5) as w:
        return [(w.list_offset(topic, p, -2), w.list_offset(topic, p, -1)) for p in range(partitions)]


def high_watermarks(addr: str, topic: str, partitions: int) -> list[int]:
    with Wire(addr, timeout=5) as w:
        return [w.list_offset(topic, p, -1) for p in range(partitions)]


def raw_batches(w: Wire, topic: str, partition: int, start: int, end: int):
    """(base, last, bytes) of every complete batch from `start` up to offset `end` (exclusive)."""
    offset = start
    while offset < end:
        fp = w.fetch(topic, partition, offset)
        if fp.error_code:
            raise RuntimeError(f"fetch {topic}-{partition}@{offset}: error {fp.error_code}")
        recs = fp.records or b""
        pos, progressed = 0, False
        while pos + 12 <= len(recs):
            base, length = struct.unpack_from(">qi", recs, pos)
            stop = pos + 12 + length
            if stop > len(recs):
                break  # partial trailing batch
            (last_delta,) = struct.unpack_from(">i", recs, pos + 23)
            last = base + last_delta
            if last >= offset and base < end:
                yield base, last, recs[pos:stop]
                offset = last + 1
                progressed = True
            pos = stop
        if not progressed:
            raise RuntimeError(f"fetch {topic}-{partition}@{offset} made no progress (HWM {fp.high_watermark}, end {end})")


def compare_raw(src: str, dst: str, topic: str, partitions: int, ends: list[int]) -> dict:
    """Byte-compare the batches of both logs from 0 up to ends[p]. Stops at the first difference."""
    out = {"batches": 0, "bytes": 0, "divergence": None}
    with Wire(src) as a, Wire(dst) as b:
        for p in range(partitions):
            ga, gb = raw_batches(a, topic, p, 0, ends[p]), raw_batches(b, topic, p, 0, ends[p])
            while True:
                x, y = next(ga, None), next(gb, None)
                if x is None and y is None:
                    break
                if x is None or y is None or x[:2] != y[:2] or x[2] != y[2]:
                    out["divergence"] = {
                        "partition": p,
                        "source": None if x is None else [x[0], x[1], len(x[2]), hashlib.sha256(x[2]).hexdigest()[:16]],
                        "mirror": None if y is None else [y[0], y[1], len(y[2]), hashlib.sha256(y[2]).hexdigest()[:16]],
                    }
                    return out
                out["batches"] += 1
                out["bytes"] += len(x[2])
    return out


# --------------------------------------------------------------------------
# Producers


class Writer:
    """One idempotent acks=all producer (a thread) writing `<wid>:<seq>:<pad>` records,
    seq % partitions to each partition. acked[seq] = acknowledged offset, or -1."""

    def __init__(self, wid: int, bootstrap: str, partitions: int, rate: float, codec: str, pad: bytes):
        self.wid = wid
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.rate = rate
        self.codec = codec
        self.pad = pad
        self.acked = array.array("q")
        self.n_acked = 0
        self.n_failed = 0
        self.failures: dict[str, int] = {}
        self.fatal: list[str] = []
        self.errors: dict[str, int] = {}
        self.max_acked = [-1] * partitions  # highest acked offset per partition
        self.max_acked_seq = -1
        self.reacked = 0  # a delivery report for a seq that already had one (must never happen)
        self.burst = 0  # records to hand to the client at once, ignoring the rate (set by the main thread)
        self.burst_done = threading.Event()
        self.stop = threading.Event()
        self.generation = 0
        self.producer = self._new_producer()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"writer-{wid}")

    def _new_producer(self) -> Producer:
        self.generation += 1
        return Producer({
            "bootstrap.servers": self.bootstrap,
            "client.id": f"soak-w{self.wid}-g{self.generation}",
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": self.codec,
            "linger.ms": 5,
            "batch.num.messages": 500,
            "message.timeout.ms": 600000,
            "retry.backoff.ms": 20,
            "retry.backoff.max.ms": 200,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 200,
            "socket.timeout.ms": 10000,
            # librdkafka 2.16 re-bootstraps when every broker is down and then waits ~1 s for its
            # metadata timer; reconnecting to the known broker resumes as soon as it serves.
            "metadata.recovery.strategy": os.environ.get("SOAK_METADATA_RECOVERY", "none"),
            "error_cb": self._on_error,
            "logger": CLIENT_LOG,
            **({"debug": os.environ["SOAK_RDKAFKA_DEBUG"]} if os.environ.get("SOAK_RDKAFKA_DEBUG") else {}),
        })

    def _on_error(self, err: KafkaError) -> None:
        key = err.name()
        self.errors[key] = self.errors.get(key, 0) + 1
        if err.fatal():
            self.fatal.append(f"{err.name()}: {err.str()}")

    def _on_delivery(self, err, msg) -> None:
        seq = int(msg.value().split(b":", 2)[1])
        if err is not None:
            self.n_failed += 1
            self.failures[err.name()] = self.failures.get(err.name(), 0) + 1
            return
        if self.acked[seq] != -1:
            self.reacked += 1
        self.acked[seq] = msg.offset()
        if seq > self.max_acked_seq:
            self.max_acked_seq = seq
        self.n_acked += 1
        p = msg.partition()
        if msg.offset() > self.max_acked[p]:
            self.max_acked[p] = msg.offset()

    @property
    def produced(self) -> int:
        return len(self.acked)

    def in_flight(self) -> int:
        return self.produced - self.n_acked - self.n_failed

    def _produce_one(self, p: Producer) -> bool:
        seq = len(self.acked)
        self.acked.append(-1)  # before produce(): the record may be on the wire before produce() returns
        try:
            p.produce(TOPIC, value=b"%d:%d:%s" % (self.wid, seq, self.pad), key=b"w%d-k%d" % (self.wid, seq % 97),
                      partition=seq % self.partitions, headers=[("seq", str(seq).encode())],
                      on_delivery=self._on_delivery)
            return True
        except BufferError:
            self.acked.pop()
            return False

    def _run(self) -> None:
        t0, sent0 = time.monotonic(), 0
        p = self.producer
        fatal_seen = 0
        while not self.stop.is_set():
            if len(self.fatal) > fatal_seen:
                # A fatal idempotence error: the broker broke the producer's guarantees. It is
                # counted (and fails the run); carry on with a fresh producer so the soak goes on.
                fatal_seen = len(self.fatal)
                p.flush(30)
                p = self.producer = self._new_producer()
            if self.burst:
                # Hand a burst to the client right before a kill, so produce requests are on
                # the wire when the broker dies. Not counted against the rate.
                n, self.burst = self.burst, 0
                for _ in range(n):
                    if not self._produce_one(p):
                        break
                sent0 += n
                self.burst_done.set()
            now = time.monotonic()
            budget = int((now - t0) * self.rate) - (self.produced - sent0)
            if budget > self.rate:  # do not build up a burst bigger than 1 s of traffic
                t0, sent0 = now, self.produced
                budget = 0
            for _ in range(min(budget, 200)):
                if len(p) >= 50000 or not self._produce_one(p):
                    break
            p.poll(0.005)

    def finish(self, timeout: float) -> int:
        self.stop.set()
        self.thread.join(30)
        left = self.producer.flush(timeout)
        return left


# --------------------------------------------------------------------------
# Verification (read back through librdkafka, read_uncommitted)


def verify(addr: str, partitions: int, writers: list[Writer], final: bool) -> dict:
    """Read every partition from 0 to its current HWM and check every acknowledged record.

    Acks with an offset at or above the HWM snapshot are not judged (periodic checks run
    while producing). Acks that arrive while reading are judged only at the final check."""
    wms = watermarks(addr, TOPIC, partitions)
    his = [hi for _lo, hi in wms]
    # Taken after the HWM: every record below it was handed to produce() before this.
    acked_snapshot = [w.acked[: len(w.acked)] for w in writers]
    counts = [bytearray(len(a)) for a in acked_snapshot]  # occurrences per seq (saturating)
    stats = {"records": 0, "gaps": 0, "log_start_nonzero": sum(1 for lo, _ in wms if lo != 0),
             "misplaced": 0, "foreign": 0, "examples": []}
    pending = {p for p in range(partitions) if his[p] > 0}
    nxt = [0] * partitions
    c = Consumer({"bootstrap.servers": addr, "group.id": "soak-verify-unused", "enable.auto.commit": False,
                  "enable.auto.offset.store": False, "auto.offset.reset": "error", "enable.partition.eof": True,
                  "isolation.level": "read_uncommitted", "fetch.max.bytes": 52428800,
                  "max.partition.fetch.bytes": 8388608, "queued.max.messages.kbytes": 262144,
                  "logger": CLIENT_LOG})
    deadline = time.monotonic() + 120 + sum(his) / 20000
    try:
        c.assign([TopicPartition(TOPIC, p, 0) for p in pending])
        while pending:
            if time.monotonic() > deadline:
                raise HarnessError(f"verify {addr}: read stalled at {nxt} of {his}")
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise HarnessError(f"verify {addr}: consumer error {m.error()}")
                p, off = m.partition(), m.offset()
                if p not in pending or off >= his[p]:
                    if p in pending and nxt[p] >= his[p]:
                        pending.discard(p)
                    continue
                if off != nxt[p]:
                    stats["gaps"] += 1
                    if len(stats["examples"]) < 10:
                        stats["examples"].append(f"gap {p}: expected offset {nxt[p]}, got {off}")
                nxt[p] = off + 1
                stats["records"] += 1
                try:
                    wid_s, seq_s, _ = m.value().split(b":", 2)
                    wid, seq = int(wid_s), int(seq_s)
                    ack = acked_snapshot[wid][seq]
                except (ValueError, IndexError):
                    stats["foreign"] += 1
                    continue
                if counts[wid][seq] < 255:
                    counts[wid][seq] += 1
                if seq % partitions != p or (ack != -1 and ack != off):
                    stats["misplaced"] += 1
                    if len(stats["examples"]) < 10:
                        stats["examples"].append(f"w{wid} seq {seq} acked at {p}@{ack}, found at {p}@{off}")
                if nxt[p] >= his[p]:
                    pending.discard(p)
    finally:
        c.close()
    lost = dup = unacked_present = dup_unacked = 0
    for wid, (acks, cnt) in enumerate(zip(acked_snapshot, counts)):
        for seq, ack in enumerate(acks):
            n = cnt[seq]
            if ack == -1:
                if n:
                    unacked_present += 1
                    dup_unacked += n > 1
                continue
            if ack >= his[seq % partitions]:
                continue  # acked after the HWM snapshot: judged next time
            if n == 0:
                lost += 1
                if len(stats["examples"]) < 10:
                    stats["examples"].append(f"lost: w{wid} seq {seq} acked at {seq % partitions}@{ack}")
            elif n > 1:
                dup += 1
                if len(stats["examples"]) < 10:
                    stats["examples"].append(f"duplicated x{n}: w{wid} seq {seq} acked at {seq % partitions}@{ack}")
    stats.update(lost=lost, duplicated=dup, unacknowledged_present=unacked_present,
                 unacknowledged_duplicated=dup_unacked, high_watermarks=his)
    stats["ok"] = not (lost or dup or stats["misplaced"] or stats["gaps"] or stats["log_start_nonzero"] or stats["foreign"])
    return stats


# --------------------------------------------------------------------------
# Scenarios


def create_topic(addr: str, partitions: int) -> None:
    a = AdminClient({"bootstrap.servers": addr, "logger": CLIENT_LOG})
    fs = a.create_topics([NewTopic(TOPIC, num_partitions=partitions, replication_factor=1)], operation_timeout=15, request_timeout=20)
    fs[TOPIC].result(timeout=30)
    wait_until(lambda: watermarks(addr, TOPIC, partitions), 30, "the topic to serve")


def start_writers(args, addr: str, rng: random.Random) -> list[Writer]:
    ws = []
    for i in range(args.writers):
        pad = bytes(rng.randrange(97, 123) for _ in range(args.record_bytes))
        w = Writer(i, addr, args.partitions, args.rate / args.writers, CODECS[i % len(CODECS)], pad)
        ws.append(w)
    for w in ws:
        w.thread.start()
    return ws


def acked_total(ws: list[Writer]) -> int:
    return sum(w.n_acked for w in ws)


def run_scenario(kind: str, args, workdir: Path, bins: dict[str, Path]) -> dict:
    rng = random.Random(f"{args.seed}-{kind}")
    t_start = time.monotonic()
    P = args.partitions
    source = Broker(bins["strait"], workdir, f"{kind}-source")
    source.start()
    create_topic(source.bootstrap, P)
    victim = source
    dest = None
    if kind == "link":
        dest = Broker(bins["strait"], workdir, "link-dest")
        dest.start()
        filt = json.dumps({"topicFilters": [{"name": TOPIC, "patternType": "LITERAL", "filterType": "INCLUDE"}]})
        cli(bins["cluster-links"], "create", "--link", LINK, "--bootstrap-server", dest.bootstrap,
            "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500,replica.fetch.max.bytes={args.link_fetch_bytes}",
            "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", filt)
        wait_until(lambda: watermarks(dest.bootstrap, TOPIC, P), 60, "the mirror topic on the destination")
        victim = dest
    writers = start_writers(args, source.bootstrap, rng)
    wait_until(lambda: all(w.n_acked > 0 for w in writers), 60, "first acknowledgements")

    restart_s: list[float] = []  # SIGKILL -> ListOffsets answered on every partition
    ready_s: list[float] = []  # SIGKILL -> ready line
    resume_s: list[float] = []  # SIGKILL -> progress again (new acks / the mirror advances)
    in_flight_at_kill: list[int] = []  # records handed to the producers and not yet acknowledged
    lag_at_kill: list[int] = []  # link: source HWM - mirror HWM, summed over partitions, right before the kill
    hwm_regressions: list[str] = []
    mirror_hwm_regressions = 0
    checks: list[dict] = []
    failure = None
    cycles_log = open(workdir / f"{kind}-cycles.jsonl", "w")
    cycles_done = 0
    try:
        for cycle in range(1, args.cycles + 1):
            if args.max_wall_s and time.monotonic() - t_start > args.max_wall_s:
                log(f"{kind}: --max-wall-s {args.max_wall_s} reached after {cycles_done} cycles")
                break
            delay = rng.uniform(0, args.max_delay)
            burst = args.burst if rng.random() < 0.5 else 0
            time.sleep(delay)  # the only sleep: the random moment of the kill, drawn from the seed
            if burst:
                if kind == "link":
                    src_his_at_burst = high_watermarks(source.bootstrap, TOPIC, P)
                for w in writers:
                    w.burst_done.clear()
                    w.burst = burst
                for w in writers:
                    if not w.burst_done.wait(30):
                        raise HarnessError(f"cycle {cycle}: writer {w.wid} did not take its burst")
            in_flight = sum(w.in_flight() for w in writers)
            if kind == "link":
                if burst:
                    # Kill while the link copies the burst: wait until part of it is on the source.
                    src0 = sum(src_his_at_burst)
                    wait_until(lambda: sum(high_watermarks(source.bootstrap, TOPIC, P)) >= src0 + burst, 30,
                               f"cycle {cycle}: the burst to reach the source", interval=0.002)
                before = high_watermarks(dest.bootstrap, TOPIC, P)
                src_now = high_watermarks(source.bootstrap, TOPIC, P)
                lag_at_kill.append(sum(max(0, a - b) for a, b in zip(src_now, before)))
            t_kill = time.monotonic()
            victim.kill9()
            max_acked = [max(w.max_acked[p] for w in writers) for p in range(P)]
            victim.start()
            ready_s.append(time.monotonic() - t_kill)
            seq_after = [w.produced for w in writers]  # records handed to the client from here on
            his = wait_until(lambda: high_watermarks(victim.bootstrap, TOPIC, P), 60, f"cycle {cycle}: broker serving")
            restart_s.append(time.monotonic() - t_kill)
            if kind == "broker":
                # Recovery alone must keep every ack issued before the kill.
                for p in range(P):
                    if his[p] < max_acked[p] + 1:
                        hwm_regressions.append(f"cycle {cycle}: {TOPIC}-{p} HWM {his[p]} after restart, offset {max_acked[p]} was acked")
                # Progress: a record handed to the client after the restart is acknowledged
                # (late delivery reports of records written before the kill do not count).
                wait_until(lambda: any(w.max_acked_seq >= s for w, s in zip(writers, seq_after)), 120,
                           f"cycle {cycle}: acks to resume")
            else:
                mirror_hwm_regressions += sum(1 for p in range(P) if his[p] < before[p])
                wait_until(lambda: any(h > x for h, x in zip(high_watermarks(dest.bootstrap, TOPIC, P), his)), 120,
                           f"cycle {cycle}: the mirror to advance")
            resume_s.append(time.monotonic() - t_kill)
            in_flight_at_kill.append(in_flight)
            fatal = sum(len(w.fatal) for w in writers)
            cycles_log.write(json.dumps({"cycle": cycle, "delay": round(delay, 3), "burst": burst, "in_flight": in_flight,
                                         "restart_s": round(restart_s[-1], 3), "resume_s": round(resume_s[-1], 3),
                                         "acked": acked_total(writers), "hwm": his, "fatal": fatal}) + "\n")
            cycles_log.flush()
            cycles_done = cycle
            if cycle % args.progress_every == 0:
                log(f"{kind}: cycle {cycle}/{args.cycles}, {acked_total(writers)} acked, restart p50 {pct(restart_s, 50)} s, max {max(restart_s):.3f} s")
            if args.verify_every and cycle % args.verify_every == 0 and cycle != args.cycles:
                chk = check(kind, source, dest, P, writers, final=False)
                chk["cycle"] = cycle
                checks.append(chk)
                log(f"{kind}: check at cycle {cycle}: {json.dumps({k: v for k, v in chk.items() if k not in ('high_watermarks',)})}")
                if not chk["ok"]:
                    failure = f"check at cycle {cycle} failed"
                    break
            if hwm_regressions or any(w.fatal for w in writers) or any(w.reacked for w in writers):
                failure = f"cycle {cycle}: " + ("HWM below an acked offset after restart" if hwm_regressions else
                                                 "fatal producer error" if any(w.fatal for w in writers) else "duplicate delivery report")
                break
    except Exception as e:  # noqa: BLE001 - a deadline, a refused connection: stop cycling, still judge the data
        failure = f"harness: {e if isinstance(e, HarnessError) else traceback.format_exc()}"
        log(failure)
        log(f"{victim.name} stderr tail:\n{victim.stderr_tail()}")
    finally:
        cycles_log.close()

    # Drain: every queued record acknowledged (or failed), then judge everything.
    undelivered = [w.finish(120) for w in writers]
    final = None
    try:
        if kind == "link":
            src_his = high_watermarks(source.bootstrap, TOPIC, P)
            wait_until(lambda: high_watermarks(dest.bootstrap, TOPIC, P) == src_his, 300, "the mirror to catch up with the source",
                       interval=0.1)
        final = check(kind, source, dest, P, writers, final=True)
    except Exception as e:  # noqa: BLE001
        failure = failure or f"harness: {e}"
        log(f"final check: {e}")
    describe = None
    if kind == "link":
        try:
            out = cli(bins["mirrors"], "--describe", "--topics", TOPIC, "--bootstrap-server", dest.bootstrap, "--output", "json")
            d = json.loads(out)
            ms = d["mirrors"] if isinstance(d, dict) else d
            describe = [m.get("state") for m in ms if m.get("mirror_topic") == TOPIC]
        except Exception as e:  # noqa: BLE001 - informational
            describe = f"error: {e}"
    for b in (source, dest):
        if b:
            b.stop()

    acked = acked_total(writers)
    produced = sum(w.produced for w in writers)
    summary = {
        "scenario": kind,
        "cycles": cycles_done,
        "cycles_requested": args.cycles,
        "seed": args.seed,
        "partitions": P,
        "writers": [f"w{w.wid}:{w.codec}" for w in writers],
        "produced": produced,
        "acknowledged": acked,
        "unacknowledged": produced - acked,
        "delivery_failures": {k: v for w in writers for k, v in w.failures.items()},
        "undelivered_at_end": sum(undelivered),
        "lost": final["lost"] if final else None,
        "duplicated": final["duplicated"] if final else None,
        "misplaced": final["misplaced"] if final else None,
        "gaps": final["gaps"] if final else None,
        "unacknowledged_present": final["unacknowledged_present"] if final else None,
        "hwm_below_acked_after_restart": len(hwm_regressions),
        "producer_fatal_errors": [f for w in writers for f in w.fatal],
        "client_errors": {k: sum(w.errors.get(k, 0) for w in writers) for k in sorted({k for w in writers for k in w.errors})},
        "duplicate_delivery_reports": sum(w.reacked for w in writers),
        "records_in_log": final["records"] if final else None,
        "restart_s": dist(restart_s),
        "ready_line_s": dist(ready_s),
        "resume_s": dist(resume_s),
        "periodic_checks": len(checks),
        "periodic_checks_failed": sum(1 for c in checks if not c["ok"]),
    }
    if kind == "broker":
        summary["in_flight_at_kill"] = dist([float(x) for x in in_flight_at_kill]) | {
            "kills_with_unacked": sum(1 for x in in_flight_at_kill if x > 0)}
    if kind == "link":
        summary.update({
            "byte_identical": final["byte_identical"] if final else False,
            "batches_compared": final["raw"]["batches"] if final else 0,
            "bytes_compared": final["raw"]["bytes"] if final else 0,
            "divergence": final["raw"]["divergence"] if final else None,
            "lost_in_mirror": final["mirror"]["lost"] if final else None,
            "mirror_hwm_regressions_after_restart": mirror_hwm_regressions,
            "mirror_lag_at_kill": dist([float(x) for x in lag_at_kill]) | {"kills_with_lag": sum(1 for x in lag_at_kill if x > 0)},
            "mirror_state": describe,
        })
    examples = (final or {}).get("examples", []) + [e for c in checks for e in c.get("examples", [])] + hwm_regressions[:5]
    if examples:
        summary["examples"] = examples[:10]
    ok = (failure is None and final is not None and final["ok"] and not hwm_regressions
          and not summary["producer_fatal_errors"] and not summary["duplicate_delivery_reports"]
          and summary["undelivered_at_end"] == 0)
    summary["failure"] = failure
    summary["violation"] = bool(
        (final and not final["ok"]) or hwm_regressions or summary["producer_fatal_errors"]
        or summary["duplicate_delivery_reports"] or any(not c["ok"] for c in checks))
    summary["ok"] = ok
    summary["wall_s"] = round(time.monotonic() - t_start, 1)
    return summary


def check(kind: str, source: Broker, dest: Broker | None, P: int, writers: list[Writer], final: bool) -> dict:
    src = verify(source.bootstrap, P, writers, final)
    if kind == "broker":
        return src
    out = dict(src)
    dst_his = high_watermarks(dest.bootstrap, TOPIC, P)
    src_his = src["high_watermarks"]
    ends = [min(a, b) for a, b in zip(src_his, dst_his)]
    raw = compare_raw(source.bootstrap, dest.bootstrap, TOPIC, P, ends)
    mirror = verify(dest.bootstrap, P, writers, final)
    out["raw"] = raw
    out["mirror"] = {k: mirror[k] for k in ("records", "lost", "duplicated", "misplaced", "gaps", "ok")}
    out["byte_identical"] = raw["divergence"] is None and (not final or dst_his == src_his)
    out["examples"] = src["examples"] + mirror["examples"]
    out["ok"] = src["ok"] and mirror["ok"] and out["byte_identical"]
    return out


def self_test(args, workdir: Path, bins: dict[str, Path]) -> dict:
    """Prove the checks bite: inject a duplicate, a lost ack and a diverging log, expect each reported."""
    P = args.partitions
    a = Broker(bins["strait"], workdir, "selftest-a")
    a.start()
    create_topic(a.bootstrap, P)
    ws = start_writers(argparse.Namespace(**{**vars(args), "writers": 1, "rate": 2000.0}), a.bootstrap, random.Random(args.seed))
    wait_until(lambda: ws[0].n_acked >= 2000, 60, "2000 acks")
    ws[0].finish(60)
    res = {"clean": verify(a.bootstrap, P, ws, True)["ok"]}
    # A second copy of an acknowledged record (what a broken idempotence check would write).
    plain = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "logger": CLIENT_LOG})
    seq = 5
    plain.produce(TOPIC, value=b"0:%d:%s" % (seq, ws[0].pad), partition=seq % P)
    plain.flush(30)
    v = verify(a.bootstrap, P, ws, True)
    res["duplicate_detected"] = v["duplicated"] == 1 and v["misplaced"] == 1 and not v["ok"]
    # An acknowledgement whose record is not in the log (what a lost write looks like).
    ws[0].acked.append(0)
    v = verify(a.bootstrap, P, ws, True)
    res["loss_detected"] = v["lost"] == 1 and not v["ok"]
    ws[0].acked.pop()
    # A log with the same records written by another producer: same offsets, different bytes.
    b = Broker(bins["strait"], workdir, "selftest-b")
    b.start()
    create_topic(b.bootstrap, P)
    his = high_watermarks(a.bootstrap, TOPIC, P)
    other = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 50, "logger": CLIENT_LOG})
    for s_ in range(len(ws[0].acked)):
        other.produce(TOPIC, value=b"0:%d:%s" % (s_, ws[0].pad), partition=s_ % P)
        if s_ % 1000 == 0:
            other.poll(0)
    other.flush(60)
    raw = compare_raw(a.bootstrap, b.bootstrap, TOPIC, P, his)
    res["divergence_detected"] = raw["divergence"] is not None
    res["identical_to_itself"] = compare_raw(a.bootstrap, a.bootstrap, TOPIC, P, his)["divergence"] is None
    a.stop()
    b.stop()
    res["ok"] = all(res.values())
    return {"scenario": "self-test", **res}


def cli(binary: Path, *args: str) -> str:
    p = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise HarnessError(f"{binary.name} {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p.stdout


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=1000, help="kill -9 cycles per scenario (default 1000)")
    ap.add_argument("--scenario", choices=["broker", "link", "both", "self-test"], default="both",
                    help="self-test: inject a duplicate, a lost ack and a diverging log and check each is reported")
    ap.add_argument("--seed", type=int, default=1, help="seeds the kill delays and payloads (default 1)")
    ap.add_argument("--bin", default=str(REPO / "target" / "release"),
                    help="directory with strait, cluster-links, mirrors (default target/release); copied before the run")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--writers", type=int, default=2, help="idempotent producers; codecs none, lz4, zstd, snappy, gzip in turn")
    ap.add_argument("--rate", type=float, default=3000, help="records/s offered by all writers together (default 3000)")
    ap.add_argument("--record-bytes", type=int, default=100, help="payload padding per record (default 100)")
    ap.add_argument("--max-delay", type=float, default=1.0, help="kill delay drawn uniformly from [0, this] s after progress resumes (default 1.0)")
    ap.add_argument("--burst", type=int, default=500,
                    help="on a seeded half of the kills, each writer hands this many records to the client just before the kill (default 500)")
    ap.add_argument("--link-fetch-bytes", type=int, default=16384,
                    help="link option replica.fetch.max.bytes (small: a burst takes many fetches, so kills land mid-copy; default 16384)")
    ap.add_argument("--verify-every", type=int, default=100, help="full read-back check every N cycles (0: only at the end)")
    ap.add_argument("--max-wall-s", type=float, default=0,
                    help="stop starting new cycles after this many seconds per scenario, then verify (0: no limit); "
                         "the summary's cycles says how many ran")
    ap.add_argument("--progress-every", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (broker logs, data, per-cycle log) even on success")
    args = ap.parse_args()

    bindir = Path(args.bin)
    workdir = Path(tempfile.mkdtemp(prefix="strait-soak-"))
    # Snapshot the binaries: others may rebuild target/release during a long run.
    bins = {}
    (workdir / "bin").mkdir()
    for name in ("strait", "cluster-links", "mirrors"):
        src = bindir / name
        if not src.exists():
            sys.exit(f"{src} is missing: cargo build --release -p strait-broker --bin strait && cargo build --release -p strait-tools")
        bins[name] = workdir / "bin" / name
        try:
            # A hard link pins this inode: cargo and the linker write a new file when they rebuild.
            os.link(src, bins[name])
        except OSError:  # another filesystem
            shutil.copy2(src, bins[name])
    global CLIENT_LOG
    CLIENT_LOG = client_logger(workdir / "librdkafka.log")
    sha = hashlib.sha256(bins["strait"].read_bytes()).hexdigest()[:12]
    log(f"work dir {workdir}; strait sha256 {sha} (from {bindir}, mtime {time.strftime('%Y-%m-%d %H:%M', time.gmtime((bindir / 'strait').stat().st_mtime))} UTC)")

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    kinds = ["broker", "link"] if args.scenario == "both" else [args.scenario]
    if args.scenario == "self-test":
        try:
            r = self_test(args, workdir, bins)
        finally:
            cleanup()
        print(json.dumps(r), flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
        return 0 if r["ok"] else 1
    all_ok = True
    violation = False
    try:
        for kind in kinds:
            s = run_scenario(kind, args, workdir, bins)
            s["strait_sha256"] = sha
            print(json.dumps(s), flush=True)
            all_ok &= s["ok"]
            violation |= s["violation"]
    except KeyboardInterrupt:
        log("interrupted; stopping brokers")
        cleanup()
        return 130
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        cleanup()
        log(f"work dir kept: {workdir}")
        return 2
    finally:
        cleanup()
    if all_ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"work dir kept: {workdir}")
    if all_ok:
        return 0
    return 1 if violation else 2


if __name__ == "__main__":
    sys.exit(main())
