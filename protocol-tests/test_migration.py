"""Seed 003's "migrating services without downtime" over a cluster link (issue 10), with
live clients on two Strait brokers and our CLIs: confluent-kafka throughout, and in a
second variant of each scheme the Apache Kafka Java client on the destination (its
idempotent producer; its group consumer inside a consume-transform-produce application).

- *Production later*: the consumer group moves first (stopped on the source, started on
  the destination mirror, resuming from the synced offsets) while producers still write to
  the source, and restart there once (the group empty on the destination for two offset-sync
  rounds, its source offsets behind: the sync must leave it alone); then producers stop on
  the source, `mirrors --promote --wait`, and producers start on the destination.
- *Production first* (write forwarding, `mirror.produce.forwarding.enable=true`): the
  producer moves to the destination mid-stream (forwarded, acknowledged with the source's
  offsets) while the group still reads the source; then the group moves; then the promote
  runs under both, nothing restarts.

Every record carries a global sequence number and goes to partition `seq % PARTITIONS`.
Every test asserts: every acknowledged record is consumed exactly once over the two phases'
consumers (0 lost, 0 duplicated), each partition is read in order with no gap, every record
is stored at the offset it was acknowledged with, and the destination group's committed
offsets never go back. Each prints a summary (run with -s).
"""

from __future__ import annotations

import json
import struct
import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import pytest

import ck
import link_wire
from conftest import scaled, wait_until
from test_link import cli, describe, write

PARTITIONS = 2
GROUP = "mig-group"
LIVE: list = []  # every client thread of the running test, stopped at teardown if still running
OUT_TOPIC = "mig-out"  # the Java consume-transform-produce application's output, on the destination
SYNC_MS = 1000  # the smallest consumer.offset.sync.ms a link accepts


def filters(topic: str) -> tuple[str, str]:
    t = f'{{"topicFilters":[{{"name":"{topic}","patternType":"LITERAL","filterType":"INCLUDE"}}]}}'
    g = f'{{"groupFilters":[{{"name":"{GROUP}","patternType":"LITERAL","filterType":"INCLUDE"}}]}}'
    return t, g


@pytest.fixture(autouse=True)
def _stop_clients(broker_factory):
    """After a failure, stop the client threads before the brokers go (quiet teardown)."""
    yield
    for c in LIVE:
        c._stop.set()
    for c in LIVE:
        c.thread.join(10)
    for c in LIVE:
        if not c.closed:
            c.closed = True
            c.abandon()
    LIVE.clear()


