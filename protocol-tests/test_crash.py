"""kill -9 while a producer streams with acks=all; nothing acknowledged may be lost.

One confluent-kafka producer (the same instance across both crashes, as a real
application would be) streams numbered records to partition 0. Delivery
reports give the acked offset of each record. Each round: wait for >= 2000 new
acks, kill -9 the broker with requests in flight, keep producing into the
client's queue while it is down, restart on the same port and data dir, and
wait for acks to resume. After two rounds: every acked record sits at exactly
its acked offset with its value, the log is dense from 0 to the high
watermark, and records acked after each restart follow the ones before it.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError, Producer

import ck
from conftest import scaled

ACKS_PER_ROUND = 2000
ROUNDS = 2


class Stream:
    def __init__(self, bootstrap: str, topic: str, idempotent: bool, compression: str = "none"):
        self.topic = topic
        self.acked: dict[int, int] = {}  # seq -> offset
        self.ack_order: list[int] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.fatal: list[str] = []
        self.next_seq = 0
        self.lock = threading.Lock()
        self.p = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": idempotent,
                "compression.type": compression,
                "linger.ms": 2,
                "batch.num.messages": 200,
                "message.timeout.ms": int(scaled(120) * 1000),
                "retry.backoff.ms": 50,
                "reconnect.backoff.ms": 50,
                "reconnect.backoff.max.ms": 500,
                "socket.timeout.ms": 10000,
                "error_cb": self._on_error,
            }
        )

    def _on_error(self, err: KafkaError):
        s = f"{err.name()}: {err.str()}"
        self.errors.append(s)
        if err.fatal():
            self.fatal.append(s)

    def _on_delivery(self, err, msg):
        seq = int(msg.value())
        if err is not None:
            self.failed.append(f"seq {seq}: {err.name()} {err.str()}")
        else:
            assert msg.partition() == 0
            self.acked[seq] = msg.offset()
            self.ack_order.append(seq)

    def burst(self, n: int):
        for _ in range(n):
            self.p.produce(self.topic, value=str(self.next_seq).encode(), partition=0, on_delivery=self._on_delivery)
            self.next_seq += 1

    def pump(self, until, timeout: float, what: str, max_queued: int = 3000):
        """Keep producing new records until until() is true."""
        deadline = time.monotonic() + scaled(timeout)
        while not until():
            if self.fatal:
                raise AssertionError(f"producer hit a fatal error: {self.fatal}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}: {len(self.acked)} acked, {len(self.p)} queued, "
                    f"failed={self.failed[:5]}, client errors={self.errors[-5:]}"
                )
            if len(self.p) < max_queued:
                try:
                    self.p.produce(self.topic, value=str(self.next_seq).encode(), partition=0,
                                   on_delivery=self._on_delivery)
                    self.next_seq += 1
                except BufferError:
                    pass
                self.p.poll(0)
            else:
                self.p.poll(0.01)


@pytest.mark.parametrize(
    "idempotent,compression",
    [(False, "none"), (True, "none"), (True, "zstd")],
    ids=["acks-all", "idempotent", "idempotent-zstd"],
)
def test_kill9_mid_stream(broker, topic, idempotent, compression):
    ck.create_topic(broker.bootstrap, topic)
    s = Stream(broker.bootstrap, topic, idempotent, compression)
    boundaries = []  # (acked count at kill, HWM right after restart)
    for rnd in range(ROUNDS):
        target = len(s.acked) + ACKS_PER_ROUND
        s.pump(lambda: len(s.acked) >= target, 60, f"{ACKS_PER_ROUND} acks in round {rnd}")
        # A burst handed to the client right before the kill, so that produce
        # requests are on the wire when the broker dies (librdkafka sends from
        # its own threads; poll() only serves callbacks).
        s.burst(1000)
        assert s.next_seq - len(s.acked) > 0, "the kill must happen with records unacknowledged"
        broker.kill9()
        acked_at_kill = dict(s.acked)
        # Keep the application producing while the broker is down.
        t_down = time.monotonic() + 0.3
        s.pump(lambda: time.monotonic() > t_down, 10, "queueing while down")
        broker.restart()
        # Recovery alone (before any new produce can land) must keep every ack.
        max_acked = max(acked_at_kill.values())
        lo, hi = ck.watermarks(broker.bootstrap, topic)
        assert lo == 0
        assert hi >= max_acked + 1, f"round {rnd}: HWM {hi} after restart, but offset {max_acked} was acked"
        # Records handed to the client from here on cannot have been written before `hi`
        # was read (the producer may already have resent its queue, which `hi` includes).
        seq_after = s.next_seq
        boundaries.append((seq_after, hi))
        # Producing continues after the restart.
        resumed = len(s.acked) + 500
        s.pump(lambda: len(s.acked) >= resumed and seq_after in s.acked, 90, f"acks to resume after restart {rnd}")

    left = s.p.flush(scaled(60))
    s.p.close()
    assert left == 0, f"{left} records never delivered"
    assert not s.failed, f"{len(s.failed)} deliveries failed, e.g. {s.failed[:5]}"
    assert not s.fatal, s.fatal

    hwm = ck.watermarks(broker.bootstrap, topic)[1]
    msgs = ck.consume(broker.bootstrap, topic, 0, 0, count=hwm, timeout=120)
    offsets = [m.offset() for m in msgs]
    assert offsets == list(range(hwm)), "log must be dense from 0 to the high watermark"
    values = [int(m.value()) for m in msgs]
    wrong = [(seq, off, values[off]) for seq, off in s.acked.items() if off >= hwm or values[off] != seq]
    assert not wrong, f"{len(wrong)} acked records not at their acked offset, e.g. (seq, offset, found) {wrong[:10]}"
    assert len(s.acked) == s.next_seq, "every produced record was eventually acked"

    # Acks after each restart come after everything acked before the crash.
    for rnd, (seq_after, hwm_after_restart) in enumerate(boundaries):
        later = [off for seq, off in s.acked.items() if seq >= seq_after]
        assert later, f"round {rnd}: nothing produced after restart was acked"
        low = [off for off in later if off < hwm_after_restart]
        assert not low, f"round {rnd}: records produced after the restart landed below the HWM {hwm_after_restart}: {low[:5]}"

    if idempotent:
        # Idempotence: no duplicates, and per-partition order is the send order.
        assert len(set(values)) == len(values), "idempotent producer produced duplicates across the crash"
        assert values == sorted(values), "idempotent producer's records out of order"
        assert len(values) == s.next_seq


def test_metadata_survives_kill9(broker, unique_name):
    """Topics, partition counts, topic configs and dynamic broker configs are
    acknowledged state too: they must survive kill -9."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, ResourceType

    a = ck.admin(broker.bootstrap)
    t1, t2, gone = unique_name("a"), unique_name("b"), unique_name("gone")
    ck.create_topic(broker.bootstrap, t1, partitions=3, config={"retention.ms": "3600000"})
    ck.create_topic(broker.bootstrap, t2, partitions=1)
    ck.create_topic(broker.bootstrap, gone, partitions=1)
    ck.result(a.create_partitions([NewPartitions(t2, 2)])[t2])
    ck.result(a.delete_topics([gone])[gone])
    res = ConfigResource(ResourceType.TOPIC, t2, incremental_configs=[
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)])
    ck.result(a.incremental_alter_configs([res])[res])
    bres = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    ck.result(a.incremental_alter_configs([bres])[bres])
    dr = ck.produce(broker.bootstrap, t1, [{"value": f"m{i}".encode(), "partition": i % 3} for i in range(30)])

    broker.kill9()
    broker.restart()

    a = ck.admin(broker.bootstrap)
    topics = a.list_topics(timeout=scaled(10)).topics
    assert t1 in topics and t2 in topics
    assert gone not in topics, "a deleted topic came back after restart"
    assert len(topics[t1].partitions) == 3
    assert len(topics[t2].partitions) == 2

    def describe(rtype, name):
        r = ConfigResource(rtype, name)
        return ck.result(a.describe_configs([r])[r])

    assert describe(ResourceType.TOPIC, t1)["retention.ms"].value == "3600000"
    assert describe(ResourceType.TOPIC, t2)["cleanup.policy"].value == "compact"
    assert describe(ResourceType.BROKER, "1")["log.retention.ms"].value == "86400000"
    for part in range(3):
        want = [d for d in dr if d.partition == part]
        got = ck.consume(broker.bootstrap, t1, part, 0, count=len(want))
        assert [(m.offset(), m.value()) for m in got] == [(d.offset, d.value) for d in want]


