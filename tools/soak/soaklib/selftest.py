"""The self-test: proves the checks bite by injecting a second copy of an acknowledged
record, an acknowledgement whose record is missing and a log with the same values written
by another producer, and expecting each one reported.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from confluent_kafka import Producer

from .common import TOPIC, client_log, wait_until
from .procs import Broker
from .rawwire import compare_raw, high_watermarks
from .scenario import create_topic, start_writers
from .verify import verify

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
    plain = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "logger": client_log()})
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
    other = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 50, "logger": client_log()})
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

