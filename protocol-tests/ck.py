"""confluent-kafka (librdkafka 2.16) helpers shared by several test files."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import scaled


def admin(bootstrap: str, **conf) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, **conf})


def result(future, timeout: float = 20.0):
    """Resolve an admin future within a deadline (re-raising KafkaException)."""
    return future.result(timeout=scaled(timeout))


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    a = admin(bootstrap)  # keep a reference: a collected AdminClient fails its futures with _DESTROY
    fs = a.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=scaled(15),
        request_timeout=scaled(20),
    )
    result(fs[name])


@dataclass
class Delivered:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: tuple[int, int]


def produce(
    bootstrap: str,
    topic: str,
    messages: list[dict],
    timeout: float = 30.0,
    **conf,
) -> list[Delivered]:
    """Produce messages (dicts of produce() kwargs) and wait for every delivery report.

    Returns deliveries in send order; raises on any delivery error."""
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "message.timeout.ms": int(scaled(timeout) * 1000),
            **conf,
        }
    )
    out: list[Delivered | None] = [None] * len(messages)
    errors: list[str] = []

    def make_cb(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"message {i}: {err}")
            else:
                out[i] = Delivered(msg.partition(), msg.offset(), msg.key(), msg.value(), msg.timestamp())

        return cb

    try:
        for i, m in enumerate(messages):
            while True:
                try:
                    p.produce(topic, on_delivery=make_cb(i), **m)
                    break
                except BufferError:
                    p.poll(0.1)
        left = p.flush(scaled(timeout))
    finally:
        p.close()
    assert not errors, f"delivery errors: {errors[:5]}"
    assert left == 0, f"{left} messages still undelivered after {scaled(timeout):.0f}s"
    assert all(d is not None for d in out)
    return out  # type: ignore[return-value]


def consumer(bootstrap: str, **conf) -> Consumer:
    # Consumer groups are not in this milestone: group.id is mandatory for the
    # Python Consumer, but with assign() + explicit offsets and no commits
    # librdkafka never needs the group coordinator for fetching.
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "strait-protocol-tests-unused",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "enable.partition.eof": True,
            **conf,
        }
    )


def consume(
    bootstrap: str,
    topic: str,
    partition: int = 0,
    start: int = 0,
    count: int | None = None,
    timeout: float = 30.0,
    **conf,
):
    """assign() at `start` and read until `count` messages (or EOF when count is None)."""
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, partition, start)])
        msgs = []
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if count is None or len(msgs) >= count:
                        return msgs
                    continue
                raise KafkaException(m.error())
            msgs.append(m)
            if count is not None and len(msgs) >= count:
                return msgs
        raise AssertionError(
            f"consume {topic}[{partition}] from {start}: got {len(msgs)} of {count} messages "
            f"within {scaled(timeout):.0f}s; last offsets {[x.offset() for x in msgs[-5:]]}"
        )
    finally:
        c.close()


def watermarks(bootstrap: str, topic: str, partition: int = 0, timeout: float = 10.0) -> tuple[int, int]:
    c = consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=scaled(timeout), cached=False)
    finally:
        c.close()