def test_clean_restart_keeps_log_start_offset(broker, topic):
    """DeleteRecords' new log start offset survives a clean (SIGTERM) restart."""
    from confluent_kafka import TopicPartition

    ck.create_topic(broker.bootstrap, topic)
    ck.produce(broker.bootstrap, topic, [{"value": f"m{i}".encode()} for i in range(10)])
    a = ck.admin(broker.bootstrap)
    tp = TopicPartition(topic, 0, 6)
    ck.result(a.delete_records([tp])[TopicPartition(topic, 0)])
    assert ck.watermarks(broker.bootstrap, topic) == (6, 10)
    assert broker.stop() == 0, "strait should exit 0 on SIGTERM"
    broker.restart()
    assert ck.watermarks(broker.bootstrap, topic) == (6, 10)
    assert ck.produce(broker.bootstrap, topic, [{"value": b"next"}])[0].offset == 10


def test_consumer_survives_kill9(broker, topic):
    """A librdkafka consumer keeps its position across a broker kill -9 and
    restart: it reconnects, re-validates its position (OffsetForLeaderEpoch if
    the leader epoch moved) and continues with the next offset, no reset
    (auto.offset.reset=error) and no gap or repeat."""
    from confluent_kafka import TopicPartition

    ck.create_topic(broker.bootstrap, topic)
    ck.produce(broker.bootstrap, topic, [{"value": f"a{i}".encode()} for i in range(100)])
    c = ck.consumer(broker.bootstrap, **{"enable.partition.eof": False, "reconnect.backoff.max.ms": 500})
    seen = []
    try:
        c.assign([TopicPartition(topic, 0, 0)])

        def read_until(n):
            def step():
                for m in c.consume(num_messages=500, timeout=0.1):
                    if m.error():
                        raise AssertionError(f"consumer error: {m.error()}")
                    seen.append((m.offset(), m.value()))
                return len(seen) >= n
            return step

        from conftest import wait_until

        wait_until(read_until(100), 30, what="first 100 records")
        broker.kill9()
        broker.restart()
        ck.produce(broker.bootstrap, topic, [{"value": f"b{i}".encode()} for i in range(100)])
        wait_until(read_until(200), 60, what="records after the restart")
    finally:
        c.close()
    assert [o for o, _ in seen] == list(range(200))
    assert [v for _, v in seen] == [f"a{i}".encode() for i in range(100)] + [f"b{i}".encode() for i in range(100)]
