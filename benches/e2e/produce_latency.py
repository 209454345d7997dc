#!/usr/bin/env python3
"""Produce latency at a fixed rate, driven by librdkafka (confluent-kafka), acks=all.

For each build in --builds (label=STRAIT_BIN_DIR, in one run so the figures are side by side
on the same machine) and each flush mode (`off`: Kafka's default flush policy, no fsync on the
append path; `fsync`: `log.flush.interval.messages=1`, an fsync per append):
  1. a fresh Strait on a free loopback port with a fresh data dir in --data-dir's filesystem;
  2. a topic of --partitions partitions;
  3. --rate records/s of --size bytes (round-robin over the partitions, linger.ms=--linger-ms:
     0 makes each record close to its own request, more batches several partitions a request) for --seconds, each send scheduled at its slot on a
     fixed clock (so a slow broker cannot lower the offered rate: the schedule does not wait
     for acknowledgements); latency = delivery report time - scheduled send time;
  4. p50/p99/p99.9/max over every acknowledged record, errors counted, the broker's CPU
     seconds over the window, and the Produce requests librdkafka sent (its statistics' `tx`
     minus the requests before the clock started), so CPU is also reported per 1,000
     requests: a faster broker gets more, smaller requests at the same record rate.
The ratio that matters is within one run: fsync vs off for a build, and build vs build.

Usage (from the repository root; see benches/README.md, "Produce latency"):
  CARGO_TARGET_DIR=/tmp/lm-after-target cargo build --release -p strait-broker --bin strait
  protocol-tests/.venv/bin/python benches/e2e/produce_latency.py \
      --builds before=/tmp/lm-base-target/release,after=/tmp/lm-after-target/release
Smoke: --seconds 3 --rate 1000.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Strait, cpu_seconds, loadavg, temp_dir, wait_until  # noqa: E402

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True)


def pct(sorted_ms: list, p: float) -> float:
    if not sorted_ms:
        return float("nan")
    i = min(len(sorted_ms) - 1, int(round(p / 100 * (len(sorted_ms) - 1))))
    return sorted_ms[i]


def run_one(label: str, bin_dir: str, mode: str, args) -> dict:
    os.environ["STRAIT_BIN_DIR"] = bin_dir
    work = temp_dir(f"bench-lat-{label}-{mode}-", args.data_dir)
    overrides = (["log.flush.interval.messages=1"] if mode == "fsync" else []) + args.set
    b = Strait("lat", work, overrides).start()
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in admin.create_topics([NewTopic("lat", args.partitions, 1)]).values():
            f.result(30)
        stats = {}

        def on_stats(raw):
            doc = json.loads(raw)
            stats["tx"] = doc.get("tx", 0)

        producer = Producer({
            "bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": args.linger_ms,
            "enable.idempotence": True, "queue.buffering.max.messages": 1_000_000,
            "statistics.interval.ms": 200, "stats_cb": on_stats,
        })
        # Metadata and connections ready before the clock starts.
        wait_until(lambda: producer.list_topics("lat", timeout=5).topics.get("lat"), 30, "topic metadata")
        latencies = []
        errors = [0]
        payload = b"x" * args.size

        def report(err, _msg, scheduled):
            if err is not None:
                errors[0] += 1
            else:
                latencies.append((time.perf_counter() - scheduled) * 1000)

        total = int(args.rate * args.seconds)
        # Requests so far (metadata, InitProducerId): one stats interval after they settled.
        wait_until(lambda: producer.poll(0.05) is not None and "tx" in stats, 30, "producer statistics")
        tx0 = stats["tx"]
        cpu0 = cpu_seconds(b.proc.pid)
        start = time.perf_counter() + 0.2
        for i in range(total):
            slot = start + i / args.rate
            while True:
                now = time.perf_counter()
                if now >= slot:
                    break
                producer.poll(min(slot - now, 0.001))
            producer.produce("lat", payload, partition=i % args.partitions,
                             on_delivery=lambda e, m, s=slot: report(e, m, s))
            producer.poll(0)
        left = producer.flush(60)
        cpu = cpu_seconds(b.proc.pid) - cpu0
        # The statistics after the last delivery (one interval later).
        settled = time.perf_counter() + 0.5
        while time.perf_counter() < settled:
            producer.poll(0.05)
        requests = stats["tx"] - tx0
        lat = sorted(latencies)
        r = {
            "build": label, "mode": mode, "rate": args.rate, "size": args.size,
            "partitions": args.partitions, "linger_ms": args.linger_ms, "set": args.set, "sent": total, "acked": len(lat),
            "errors": errors[0], "unflushed": left,
            "p50_ms": round(pct(lat, 50), 3), "p99_ms": round(pct(lat, 99), 3),
            "p999_ms": round(pct(lat, 99.9), 3), "max_ms": round(lat[-1], 3) if lat else None,
            "broker_cpu_s": round(cpu, 2), "requests": requests,
            "cpu_ms_per_1k_requests": round(cpu * 1e6 / requests, 1) if requests else None,
        }
        log(json.dumps(r))
        return r
    finally:
        b.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builds", default=f"current={os.environ.get('STRAIT_BIN_DIR', 'target/release')}",
                    help="label=dir,... of release builds to compare in this run")
    ap.add_argument("--modes", default="off,fsync")
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--linger-ms", type=float, default=0,
                    help="librdkafka linger.ms (above 0, one request carries several partitions)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a broker config override for every run (repeatable), e.g. num.network.threads=1")
    ap.add_argument("--data-dir", default=None, help="where the brokers' data dirs go (default: $TMPDIR)")
    args = ap.parse_args()
    results = []
    for item in args.builds.split(","):
        label, _, d = item.partition("=")
        for mode in args.modes.split(","):
            results.append(run_one(label, os.path.abspath(d), mode, args))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
