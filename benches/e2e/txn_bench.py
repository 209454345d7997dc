#!/usr/bin/env python3
"""Transactions, end to end, driven by librdkafka (confluent-kafka), as ratios measured side
by side in one run against one Strait broker (issue 9, Performance):

  1. produce: the same N records (S-byte values, one partition) with an idempotent producer
     (enable.idempotence, acks=all, linger 5 ms) and with a transactional producer that
     commits every T records (begin_transaction, T x produce, commit_transaction; the
     commit flushes, so each transaction is AddPartitionsToTxn + Produce + EndTxn + the
     marker append). Records/s of each, and the ratio transactional / idempotent.
  2. fetch: one log written by a transactional producer, transactions of T records, every
     K-th aborted (10 % with K=10; flushed before the abort so the data is in the log).
     Consume it all from offset 0 with assign() under read_committed (the aborted
     transactions' records are dropped by the client from the aborted_transactions list
     the broker returns) and read_uncommitted (every record), ABBA order. Time from assign()
     to the last record before EOF (the LSO, equal to the HW once the producer is done),
     records delivered per second and log offsets
     covered per second, and the ratio read_committed / read_uncommitted (client-bound:
     librdkafka + the Python loop).
  3. raw fetch: the same log read with bare Fetch v4 requests (protocol-tests/kafka_wire.py,
     no record decoding) under each isolation level, 5 alternating rounds: the broker's side.

Phases alternate order across --repeat trials (fresh topics each time); the median trial is
printed. The broker's CPU seconds (/proc/PID/stat) and the machine load are recorded.

Usage (from the repository root; see benches/README.md, "Transactions"):
  cargo build --release -p strait-broker --bin strait
  protocol-tests/.venv/bin/python benches/e2e/txn_bench.py --records 200000 --repeat 3
  STRAIT_BIN_DIR=target/debug protocol-tests/.venv/bin/python benches/e2e/txn_bench.py --records 5000 --fetch-records 20000 --repeat 1   # smoke
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Strait, cpu_seconds, loadavg, temp_dir, wait_until  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "protocol-tests"))
import kafka_wire  # noqa: E402

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


WARMUP = "warm-up"


def create_topic(bootstrap: str, name: str) -> None:
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)


def payloads(n: int, size: int) -> list:
    base = os.urandom(size)
    return [str(i).encode().rjust(12, b"0") + base[12:] for i in range(n)]


def base_conf(bootstrap: str) -> dict:
    return {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "batch.size": 1 << 20,
            "queue.buffering.max.messages": 1_000_000, "message.timeout.ms": 60_000}


def produce_idempotent(bootstrap: str, topic: str, values: list) -> float:
    errors = []
    p = Producer({**base_conf(bootstrap), "enable.idempotence": True,
                  "on_delivery": lambda err, _m: errors.append(err) if err else None})
    # Warm up outside the timed window (connection, metadata, InitProducerId), as the
    # transactional side's init_transactions + one transaction are.
    p.produce(WARMUP, b"warm-up", partition=0)
    if p.flush(60):
        raise RuntimeError("idempotent warm-up did not complete")
    t0 = time.monotonic()
    for v in values:
        while True:
            try:
                p.produce(topic, v, partition=0)
                break
            except BufferError:
                p.poll(0.01)
    left = p.flush(120)
    dt = time.monotonic() - t0
    if left or errors:
        raise RuntimeError(f"idempotent produce: {left} undelivered, errors {errors[:3]}")
    return dt


def produce_transactional(bootstrap: str, topic: str, values: list, txn_size: int, abort_every: int = 0,
                          txn_id: str = "bench-tx") -> float:
    """Transactions of txn_size records; every abort_every-th aborted (0: none)."""
    errors = []
    p = Producer({**base_conf(bootstrap), "transactional.id": txn_id,
                  "on_delivery": lambda err, _m: errors.append(err) if err else None})
    p.init_transactions(60)
    p.begin_transaction()
    p.produce(WARMUP, b"warm-up", partition=0)
    p.commit_transaction(60)
    t0 = time.monotonic()
    for n, start in enumerate(range(0, len(values), txn_size)):
        p.begin_transaction()
        for v in values[start:start + txn_size]:
            p.produce(topic, v, partition=0)
        if abort_every and n % abort_every == abort_every - 1:
            if p.flush(60):
                raise RuntimeError("flush before abort timed out")
            p.abort_transaction(60)
        else:
            p.commit_transaction(60)
    dt = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"transactional produce errors: {errors[:3]}")
    return dt


def consume_all(bootstrap: str, topic: str, isolation: str) -> tuple:
    """(seconds from assign() to the last record delivered, records delivered, EOF offset).
    The connection is made before the clock starts; the extra fetch that finds EOF is not
    timed."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-unused", "enable.auto.commit": False,
                  "auto.offset.reset": "error", "enable.partition.eof": True, "isolation.level": isolation,
                  "fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 16 << 20, "fetch.wait.max.ms": 100})
    try:
        c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        t0 = time.monotonic()
        c.assign([TopicPartition(topic, 0, 0)])
        n = 0
        last = -1
        t_last = t0
        deadline = t0 + 300
        while time.monotonic() < deadline:
            # Small batches with a short wait: consume() waits its whole timeout for a
            # batch it cannot fill, which would be timed as fetch time.
            for m in c.consume(num_messages=500, timeout=0.002):
                err = m.error()
                if err is None:
                    n += 1
                    last = m.offset()
                    t_last = time.monotonic()
                elif err.code() == KafkaError._PARTITION_EOF:
                    return t_last - t0, n, m.offset()
                else:
                    raise KafkaException(err)
        raise TimeoutError(f"{isolation}: no EOF after 300 s ({n} records, last offset {last})")
    finally:
        c.close()


