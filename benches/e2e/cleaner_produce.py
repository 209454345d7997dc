#!/usr/bin/env python3
"""Produce throughput while the log cleaner works vs produce alone, through the real broker.

Each trial runs one of two modes on a fresh Strait (same settings except
log.cleaner.enable) with the same data:

  1. create topic `backlog` (P partitions, cleanup.policy=delete, retention.ms=-1,
     segment.bytes S) and topic `target` (1 partition, defaults);
  2. preload `backlog` with B MB of keyed records (keys drawn from K keys, 1,000-byte random
     values, round-robin over the partitions): a dirty backlog of several closed segments
     per partition, written while nothing is compacted;
     (defaults: 3,000 MB over 3 partitions, 100,000 keys, 128 MiB segments: ~8 closed
     segments and ~1 GB of dirty log per partition);
  3. switch `backlog` to cleanup.policy=compact (IncrementalAlterConfigs). With the cleaner
     on (log.cleaner.backoff.ms=50), wait until a `.cleaned` file shows up in a backlog
     partition directory: cleaning has started;
  4. produce N records (default 1,000,000) of 1,000 bytes to `target` (acks=all, linger 5 ms, 1 MiB batches, no
     compression, as throughput.py) and time until every delivery report is in;
  5. with the cleaner on, wait for every backlog partition's final pass ("cleaned log ...
     complete=true" in the broker log) and take each pass's interval from the log line
     (its timestamp minus elapsed_ms) to show how much of the produce window the cleaner was
     busy; with it off, check that nothing was cleaned.

Broker CPU (/proc/PID/stat), the cleaner thread's CPU (/proc/PID/task/*/stat, thread name
kafka-log-clean...) and this client's CPU over the produce window are recorded, with the
machine load. `--repeat N` interleaves the modes (on, off, on, off, ...); the table shows
every trial and the medians.

Usage (from the repository root; see benches/README.md):
  cargo build --release --bin strait
  protocol-tests/.venv/bin/python benches/e2e/cleaner_produce.py --repeat 3
  protocol-tests/.venv/bin/python benches/e2e/cleaner_produce.py --backlog-mb 100 --records 20000   # smoke
"""

