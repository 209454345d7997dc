#!/usr/bin/env python3
"""End-to-end produce-then-consume throughput, driven by librdkafka (confluent-kafka).

Runs the same workload against each target broker in one invocation, so the numbers are a
side-by-side ratio on the same machine, not absolutes to compare across runs:

  1. start the broker on a free loopback port with a fresh data directory;
  2. create the topic;
  3. produce N records of S bytes (acks=all, linger 5 ms, 1 MiB batches, no compression)
     and time until every delivery report is in;
  4. consume all N from the beginning with assign() and time until the last one arrives.

The broker's CPU seconds (/proc/PID/stat) and this client's (getrusage, librdkafka threads
included) are recorded for each phase, so a client-bound result shows as such, and the
machine load is printed next to each target.

Usage (from the repository root; see benches/README.md):
  cargo build --release --bin strait
  protocol-tests/.venv/bin/python benches/e2e/throughput.py --targets strait,tansu

Strait binaries are taken from $STRAIT_BIN_DIR (default target/release); Tansu from
$TANSU_BIN or /tmp/tansu/root/bin/tansu (peers.md says how to build it), run on a fresh
sqlite file in its temp dir. Smoke: --records 20000.
"""

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_seconds, free_port, loadavg, spawn, stop, strait_bin, temp_dir, wait_port  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

def self_cpu() -> float:
    """CPU seconds of this process, librdkafka's threads included."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Target:
    def __init__(self, name: str, cmd: list, port: int, workdir: str):
        self.name, self.cmd, self.port, self.workdir = name, cmd, port, workdir
        self.proc = None

    def start(self) -> None:
        self.proc = spawn(self.cmd, os.path.join(self.workdir, f"{self.name}.log"), cwd=self.workdir)
        wait_port(self.port, 30, self.proc)

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def make_target(name: str, workdir: str) -> Target:
    port = free_port()
    if name == "strait":
        binary = strait_bin()
        data = os.path.join(workdir, "strait-data")
        return Target(name, [binary, "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
                             "--override", f"log.dirs={data}"], port, workdir)
    if name == "tansu":
        binary = os.environ.get("TANSU_BIN", "/tmp/tansu/root/bin/tansu")
        # A fresh sqlite file per run (peers.md: never share one; DeleteTopics wipes it). Tansu
        # 0.6.0 joins even an absolute sqlite path onto its working directory
        # (sqlite:///tmp/x.db opens ./tmp/x.db), so run it in the temp dir with a relative path.
        url = f"tcp://127.0.0.1:{port}"
        return Target(name, [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "sqlite://tansu.db"], port, workdir)
    raise SystemExit(f"unknown target {name}")


def run_workload(t: Target, n: int, size: int) -> dict:
    topic = "bench"
    admin = AdminClient({"bootstrap.servers": t.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    payload = os.urandom(size)

    producer = Producer({"bootstrap.servers": t.bootstrap, "acks": "all", "linger.ms": 5,
                         "batch.size": 1048576, "queue.buffering.max.messages": 1000000,
                         "queue.buffering.max.kbytes": 1048576, "compression.type": "none"})
    failures = []

    def on_delivery(err, _msg):
        if err is not None:
            failures.append(err)

    b0, c0 = cpu_seconds(t.proc.pid), self_cpu()
    start = time.monotonic()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, payload, key=str(i).encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 10000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    produce_s = time.monotonic() - start
    b1, c1 = cpu_seconds(t.proc.pid), self_cpu()
    if remaining or failures:
        raise RuntimeError(f"{t.name}: {remaining} undelivered, {len(failures)} failed: {failures[:3]}")

    consumer = Consumer({"bootstrap.servers": t.bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760,
                         "isolation.level": "read_uncommitted"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    b2, c2 = cpu_seconds(t.proc.pid), self_cpu()
    start = time.monotonic()
    deadline = start + 300
    while got < n and time.monotonic() < deadline:
        for m in consumer.consume(10000, 1.0):
            if m.error() is None:
                got += 1
    consume_s = time.monotonic() - start
    b3, c3 = cpu_seconds(t.proc.pid), self_cpu()
    consumer.close()
    if got < n:
        raise RuntimeError(f"{t.name}: consumed only {got} of {n}")
    mb = n * size / 1e6
    return {"target": t.name, "records": n, "record_bytes": size,
            "produce_s": round(produce_s, 3), "produce_MBps": round(mb / produce_s, 1),
            "consume_s": round(consume_s, 3), "consume_MBps": round(mb / consume_s, 1),
            "produce_broker_cpu_s": round(b1 - b0, 2), "consume_broker_cpu_s": round(b3 - b2, 2),
            "produce_client_cpu_s": round(c1 - c0, 2), "consume_client_cpu_s": round(c3 - c2, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="strait,tansu")
    ap.add_argument("--records", type=int, default=500000)
    ap.add_argument("--size", type=int, default=1000)
    args = ap.parse_args()
    results = []
    for name in args.targets.split(","):
        workdir = temp_dir(f"bench-{name}-")
        t = make_target(name, workdir)
        load = loadavg()
        try:
            t.start()
            r = run_workload(t, args.records, args.size)
        finally:
            t.stop()
        r["load_before"], r["load_after"] = load, loadavg()
        results.append(r)
    print(f"{'target':8} {'records':>9} {'produce MB/s':>13} {'consume MB/s':>13} {'broker CPU s p/c':>17} "
          f"{'client CPU s p/c':>17}  load before/after")
    for r in results:
        print(f"{r['target']:8} {r['records']:>9} {r['produce_MBps']:>13} {r['consume_MBps']:>13} "
              f"{r['produce_broker_cpu_s']:>8}/{r['consume_broker_cpu_s']:<8} "
              f"{r['produce_client_cpu_s']:>8}/{r['consume_client_cpu_s']:<8}  {r['load_before']} / {r['load_after']}")
    by = {r["target"]: r for r in results}
    if "strait" in by and "tansu" in by:
        print(f"ratio strait/tansu: produce {by['strait']['produce_MBps'] / by['tansu']['produce_MBps']:.2f}x, "
              f"consume {by['strait']['consume_MBps'] / by['tansu']['consume_MBps']:.2f}x")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
