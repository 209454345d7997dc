"""Verification: every partition read back through librdkafka (read_uncommitted) and
judged against the writers' acknowledgements; for the link scenario, the mirror too, and
its raw batches compared byte for byte with the source's.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

from .common import TOPIC, HarnessError, client_log
from .procs import Broker
from .rawwire import compare_raw, high_watermarks, watermarks
from .writer import Writer



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
                  "logger": client_log()})
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

