"""Log compaction (cleanup.policy=compact) seen through real clients: confluent-kafka
(librdkafka 2.16) and the Apache Kafka Java client (kafka-clients 3.9.1).

Kafka's contract, checked from outside the broker:
* after cleaning, a consumer reading from the log start sees exactly the latest record of
  every key, each at its ORIGINAL offset (gaps where records were removed), whatever
  retention.ms says (compact only) — and compact,delete also deletes old segments by time;
* tombstones (null values) are removed once delete.retention.ms has passed since the
  cleaning that first saw them (KIP-534 delete horizon), not before;
* a record without a key is refused on a compacted topic (INVALID_RECORD);
* idempotent producers keep their sequence across cleaning (and a restart);
* kill -9 during cleaning loses nothing: after restart every key's latest value is still
  there, at its offset, and every record seen is one that was produced at that offset;
* a tiny dedupe buffer (many keys, several passes) still gives the right answer;
* invalid cleaner settings are refused (broker exit 2 / INVALID_CONFIG) naming the key;
* a compacted topic mirrored over a cluster link reads the same as its source once both
  are cleaned, and keeps compacting after promotion.

How cleaning is made observable and deterministic: segments are tiny (segment.bytes=1024)
and min.cleanable.dirty.ratio=0.01, so every produce round leaves dirty non-active
segments; the cleaner backs off 100 ms. The active segment is never cleaned, and a key's
latest record in the active segment does not supersede its older copies (Kafka's offset
map covers only the cleanable range), so every wait ends with a "roll" record: a unique
key and a 1500-byte value, bigger than a segment, so it always sits alone in the active
segment and everything before it is cleanable. Waits poll the consumer view until it
equals the model (with a deadline), producing another roll record every second as a nudge
(new dirty data, so a cleaner that waits for dirt — e.g. to remove tombstones past their
horizon — runs again). The model includes the roll records.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

import ck
from conftest import scaled, strait_bin, wait_until

SEGMENT_BYTES = 1024
# segment.bytes of each topic created here, so a roll record can be made bigger than a segment.
SEGMENT_OF: dict[str, int] = {}
# Broker settings that make the cleaner and retention react within a fraction of a second.
FAST = {"log.cleaner.backoff.ms": "100", "log.retention.check.interval.ms": "200"}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
CLEANER_FILES = (".cleaned", ".swap", ".cleaner-swap")

Rec = tuple  # (offset, key, value)


def compact_config(**extra) -> dict:
    cfg = {"cleanup.policy": "compact", "segment.bytes": str(SEGMENT_BYTES), "min.cleanable.dirty.ratio": "0.01"}
    cfg.update({k.replace("_", "."): str(v) for k, v in extra.items()})
    return cfg


def create_compacted(bootstrap: str, topic: str, **extra) -> dict:
    cfg = compact_config(**extra)
    ck.create_topic(bootstrap, topic, 1, cfg)
    SEGMENT_OF[topic] = int(cfg["segment.bytes"])
    return cfg


def roll_value(topic: str) -> bytes:
    """Bigger than a segment: alone in its segment, which is then the active one."""
    return b"R" * (SEGMENT_OF.get(topic, SEGMENT_BYTES) + 500)


def now_ms() -> int:
    return int(time.time() * 1000)


class Model:
    """What the partition holds: offset -> (key, value) of every acknowledged record."""

    def __init__(self):
        self.at: dict[int, tuple[bytes | None, bytes | None]] = {}

    def add(self, offset: int, key: bytes | None, value: bytes | None):
        assert offset not in self.at, f"offset {offset} acknowledged twice"
        self.at[offset] = (key, value)

    def latest(self, since: int = -1) -> dict[bytes, int]:
        last: dict[bytes, int] = {}
        for o in sorted(self.at):
            if o > since:
                last[self.at[o][0]] = o
        return last

    def compacted(self, tombstones: bool = True, since: int = -1) -> list[Rec]:
        """The fully cleaned view: the latest record per key (records after `since` only),
        by offset; without tombstones when they are past their horizon."""
        out = [(o, k, self.at[o][1]) for k, o in self.latest(since).items()]
        return sorted(r for r in out if tombstones or r[2] is not None)


def ck_produce(bootstrap: str, topic: str, model: Model, records: list[tuple], **conf) -> list[int]:
    """Produce (key, value[, timestamp]) to partition 0 with confluent-kafka; record the
    acknowledged offsets in the model."""
    msgs = []
    for r in records:
        m = {"key": r[0], "value": r[1], "partition": 0}
        if len(r) > 2:
            m["timestamp"] = r[2]
        msgs.append(m)
    conf = {"linger.ms": 5, **conf}
    delivered = ck.produce(bootstrap, topic, msgs, **conf)
    for d in delivered:
        model.add(d.offset, d.key, d.value)
    return [d.offset for d in delivered]


def java_produce(java, bootstrap: str, topic: str, model: Model, records: list[tuple], **props) -> list[int]:
    recs = [(r[0], r[1], 0, r[2] if len(r) > 2 else None) for r in records]
    outs = java.produce(bootstrap, topic, recs, **props)
    bad = [o for o in outs if o.error]
    assert not bad, f"java delivery errors: {bad[:5]}"
    for r, o in zip(records, outs):
        model.add(o.offset, r[0], r[1])
    return [o.offset for o in outs]


def roll(bootstrap: str, topic: str, model: Model) -> int:
    """A record alone in a new active segment (see the module docstring)."""
    key = f"roll-{uuid.uuid4().hex[:8]}".encode()
    return ck_produce(bootstrap, topic, model, [(key, roll_value(topic))])[0]


def view(bootstrap: str, topic: str, timeout: float = 30, start: int = OFFSET_BEGINNING) -> list[Rec]:
    """(offset, key, value) of every record from the log start (or `start`) to the end,
    read with confluent-kafka (assign, batched consume, until partition EOF)."""
    c = ck.consumer(bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, start)])
        out: list[Rec] = []
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            for m in c.consume(num_messages=10000, timeout=0.2):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        return out
                    raise KafkaException(m.error())
                out.append((m.offset(), m.key(), m.value()))
        raise AssertionError(f"{topic}: no end of partition within {scaled(timeout):.0f}s; read {len(out)} records")
    finally:
        c.close()


def describe_diff(got: list[Rec], want: list[Rec]) -> str:
    g, w = set(got), set(want)
    short = lambda rs: [(o, k, (v[:12] + b"..") if v and len(v) > 12 else v) for o, k, v in sorted(rs)[:8]]  # noqa: E731
    return (f"view has {len(got)} records, model {len(want)}; "
            f"extra (not in the cleaned model) {len(g - w)}: {short(g - w)}; missing {len(w - g)}: {short(w - g)}")


def converge(bootstrap: str, topic: str, model: Model, tombstones: bool = True, since: int = -1,
             timeout: float = 60, nudge: bool = True) -> list[Rec]:
    """Wait (deadline, polling) until the consumer view equals the fully cleaned model."""
    deadline = time.monotonic() + scaled(timeout)
    last_nudge = time.monotonic()
    got: list[Rec] = []
    while True:
        want = model.compacted(tombstones, since)
        try:
            got = view(bootstrap, topic)
        except (AssertionError, KafkaException) as e:  # e.g. the tail moved while reading
            got = [("consume failed", str(e))]
        if got == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}: not cleaned to the model within {scaled(timeout):.0f}s: "
                                 + (describe_diff(got, want) if got and len(got[0]) == 3 else repr(got)))
        if nudge and time.monotonic() - last_nudge > 1.0:
            roll(bootstrap, topic, model)
            last_nudge = time.monotonic()
        time.sleep(0.1)


def partition_dir(broker, topic: str, partition: int = 0) -> Path:
    return broker.data_dir / f"{topic}-{partition}"


def segment_count(broker, topic: str) -> int:
    return len([f for f in os.listdir(partition_dir(broker, topic)) if f.endswith(".log")])


def assert_consistent(got: list[Rec], model: Model, what: str):
    """A partially cleaned log: every record seen was produced at that offset, offsets
    increase, and every key's latest record is present (nothing acknowledged is lost)."""
    offsets = [o for o, _, _ in got]
    assert offsets == sorted(set(offsets)), f"{what}: offsets not strictly increasing"
    wrong = [(o, k, v) for o, k, v in got if model.at.get(o) != (k, v)]
    assert not wrong, f"{what}: {len(wrong)} records differ from what was produced at their offset, e.g. {wrong[:3]}"
    seen = {o for o in offsets}
    lost = [(k, o) for k, o in model.latest().items() if o not in seen]
    assert not lost, f"{what}: {len(lost)} keys lost their latest value, e.g. {lost[:5]}"


