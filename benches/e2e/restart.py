#!/usr/bin/env python3
"""Restart time after `kill -9` and after a clean shutdown, at two log sizes (issue 11 item 3).

One invocation, side by side for each size (default 1 GB and 10 GB):

  1. start a release Strait on a fresh data dir and fill topic `bench` (P partitions, default
     4) with ~1 KB incompressible records through confluent-kafka (acks=1, no compression,
     batch.size 16 KB by default: the Java client's default, many batches per GB),
     until the partition directories hold the target bytes;
  2. `kill -9` the broker (the page cache keeps every written byte, as after a process
     crash), start it again on the same dir and time, from the new process's start:
       - `ready`: its `strait: listening on ...` stdout line,
       - `fetch`: the first raw Fetch v4 (one request for every partition at offset 0)
         that answers every partition with error 0 and records;
  3. SIGTERM (graceful shutdown: flush, producer snapshots, clean-shutdown markers; timed),
     start again and time the same two moments;
  4. print the broker's own `log recovery finished` line (segments recovered, bytes
     validated, batches replayed) for both restarts, the time to read every segment file
     once (the floor for a recovery that reads the whole log), and the ratio of the
     largest size to the smallest.

The page cache is left warm on purpose: a `kill -9` does not drop it, and the question is
how much of the log the broker reads, not how fast the disk is.

Usage (from the repository root; see benches/README.md):
  cargo build --release -p strait-broker
  protocol-tests/.venv/bin/python benches/e2e/restart.py                 # 1 GB and 10 GB
  protocol-tests/.venv/bin/python benches/e2e/restart.py --sizes-gb 0.2  # smoke, ~20 s
"""

import argparse
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import free_port, loadavg, spawn, strait_bin, temp_dir, wait_port  # noqa: E402

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC = "bench"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True)


def dir_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if f.endswith(".log"):
                try:
                    total += os.path.getsize(os.path.join(root, f))
                except OSError:
                    pass
    return total


def read_log_seconds(path: str) -> float:
    """Reads every segment file once with 1 MiB reads: the physical floor of any recovery
    that reads the whole log (page cache as warm as the broker had it)."""
    t0 = time.monotonic()
    buf = bytearray(1 << 20)
    for root, _, files in os.walk(path):
        for f in files:
            if f.endswith(".log"):
                with open(os.path.join(root, f), "rb", buffering=0) as fh:
                    while fh.readinto(buf):
                        pass
    return time.monotonic() - t0


