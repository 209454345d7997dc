#!/usr/bin/env python3
"""Promote latency: wall time of `mirrors promote --topics T --wait` at lag 0 and at
a lag of N records, against one source round trip measured in the same run.

One source Strait, one destination Strait, one link (`cluster-links create`). Each trial uses a
fresh source topic T (promote is irreversible) with --partitions partitions:
  1. T is created on the source, its mirror with `mirrors create`, --warm records are produced
     and the harness waits until the mirror's log end offsets equal the source's;
  2. lag 0: `mirrors promote --wait` straight away, timed from spawn to exit;
  3. lag N (a separate topic): `mirrors pause`, then N records (100-byte values) are produced
     to T and flushed, and the harness checks with ListOffsets that the source is N ahead of
     the destination; then `mirrors promote --wait` is timed the same way (promote resumes a
     paused mirror, drains the N records, fences and commits).
Round trips measured in the same run (median of --rtt-samples, on one open socket, no client
library): a Metadata v1 request for T to the source, and a ListOffsets v1 request for T-0
(what promote asks the source first). The CLI's own floor is the wall time of
`mirrors describe --topics T` (process start, connect, ApiVersions, one admin request) against
the destination; the broker log's `mirror promoted ... elapsed_ms` gives the server-side time
from the promotion task's start to the metadata commit, and a 4 KiB write + fsync +
rename + directory fsync in the destination's data dir is the disk's share of that commit.
Each (lag, trial) is run twice: once timed to the first `mirrors describe` that shows STOPPED
(polled back to back, ~3-6 ms per call) and once with `mirrors promote --wait` (what a user
types; its poll interval is the CLI's WAIT_POLL).

    cargo build --release -p strait-broker --bin strait && cargo build --release --bin cluster-links --bin mirrors
    protocol-tests/.venv/bin/python benches/e2e/promote_latency.py                       # ~1 min
    protocol-tests/.venv/bin/python benches/e2e/promote_latency.py --repeat 1 --lags 1000 # smoke
"""

import argparse
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "protocol-tests"))
import common  # noqa: E402
import kafka_wire as kw  # noqa: E402
from common import Strait, loadavg, temp_dir, wait_until  # noqa: E402

from confluent_kafka import Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True)


def tool(*args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([common.strait_bin("mirrors"), *args], capture_output=True, text=True, check=check,
                          timeout=300)


class Wire:
    """One plain socket to a broker, for timing single requests without a client library."""

    def __init__(self, bootstrap: str):
        host, port = bootstrap.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.corr = 0

    def call(self, request: bytes) -> bytes:
        self.s.sendall(request)
        size = struct.unpack(">i", self._read(4))[0]
        return self._read(size)

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return buf

    def rtt_ms(self, make, samples: int) -> float:
        times = []
        for _ in range(samples):
            self.corr += 1
            req = make(self.corr)
            t = time.perf_counter()
            resp = self.call(req)
            times.append((time.perf_counter() - t) * 1000)
            if struct.unpack(">i", resp[:4])[0] != self.corr:
                raise RuntimeError("response correlation id does not match")
        return statistics.median(times)


def end_offsets(admin: AdminClient, topic: str, partitions: int) -> list:
    req = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
    res = admin.list_offsets(req, request_timeout=10)
    return [res[TopicPartition(topic, p)].result(10).offset for p in range(partitions)]


def produce(bootstrap: str, topic: str, partitions: int, records: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1 << 20, "acks": "all",
                  "queue.buffering.max.messages": 2000000, "log_level": 0})
    value = b"v" * 100
    for i in range(records):
        while True:
            try:
                p.produce(topic, value, partition=i % partitions)
                break
            except BufferError:
                p.poll(0.01)
    if p.flush(60) != 0:
        raise RuntimeError("producer did not flush")