# --------------------------------------------------------------------------
# Latest value per key, retention, compact+delete


@pytest.mark.parametrize("client", ["confluent", "java"])
def test_latest_value_per_key_survives_small_retention(broker_factory, topic, client, request):
    """cleanup.policy=compact with retention.ms=2000 and records timestamped an hour ago:
    retention never deletes from a compact-only topic; the cleaner leaves exactly the latest
    value of each of the 10 keys at its original offset. A cleanup.policy=delete control
    topic with the same settings and timestamps proves retention ran meanwhile."""
    b = broker_factory(overrides=FAST)
    create_compacted(b.bootstrap, topic, retention_ms=2000)
    control = f"{topic}-control"
    ck.create_topic(b.bootstrap, control, 1, {"cleanup.policy": "delete", "retention.ms": "2000",
                                              "segment.bytes": str(SEGMENT_BYTES)})
    jp = request.getfixturevalue("java").producer(b.bootstrap, topic) if client == "java" else None
    model = Model()
    old = now_ms() - HOUR_MS
    for rnd in range(5):  # 100 records over 10 keys, in 5 rounds (one producer, flushed per round)
        recs = [(f"k{i % 10}".encode(), f"r{rnd}-{i}".encode(), old + rnd * 20 + i) for i in range(20)]
        if jp:
            first = jp.sent
            for k, v, ts in recs:
                jp.send(k, v, 0, ts)
            outs = jp.flush()
            for i, (k, v, _) in enumerate(recs):
                o = outs[first + i]
                assert o.error is None, o
                model.add(o.offset, k, v)
        else:
            ck_produce(b.bootstrap, topic, model, recs)
        ck_produce(b.bootstrap, control, Model(), recs)
    if jp:
        jp.close()
    roll(b.bootstrap, topic, model)

    got = converge(b.bootstrap, topic, model)
    assert len(got) < len(model.at), "the cleaner removed nothing"
    assert [v for _, k, v in got if not k.startswith(b"roll-")] == [f"r4-{i}".encode() for i in range(10, 20)]
    # Retention runs on this broker (the control topic loses its old segments) ...
    wait_until(lambda: ck.watermarks(b.bootstrap, control)[0] > 0, timeout=30, what="retention on the control topic")
    # ... and still the compacted topic keeps every key's latest value.
    again = view(b.bootstrap, topic)
    assert [r for r in again if r[0] <= got[-1][0]] == got
    lo, hi = ck.watermarks(b.bootstrap, topic)
    assert lo <= got[0][0], f"log start {lo} is beyond the first surviving record {got[0][0]}"
    assert hi == max(model.at) + 1
    # A consumer positioned on a removed offset continues at the next surviving record.
    gap = next(o for o in range(got[-1][0]) if o not in {r[0] for r in got})
    from_gap = view(b.bootstrap, topic, start=gap)
    assert from_gap == [r for r in again if r[0] > gap]
    # The other client reads the same records from the log start (offset gaps included).
    if jp:
        jrecs, begin, end = request.getfixturevalue("java").consume(b.bootstrap, topic)
        assert (begin, end) == (lo, hi)
        assert jrecs == again


