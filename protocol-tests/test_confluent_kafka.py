"""confluent-kafka 2.16.1 (bundled librdkafka 2.16.0) against strait.

Data plane: Producer (every codec, acks=all, idempotence) -> Consumer with assign()
(no consumer group: groups are a later milestone). Admin: topics, partitions,
configs (topic and broker), records deletion, offsets, cluster description, errors.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

import ck
from conftest import scaled, wait_until

# --------------------------------------------------------------------------
# Data plane


def _messages(n: int, explicit_ts_base: int | None):
    """n varied messages: keys, null keys, tombstones, empty values, repeated
    and null-valued headers. The first half carry an explicit CreateTime when
    explicit_ts_base is given."""
    out = []
    for i in range(n):
        m: dict = {"partition": 0, "value": f"value-{i}-".encode() + b"z" * (i * 13 % 300)}
        if i % 10 != 3:
            m["key"] = f"key-{i}".encode()
        if i % 17 == 5:
            m["value"] = None  # tombstone
        if i % 19 == 7:
            m["value"] = b""
        if i % 2 == 0:
            m["headers"] = [("h", f"{i}".encode()), ("h", b"again"), ("null-header", None)]
        if explicit_ts_base is not None and i < n // 2:
            m["timestamp"] = explicit_ts_base + i
        out.append(m)
    return out


def _check_consumed(msgs, sent, t_window, explicit_ts_base):
    t0, t1 = t_window
    assert [m.offset() for m in msgs] == list(range(len(sent)))
    for i, (m, s) in enumerate(zip(msgs, sent)):
        assert m.key() == s.get("key"), f"offset {i}: key {m.key()!r} != {s.get('key')!r}"
        assert m.value() == s["value"], f"offset {i}: value {m.value()!r:.60} != {s['value']!r:.60}"
        got_headers = m.headers() or []
        assert got_headers == (s.get("headers") or []), f"offset {i}: headers {got_headers}"
        ts_type, ts = m.timestamp()
        assert ts_type == TIMESTAMP_CREATE_TIME, f"offset {i}: timestamp type {ts_type}"
        if "timestamp" in s:
            assert ts == s["timestamp"], f"offset {i}: explicit CreateTime {s['timestamp']} came back as {ts}"
        else:
            assert t0 - 1000 <= ts <= t1 + 1000, f"offset {i}: default CreateTime {ts} outside [{t0}, {t1}]"


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_idempotent_produce_consume(broker, topic, codec):
    n = 200
    ts_base = 1_600_000_000_000
    sent = _messages(n, ts_base)
    t0 = int(time.time() * 1000)
    dr = ck.produce(
        broker.bootstrap,
        topic,
        sent,
        **{
            "compression.type": codec,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.num.messages": 64,  # several batches per codec
        },
    )
    t1 = int(time.time() * 1000)
    assert [d.offset for d in dr] == list(range(n)), "delivery reports must carry dense offsets in send order"
    assert {d.partition for d in dr} == {0}
    for d, s in zip(dr, sent):
        if "timestamp" in s:
            assert d.timestamp == (TIMESTAMP_CREATE_TIME, s["timestamp"])

    msgs = ck.consume(broker.bootstrap, topic, 0, 0, count=n)
    _check_consumed(msgs, sent, (t0, t1), ts_base)

    # Mid-batch start returns exactly from that offset.
    msgs = ck.consume(broker.bootstrap, topic, 0, 77, count=n - 77)
    assert [m.offset() for m in msgs] == list(range(77, n))
    assert msgs[0].value() == sent[77]["value"]

    assert ck.watermarks(broker.bootstrap, topic) == (0, n)


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_acks(broker, topic, acks):
    n = 50
    ck.create_topic(broker.bootstrap, topic)
    sent = [{"key": b"k", "value": f"acks-{acks}-{i}".encode()} for i in range(n)]
    dr = ck.produce(broker.bootstrap, topic, sent, acks=acks, **{"enable.idempotence": False})
    if acks != "0":
        assert [d.offset for d in dr] == list(range(n))
    # acks=0 gets no offsets back, but the data must still land, densely.
    wait_until(lambda: ck.watermarks(broker.bootstrap, topic)[1] == n, 15, what=f"HWM {n} with acks={acks}")
    msgs = ck.consume(broker.bootstrap, topic, 0, 0, count=n)
    assert [m.value() for m in msgs] == [s["value"] for s in sent]


def test_long_poll_fetch_wakes_on_produce(broker, topic):
    """A consumer parked at the log end (Fetch long poll) sees a new record promptly."""
    ck.create_topic(broker.bootstrap, topic)
    ck.produce(broker.bootstrap, topic, [{"value": b"first"}])
    c = ck.consumer(broker.bootstrap, **{"fetch.wait.max.ms": 5000})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        # Read the first record; librdkafka immediately sends the next fetch,
        # which then sits in the broker's long poll (fetch.wait.max.ms 5 s).
        first = wait_until(lambda: (x := c.poll(0.1)) is not None and not x.error() and x, 15, what="first record")
        assert first.value() == b"first"
        t_send = time.monotonic()
        ck.produce(broker.bootstrap, topic, [{"value": b"wake"}])
        m = wait_until(lambda: (x := c.poll(0.1)) is not None and not x.error() and x, 15, what="record after long poll")
        latency = time.monotonic() - t_send
        assert m.value() == b"wake" and m.offset() == 1
        # fetch.wait.max.ms is 5 s: a broker that ignores new data until the
        # wait expires would take ~5 s here.
        assert latency < scaled(3.0), f"long poll returned after {latency:.2f}s, not when data arrived"
    finally:
        c.close()


# --------------------------------------------------------------------------
# Admin


def _describe(admin, rtype, name) -> dict[str, ConfigEntry]:
    res = ConfigResource(rtype, name)
    return ck.result(admin.describe_configs([res])[res])


def _src(entry: ConfigEntry) -> ConfigSource:
    return ConfigSource(entry.source) if not isinstance(entry.source, ConfigSource) else entry.source


def test_create_topic_with_config_and_describe(broker, topic):
    a = ck.admin(broker.bootstrap)
    fs = a.create_topics(
        [NewTopic(topic, num_partitions=3, replication_factor=1, config={"retention.ms": "3600000", "cleanup.policy": "delete"})],
        operation_timeout=scaled(15),
    )
    assert ck.result(fs[topic]) is None
    md = a.list_topics(topic, timeout=scaled(10))
    t = md.topics[topic]
    assert t.error is None, t.error
    assert sorted(t.partitions) == [0, 1, 2]
    for p in t.partitions.values():
        assert p.leader == 1 and list(p.replicas) == [1] and list(p.isrs) == [1]

    cfg = _describe(a, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "3600000"
    assert _src(cfg["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert cfg["cleanup.policy"].value == "delete"
    # Kafka defaults for keys we did not set.
    assert cfg["retention.bytes"].value == "-1"
    assert cfg["message.timestamp.type"].value == "CreateTime"
    assert cfg["max.message.bytes"].value == "1048588"
    assert _src(cfg["max.message.bytes"]) in (ConfigSource.DEFAULT_CONFIG, ConfigSource.STATIC_BROKER_CONFIG)


def test_alter_configs_and_incremental(broker, topic):
    a = ck.admin(broker.bootstrap)
    ck.create_topic(broker.bootstrap, topic, config={"segment.ms": "7200000"})
    res = ConfigResource(ResourceType.TOPIC, topic)

    # Legacy AlterConfigs replaces the whole dynamic set: segment.ms reverts.
    res_set = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "123456789"})
    ck.result(a.alter_configs([res_set])[res_set])
    cfg = _describe(a, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "123456789"
    assert _src(cfg["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert cfg["segment.ms"].value == "604800000", "AlterConfigs must replace, not merge, the topic's dynamic configs"

    # IncrementalAlterConfigs: SET merges, DELETE reverts to the default.
    inc = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.bytes", "1073741824", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    ck.result(a.incremental_alter_configs([inc])[inc])
    cfg = _describe(a, ResourceType.TOPIC, res.name)
    assert cfg["retention.bytes"].value == "1073741824"
    assert cfg["retention.ms"].value == "604800000"
    assert _src(cfg["retention.ms"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG

    # validate_only changes nothing.
    inc2 = ConfigResource(
        ResourceType.TOPIC, topic,
        incremental_configs=[ConfigEntry("retention.bytes", "5", incremental_operation=AlterConfigOpType.SET)],
    )
    ck.result(a.incremental_alter_configs([inc2], validate_only=True)[inc2])
    assert _describe(a, ResourceType.TOPIC, topic)["retention.bytes"].value == "1073741824"


def test_broker_configs(broker_factory):
    b = broker_factory(num_partitions=2)
    a = ck.admin(b.bootstrap)
    cfg = _describe(a, ResourceType.BROKER, "1")
    assert cfg["num.partitions"].value == "2", "the --override value must be reported"
    assert _src(cfg["num.partitions"]) == ConfigSource.STATIC_BROKER_CONFIG, "set by --override, like server.properties"
    assert cfg["auto.create.topics.enable"].value == "true"
    assert _src(cfg["auto.create.topics.enable"]) == ConfigSource.DEFAULT_CONFIG
    default_retention = cfg["log.retention.ms"].value

    inc = ConfigResource(
        ResourceType.BROKER, "1",
        incremental_configs=[ConfigEntry("log.retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)],
    )
    ck.result(a.incremental_alter_configs([inc])[inc])
    cfg = _describe(a, ResourceType.BROKER, "1")
    assert cfg["log.retention.ms"].value == "86400000"
    assert _src(cfg["log.retention.ms"]) == ConfigSource.DYNAMIC_BROKER_CONFIG
    assert default_retention in (None, "604800000"), default_retention
    # Kafka's documented default is expressed as log.retention.hours=168 (log.retention.ms unset).
    assert "log.retention.hours" in cfg, "Kafka broker config log.retention.hours (default 168) is not described"
    assert cfg["log.retention.hours"].value == "168"


def test_create_partitions(broker, topic):
    a = ck.admin(broker.bootstrap)
    ck.create_topic(broker.bootstrap, topic, partitions=2)
    fs = a.create_partitions([NewPartitions(topic, 5)], operation_timeout=scaled(15))
    ck.result(fs[topic])
    wait_until(lambda: len(a.list_topics(topic, timeout=5).topics[topic].partitions) == 5, 15, what="5 partitions")
    dr = ck.produce(broker.bootstrap, topic, [{"value": b"p4", "partition": 4}])
    assert (dr[0].partition, dr[0].offset) == (4, 0)
    assert [m.value() for m in ck.consume(broker.bootstrap, topic, 4, 0, count=1)] == [b"p4"]

    # Shrinking is refused.
    fs = a.create_partitions([NewPartitions(topic, 3)])
    with pytest.raises(KafkaException) as ei:
        ck.result(fs[topic])
    assert ei.value.args[0].code() == KafkaError.INVALID_PARTITIONS, ei.value


def test_delete_records_and_list_offsets(broker, topic):
    a = ck.admin(broker.bootstrap)
    ck.create_topic(broker.bootstrap, topic)
    base = 1_700_000_000_000
    # Timestamps rise by 10 ms except record 6, which has the largest.
    ts = [base + 10 * i for i in range(10)]
    ts[6] = base + 1_000
    ck.produce(broker.bootstrap, topic, [{"value": f"v{i}".encode(), "timestamp": ts[i]} for i in range(10)],
               **{"linger.ms": 50})
    tp = TopicPartition(topic, 0)

    def lo(spec):
        return ck.result(a.list_offsets({tp: spec})[tp])

    assert lo(OffsetSpec.earliest()).offset == 0
    assert lo(OffsetSpec.latest()).offset == 10
    r = lo(OffsetSpec.for_timestamp(base + 25))
    assert r.offset == 3, "first offset whose timestamp >= target"
    assert r.timestamp == base + 30
    assert lo(OffsetSpec.for_timestamp(base + 5_000)).offset == -1, "no record at or after the timestamp"
    r = lo(OffsetSpec.max_timestamp())
    assert (r.offset, r.timestamp) == (6, base + 1_000)

    fs = a.delete_records([TopicPartition(topic, 0, 4)], operation_timeout=scaled(15))
    dres = ck.result(fs[tp])
    assert dres.low_watermark == 4
    assert lo(OffsetSpec.earliest()).offset == 4
    assert ck.watermarks(broker.bootstrap, topic) == (4, 10)
    assert [m.offset() for m in ck.consume(broker.bootstrap, topic, 0, 4, count=6)] == list(range(4, 10))
    # Producing continues at the old end.
    assert ck.produce(broker.bootstrap, topic, [{"value": b"after"}])[0].offset == 10

    # Deleting beyond the high watermark is an error.
    fs = a.delete_records([TopicPartition(topic, 0, 1000)])
    with pytest.raises(KafkaException) as ei:
        ck.result(fs[tp])
    assert ei.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE, ei.value


def test_describe_cluster_and_delete_topics(broker, unique_name):
    a = ck.admin(broker.bootstrap)
    desc = ck.result(a.describe_cluster())
    assert [(n.id, n.host, n.port) for n in desc.nodes] == [(1, broker.host, broker.port)]
    assert desc.controller is not None and desc.controller.id == 1
    assert desc.cluster_id, "cluster id must be non-empty"

    keep, doomed = unique_name("keep"), unique_name("doomed")
    for t in (keep, doomed):
        ck.create_topic(broker.bootstrap, t)
    ck.produce(broker.bootstrap, doomed, [{"value": b"x"}] * 3)
    topics = a.list_topics(timeout=scaled(10)).topics
    assert keep in topics and doomed in topics
    ck.result(a.delete_topics([doomed], operation_timeout=scaled(15))[doomed])
    wait_until(lambda: doomed not in a.list_topics(timeout=5).topics, 15, what="topic gone from metadata")
    assert keep in a.list_topics(timeout=scaled(10)).topics, "deleting one topic must not touch another"

    # Re-creating the name gives an empty topic.
    ck.create_topic(broker.bootstrap, doomed)
    assert ck.watermarks(broker.bootstrap, doomed) == (0, 0)


# --------------------------------------------------------------------------
# Admin errors


def _create_error(bootstrap, new_topic) -> int:
    a = ck.admin(bootstrap)
    fs = a.create_topics([new_topic], operation_timeout=scaled(15))
    with pytest.raises(KafkaException) as ei:
        ck.result(fs[new_topic.topic])
    return ei.value.args[0].code()


def test_create_existing_topic(broker, topic):
    ck.create_topic(broker.bootstrap, topic)
    assert _create_error(broker.bootstrap, NewTopic(topic, 1, 1)) == KafkaError.TOPIC_ALREADY_EXISTS


@pytest.mark.parametrize(
    "config",
    [
        {"retention.ms": "not-a-number"},
        {"cleanup.policy": "sometimes"},
        {"no.such.topic.config": "1"},
    ],
    ids=["bad-long", "bad-enum", "unknown-key"],
)
def test_create_topic_invalid_config(broker, topic, config):
    code = _create_error(broker.bootstrap, NewTopic(topic, 1, 1, config=config))
    assert code == KafkaError.INVALID_CONFIG, KafkaError(code).str()
    assert topic not in ck.admin(broker.bootstrap).list_topics(timeout=scaled(10)).topics


def test_alter_config_invalid(broker, topic):
    a = ck.admin(broker.bootstrap)
    ck.create_topic(broker.bootstrap, topic)
    for entry in (ConfigEntry("retention.ms", "abc", incremental_operation=AlterConfigOpType.SET),
                  ConfigEntry("no.such.topic.config", "1", incremental_operation=AlterConfigOpType.SET)):
        res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
        with pytest.raises(KafkaException) as ei:
            ck.result(a.incremental_alter_configs([res])[res])
        assert ei.value.args[0].code() == KafkaError.INVALID_CONFIG, (entry.name, ei.value)
    assert _describe(a, ResourceType.TOPIC, topic)["retention.ms"].value == "604800000"


def test_other_errors(broker, topic):
    a = ck.admin(broker.bootstrap)
    with pytest.raises(KafkaException) as ei:
        ck.result(a.delete_topics([topic], operation_timeout=scaled(10))[topic])
    assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, ei.value
    assert _create_error(broker.bootstrap, NewTopic(topic, 0, 1)) == KafkaError.INVALID_PARTITIONS
    assert _create_error(broker.bootstrap, NewTopic(topic + "-rf", 1, 3)) == KafkaError.INVALID_REPLICATION_FACTOR
    bad_name = "bad/name"
    assert _create_error(broker.bootstrap, NewTopic(bad_name, 1, 1)) == KafkaError.TOPIC_EXCEPTION


# --------------------------------------------------------------------------
# Limits and broker behaviour


def test_fetch_returns_oversized_batch(broker, topic):
    """KIP-74: a batch bigger than the consumer's fetch limits is still returned whole."""
    ck.create_topic(broker.bootstrap, topic)
    big = bytes(range(256)) * 800  # 200 KiB, incompressible enough
    ck.produce(broker.bootstrap, topic, [{"value": big}, {"value": b"small"}])
    msgs = ck.consume(broker.bootstrap, topic, 0, 0, count=2,
                      **{"fetch.max.bytes": 1024, "max.partition.fetch.bytes": 1024, "message.max.bytes": 1024,
                         "receive.message.max.bytes": 1_000_000})
    assert [m.value() for m in msgs] == [big, b"small"]