class Timeline:
    """Moments of each switch, relative to the start of the test."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.events: list[tuple[float, str]] = []

    def mark(self, what: str) -> None:
        self.events.append((time.monotonic() - self.t0, what))

    def lines(self) -> list[str]:
        return [f"  {t:6.2f}s  {what}" for t, what in self.events]


class Seq:
    """The global sequence number shared by every producer of a test."""

    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n - 1


class LiveProducer:
    """An idempotent acks=all confluent-kafka producer writing sequence numbers in a
    thread until stop(); stop() flushes, so every record sent is acknowledged or errored."""

    def __init__(self, name: str, bootstrap: str, topic: str, seq: Seq, acked: dict, errors: list):
        self.name, self.topic, self.seq, self.acked, self.errors = name, topic, seq, acked, errors
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                           "linger.ms": 2, "message.timeout.ms": int(scaled(60) * 1000)})
        self.sent = 0
        self.closed = False
        LIVE.append(self)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"producer-{name}")
        self.thread.start()

    def _cb(self, err, msg):
        n = int(msg.value())
        with self.lock:
            if err is not None:
                self.errors.append(f"{self.name} record {n}: {err}")
            else:
                self.acked[n] = (msg.partition(), msg.offset(), self.name)

    def _run(self):
        while not self._stop.is_set():
            n = self.seq.next()
            while True:
                try:
                    self.p.produce(self.topic, value=str(n).encode(), partition=n % PARTITIONS, on_delivery=self._cb)
                    break
                except BufferError:
                    self.p.poll(0.05)
            self.sent += 1
            # Serves delivery reports and paces the stream (a few hundred records/s).
            self.p.poll(0.003)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(scaled(30))
        assert not self.thread.is_alive(), f"producer {self.name} did not stop"
        self.closed = True
        left = self.p.flush(scaled(60))
        assert left == 0, f"producer {self.name}: {left} records unacknowledged"

    def abandon(self):
        self.p.purge()


class JavaLiveProducer:
    """The Java client's idempotent producer (Kafka's defaults: acks=all, idempotence on)
    writing sequence numbers in rounds of 20 (send, then flush: every callback is in) until
    stop(); one JVM and one producer id throughout."""

    def __init__(self, java, name: str, bootstrap: str, topic: str, seq: Seq, acked: dict, errors: list):
        self.name, self.seq, self.acked, self.errors = name, seq, acked, errors
        self.prod = java.producer(bootstrap, topic, linger_ms=2, delivery_timeout_ms=int(scaled(60) * 1000))
        self.index: dict[int, int] = {}  # outcome index -> sequence number
        self.closed = False
        LIVE.append(self)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"producer-{name}")
        self.thread.start()

    def _collect(self, outcomes):
        for i, o in list(outcomes.items()):
            n = self.index[i]
            if o.error:
                self.errors.append(f"{self.name} record {n}: {o.error} {o.message}")
            else:
                self.acked[n] = (o.partition, o.offset, self.name)

    def _run(self):
        try:
            while not self._stop.is_set():
                for _ in range(20):
                    n = self.seq.next()
                    self.index[self.prod.send(None, str(n).encode(), partition=n % PARTITIONS)] = n
                self._collect(self.prod.flush(60))
        except Exception as e:  # noqa: BLE001 - reported by verify()
            self.errors.append(f"{self.name}: {e!r}")

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(scaled(60))
        assert not self.thread.is_alive(), f"producer {self.name} did not stop"
        self.closed = True
        outcomes = self.prod.close()
        self._collect(outcomes)
        missing = [n for i, n in self.index.items() if i not in outcomes]
        assert not missing, f"producer {self.name}: no outcome for records {missing[:10]}"

    def abandon(self):
        self.prod.kill()


class GroupConsumer:
    """A confluent-kafka consumer in GROUP (subscribe) committing what it processed every
    few records and on stop(); records (seq, partition, offset) of every record read."""

    def __init__(self, name: str, bootstrap: str, topic: str, consumed: list):
        self.name, self.consumed = name, consumed
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False,
                           "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                           "topic.metadata.refresh.interval.ms": 1000})
        self.c.subscribe([topic])
        self.topic = topic
        LIVE.append(self)
        self.closed = False
        self.count = 0
        self.positions: dict[int, int] = {}  # partition -> next offset (what we commit)
        self.first: dict[int, int] = {}  # partition -> first offset read
        self.errors: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"consumer-{name}")
        self.thread.start()

    def _commit(self):
        if self.positions:
            self.c.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in self.positions.items()],
                          asynchronous=False)

    def _run(self):
        since = 0
        while not self._stop.is_set():
            m = self.c.poll(0.1)
            if m is None:
                continue
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    self.errors.append(str(m.error()))
                continue
            p = m.partition()
            self.first.setdefault(p, m.offset())
            self.consumed.append((int(m.value()), p, m.offset(), self.name))
            self.positions[p] = m.offset() + 1
            self.count += 1
            since += 1
            if since >= 50:
                self._commit()
                since = 0
        self._commit()

    def stop(self) -> dict[int, int]:
        """Stop polling, commit the last position synchronously, leave the group."""
        self._stop.set()
        self.thread.join(scaled(30))
        assert not self.thread.is_alive(), f"consumer {self.name} did not stop"
        self.closed = True
        self.c.close()
        return dict(self.positions)

    def abandon(self):
        self.c.close()


class JavaCtpConsumer:
    """The Java client (kafka-clients 3.9.1) as the destination-phase consumer: a
    consume-transform-produce application (`java.ctp`: a group KafkaConsumer in GROUP,
    read_committed, plus a transactional producer that copies each record as "t:<value>"
    to OUT_TOPIC and commits the group's offsets with sendOffsetsToTransaction). Rounds are
    sized to what the destination holds, so a round never waits for records that do not
    exist; stop() resolves each consumed (partition, offset) to its sequence number through
    the committed output topic."""

    def __init__(self, java, name: str, bootstrap: str, topic: str, out_topic: str, consumed: list,
                 start: dict[int, int]):
        self.name, self.bootstrap, self.topic, self.out, self.consumed = name, bootstrap, topic, out_topic, consumed
        # Where this application's output starts (an earlier one's transactions are committed).
        self.out_start = {p: ck.watermarks(bootstrap, out_topic, p)[1] for p in range(PARTITIONS)}
        self.app = java.ctp(bootstrap, topic, out_topic, GROUP, "mig-ctp-tx")
        init = self.app.init()
        assert init.get("ok"), init
        self.start = {p: start.get(p, 0) for p in range(PARTITIONS)}
        self.positions: dict[int, int] = {}
        self.first: dict[int, int] = {}
        self.read: list[tuple[int, int]] = []  # (partition, offset) in consumption order
        self.count = 0
        self.errors: list[str] = []
        self.rounds = 0
        self.closed = False
        self.wm = ck.consumer(bootstrap)
        LIVE.append(self)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="consumer-java")
        self.thread.start()

    def _available(self) -> int:
        hw = sum(self.wm.get_watermark_offsets(TopicPartition(self.topic, p), timeout=scaled(10), cached=False)[1]
                 for p in range(PARTITIONS))
        return hw - sum(self.start.values()) - self.count

    def _run(self):
        while not self._stop.is_set():
            try:
                want = min(200, self._available())
                if want <= 0:
                    self._stop.wait(0.05)  # poll interval: nothing new on the destination yet
                    continue
                r = self.app.op(f"round {want} {int(scaled(20) * 1000)}", timeout=40)
                if not r.get("ok"):
                    self.errors.append(f"round {want}: {r}")
                    return
                for p, o in r["consumed"]:
                    self.first.setdefault(p, o)
                    self.read.append((p, o))
                for p, o in r["offsets"].items():
                    self.positions[int(p)] = max(o, self.positions.get(int(p), 0))
                self.count += want
                self.rounds += 1
                self.app.ok("commit")
            except Exception as e:  # noqa: BLE001 - reported by verify()
                self.errors.append(repr(e))
                return

    def stop(self) -> dict[int, int]:
        self._stop.set()
        self.thread.join(scaled(60))
        assert not self.thread.is_alive(), "java consumer did not stop"
        self.closed = True
        self.wm.close()
        assert self.app.close() == 0, self.app.stderr()
        # The committed output, partition by partition, is "t:<seq>" in consumption order.
        for p in range(PARTITIONS):
            offs = [o for pp, o in self.read if pp == p]
            out = ck.consume(self.bootstrap, self.out, p, self.out_start[p], len(offs),
                             **{"isolation.level": "read_committed"})
            for o, m in zip(offs, out):
                assert m.value().startswith(b"t:"), m.value()
                self.consumed.append((int(m.value()[2:]), p, o, self.name))
        return dict(self.positions)

    def abandon(self):
        self.wm.close()
        self.app.kill()


def committed(bootstrap: str, topic: str) -> dict[int, int]:
    a = AdminClient({"bootstrap.servers": bootstrap})
    req = ConsumerGroupTopicPartitions(GROUP, [TopicPartition(topic, p) for p in range(PARTITIONS)])
    res = ck.result(a.list_consumer_group_offsets([req])[GROUP])
    return {tp.partition: tp.offset for tp in res.topic_partitions if tp.offset >= 0}


class OffsetWatch:
    """Samples the destination group's committed offsets until stop(); any decrease is
    recorded (offsets never go back, invariant 8)."""

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self.last: dict[int, int] = {}
        self.backwards: list[str] = []
        self.samples = 0
        self.closed = False
        LIVE.append(self)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="offset-watch")
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                now = committed(self.bootstrap, self.topic)
            except Exception:  # noqa: BLE001 - group not there yet / transient
                now = {}
            for p, o in now.items():
                if o < self.last.get(p, -1):
                    self.backwards.append(f"partition {p}: {self.last[p]} -> {o}")
                self.last[p] = max(o, self.last.get(p, -1))
            self.samples += 1
            self._stop.wait(0.2)

    def stop(self):
        self._stop.set()
        self.thread.join(scaled(30))
        self.closed = True

    def abandon(self):
        pass


@dataclass
class Run:
    topic: str
    seq: Seq = field(default_factory=Seq)
    acked: dict = field(default_factory=dict)  # seq -> (partition, offset, producer)
    errors: list = field(default_factory=list)
    consumed: list = field(default_factory=list)  # (seq, partition, offset, consumer)
    timeline: Timeline = field(default_factory=Timeline)


def setup(broker_factory, topic: str):
    source = broker_factory("source", group_initial_rebalance_delay_ms=0)
    dest = broker_factory("dest", group_initial_rebalance_delay_ms=0)
    ck.create_topic(source.bootstrap, topic, PARTITIONS)
    return source, dest


def create_link(dest, source, tmp_path, topic: str, forwarding: bool):
    tf, gf = filters(topic)
    config = write(tmp_path, "source.config",
                   f"bootstrap.servers={source.bootstrap}\nmetadata.max.age.ms=500\n"
                   f"auto.create.mirror.topics.enable=true\nconsumer.offset.sync.enable=true\n"
                   f"consumer.offset.sync.ms={SYNC_MS}\nmirror.produce.forwarding.enable={str(forwarding).lower()}\n")
    cli("cluster-links", "--bootstrap-server", dest.bootstrap, "--create", "--link", "migrate",
        "--config-file", str(config), "--topic-filters-json-file", str(write(tmp_path, "topics.json", tf)),
        "--consumer-group-filters-json-file", str(write(tmp_path, "groups.json", gf)))
    wait_until(lambda: describe(dest.bootstrap, topic)["state"] == "ACTIVE", timeout=30, what="mirror created")


def sync_runs(dest) -> int:
    d = json.loads(cli("cluster-links", "--describe", "--link", "migrate", "--bootstrap-server", dest.bootstrap,
                       "--output", "json").stdout)
    return next((t["runs"] for t in d["tasks"] if t["name"] == "consumer_offset_sync"), 0)


def move_group(run: Run, c1: GroupConsumer, source, dest, java=None):
    """Stop the group on the source, wait for its last commit on the destination, start it there."""
    run.timeline.mark(f"consumers stop on the source (consumed {c1.count})")
    final = c1.stop()
    assert committed(source.bootstrap, run.topic) == final
    wait_until(lambda: committed(dest.bootstrap, run.topic) == final, timeout=30,
               what=f"source offsets {final} synced to the destination")
    run.timeline.mark(f"offsets {final} synced; {'the Java application starts' if java else 'consumers start'} "
                      "on the destination")
    return dest_consumer("dest", run, dest, java, final), final


def dest_consumer(name: str, run: Run, dest, java, start: dict[int, int]):
    if java is not None:
        return JavaCtpConsumer(java, f"{name}-java", dest.bootstrap, run.topic, OUT_TOPIC, run.consumed, start)
    return GroupConsumer(name, dest.bootstrap, run.topic, run.consumed)


def drain(run: Run, c2: GroupConsumer, dest):
    """Wait until the destination consumer has read every acknowledged record."""
    ends = {p: ck.watermarks(dest.bootstrap, run.topic, p)[1] for p in range(PARTITIONS)}
    wait_until(lambda: all(c2.positions.get(p, 0) >= ends[p] for p in range(PARTITIONS)), timeout=30,
               what=f"destination consumer at the end offsets {ends} (at {c2.positions})")
    return ends


def promoted_at(run: Run, source, dest) -> tuple[dict[int, int], int]:
    """Where each partition was promoted: the end of the longest run of batches the mirror
    shares with the source, byte for byte (same offsets, same bytes). Source records past
    it were forwarded but not copied before the fence (README "At promote"): each must be a
    record the producer got acknowledged from the promoted topic instead (its retry).
    Returns ({partition: final offset}, number of such source-only records)."""
    finals, orphans = {}, 0
    for p in range(PARTITIONS):
        src = link_wire.read_log(source.bootstrap, run.topic, p)
        dst = link_wire.read_log(dest.bootstrap, run.topic, p)
        k = 0
        while k < min(len(src), len(dst)) and src[k] == dst[k]:
            k += 1
        finals[p] = src[k - 1][1] + 1 if k else 0
        src_end = src[-1][1] + 1 if src else 0
        if finals[p] < src_end:
            for m in ck.consume(source.bootstrap, run.topic, p, finals[p], src_end - finals[p]):
                n = int(m.value())
                assert n in run.acked and run.acked[n][0] == p and run.acked[n][1] >= finals[p], \
                    f"source record {n} at {p}/{m.offset()} is past the final offset {finals[p]} " \
                    f"and was not acknowledged from the promoted topic ({run.acked.get(n)})"
                orphans += 1
    return finals, orphans


def verify(name: str, run: Run, dest, ends: dict[int, int], watch: OffsetWatch, resumed: list[dict[int, int]],
           consumers: list, finals: dict[int, int], orphans: int):
    """resumed[i]: the committed offsets consumers[i + 1] had to start from."""
    acked, consumed = run.acked, run.consumed
    seen: dict[int, tuple[int, int, str]] = {}
    duplicated = []
    for n, p, o, who in consumed:
        if n in seen:
            duplicated.append((n, seen[n], (p, o, who)))
        seen.setdefault(n, (p, o, who))
    lost = sorted(set(acked) - set(seen))
    unacked_seen = sorted(set(seen) - set(acked))
    by_consumer = {c.name: c.count for c in consumers}
    by_producer: dict[str, int] = {}
    for _, _, who in acked.values():
        by_producer[who] = by_producer.get(who, 0) + 1
    print(f"\n=== {name}: acknowledged {len(acked)} {by_producer}, consumed {len(consumed)} {by_consumer}, "
          f"lost {len(lost)}, duplicated {len(duplicated)}, errors {len(run.errors)}, "
          f"end offsets {ends}, promoted at {finals} (source-only records past it: {orphans}), "
          f"destination consumers resumed at {resumed}, "
          f"group offset samples {watch.samples} (backwards: {len(watch.backwards)})")
    print("\n".join(run.timeline.lines()))
    assert not run.errors, run.errors[:5]
    assert not lost, f"lost {len(lost)}: {lost[:10]}"
    assert not duplicated, f"duplicated {len(duplicated)}: {duplicated[:5]}"
    assert not unacked_seen, f"consumed but never acknowledged: {unacked_seen[:10]}"
    assert not watch.backwards, watch.backwards
    for c in consumers:
        assert not c.errors, f"consumer {c.name}: {c.errors[:5]}"
    # Each partition was read in order, densely, from 0 to its end, with the source-phase
    # consumer first and the destination-phase one resuming right after it.
    for p in range(PARTITIONS):
        part = [(o, n, who) for n, pp, o, who in consumed if pp == p]
        assert [o for o, _, _ in part] == list(range(ends[p])), f"partition {p}: offsets read are not 0..{ends[p]}"
        nums = [n for _, n, _ in part]
        assert nums == sorted(nums), f"partition {p}: sequence numbers out of order"
        assert all(n % PARTITIONS == p for n in nums)
        for c, at in zip(consumers[1:], resumed):
            assert c.first.get(p, at.get(p, 0)) == at.get(p, 0), \
                f"partition {p}: consumer {c.name} started at {c.first.get(p)}, committed {at.get(p)}"
    # Acknowledged offsets are the stored ones (what the consumers read) ...
    for n, (p, o, who) in acked.items():
        assert seen[n][:2] == (p, o), f"record {n} ({who}): acknowledged at {(p, o)}, read at {seen[n][:2]}"
    # ... and the destination log, read again from offset 0, holds exactly them.
    for p in range(PARTITIONS):
        stored = [(m.offset(), int(m.value())) for m in ck.consume(dest.bootstrap, run.topic, p, 0, ends[p])]
        assert stored == sorted((o, n) for n, (pp, o, _) in acked.items() if pp == p), f"partition {p} stored log"
    final = committed(dest.bootstrap, run.topic)
    assert final == ends, f"destination group committed {final}, end offsets {ends}"


def test_production_later_consumers_move_first_then_producers_then_promote(broker_factory, tmp_path):
    production_later(broker_factory, tmp_path, "mig-later", None)


def test_production_later_java_application_moves_to_the_destination(broker_factory, tmp_path, java):
    """The same, with the Java client's group consumer (inside a consume-transform-produce
    application) arriving on the destination with the synced offsets and leader epochs and
    staying through the promote's epoch bump."""
    production_later(broker_factory, tmp_path, "mig-later-java", java)