def test_compact_delete_removes_old_segments_by_time(broker_factory, topic, java):
    """cleanup.policy=compact,delete: segments whose records are older than retention.ms
    are deleted (the log start moves past them) and the rest is compacted."""
    b = broker_factory(overrides=FAST)
    create_compacted(b.bootstrap, topic, retention_ms=DAY_MS, segment_ms=500, **{"cleanup.policy": "compact,delete"})
    model = Model()
    two_days_ago = now_ms() - 2 * DAY_MS
    # Old data, unique keys (compaction alone would keep all of it), then an old roll
    # record that closes the last old segment.
    ck_produce(b.bootstrap, topic, model, [(f"a{i}".encode(), f"old{i}".encode(), two_days_ago + i) for i in range(50)])
    last_old = ck_produce(b.bootstrap, topic, model, [(b"a-roll", roll_value(topic), two_days_ago + 100)])[0]
    # Current data: 10 keys, 3 values each.
    for rnd in range(3):
        ck_produce(b.bootstrap, topic, model, [(f"b{i}".encode(), f"new{rnd}-{i}".encode()) for i in range(10)])
    roll(b.bootstrap, topic, model)

    got = converge(b.bootstrap, topic, model, since=last_old)
    lo, _ = ck.watermarks(b.bootstrap, topic)
    assert last_old < lo <= got[0][0], f"log start {lo}: the old segments (up to offset {last_old}) must be deleted"
    assert not any(k.startswith(b"a") for _, k, _ in got)
    assert [v for _, k, v in got if k.startswith(b"b")] == [f"new2-{i}".encode() for i in range(10)]
    jrecs, begin, _ = java.consume(b.bootstrap, topic)
    assert begin == lo and jrecs == view(b.bootstrap, topic)