import argparse
import datetime
import json
import os
import random
import re
import resource
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, Strait, cpu_seconds, loadavg, temp_dir, wait_until  # noqa: E402

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,  # noqa: E402
                                   NewTopic, ResourceType)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CLEANED = re.compile(r"^(\S+)\s+INFO .*cleaned log partition=(\S+) .*complete=(\w+) .*elapsed_ms=(\d+)")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cleaner_cpu(pid: int) -> float:
    """CPU seconds of the broker's log cleaner threads (named kafka-log-cleaner-thread-N,
    truncated to 15 characters in comm)."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if not f.read().startswith("kafka-log-clean"):
                    continue
            total += cpu_seconds_task(pid, tid)
        except FileNotFoundError:
            continue
    return total


def cpu_seconds_task(pid: int, tid: str) -> float:
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                     "batch.size": 1048576, "queue.buffering.max.messages": 1000000,
                     "queue.buffering.max.kbytes": 1048576, "compression.type": "none"})


def produce(p: Producer, topic: str, n: int, size: int, pool: bytes, key_of, partition_of=None) -> float:
    """Produces n records (value = a size-byte slice of pool); returns the seconds until every
    delivery report is in."""
    failures = []

    def on_delivery(err, _msg):
        if err is not None:
            failures.append(err)

    span = len(pool) - size
    start = time.monotonic()
    for i in range(n):
        off = (i * 7919) % span
        kw = {} if partition_of is None else {"partition": partition_of(i)}
        while True:
            try:
                p.produce(topic, pool[off:off + size], key=key_of(i), on_delivery=on_delivery, **kw)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    remaining = p.flush(300)
    secs = time.monotonic() - start
    if remaining or failures:
        raise RuntimeError(f"{topic}: {remaining} undelivered, {len(failures)} failed: {failures[:3]}")
    return secs


def cleaned_passes(log_path: str) -> list:
    """(end wall time s, partition, complete, elapsed s) of every 'cleaned log' line."""
    out = []
    with open(log_path, errors="replace") as f:
        for line in f:
            m = CLEANED.match(ANSI.sub("", line))
            if m:
                ts = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
                out.append((ts, m.group(2), m.group(3) == "true", int(m.group(4)) / 1000))
    return out


def overlap(window: tuple, intervals: list) -> float:
    """Seconds of window covered by the union of intervals."""
    covered, cursor = 0.0, window[0]
    for a, b in sorted(intervals):
        a, b = max(a, cursor), min(b, window[1])
        if b > a:
            covered += b - a
            cursor = b
    return covered


def cleaned_files(data: str) -> bool:
    for d in os.listdir(data):
        if d.startswith("backlog-"):
            try:
                if any(f.endswith(".cleaned") for f in os.listdir(os.path.join(data, d))):
                    return True
            except FileNotFoundError:
                pass
    return False


def trial(args, mode: str, pool: bytes, base: str) -> dict:
    enabled = mode == "on"
    workdir = temp_dir(f"cleaner-produce-{mode}-", base)
    overrides = [f"log.cleaner.enable={'true' if enabled else 'false'}", "log.cleaner.backoff.ms=50",
                 "log.cleaner.threads=1"] + args.override
    broker = Strait(f"strait-{mode}", workdir, overrides).start()
    admin = p = None
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        fs = admin.create_topics([
            NewTopic("backlog", args.backlog_partitions, 1,
                     config={"cleanup.policy": "delete", "retention.ms": "-1",
                             "segment.bytes": str(args.segment_bytes)}),
            NewTopic("target", 1, 1)])
        for f in fs.values():
            f.result(30)

        backlog_n = int(args.backlog_mb * 1e6 / args.size)
        rng = random.Random(args.seed)
        keys = [str(rng.randrange(args.keys)).encode() for _ in range(backlog_n)]
        p = producer(broker.bootstrap)
        t = produce(p, "backlog", backlog_n, args.size, pool, keys.__getitem__,
                    lambda i: i % args.backlog_partitions)
        del keys
        segs = sum(len(broker.partition_files("backlog", i)) for i in range(args.backlog_partitions))
        log(f"{mode}: preloaded {backlog_n} records ({backlog_n * args.size / 1e6:.0f} MB) in {t:.1f}s, "
            f"{segs} segments")

        res = ConfigResource(ResourceType.TOPIC, "backlog", incremental_configs=[
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)])
        for f in admin.incremental_alter_configs([res]).values():
            f.result(30)
        if enabled:
            wait_until(lambda: cleaned_files(broker.data), 60, "the cleaner to start on backlog", 0.01)

        load = loadavg()
        b0, c0, k0 = cpu_seconds(broker.pid), self_cpu(), cleaner_cpu(broker.pid)
        w0 = time.time()
        secs = produce(p, "target", args.records, args.size, pool, lambda i: str(i).encode())
        w1 = time.time()
        b1, c1, k1 = cpu_seconds(broker.pid), self_cpu(), cleaner_cpu(broker.pid)
        mb = args.records * args.size / 1e6
        r = {"mode": mode, "records": args.records, "produce_s": round(secs, 3),
             "produce_MBps": round(mb / secs, 1), "broker_cpu_s": round(b1 - b0, 2),
             "cleaner_cpu_s": round(k1 - k0, 2), "client_cpu_s": round(c1 - c0, 2), "load_before": load}

        if enabled:
            def all_complete():
                done = {part for _, part, complete, _ in cleaned_passes(broker.log_path) if complete}
                return len(done) == args.backlog_partitions
            wait_until(all_complete, 600, "every backlog partition to be cleaned", 0.1)
            passes = cleaned_passes(broker.log_path)
            intervals = [(end - elapsed, end) for end, _, _, elapsed in passes]
            busy = overlap((w0, w1), intervals)
            r.update({"passes": len(passes),
                      "cleaning_start_rel_s": round(min(a for a, _ in intervals) - w0, 3),
                      "cleaning_end_rel_s": round(max(b for _, b in intervals) - w0, 3),
                      "cleaner_busy_fraction": round(busy / (w1 - w0), 3)})
            log(f"on: {len(passes)} passes from {r['cleaning_start_rel_s']}s to {r['cleaning_end_rel_s']}s "
                f"relative to the produce start; busy {r['cleaner_busy_fraction'] * 100:.0f}% of the "
                f"{w1 - w0:.2f}s produce window")
        else:
            with open(broker.log_path, errors="replace") as f:
                text = ANSI.sub("", f.read())
            if "log cleaner disabled" not in text or cleaned_passes(broker.log_path) or cleaned_files(broker.data):
                raise RuntimeError("cleaner-off trial cleaned something, or the broker did not say it was disabled")
        r["load_after"] = loadavg()
        log(f"{mode}: produced {mb:.0f} MB in {secs:.3f}s = {r['produce_MBps']} MB/s "
            f"(broker CPU {r['broker_cpu_s']}s of which cleaner {r['cleaner_cpu_s']}s; client {r['client_cpu_s']}s; "
            f"load {load})")
        return r
    finally:
        admin = p = None  # librdkafka handles go before the broker, so they do not reconnect
        broker.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backlog-mb", type=float, default=3000, help="payload MB preloaded into backlog")
    ap.add_argument("--backlog-partitions", type=int, default=3)
    ap.add_argument("--segment-bytes", type=int, default=128 * 1024 * 1024)
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--records", type=int, default=1000000, help="records produced to target")
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--override", action="append", default=[], help="extra broker key=value (both modes)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (broker logs, data)")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    if args.keep:
        os.environ["BENCH_KEEP"] = "1"

    base = os.path.join(ROOT, "benches", ".work")
    os.makedirs(base, exist_ok=True)
    st = os.statvfs(base)
    with open("/proc/mounts") as f:
        mounts = [ln.split() for ln in f]
    mnt = max((m for m in mounts if os.path.realpath(base).startswith(m[1])), key=lambda m: len(m[1]))
    log(f"work dir {base}: {mnt[0]} {mnt[2]} on {mnt[1]}, {st.f_bavail * st.f_frsize / 1e9:.0f} GB free")
    pool = random.Random(args.seed).randbytes(64 * 1024 * 1024)

    results = []
    for _ in range(args.repeat):
        for mode in ("on", "off"):
            results.append(trial(args, mode, pool, base))

    print(f"\n{'mode':4} {'produce MB/s':>13} {'s':>7} {'broker CPU s':>13} {'cleaner CPU s':>14} "
          f"{'client CPU s':>13} {'cleaner busy':>13}  load before")
    for r in results:
        busy = f"{r['cleaner_busy_fraction'] * 100:.0f}%" if "cleaner_busy_fraction" in r else "-"
        print(f"{r['mode']:4} {r['produce_MBps']:>13} {r['produce_s']:>7} {r['broker_cpu_s']:>13} "
              f"{r['cleaner_cpu_s']:>14} {r['client_cpu_s']:>13} {busy:>13}  {r['load_before']}")
    on = statistics.median(r["produce_MBps"] for r in results if r["mode"] == "on")
    off = statistics.median(r["produce_MBps"] for r in results if r["mode"] == "off")
    pairs = [a["produce_MBps"] / b["produce_MBps"] for a, b in zip(results[0::2], results[1::2])]
    print(f"median produce MB/s: cleaning {on}, cleaner off {off}; ratio {on / off:.3f} "
          f"(per interleaved pair: {', '.join(f'{x:.3f}' for x in pairs)})")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