# ---------------------------------------------------------------------------------------------
# raw Fetch v4: no client library start-up cost in the measurement


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def fetch_request(correlation: int, partitions: int) -> bytes:
    body = struct.pack(">iiiib", -1, 0, 1, 256 << 20, 0)
    body += struct.pack(">i", 1) + _str(TOPIC) + struct.pack(">i", partitions)
    for p in range(partitions):
        body += struct.pack(">iqi", p, 0, 1 << 20)
    header = struct.pack(">hhi", 1, 4, correlation) + _str("restart-bench")
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def fetch_ok(port: int, partitions: int) -> bool:
    """True when one Fetch answers every partition with error 0 and some records."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(fetch_request(7, partitions))
            (size,) = struct.unpack(">i", _recv_exact(s, 4))
            r = _recv_exact(s, size)
    except OSError:
        return False
    pos = 4 + 4  # correlation id, throttle_time_ms
    (topics,) = struct.unpack_from(">i", r, pos)
    pos += 4
    ok = 0
    for _ in range(topics):
        (n,) = struct.unpack_from(">h", r, pos)
        pos += 2 + n
        (parts,) = struct.unpack_from(">i", r, pos)
        pos += 4
        for _ in range(parts):
            _p, err, _hw, _lso = struct.unpack_from(">ihqq", r, pos)
            pos += 22
            (aborted,) = struct.unpack_from(">i", r, pos)
            pos += 4 + max(aborted, 0) * 16
            (rlen,) = struct.unpack_from(">i", r, pos)
            pos += 4 + max(rlen, 0)
            if os.environ.get("RESTART_DEBUG"):
                print("partition", _p, err, rlen, file=sys.stderr)
            if err == 0 and rlen > 0:
                ok += 1
    return ok == partitions


# ---------------------------------------------------------------------------------------------


class Broker:
    def __init__(self, workdir: str, data: str, overrides: list):
        self.workdir = workdir
        self.data = data
        self.port = free_port()
        self.overrides = overrides
        self.proc = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.out = os.path.join(self.workdir, f"broker-{self.runs}.out")
        self.err = os.path.join(self.workdir, f"broker-{self.runs}.err")
        cmd = [strait_bin(), "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
               "--override", f"log.dirs={self.data}"]
        for o in self.overrides:
            cmd += ["--override", o]
        errf = open(self.err, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf)
        errf.close()
        common._procs.append(self.proc)
        return t0

    def timed_start(self, partitions: int, deadline_s: float = 120):
        t0 = self.start()
        ready = None
        line = self.proc.stdout.readline()
        if b"listening on" in line:
            ready = time.monotonic() - t0
        else:
            raise RuntimeError(f"broker did not print its ready line: {line!r}; see {self.err}")
        end = t0 + deadline_s
        while time.monotonic() < end:
            if fetch_ok(self.port, partitions):
                return ready, time.monotonic() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}; see {self.err}")
            time.sleep(0.005)
        raise TimeoutError(f"no successful fetch within {deadline_s}s; see {self.err}")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        common._procs.remove(self.proc)

    def term(self) -> float:
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(300)
        common._procs.remove(self.proc)
        return time.monotonic() - t0

    def recovery_line(self) -> str:
        try:
            with open(self.err, "rb") as f:
                for line in f.read().decode(errors="replace").splitlines():
                    if "log recovery finished" in line:
                        return re.sub(r"\x1b\[[0-9;]*m", "", line).split("log recovery finished", 1)[1].strip()
        except OSError:
            pass
        return "(no recovery line)"


def fill(bootstrap: str, data: str, target: int, partitions: int, batch_bytes: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, partitions, 1)])[TOPIC].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5,
                  "batch.size": batch_bytes, "queue.buffering.max.kbytes": 1 << 20,
                  "compression.type": "none", "enable.idempotence": False})
    pool = os.urandom(1 << 20)
    i = 0
    t0 = time.monotonic()
    last = 0
    while True:
        if i % 20000 == 0:
            p.flush()
            size = dir_bytes(data)
            if size >= target:
                break
            if time.monotonic() - last > 5:
                last = time.monotonic()
                log(f"filled {size / 1e9:.2f} GB")
        off = (i * 1031) % ((1 << 20) - 1024)
        while True:
            try:
                p.produce(TOPIC, pool[off:off + 1000], key=str(i).encode(), partition=i % partitions)
                break
            except BufferError:
                p.poll(0.05)
        i += 1
    p.flush()
    log(f"filled {dir_bytes(data) / 1e9:.2f} GB ({i} records) in {time.monotonic() - t0:.1f}s")


def run_size(gb: float, partitions: int, overrides: list, base: str, batch_bytes: int) -> dict:
    work = temp_dir("strait-restart-", base)
    data = os.path.join(work, "data")
    b = Broker(work, data, overrides)
    b.start()
    wait_port(b.port, 30, b.proc)
    b.proc.stdout.readline()
    fill(f"127.0.0.1:{b.port}", data, int(gb * 1e9), partitions, batch_bytes)
    actual = dir_bytes(data)
    out = {"gb": actual / 1e9}
    b.kill9()
    log(f"{actual / 1e9:.2f} GB: kill -9, restarting")
    out["crash_ready"], out["crash_fetch"] = b.timed_start(partitions)
    out["crash_recovery"] = b.recovery_line()
    out["shutdown_s"] = b.term()
    log(f"{actual / 1e9:.2f} GB: clean shutdown took {out['shutdown_s']:.2f}s, restarting")
    out["clean_ready"], out["clean_fetch"] = b.timed_start(partitions)
    out["clean_recovery"] = b.recovery_line()
    b.term()
    out["read_log_s"] = read_log_seconds(data)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes-gb", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--batch-bytes", type=int, default=16384,
                    help="producer batch.size (default 16 KB, the Java client's default: many "
                         "batches per GB, which is what a header scan pays for)")
    ap.add_argument("--base-dir", default=None, help="where data dirs go (default: $TMPDIR)")
    ap.add_argument("--override", action="append", default=[], help="broker --override, repeatable")
    args = ap.parse_args()
    log(f"binary {strait_bin()}, partitions {args.partitions}, batch.size {args.batch_bytes}, "
        f"overrides {args.override}")
    results = []
    for gb in args.sizes_gb:
        free = shutil.disk_usage(args.base_dir or "/tmp").free
        if free < gb * 1e9 + 3e9:  # leave 3 GB for everyone else on the disk
            log(f"skipping {gb} GB: only {free / 1e9:.1f} GB free")
            continue
        r = run_size(gb, args.partitions, args.override, args.base_dir, args.batch_bytes)
        results.append(r)
        print(f"{r['gb']:.2f} GB  kill -9: ready {r['crash_ready']:.3f}s  first fetch {r['crash_fetch']:.3f}s"
              f"   [{r['crash_recovery']}]", flush=True)
        print(f"{r['gb']:.2f} GB  clean:   ready {r['clean_ready']:.3f}s  first fetch {r['clean_fetch']:.3f}s"
              f"   (shutdown {r['shutdown_s']:.2f}s)  [{r['clean_recovery']}]", flush=True)
        print(f"{r['gb']:.2f} GB  reading every segment once (1 MiB reads, page cache): "
              f"{r['read_log_s']:.3f}s; kill -9 first fetch / that = "
              f"{r['crash_fetch'] / r['read_log_s']:.2f}", flush=True)
    if len(results) >= 2:
        lo, hi = results[0], results[-1]
        for k in ("crash_fetch", "clean_fetch"):
            print(f"ratio {hi['gb']:.1f} GB / {lo['gb']:.1f} GB, {k}: {hi[k] / lo[k]:.2f}", flush=True)


if __name__ == "__main__":
    main()