# --------------------------------------------------------------------------
# Tombstones


def test_tombstones_removed_after_delete_retention(broker_factory, unique_name, java):
    """Tombstones are kept by the first cleaning and removed by a later one once
    delete.retention.ms has passed (KIP-534); other keys keep their latest value. A topic
    with delete.retention.ms of a day, cleaned on the same broker meanwhile, still has its
    tombstones."""
    b = broker_factory(overrides=FAST)
    short, long_ = unique_name("short"), unique_name("long")
    create_compacted(b.bootstrap, short, delete_retention_ms=1000)
    create_compacted(b.bootstrap, long_, delete_retention_ms=DAY_MS)
    models = {short: Model(), long_: Model()}
    for t, m in models.items():
        for rnd in range(3):
            ck_produce(b.bootstrap, t, m, [(f"k{i}".encode(), f"v{rnd}-{i}".encode()) for i in range(10)])
        ck_produce(b.bootstrap, t, m, [(f"k{i}".encode(), None) for i in range(5)])  # tombstones for k0..k4
        roll(b.bootstrap, t, m)

    got = converge(b.bootstrap, short, models[short], tombstones=False, timeout=60)
    keys = {k for _, k, _ in got}
    assert not keys & {f"k{i}".encode() for i in range(5)}, "tombstoned keys must be gone entirely"
    assert [(k, v) for _, k, v in got if k.startswith(b"k")] == [(f"k{i}".encode(), f"v2-{i}".encode()) for i in range(5, 10)]
    # The Java consumer sees the same: no null values, same offsets.
    jrecs, _, _ = java.consume(b.bootstrap, short)
    assert jrecs == view(b.bootstrap, short)
    assert all(v is not None for _, _, v in jrecs)

    # The long-horizon topic has been cleaned too (older values gone) but keeps its tombstones.
    got_long = converge(b.bootstrap, long_, models[long_], tombstones=True, timeout=30)
    assert [(k, v) for _, k, v in got_long if k.startswith(b"k")] == \
        [(f"k{i}".encode(), f"v2-{i}".encode()) for i in range(5, 10)] + [(f"k{i}".encode(), None) for i in range(5)]


# --------------------------------------------------------------------------
# Key-less records