def raw_fetch_all(bootstrap: str, topic: str, isolation: int) -> dict:
    """The broker's side alone: Fetch v4 requests (no record decoding; a header walk finds
    the next offset) from offset 0 until the end for that isolation level (the LSO for 1 =
    READ_COMMITTED, the HW for 0), 16 MiB per partition per request."""
    host, port = bootstrap.rsplit(":", 1)
    with kafka_wire.Conn(host, int(port), timeout=30) as conn:
        offset, corr, nbytes, batches, aborted, requests = 0, 0, 0, 0, 0, 0
        t0 = time.monotonic()
        while True:
            corr += 1
            body = conn.roundtrip(kafka_wire.fetch_request_v4(topic, 0, offset, corr, max_bytes=64 << 20,
                                                              partition_max_bytes=16 << 20,
                                                              isolation_level=isolation), corr)
            requests += 1
            part = kafka_wire.parse_fetch_v4(body)[(topic, 0)]
            if part.error_code:
                raise RuntimeError(f"fetch at {offset}: error {part.error_code}")
            end = part.last_stable_offset if isolation else part.high_watermark
            data = part.records or b""
            aborted += len(part.aborted or [])
            pos = 0
            while pos + 61 <= len(data):
                base = int.from_bytes(data[pos:pos + 8], "big")
                length = int.from_bytes(data[pos + 8:pos + 12], "big")
                if pos + 12 + length > len(data):
                    break
                offset = base + int.from_bytes(data[pos + 23:pos + 27], "big") + 1
                pos += 12 + length
                batches += 1
            nbytes += pos
            if offset >= end:
                return {"seconds": time.monotonic() - t0, "bytes": nbytes, "batches": batches,
                        "aborted_entries": aborted, "requests": requests, "end": end}


def watermarks(bootstrap: str, topic: str) -> tuple:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-unused"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    finally:
        c.close()


