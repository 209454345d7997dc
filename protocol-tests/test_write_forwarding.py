"""Write forwarding (`mirror.produce.forwarding.enable=true`, GitHub issue 10 item 7) with
real idempotent producers: seed 003's "migrate the production first" without downtime.

A producer writes to the source, then an idempotent producer on the *destination* takes
over while the topic is still an ACTIVE mirror: its writes are forwarded to the source and
acknowledged with the source's offsets (which the mirror gives the same records). The
producer keeps running through `mirrors --promote`; after it the same producer (same
producer id, next sequence) writes locally. Every record is acknowledged, none errors, and
the promoted topic holds every record exactly once, in order (0 lost, 0 duplicated).
"""

from __future__ import annotations

import struct
import threading

import ck
import link_wire
from conftest import scaled, wait_until
from confluent_kafka import Producer
from test_link import caught_up, cli, describe, write

PARTITIONS = 2
BEFORE = 200  # written to the source directly
FORWARDED = 200  # written on the destination before the promote starts
TOTAL = 1000


def setup(broker_factory, tmp_path, topic: str):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, topic, PARTITIONS)
    ck.produce(source.bootstrap, topic, [{"value": f"{i}".encode(), "partition": i % PARTITIONS} for i in range(BEFORE)],
               **{"enable.idempotence": True})
    config = write(tmp_path, "source.config", f"bootstrap.servers={source.bootstrap}\nmetadata.max.age.ms=500\n"
                   "mirror.produce.forwarding.enable=true\n")
    cli("cluster-links", "--bootstrap-server", dest.bootstrap, "--create", "--link", "fw", "--config-file", str(config))
    cli("mirrors", "--create", "--mirror-topic", topic, "--link", "fw", "--bootstrap-server", dest.bootstrap)
    wait_until(lambda: caught_up(dest.bootstrap, topic, source.bootstrap, PARTITIONS), timeout=scaled(30),
               what="mirror caught up")
    return source, dest


def producer_ids(bootstrap: str, topic: str, partition: int) -> list[int]:
    """The producer id of every batch (v2 header: producerId at byte 43)."""
    return [struct.unpack_from(">q", raw, 43)[0] for _, _, raw in link_wire.read_log(bootstrap, topic, partition)]


def verify(source, dest, topic: str, acked: dict[int, tuple[int, int]]):
    """acked: record number -> (partition, offset) as acknowledged to the producer."""
    assert describe(dest.bootstrap, topic)["state"] == "STOPPED"
    seen: dict[int, tuple[int, int]] = {}
    duplicated = 0
    for p in range(PARTITIONS):
        _, hw = ck.watermarks(dest.bootstrap, topic, p)
        msgs = ck.consume(dest.bootstrap, topic, p, 0, hw)
        numbers = [int(m.value()) for m in msgs]
        assert numbers == sorted(numbers), f"partition {p} out of order"
        for m, n in zip(msgs, numbers):
            if n in seen:
                duplicated += 1
                print(f"record {n} duplicated: offsets {seen[n]} and {(p, m.offset())}")
            seen.setdefault(n, (p, m.offset()))
        # The mirrored prefix is the source's, byte for byte.
        src = link_wire.read_log(source.bootstrap, topic, p)
        dst = link_wire.read_log(dest.bootstrap, topic, p)
        assert dst[: len(src)] == src, f"partition {p}: mirrored prefix differs from the source"
        # One destination producer id before and after the promote (the forwarded id).
        ids = producer_ids(dest.bootstrap, topic, p)
        after_source_producer = [i for i in ids if i != ids[0]]
        assert len(set(after_source_producer)) == 1, f"partition {p}: producer ids {sorted(set(ids))}"
    lost = [n for n in range(TOTAL) if n not in seen]
    print(f"\nwrite forwarding: acknowledged {len(acked)}, lost {len(lost)}, duplicated {duplicated}")
    assert not lost, f"lost: {lost[:10]}"
    assert duplicated == 0
    for n, where in acked.items():
        assert seen[n] == where, f"record {n}: acknowledged at {where}, stored at {seen[n]}"


def test_confluent_kafka_idempotent_producer_moves_to_destination_through_promote(broker_factory, tmp_path):
    topic = "wf-ck"
    source, dest = setup(broker_factory, tmp_path, topic)
    p = Producer({"bootstrap.servers": dest.bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, "message.timeout.ms": int(scaled(60) * 1000)})
    acked: dict[int, tuple[int, int]] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def cb(err, msg):
        with lock:
            if err is not None:
                errors.append(f"{msg.value()}: {err}")
            else:
                acked[int(msg.value())] = (msg.partition(), msg.offset())

    def send(n: int):
        while True:
            try:
                p.produce(topic, value=f"{n}".encode(), partition=n % PARTITIONS, on_delivery=cb)
                return
            except BufferError:
                p.poll(0.05)

    for n in range(BEFORE, BEFORE + FORWARDED):
        send(n)
    assert p.flush(scaled(30)) == 0
    assert not errors, errors[:5]
    # Forwarded: acknowledged with the source's offsets, which the mirror then has too.
    for n in range(BEFORE, BEFORE + FORWARDED):
        assert acked[n][1] == n // PARTITIONS, (n, acked[n])
    wait_until(lambda: caught_up(dest.bootstrap, topic, source.bootstrap, PARTITIONS), timeout=scaled(30),
               what="forwarded records mirrored")

    promoted = threading.Event()

    def keep_producing():
        for n in range(BEFORE + FORWARDED, TOTAL):
            if n == TOTAL - 100:
                # The last records go strictly after the promotion committed.
                promoted.wait(scaled(60))
            send(n)
            p.poll(0)
            if n % 20 == 0:
                p.flush(scaled(30))
        p.flush(scaled(60))

    t = threading.Thread(target=keep_producing, daemon=True)
    t.start()
    wait_until(lambda: len(acked) >= FORWARDED + 100, timeout=scaled(30), what="producer mid-stream")
    at_promote = len(acked)
    cli("mirrors", "--promote", "--topics", topic, "--bootstrap-server", dest.bootstrap)
    wait_until(lambda: describe(dest.bootstrap, topic)["state"] == "STOPPED", timeout=scaled(30), what="promoted")
    at_stopped = len(acked)
    promoted.set()
    print(f"\nacknowledged when promote was requested: {at_promote}, when STOPPED: {at_stopped}, in all: {TOTAL - BEFORE}")
    t.join(scaled(90))
    assert not t.is_alive()
    assert p.flush(scaled(30)) == 0
    assert not errors, errors[:5]
    assert len(acked) == TOTAL - BEFORE
    verify(source, dest, topic, acked)