def test_keyless_record_on_compacted_topic_is_invalid_record(broker_factory, topic, java):
    b = broker_factory()
    create_compacted(b.bootstrap, topic)
    plain = f"{topic}-plain"
    ck.create_topic(b.bootstrap, plain, 1)

    # confluent-kafka: a non-retriable delivery error INVALID_RECORD, nothing appended.
    errors = []
    p = Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": int(scaled(30) * 1000)})
    p.produce(topic, value=b"no key", partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(scaled(30)) == 0
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.INVALID_RECORD, errors[0]
    assert not errors[0].retriable()
    assert ck.watermarks(b.bootstrap, topic) == (0, 0)

    # Java: InvalidRecordException for the key-less record. Kafka rejects the whole batch,
    # and reports the index of the offending record (KIP-467 record_errors), so the keyed
    # records that shared its batch fail with the client's generic "part of a batch which
    # had one or more invalid records".
    outs = java.produce(b.bootstrap, topic, [(f"k{i}".encode(), b"v", 0) for i in range(5)] + [(None, b"no key", 0)],
                        linger_ms=200)
    assert outs[5].error == "org.apache.kafka.common.InvalidRecordException", outs[5]
    assert "without key" in (outs[5].message or ""), outs[5]
    assert all(o.offset is None and o.error for o in outs[:5]), outs[:5]
    assert all(o.error != "org.apache.kafka.common.InvalidRecordException" for o in outs[:5]), \
        f"the keyed records were blamed instead of the key-less one (record_errors batch_index): {outs}"
    assert ck.watermarks(b.bootstrap, topic) == (0, 0)

    # Keyed records are accepted, and key-less ones are fine on a delete-policy topic.
    m = Model()
    assert ck_produce(b.bootstrap, topic, m, [(b"k", b"v")]) == [0]
    assert java_produce(java, b.bootstrap, topic, m, [(b"k", b"w")]) == [1]
    assert ck_produce(b.bootstrap, plain, Model(), [(None, b"no key")]) == [0]
    assert java_produce(java, b.bootstrap, plain, Model(), [(None, b"no key")]) == [1]


# --------------------------------------------------------------------------
# Idempotent producers across cleaning


@pytest.mark.parametrize("client", ["confluent", "java"])
def test_idempotent_producer_across_cleaning_and_restart(broker_factory, topic, client, request):
    """One idempotent producer (librdkafka enable.idempotence=true / the Java client's
    default) writes rounds of values; a second producer overwrites them all, so the cleaner
    removes every record of the first producer (Kafka keeps its last batch, empty, for its
    sequence state). The first producer goes on across cleaning and a kill -9 without
    OutOfOrderSequence or any other error, and the final view is the latest per key."""
    b = broker_factory(overrides=FAST)
    create_compacted(b.bootstrap, topic)
    model = Model()
    keys = [f"k{i}".encode() for i in range(10)]
    rounds = 4

    if client == "java":
        jp = request.getfixturevalue("java").producer(b.bootstrap, topic, linger_ms=5,
                                                      delivery_timeout_ms=int(scaled(120) * 1000))
        client_errors: list[str] = []

        def idem_round(rnd: int) -> list[tuple]:
            recs = [(k, f"idem{rnd}-{j}-{k.decode()}".encode()) for j in range(2) for k in keys]
            first = jp.sent
            for k, v in recs:
                jp.send(k, v, 0)
            outs = jp.flush(timeout=120)
            res = [outs[first + i] for i in range(len(recs))]
            bad = [o for o in res if o.error]
            assert not bad, f"round {rnd}: java idempotent producer errors {bad[:3]}\n{jp.stderr()}"
            return [(o.offset, k, v) for o, (k, v) in zip(res, recs)]

        def finish():
            jp.close()
    else:
        import logging

        client_errors = []
        acked: list = []

        eos_log: list[str] = []

        class Keep(logging.Handler):
            # librdkafka's idempotence log ("eos"): a second producer id, a drain/epoch bump
            # or a sequence error means the broker lost or refused the producer's state.
            def emit(self, rec):
                eos_log.append(rec.getMessage())

        log = logging.getLogger(f"rdkafka-{topic}")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.addHandler(Keep())
        p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                      "message.timeout.ms": int(scaled(120) * 1000), "reconnect.backoff.max.ms": 500,
                      "debug": "eos", "enable.gapless.guarantee": True,
                      "error_cb": lambda e: client_errors.append(f"{e.name()} fatal={e.fatal()}: {e.str()}")},
                     logger=log)

        def idem_round(rnd: int) -> list[tuple]:
            acked.clear()
            for j in range(2):
                for k in keys:
                    p.produce(topic, key=k, value=f"idem{rnd}-{j}-{k.decode()}".encode(), partition=0,
                              on_delivery=lambda err, msg: acked.append((err, msg.offset(), msg.key(), msg.value())))
            assert p.flush(scaled(120)) == 0
            bad = [a for a in acked if a[0] is not None]
            assert not bad, f"round {rnd}: delivery errors {bad[:3]}"
            return [(o, k, v) for _, o, k, v in acked]

        def finish():
            assert p.flush(scaled(30)) == 0

    idem_offsets: list[int] = []
    for rnd in range(rounds):
        for o, k, v in idem_round(rnd):
            model.add(o, k, v)
            idem_offsets.append(o)
        if rnd == rounds - 1:
            break
        # Another producer overwrites every key: all of this round's idempotent records go.
        ck_produce(b.bootstrap, topic, model, [(k, f"other{rnd}-{k.decode()}".encode()) for k in keys])
        roll(b.bootstrap, topic, model)
        got = converge(b.bootstrap, topic, model)
        assert not any(v.startswith(b"idem") for _, _, v in got)
        if rnd == 1:
            # The producer state must also survive a crash after cleaning removed its records.
            b.kill9()
            b.restart()
    finish()
    roll(b.bootstrap, topic, model)
    got = converge(b.bootstrap, topic, model)
    assert [v for _, k, v in got if k in keys] == [f"idem{rounds - 1}-1-{k.decode()}".encode() for k in keys]
    assert idem_offsets == sorted(set(idem_offsets)), "idempotent records duplicated or out of order"
    bad = [e for e in client_errors if "OUT_OF_ORDER" in e or "UNKNOWN_PRODUCER" in e or "fatal=True" in e]
    assert not bad, f"producer errors: {bad}"
    if client == "confluent":
        pids = [m for m in eos_log if "Acquired PID" in m]
        assert len(pids) == 1, f"the producer needed a new producer id: {pids}"
        trouble = [m for m in eos_log if any(s in m for s in (
            "OUT_OF_ORDER", "UNKNOWN_PRODUCER", "DrainBump", "DrainReset", "Bumping", "epoch bump"))]
        assert not trouble, f"librdkafka had to recover its idempotence state: {trouble[:5]}"