def production_later(broker_factory, tmp_path, topic: str, java):
    run = Run(topic)
    source, dest = setup(broker_factory, topic)
    if java is not None:
        ck.create_topic(dest.bootstrap, OUT_TOPIC, PARTITIONS)
    run.timeline.mark("producer and consumers start on the source")
    prod_src = LiveProducer("source", source.bootstrap, topic, run.seq, run.acked, run.errors)
    c1 = GroupConsumer("source", source.bootstrap, topic, run.consumed)
    wait_until(lambda: c1.count >= 300, timeout=30, what="source consumers under way")

    create_link(dest, source, tmp_path, topic, forwarding=False)
    run.timeline.mark(f"link created (acknowledged {len(run.acked)})")
    watch = OffsetWatch(dest.bootstrap, topic)
    wait_until(lambda: c1.count >= 800 and committed(dest.bootstrap, topic), timeout=30,
               what="source group offsets synced once")

    # 1. The consumers move; the producer keeps writing to the source.
    c2, synced = move_group(run, c1, source, dest, java)
    mark = len(run.acked)
    wait_until(lambda: len(run.acked) >= mark + 500 and c2.count >= 300, timeout=30,
               what="destination consumers reading the mirror while the source is written")

    # The destination consumers restart (a deploy) while the topic is still mirrored: for a
    # few offset-sync rounds the group is empty on the destination and its source offsets
    # are behind; the sync must leave it alone, and the new consumers resume where it stopped.
    run.timeline.mark(f"destination consumers restart (consumed {c2.count})")
    left_at = {**synced, **c2.stop()}
    start = sync_runs(dest)
    wait_until(lambda: sync_runs(dest) >= start + 2, timeout=30, what="two offset-sync rounds, group empty")
    assert committed(dest.bootstrap, topic) == left_at, "the sync moved an empty destination group"
    c3 = dest_consumer("dest2", run, dest, java, left_at)
    run.timeline.mark(f"destination consumers back after two sync rounds at {left_at}")
    mark = len(run.acked)
    wait_until(lambda: len(run.acked) >= mark + 200 and c3.count >= 100, timeout=30,
               what="restarted destination consumers reading")

    # 2. The producer stops on the source, the topic is promoted, the producer starts on
    # the destination. The destination consumers run through all of it.
    prod_src.stop()
    run.timeline.mark(f"producer stops on the source (acknowledged {len(run.acked)}); mirrors --promote --wait")
    cli("mirrors", "--promote", "--topics", topic, "--bootstrap-server", dest.bootstrap, "--wait")
    assert describe(dest.bootstrap, topic)["state"] == "STOPPED"
    run.timeline.mark(f"promoted; producer starts on the destination (destination consumer at {c3.count})")
    src_ends = {p: ck.watermarks(source.bootstrap, topic, p)[1] for p in range(PARTITIONS)}
    prod_dst = LiveProducer("dest", dest.bootstrap, topic, run.seq, run.acked, run.errors)
    mark = len(run.acked)
    wait_until(lambda: len(run.acked) >= mark + 500, timeout=30, what="destination producer under way")
    prod_dst.stop()
    run.timeline.mark(f"producer stops on the destination (acknowledged {len(run.acked)})")

    ends = drain(run, c3, dest)
    c3.stop()
    watch.stop()
    run.timeline.mark("destination consumers caught up and stopped")
    # The destination producer's records continue right after the mirrored ones.
    for p in range(PARTITIONS):
        offs = sorted(o for pp, o, who in run.acked.values() if pp == p and who == "dest")
        assert offs[0] == src_ends[p], f"partition {p}: destination writes start at {offs[0]}, source ended at {src_ends[p]}"
    finals, orphans = promoted_at(run, source, dest)
    assert finals == src_ends, f"promoted at {finals}, the source ends at {src_ends}"
    verify("production later" + (" (Java consumer)" if java else ""), run, dest, ends, watch, [synced, left_at],
           [c1, c2, c3], finals, orphans)