def test_java_idempotent_producer_moves_to_destination_through_promote(broker_factory, tmp_path, java):
    topic = "wf-java"
    source, dest = setup(broker_factory, tmp_path, topic)
    prod = java.producer(dest.bootstrap, topic, enable_idempotence=True, acks="all", linger_ms=5)
    index: dict[int, int] = {}  # outcome index -> record number
    try:
        def send(rng):
            for n in rng:
                index[prod.send(None, f"{n}".encode(), partition=n % PARTITIONS)] = n

        send(range(BEFORE, BEFORE + FORWARDED))
        prod.flush()
        wait_until(lambda: caught_up(dest.bootstrap, topic, source.bootstrap, PARTITIONS), timeout=scaled(30),
                   what="forwarded records mirrored")
        send(range(BEFORE + FORWARDED, 600))
        cli("mirrors", "--promote", "--topics", topic, "--bootstrap-server", dest.bootstrap)
        # No wait: these arrive while the mirror is PENDING_STOPPED (held) or just promoted.
        send(range(600, TOTAL - 100))
        wait_until(lambda: describe(dest.bootstrap, topic)["state"] == "STOPPED", timeout=scaled(30), what="promoted")
        send(range(TOTAL - 100, TOTAL))
        outcomes = prod.close()
    finally:
        prod.kill()
    errors = [(index[i], o.error, o.message) for i, o in outcomes.items() if o.error]
    assert not errors, errors[:5]
    acked = {index[i]: (o.partition, o.offset) for i, o in outcomes.items()}
    assert len(acked) == TOTAL - BEFORE
    for n in range(BEFORE, BEFORE + FORWARDED):
        assert acked[n][1] == n // PARTITIONS, (n, acked[n])
    verify(source, dest, topic, acked)


def test_confluent_kafka_producer_rides_out_a_source_outage(broker_factory, tmp_path):
    """Forwarded writes while the source is down get retriable errors (REQUEST_TIMED_OUT):
    librdkafka keeps retrying, and once the source is back every record is written once."""
    topic = "wf-down"
    source, dest = setup(broker_factory, tmp_path, topic)
    p = Producer({"bootstrap.servers": dest.bootstrap, "enable.idempotence": True, "acks": "all",
                  "message.timeout.ms": int(scaled(60) * 1000)})
    acked: dict[int, tuple[int, int]] = {}
    errors: list[str] = []

    def cb(err, msg):
        if err is not None:
            errors.append(f"{msg.value()}: {err}")
        else:
            acked[int(msg.value())] = (msg.partition(), msg.offset())

    for n in range(BEFORE, BEFORE + 100):
        p.produce(topic, value=f"{n}".encode(), partition=n % PARTITIONS, on_delivery=cb)
    assert p.flush(scaled(30)) == 0
    source.stop()
    for n in range(BEFORE + 100, BEFORE + 200):
        p.produce(topic, value=f"{n}".encode(), partition=n % PARTITIONS, on_delivery=cb)
    # The outage lasts as long as this bounded flush: nothing can be delivered meanwhile.
    assert p.flush(scaled(2)) > 0
    assert not errors, errors[:5]
    # A producer that starts during the outage: its InitProducerId is forwarded too, gets
    # REQUEST_TIMED_OUT and is retried until the source is back.
    late = Producer({"bootstrap.servers": dest.bootstrap, "enable.idempotence": True, "acks": "all",
                     "message.timeout.ms": int(scaled(60) * 1000)})
    for n in range(BEFORE + 200, BEFORE + 250):
        late.produce(topic, value=f"{n}".encode(), partition=n % PARTITIONS, on_delivery=cb)
    assert late.flush(scaled(1)) > 0
    source.restart()
    assert p.flush(scaled(60)) == 0
    assert late.flush(scaled(60)) == 0
    assert not errors, errors[:5]
    assert sorted(acked) == list(range(BEFORE, BEFORE + 250))
    wait_until(lambda: caught_up(dest.bootstrap, topic, source.bootstrap, PARTITIONS), timeout=scaled(60),
               what="mirror caught up after the outage")
    seen = []
    for part in range(PARTITIONS):
        _, hw = ck.watermarks(dest.bootstrap, topic, part)
        for m in ck.consume(dest.bootstrap, topic, part, 0, hw):
            seen.append(int(m.value()))
            if int(m.value()) >= BEFORE:
                assert acked[int(m.value())] == (part, m.offset())
    assert sorted(seen) == list(range(BEFORE + 250)), "0 lost, 0 duplicated"
    print(f"\nsource outage: acknowledged {len(acked)}, lost 0, duplicated {len(seen) - len(set(seen))}")