# --------------------------------------------------------------------------
# kill -9 while the cleaner works


def test_kill9_during_cleaning_keeps_every_latest_value(broker_factory, topic):
    """A large-ish log cleaned by a throttled cleaner; the broker is killed -9 while
    cleaner files (.cleaned / .swap / the swap manifest) exist in the partition directory
    (or, if none is seen, at another point of the pass), restarted on the same data dir,
    several times. After each restart the log is consistent (every record is the one
    produced at its offset, every key's latest value present); finally, unthrottled, it
    cleans to exactly the latest value per key at the original offsets."""
    throttled = {**FAST, "log.cleaner.io.max.bytes.per.second": "400000"}
    b = broker_factory(overrides=throttled)
    create_compacted(b.bootstrap, topic, segment_bytes=65536)
    model = Model()
    keys = 3000
    pad = b"x" * 80

    def produce_round(rnd: int):
        ck_produce(b.bootstrap, topic, model, [(f"key-{i:05d}".encode(), b"%d-%d-" % (rnd, i) + pad) for i in range(keys)],
                   **{"linger.ms": 20, "batch.num.messages": 200})

    for rnd in range(3):
        produce_round(rnd)
    roll(b.bootstrap, topic, model)
    pdir = partition_dir(b, topic)
    seen_states = []

    def cleaner_files() -> list[str]:
        try:
            return [f for f in os.listdir(pdir) if f.endswith(CLEANER_FILES)]
        except FileNotFoundError:
            return []

    def summary(files: list[str]) -> str:
        return ", ".join(f"{sum(f.endswith(x) for f in files)} {x}" for x in CLEANER_FILES)

    # Where to kill in each cycle: at the first .cleaned file; at a .swap / manifest file;
    # after the pass has swapped at least one group (fewer segments than at the start).
    for cycle, target in enumerate(["cleaned", "swap", "after-swap"]):
        start_segments = segment_count(b, topic)
        deadline = time.monotonic() + scaled(30)
        state = None
        while time.monotonic() < deadline:
            files = cleaner_files()
            if target == "cleaned" and any(f.endswith(".cleaned") for f in files):
                state = f"cleaned ({summary(files)})"
            elif target == "swap" and any(f.endswith((".swap", ".cleaner-swap")) for f in files):
                state = f"swap ({summary(files)})"
            elif target == "after-swap" and files and segment_count(b, topic) < start_segments:
                state = f"after-swap, mid-pass ({summary(files)})"
            if state:
                break
            time.sleep(0.002)
        if state is None:
            state = f"no {target} state seen within the deadline ({summary(cleaner_files())})"
        b.kill9()
        seen_states.append(state)
        b.restart()
        got = view(b.bootstrap, topic, timeout=60)
        assert_consistent(got, model, f"after kill -9 #{cycle} ({state})")
        assert ck.watermarks(b.bootstrap, topic)[1] == max(model.at) + 1, "records lost at the end of the log"
        # New dirty data, so the next cycle has cleaning to interrupt.
        produce_round(3 + cycle)
        roll(b.bootstrap, topic, model)

    assert any(s.startswith(("cleaned", "swap", "after-swap")) for s in seen_states), \
        f"never killed while cleaning was in progress: {seen_states}"
    # Unthrottled, the log cleans to exactly the latest value per key.
    b.kill9()
    b.overrides = dict(FAST)
    b.restart()
    got = converge(b.bootstrap, topic, model, timeout=120)
    assert len([r for r in got if r[1].startswith(b"key-")]) == keys
    # Leftovers of the interrupted passes are gone (a pass started by a nudge may still run).
    wait_until(lambda: not cleaner_files(), timeout=30, what="no .cleaned/.swap/manifest files left")
    print("kill points:", seen_states)


# --------------------------------------------------------------------------
# Tiny dedupe buffer