def test_auto_create_disabled(broker_factory, topic):
    b = broker_factory(auto_create_topics_enable="false")
    a = ck.admin(b.bootstrap)
    md = a.list_topics(topic, timeout=scaled(10))
    assert md.topics[topic].error is not None
    assert md.topics[topic].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    with pytest.raises(AssertionError, match="UNKNOWN_TOPIC|Unknown topic"):
        ck.produce(b.bootstrap, topic, [{"value": b"x"}], timeout=10, **{"topic.metadata.propagation.max.ms": 1000})
    assert topic not in a.list_topics(timeout=scaled(10)).topics


def test_time_retention_deletes_old_segments(broker_factory, topic):
    """retention.ms removes closed segments whose newest record is too old
    (log.retention.check.interval.ms shortened so the check runs promptly)."""
    b = broker_factory(log_retention_check_interval_ms=200)
    ck.create_topic(b.bootstrap, topic, config={"retention.ms": "60000", "segment.ms": "1000"})
    day_ago = int(time.time() * 1000) - 86_400_000
    ck.produce(b.bootstrap, topic, [{"value": f"old{i}".encode(), "timestamp": day_ago + i} for i in range(5)])
    # Once segment.ms (1 s, wall clock) has passed, the next append rolls the segment.
    rolled_after = time.monotonic() + 1.2
    wait_until(lambda: time.monotonic() > rolled_after, 5, what="segment.ms to elapse")
    ck.produce(b.bootstrap, topic, [{"value": b"new"}])
    wait_until(lambda: ck.watermarks(b.bootstrap, topic)[0] == 5, 30,
               what="log start offset to move past the expired segment")
    msgs = ck.consume(b.bootstrap, topic, 0, 5, count=1)
    assert msgs[0].value() == b"new"


def test_multi_partition_assign(broker, topic):
    """One librdkafka consumer assigned to 4 partitions at different start offsets."""
    ck.create_topic(broker.bootstrap, topic, partitions=4)
    msgs = [{"value": f"p{i % 4}-{i // 4}".encode(), "partition": i % 4} for i in range(200)]
    ck.produce(broker.bootstrap, topic, msgs)
    starts = {0: 0, 1: 10, 2: 49, 3: 50}
    c = ck.consumer(broker.bootstrap)
    got = {i: [] for i in range(4)}
    eof = set()
    try:
        c.assign([TopicPartition(topic, p, o) for p, o in starts.items()])

        def done():
            for m in c.consume(num_messages=500, timeout=0.2):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                    else:
                        raise KafkaException(m.error())
                else:
                    got[m.partition()].append((m.offset(), m.value()))
            return len(eof) == 4

        wait_until(done, 30, what="EOF on all 4 partitions")
    finally:
        c.close()
    for p, start in starts.items():
        assert got[p] == [(o, f"p{p}-{o}".encode()) for o in range(start, 50)], f"partition {p}"