def trial(src: Strait, dst: Strait, topic: str, partitions: int, warm: int, lag: int, dst_log: str,
          wait_flag: bool) -> dict:
    sadmin = AdminClient({"bootstrap.servers": src.bootstrap, "log_level": 0})
    dadmin = AdminClient({"bootstrap.servers": dst.bootstrap, "log_level": 0})
    for _, f in sadmin.create_topics([NewTopic(topic, partitions, 1)]).items():
        f.result(30)
    produce(src.bootstrap, topic, partitions, warm)
    tool("create", "--bootstrap-server", dst.bootstrap, "--mirror-topic", topic, "--link", "promo")
    want = end_offsets(sadmin, topic, partitions)
    wait_until(lambda: end_offsets(dadmin, topic, partitions) == want, 60, f"{topic} mirrored", interval=0.02)
    if lag:
        tool("pause", "--bootstrap-server", dst.bootstrap, "--topics", topic)
        # PAUSED and out of the fetcher: the records below stay on the source only.
        wait_until(lambda: "PAUSED" in tool("describe", "--bootstrap-server", dst.bootstrap, "--topics", topic).stdout,
                   30, f"{topic} PAUSED", interval=0.05)
        produce(src.bootstrap, topic, partitions, lag)
    src_end = end_offsets(sadmin, topic, partitions)
    dst_end = end_offsets(dadmin, topic, partitions)
    measured_lag = sum(src_end) - sum(dst_end)
    t = time.perf_counter()
    if wait_flag:
        r = tool("promote", "--bootstrap-server", dst.bootstrap, "--topics", topic, "--wait", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"promote failed: {r.stdout}{r.stderr}")
    else:
        # The request, then DescribeMirrors as fast as the CLI can go (one call is the CLI
        # floor, ~3 ms), until STOPPED.
        r = tool("promote", "--bootstrap-server", dst.bootstrap, "--topics", topic, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"promote failed: {r.stdout}{r.stderr}")
        wait_until(lambda: "State: STOPPED" in tool("describe", "--bootstrap-server", dst.bootstrap,
                                                    "--topics", topic).stdout,
                   120, f"{topic} STOPPED", interval=0)
    wall_ms = (time.perf_counter() - t) * 1000
    # A fresh client: promote bumped the leader epoch, which the old one would send stale.
    final = end_offsets(AdminClient({"bootstrap.servers": dst.bootstrap, "log_level": 0}), topic, partitions)
    server_ms = None
    with open(dst_log, errors="replace") as f:
        for line in f:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            if "mirror promoted" in line and re.search(rf'mirror="?{re.escape(topic)}"?\s', line + " "):
                m = re.search(r"elapsed_ms=(\d+)", line)
                if m:
                    server_ms = int(m.group(1))
    return {"topic": topic, "lag": measured_lag, "how": "--wait" if wait_flag else "poll",
            "wall_ms": round(wall_ms, 1), "server_ms": server_ms, "complete": final == src_end}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lags", default="10000,100000", help="comma list of lags N (records) besides 0")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--warm", type=int, default=1000, help="records mirrored before each promote")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rtt-samples", type=int, default=50)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    if args.keep:
        os.environ["BENCH_KEEP"] = "1"
    for b in ("strait", "cluster-links", "mirrors"):
        if not os.path.exists(common.strait_bin(b)):
            raise SystemExit(f"{common.strait_bin(b)} missing: cargo build --release --bins")
    workdir = temp_dir("bench-promote-", args.workdir)
    src = Strait("source", workdir).start()
    dst = Strait("dest", workdir).start()
    subprocess.run([common.strait_bin("cluster-links"), "create", "--link", "promo", "--bootstrap-server",
                    dst.bootstrap, "--config", f"bootstrap.servers={src.bootstrap}"],
                   check=True, stdout=subprocess.DEVNULL, timeout=60)
    lags = [0] + [int(x) for x in args.lags.split(",") if x]
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "argv": sys.argv[1:], "load_start": loadavg(),
              "trials": []}
    n = 0
    for rep in range(args.repeat):
        for lag in lags:
            for wait_flag in (False, True):
                n += 1
                r = trial(src, dst, f"promo-{n}", args.partitions, args.warm, lag, dst.log_path, wait_flag)
                r["load"] = loadavg()
                log(json.dumps(r))
                result["trials"].append(r)
    # Round trips and the CLI floor, after the trials, on the last topic.
    topic = f"promo-{n}"
    w = Wire(src.bootstrap)
    result["source_metadata_rtt_ms"] = round(w.rtt_ms(lambda c: kw.metadata_request_v1([topic], c), args.rtt_samples), 3)
    result["source_list_offsets_rtt_ms"] = round(
        w.rtt_ms(lambda c: kw.list_offsets_request_v1(topic, 0, -1, c), args.rtt_samples), 3)
    # The metadata commit a promote ends with is an fsync'd append to the metadata log
    # (`__cluster_metadata-0/`); a small file write + fsync in the destination's data dir is
    # the disk's share of it.
    syncs = []
    for i in range(20):
        path = os.path.join(dst.data, f"fsync-probe-{i}.tmp")
        t = time.perf_counter()
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        os.write(fd, b"x" * 4096)
        os.fsync(fd)
        os.close(fd)
        os.rename(path, path + ".done")
        dfd = os.open(dst.data, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        syncs.append((time.perf_counter() - t) * 1000)
        os.unlink(path + ".done")
    result["metadata_fsync_ms"] = round(statistics.median(syncs), 3)
    floor = []
    for _ in range(5):
        t = time.perf_counter()
        tool("describe", "--bootstrap-server", dst.bootstrap, "--topics", topic)
        floor.append((time.perf_counter() - t) * 1000)
    result["cli_describe_ms"] = round(statistics.median(floor), 1)
    result["load_end"] = loadavg()
    rtt = result["source_list_offsets_rtt_ms"]
    print(f"source round trip: Metadata {result['source_metadata_rtt_ms']} ms, ListOffsets {rtt} ms; "
          f"4 KiB write+fsync+rename+dir fsync in the destination data dir {result['metadata_fsync_ms']} ms; "
          f"`mirrors describe` wall {result['cli_describe_ms']} ms")
    print("| lag (records) | how | wall ms to STOPPED (median; trials) | server-side ms (median; trials) "
          "| server-side / source ListOffsets round trip |")
    print("|---|---|---|---|---|")
    for lag in lags:
        for how in ("poll", "--wait"):
            ts = [t for t in result["trials"] if t["how"] == how and t["lag"] == lag]
            if not ts:
                continue
            wall = statistics.median(t["wall_ms"] for t in ts)
            srv = [t["server_ms"] for t in ts if t["server_ms"] is not None]
            srv_m = statistics.median(srv) if srv else None
            ratio = f"{srv_m / rtt:.0f}" if srv_m is not None else "-"
            print(f"| {lag:,} | {how} | {wall:.1f} ({', '.join(str(t['wall_ms']) for t in ts)}) "
                  f"| {srv_m} ({', '.join(str(x) for x in srv)}) | {ratio} |")
            result[f"lag_{lag}_{how}"] = {"wall_ms_median": wall, "server_ms_median": srv_m}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