def trial(broker: Strait, i: int, args, values: list, fetch_values: list) -> dict:
    out = {}
    if i == 0:
        create_topic(broker.bootstrap, WARMUP)
    order = ["idempotent", "transactional"] if i % 2 == 0 else ["transactional", "idempotent"]
    for mode in order:
        topic = f"produce-{mode}-{i}"
        create_topic(broker.bootstrap, topic)
        cpu0 = cpu_seconds(broker.pid)
        if mode == "idempotent":
            dt = produce_idempotent(broker.bootstrap, topic, values)
        else:
            dt = produce_transactional(broker.bootstrap, topic, values, args.txn_size, txn_id=f"bench-p-{i}")
        out[f"produce_{mode}"] = {"seconds": dt, "records_per_s": len(values) / dt,
                                  "broker_cpu_s": cpu_seconds(broker.pid) - cpu0,
                                  "hw": watermarks(broker.bootstrap, topic)[1]}

    topic = f"fetch-{i}"
    create_topic(broker.bootstrap, topic)
    produce_transactional(broker.bootstrap, topic, fetch_values, args.txn_size, args.abort_every, txn_id=f"bench-f-{i}")
    hw = wait_until(lambda: watermarks(broker.bootstrap, topic)[1], 30, "fetch log HW")
    # ABBA order (then BAAB on odd trials): each mode twice; the mean of its two runs.
    order = ["read_uncommitted", "read_committed"] if i % 2 == 0 else ["read_committed", "read_uncommitted"]
    runs = {"read_uncommitted": [], "read_committed": []}
    for iso in order + order[::-1]:
        cpu0 = cpu_seconds(broker.pid)
        dt, n, end = consume_all(broker.bootstrap, topic, iso)
        runs[iso].append((dt, n, end, cpu_seconds(broker.pid) - cpu0))
    for iso, rs in runs.items():
        dt = statistics.mean(r[0] for r in rs)
        n, end = rs[0][1], rs[0][2]
        if any((r[1], r[2]) != (n, end) for r in rs):
            raise RuntimeError(f"{iso}: runs disagree: {rs}")
        out[f"fetch_{iso}"] = {"seconds": dt, "runs_s": [r[0] for r in rs], "records": n, "end": end,
                               "records_per_s": n / dt, "offsets_per_s": end / dt,
                               "broker_cpu_s": statistics.mean(r[3] for r in rs)}
    # Raw fetches: 5 alternating rounds of each; the median run of each mode.
    raw = {0: [], 1: []}
    for _ in range(5):
        for iso in (0, 1) if i % 2 == 0 else (1, 0):
            cpu0 = cpu_seconds(broker.pid)
            r = raw_fetch_all(broker.bootstrap, topic, iso)
            r["broker_cpu_s"] = cpu_seconds(broker.pid) - cpu0
            r["mb_per_s"] = r["bytes"] / r["seconds"] / 1e6
            raw[iso].append(r)
    for iso, name in ((0, "read_uncommitted"), (1, "read_committed")):
        med = sorted(raw[iso], key=lambda r: r["seconds"])[2]
        med["runs_s"] = [r["seconds"] for r in raw[iso]]
        out[f"raw_fetch_{name}"] = med
    out["ratio_raw_fetch_rc_over_ru_time"] = (out["raw_fetch_read_uncommitted"]["seconds"]
                                              / out["raw_fetch_read_committed"]["seconds"])
    n_txn = -(-len(fetch_values) // args.txn_size)
    n_aborted = n_txn // args.abort_every if args.abort_every else 0
    expected_rc = len(fetch_values) - n_aborted * args.txn_size
    if out["fetch_read_committed"]["records"] != expected_rc or out["fetch_read_uncommitted"]["records"] != len(fetch_values):
        raise RuntimeError(f"wrong record counts: read_committed {out['fetch_read_committed']['records']} "
                           f"(want {expected_rc}), read_uncommitted {out['fetch_read_uncommitted']['records']} "
                           f"(want {len(fetch_values)})")
    out["fetch_log"] = {"hw": hw, "transactions": n_txn, "aborted": n_aborted}
    out["ratio_produce_txn_over_idempotent"] = (out["produce_transactional"]["records_per_s"]
                                                / out["produce_idempotent"]["records_per_s"])
    out["ratio_fetch_rc_over_ru_time"] = out["fetch_read_uncommitted"]["seconds"] / out["fetch_read_committed"]["seconds"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--fetch-records", type=int, default=1_000_000, help="records in each trial's fetch log")
    ap.add_argument("--value-bytes", type=int, default=200)
    ap.add_argument("--txn-size", type=int, default=100)
    ap.add_argument("--abort-every", type=int, default=10, help="abort every K-th transaction of the fetch log")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json-out")
    args = ap.parse_args()

    work = temp_dir("strait-txn-bench-")
    broker = Strait("strait", work).start()
    values = payloads(args.records, args.value_bytes)
    fetch_values = payloads(args.fetch_records, args.value_bytes)
    load_before = loadavg()
    trials = []
    for i in range(args.repeat):
        t = trial(broker, i, args, values, fetch_values)
        t["load"] = loadavg()
        trials.append(t)
        print(f"trial {i}: produce txn/idem {t['ratio_produce_txn_over_idempotent']:.3f}, "
              f"consume rc/ru {t['ratio_fetch_rc_over_ru_time']:.3f}, raw fetch rc/ru "
              f"{t['ratio_raw_fetch_rc_over_ru_time']:.3f}, load {t['load']}", flush=True)
    broker.stop()

    def median_by(key):
        return sorted(trials, key=lambda t: t[key])[len(trials) // 2]

    def trial_list(key):
        return ", ".join("%.3f" % t[key] for t in trials)

    p = median_by("ratio_produce_txn_over_idempotent")
    f = median_by("ratio_fetch_rc_over_ru_time")
    print(f"\nload before {load_before}, after {loadavg()}; produce {args.records} records of {args.value_bytes} B, "
          f"{args.txn_size} per transaction; fetch log {args.fetch_records} records, aborts 1 transaction in "
          f"{args.abort_every}; median of {len(trials)} trials")
    print("| produce | records/s | s | broker CPU s |\n|---|---|---|---|")
    for mode in ("idempotent", "transactional"):
        r = p[f"produce_{mode}"]
        print(f"| {mode} | {r['records_per_s']:,.0f} | {r['seconds']:.3f} | {r['broker_cpu_s']:.2f} |")
    print(f"| **ratio transactional / idempotent** | **{p['ratio_produce_txn_over_idempotent']:.3f}** "
          f"(trials {trial_list('ratio_produce_txn_over_idempotent')}) | | |")
    print("\n| fetch (log with 10 % aborted) | s to last record | records | records/s | offsets/s | broker CPU s |\n|---|---|---|---|---|---|")
    for iso in ("read_uncommitted", "read_committed"):
        r = f[f"fetch_{iso}"]
        print(f"| {iso} | {r['seconds']:.3f} | {r['records']:,} | {r['records_per_s']:,.0f} | "
              f"{r['offsets_per_s']:,.0f} | {r['broker_cpu_s']:.2f} |")
    print(f"| **ratio read_committed / read_uncommitted (log offsets per s)** | "
          f"**{f['ratio_fetch_rc_over_ru_time']:.3f}** "
          f"(trials {trial_list('ratio_fetch_rc_over_ru_time')}) | | | | |")
    r = median_by("ratio_raw_fetch_rc_over_ru_time")
    print("\n| raw Fetch v4, no decoding (the broker's side) | s | MB/s | requests | batches | aborted entries | "
          "broker CPU s |\n|---|---|---|---|---|---|---|")
    for iso in ("read_uncommitted", "read_committed"):
        x = r[f"raw_fetch_{iso}"]
        print(f"| {iso} | {x['seconds']:.3f} | {x['mb_per_s']:,.0f} | {x['requests']} | {x['batches']:,} | "
              f"{x['aborted_entries']:,} | {x['broker_cpu_s']:.2f} |")
    print(f"| **ratio read_committed / read_uncommitted (throughput)** | "
          f"**{r['ratio_raw_fetch_rc_over_ru_time']:.3f}** (trials {trial_list('ratio_raw_fetch_rc_over_ru_time')}) "
          f"| | | | | |")
    print(f"\nfetch log: HW {f['fetch_log']['hw']}, {f['fetch_log']['transactions']} transactions, "
          f"{f['fetch_log']['aborted']} aborted")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"args": vars(args), "load_before": load_before, "trials": trials}, fh, indent=1)


if __name__ == "__main__":
    main()