def test_production_first_with_write_forwarding_then_consumers_then_promote(broker_factory, tmp_path):
    production_first(broker_factory, tmp_path, "mig-first", None)


def test_production_first_java_producer_and_application(broker_factory, tmp_path, java):
    """The same with the Java client on the destination: its idempotent producer (forwarded,
    then local after the promote) and the consume-transform-produce application."""
    production_first(broker_factory, tmp_path, "mig-first-java", java)


def production_first(broker_factory, tmp_path, topic: str, java):
    run = Run(topic)
    source, dest = setup(broker_factory, topic)
    if java is not None:
        ck.create_topic(dest.bootstrap, OUT_TOPIC, PARTITIONS)
    run.timeline.mark("producer and consumers start on the source")
    prod_src = LiveProducer("source", source.bootstrap, topic, run.seq, run.acked, run.errors)
    c1 = GroupConsumer("source", source.bootstrap, topic, run.consumed)
    wait_until(lambda: c1.count >= 300, timeout=30, what="source consumers under way")
    create_link(dest, source, tmp_path, topic, forwarding=True)
    run.timeline.mark(f"link created with write forwarding (acknowledged {len(run.acked)})")
    watch = OffsetWatch(dest.bootstrap, topic)

    # 1. The producer moves to the destination (forwarded to the source) mid-stream; the
    # consumers still read the source.
    mark = len(run.acked)
    wait_until(lambda: len(run.acked) >= mark + 300, timeout=30, what="more source writes")
    prod_src.stop()
    first_fwd = run.seq.n  # the destination producer's first record
    if java is not None:
        prod_dst = JavaLiveProducer(java, "dest", dest.bootstrap, topic, run.seq, run.acked, run.errors)
    else:
        prod_dst = LiveProducer("dest", dest.bootstrap, topic, run.seq, run.acked, run.errors)
    run.timeline.mark(f"producer moves to the destination (acknowledged {len(run.acked)}, first forwarded record "
                      f"{first_fwd})")
    mark = len(run.acked)
    wait_until(lambda: len(run.acked) >= mark + 500 and c1.positions and
               any(n >= first_fwd for n, *_ in run.consumed[-50:]),
               timeout=30, what="forwarded records acknowledged and read on the source")
    assert describe(dest.bootstrap, topic)["state"] == "ACTIVE", "still a mirror while forwarding"

    # 2. The consumers move to the destination; the producer keeps writing there.
    c2, synced = move_group(run, c1, source, dest, java)
    mark = len(run.acked)
    wait_until(lambda: len(run.acked) >= mark + 300 and c2.count >= 300, timeout=30,
               what="destination consumers reading the mirror")

    # 3. Promote under the live producer and consumers.
    run.timeline.mark(f"mirrors --promote --wait (acknowledged {len(run.acked)}, destination consumer at {c2.count})")
    cli("mirrors", "--promote", "--topics", topic, "--bootstrap-server", dest.bootstrap, "--wait")
    assert describe(dest.bootstrap, topic)["state"] == "STOPPED"
    src_ends = {p: ck.watermarks(source.bootstrap, topic, p)[1] for p in range(PARTITIONS)}
    run.timeline.mark(f"promoted; source end offsets now {src_ends} (acknowledged {len(run.acked)})")
    mark = len(run.acked)
    wait_until(lambda: len(run.acked) >= mark + 500, timeout=30, what="local writes after the promote")
    prod_dst.stop()
    run.timeline.mark(f"producer stops (acknowledged {len(run.acked)})")

    ends = drain(run, c2, dest)
    c2.stop()
    watch.stop()
    run.timeline.mark("destination consumers caught up and stopped")
    # Forwarded records are on the source at their acknowledged offsets; later ones only here.
    finals, orphans = promoted_at(run, source, dest)
    fwd_src = {p: [] for p in range(PARTITIONS)}
    for n, (p, o, who) in run.acked.items():
        if who == "dest" and o < finals[p]:
            fwd_src[p].append((o, n))
    forwarded = sum(len(v) for v in fwd_src.values())
    for p in range(PARTITIONS):
        on_source = {m.offset(): int(m.value()) for m in ck.consume(source.bootstrap, topic, p, 0, finals[p])}
        for o, n in fwd_src[p]:
            assert on_source.get(o) == n, f"forwarded record {n} acknowledged at {p}/{o}, source has {on_source.get(o)}"
        assert ends[p] > finals[p], f"partition {p}: no local write after the promote"
        # One producer id from the first forwarded batch to the last local one: the
        # idempotent producer kept its id (from the source) and its sequences across the promote.
        first_fwd_offset = min(o for pp, o, who in run.acked.values() if pp == p and who == "dest")
        ids = {struct.unpack_from(">q", raw, 43)[0] for base, _, raw in link_wire.read_log(dest.bootstrap, topic, p)
               if base >= first_fwd_offset}
        assert len(ids) == 1, f"partition {p}: producer ids after the switch {sorted(ids)}"
    print(f"\nforwarded to the source: {forwarded} records; written locally after the promote: "
          f"{sum(ends[p] - finals[p] for p in range(PARTITIONS))}")
    verify("production first" + (" (Java producer and consumer)" if java else ""), run, dest, ends, watch, [synced],
           [c1, c2], finals, orphans)