def test_many_keys_with_the_smallest_dedupe_buffer(broker_factory, topic):
    """log.cleaner.dedupe.buffer.size at Kafka's minimum (more than 1 MiB per cleaner
    thread: Kafka requires dedupe/threads > 1048576). Its offset map (16-byte digest +
    8-byte offset, load factor 0.9) holds ~39k keys, so 60k keys need several passes."""
    b = broker_factory(overrides={**FAST, "log.cleaner.dedupe.buffer.size": str(1024 * 1024 + 1),
                                  "metrics.http.listener": "127.0.0.1:0"})
    create_compacted(b.bootstrap, topic, segment_bytes=131072)
    model = Model()
    n = 60_000
    for rnd in range(2):
        ck_produce(b.bootstrap, topic, model, [(f"key-{i:06d}".encode(), b"%d" % rnd) for i in range(n)],
                   **{"linger.ms": 50, "batch.num.messages": 5000, "compression.type": "lz4"})
    roll(b.bootstrap, topic, model)
    got = converge(b.bootstrap, topic, model, timeout=120)
    data = [r for r in got if r[1].startswith(b"key-")]
    assert len(data) == n and all(v == b"1" for _, _, v in data)
    assert [o for o, _, _ in data] == list(range(n, 2 * n)), "survivors keep their original offsets"
    # The cleaner's own account, as Prometheus scrapes it: several passes, the first
    # round's 60k records (at least) removed, nothing given up on.
    import urllib.request
    url = wait_until(lambda: next((l for l in b.stdout_lines if l.startswith("strait: metrics on ")), None),
                     timeout=10, what="the metrics start-up line").split(" on ", 1)[1]
    metrics = {}
    for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
        if line.startswith("strait_log_cleaner_"):
            k, v = line.rsplit(" ", 1)
            metrics[k] = float(v)
    assert metrics["strait_log_cleaner_passes_total"] >= 2, metrics
    assert metrics["strait_log_cleaner_records_removed_total"] >= n, metrics
    assert metrics["strait_log_cleaner_read_bytes_total"] > 0, metrics
    assert metrics["strait_log_cleaner_uncleanable_partitions"] == 0, metrics


# --------------------------------------------------------------------------
# Invalid settings


def run_broker(tmp_path: Path, *overrides: str) -> tuple[int | None, str, str]:
    """Start strait with these overrides: (exit status, stdout, stderr) if it exits; if it
    starts listening instead, it is stopped and the status is None."""
    d = tmp_path / f"refused-{uuid.uuid4().hex[:6]}"
    d.mkdir()
    argv = [str(strait_bin()), "--override", "listeners=PLAINTEXT://127.0.0.1:0", "--override", f"log.dirs={d / 'data'}"]
    for o in overrides:
        argv += ["--override", o]
    err_path = d / "stderr.log"
    with open(err_path, "wb") as err:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, cwd=d, text=True)
    first = p.stdout.readline()  # the ready line, or "" at exit
    if "listening" in first:
        p.kill()
        p.wait(30)
        return None, first, err_path.read_text(errors="replace")
    rc = p.wait(scaled(30))
    return rc, first + p.stdout.read(), err_path.read_text(errors="replace")


@pytest.mark.parametrize("setting", [
    "log.cleaner.threads=0",                       # Kafka: dedupe.buffer.size / threads -> refuses to start
    "log.cleaner.dedupe.buffer.size=1048575",      # below 1 MiB per thread
    "log.cleaner.min.cleanable.ratio=2",           # [0, 1]
    "log.cleaner.backoff.ms=-1",                   # >= 0
    "log.cleaner.enable=maybe",                    # boolean
])
def test_invalid_cleaner_setting_refuses_to_start(tmp_path, setting):
    rc, out, err = run_broker(tmp_path, setting)
    key = setting.split("=", 1)[0]
    assert rc is not None, f"strait started with {setting}; it must refuse it (stdout {out!r})"
    assert rc == 2, f"{setting}: exit {rc}, stdout {out[-300:]!r}, stderr {err[-600:]!r}"
    assert key in err, f"{setting}: the message must name {key}: {err[-600:]!r}"


@pytest.mark.parametrize("config", [
    {"min.cleanable.dirty.ratio": "2"},
    {"min.cleanable.dirty.ratio": "-0.1"},
    {"cleanup.policy": "compacted"},
    {"delete.retention.ms": "-1"},
    {"min.compaction.lag.ms": "-1"},
    {"max.compaction.lag.ms": "0"},
    {"segment.ms": "0"},
    {"segment.bytes": "13"},
    {"min.compaction.lag.ms": "10000", "max.compaction.lag.ms": "5000"},
], ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_invalid_topic_cleaner_config_is_invalid_config(broker, unique_name, config):
    name = unique_name()
    with pytest.raises(KafkaException) as e:
        ck.create_topic(broker.bootstrap, name, 1, {"cleanup.policy": "compact", **config})
    err = e.value.args[0]
    assert err.code() == KafkaError.INVALID_CONFIG, err
    assert any(k in err.str() for k in config), f"message must name the key: {err.str()}"
    assert name not in ck.admin(broker.bootstrap).list_topics(timeout=scaled(10)).topics


def test_invalid_cleaner_config_java_admin_and_alter(broker, unique_name, java):
    """The Java Admin gets InvalidConfigurationException naming the key; altering an
    existing compacted topic to an invalid ratio is refused and changes nothing."""
    res = java.create_topic(broker.bootstrap, unique_name("j"), 1, {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "2"})
    assert res.get("error") == "org.apache.kafka.common.errors.InvalidConfigurationException", res
    assert "min.cleanable.dirty.ratio" in res["message"]
    ok = unique_name("ok")
    assert java.create_topic(broker.bootstrap, ok, 1, compact_config()) == {"ok": True}
    a = ck.admin(broker.bootstrap)
    r = ConfigResource(ResourceType.TOPIC, ok, incremental_configs=[
        ConfigEntry("min.cleanable.dirty.ratio", "1.5", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as e:
        ck.result(a.incremental_alter_configs([r])[r])
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG and "min.cleanable.dirty.ratio" in e.value.args[0].str()
    d = ConfigResource(ResourceType.TOPIC, ok)
    cfg = ck.result(a.describe_configs([d])[d])
    assert cfg["min.cleanable.dirty.ratio"].value == "0.01"
    assert cfg["cleanup.policy"].value == "compact"


# --------------------------------------------------------------------------
# A compacted topic over a cluster link


def test_compacted_mirror_matches_source_and_compacts_after_promote(broker_factory, topic):
    """A compacted Strait source, cleaned before the link exists and again while it
    mirrors, into a Strait destination. Once both are cleaned, a consumer reading the
    mirror from its log start sees the same (offset, key, value) sequence as on the source
    (the cleaned model). After `mirrors --promote` the topic is writable and keeps
    compacting."""
    from test_link import caught_up, cli, describe

    source = broker_factory("source", overrides=FAST)
    dest = broker_factory("dest", overrides=FAST)
    create_compacted(source.bootstrap, topic)
    model = Model()
    keys = [f"k{i}".encode() for i in range(10)]
    for rnd in range(3):
        ck_produce(source.bootstrap, topic, model, [(k, f"a{rnd}-{k.decode()}".encode()) for k in keys])
    roll(source.bootstrap, topic, model)
    before = converge(source.bootstrap, topic, model)  # cleaned before mirroring starts
    assert len(before) < len(model.at)

    filters = '{"topicFilters":[{"name":"%s","patternType":"LITERAL","filterType":"INCLUDE"}]}' % topic
    cli("cluster-links", "create", "--link", "compacted", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", filters)
    wait_until(lambda: caught_up(dest.bootstrap, topic, source.bootstrap, 1), timeout=30, what="mirror caught up")
    # The mirror starts from the cleaned source: same records, same offsets, same gaps.
    assert view(dest.bootstrap, topic) == view(source.bootstrap, topic)

    # More rounds (and cleaning) on the source while the link mirrors.
    for rnd in range(3, 6):
        ck_produce(source.bootstrap, topic, model, [(k, f"a{rnd}-{k.decode()}".encode()) for k in keys])
    roll(source.bootstrap, topic, model)
    want = converge(source.bootstrap, topic, model)
    wait_until(lambda: caught_up(dest.bootstrap, topic, source.bootstrap, 1), timeout=30, what="mirror caught up again")
    # The mirror cleans its own copy (it honours cleanup.policy=compact) to the same view.
    got = converge(dest.bootstrap, topic, model, nudge=False, timeout=60)
    assert got == want == view(source.bootstrap, topic)
    assert ck.watermarks(dest.bootstrap, topic)[1] == ck.watermarks(source.bootstrap, topic)[1]

    out = cli("mirrors", "--promote", "--topics", topic, "--bootstrap-server", dest.bootstrap, "--wait", "--timeout-ms", "60000")
    assert "successfully scheduled" in out.stdout
    assert describe(dest.bootstrap, topic)["state"] == "STOPPED"
    # The promoted topic is a normal compacted topic: new values supersede, and get cleaned.
    end = ck.watermarks(dest.bootstrap, topic)[1]
    offs = ck_produce(dest.bootstrap, topic, model, [(k, f"promoted-{k.decode()}".encode()) for k in keys])
    assert offs[0] == end
    roll(dest.bootstrap, topic, model)
    got = converge(dest.bootstrap, topic, model)
    assert [v for _, k, v in got if k in keys] == [f"promoted-{k.decode()}".encode() for k in keys]
