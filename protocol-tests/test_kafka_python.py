"""kafka-python 3.0.12 (pure Python, its own protocol stack) against strait.

kafka-python infers a "broker version" from the ApiVersions table and gates
features on it, so these tests also check that strait's table is honest enough
for it to pick modern request versions (e.g. headers need the v2 record format).
Codecs: gzip is built in; snappy/lz4/zstd need python-snappy, lz4 and zstandard
(pinned in requirements.txt).
"""

from __future__ import annotations

import os
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as Errors
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.admin import OffsetSpec
from kafka.protocol.consumer.offsets import OffsetTimestamp

from conftest import scaled, wait_until


def _admin(bootstrap) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(scaled(20) * 1000),
                            client_id="strait-protocol-tests")


def _consume(bootstrap, topic, partition, start, count, timeout=30.0):
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,  # no consumer group (not in this milestone): assign + seek
        enable_auto_commit=False,
        auto_offset_reset="none",
        consumer_timeout_ms=int(scaled(timeout) * 1000),
    )
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, start)
        out = []
        deadline = time.monotonic() + scaled(timeout)
        while len(out) < count and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=200).values():
                out.extend(recs)
        assert len(out) >= count, f"got {len(out)} of {count} records from {topic}[{partition}]@{start}"
        return out
    finally:
        c.close()


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume(broker, topic, codec):
    n = 120
    p = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        compression_type=codec,
        acks="all",
        linger_ms=20,
        batch_size=4096,  # several batches
        enable_idempotence=True,
    )
    ts_base = 1_650_000_000_000
    sent = []
    t0 = int(time.time() * 1000)
    futures = []
    for i in range(n):
        m = {
            "key": f"k{i}".encode() if i % 5 else None,
            "value": (f"value-{i}-" + "y" * (i % 50)).encode(),
            "headers": [("idx", str(i).encode()), ("empty", b"")] if i % 3 == 0 else [],
            "partition": 0,
        }
        if i % 2 == 0:
            m["timestamp_ms"] = ts_base + i
        sent.append(m)
        futures.append(p.send(topic, **m))
    p.flush(timeout=scaled(30))
    metas = [f.get(timeout=scaled(30)) for f in futures]
    t1 = int(time.time() * 1000)
    p.close(timeout=scaled(10))
    assert [md.offset for md in metas] == list(range(n))
    assert {md.partition for md in metas} == {0}

    recs = _consume(broker.bootstrap, topic, 0, 0, n)
    assert [r.offset for r in recs] == list(range(n))
    for r, s in zip(recs, sent):
        assert r.key == s["key"]
        assert r.value == s["value"]
        assert list(r.headers) == s["headers"], (r.offset, r.headers)
        assert r.timestamp_type == 0, "CreateTime"
        if "timestamp_ms" in s:
            assert r.timestamp == s["timestamp_ms"]
        else:
            assert t0 - 1000 <= r.timestamp <= t1 + 1000

    # seek into the middle of a batch
    recs = _consume(broker.bootstrap, topic, 0, 61, n - 61)
    assert [r.offset for r in recs] == list(range(61, n))


def test_admin_topics_configs_partitions(broker, topic):
    a = _admin(broker.bootstrap)
    try:
        res = a.create_topics({topic: {"num_partitions": 2, "replication_factor": 1,
                                       "configs": {"retention.ms": "7200000"}}})
        errs = [t for t in res["topics"] if t["error_code"] != 0]
        assert not errs, res
        assert topic in a.list_topics()
        desc = {t["name"]: t for t in a.describe_topics([topic])}
        assert sorted(p["partition_index"] for p in desc[topic]["partitions"]) == [0, 1]

        cr = ConfigResource(ConfigResourceType.TOPIC, topic)
        modified = a.describe_configs([cr])["topic"][topic]
        assert modified["retention.ms"]["value"] == "7200000", modified
        every = a.describe_configs([cr], config_filter="all")["topic"][topic]
        assert every["cleanup.policy"]["value"] == "delete"
        assert every["retention.bytes"]["value"] == "-1"

        # IncrementalAlterConfigs SET (kafka-python picks it when advertised) ...
        r = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.bytes": "999999"})])
        assert r == {"topic": {topic: "OK"}}, r
        # ... and the legacy AlterConfigs path explicitly (the client re-sends the modified keys).
        r = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"segment.bytes": "10485760"})],
                            incremental=False)
        assert r == {"topic": {topic: "OK"}}, r
        modified = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
        assert {k: v["value"] for k, v in modified.items()} == {
            "retention.ms": "7200000", "retention.bytes": "999999", "segment.bytes": "10485760"}

        broker_cfg = a.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")],
                                        config_filter="all")["broker"]["1"]
        assert broker_cfg["num.partitions"]["value"] == "1"

        a.create_partitions({topic: 4})
        wait_until(lambda: len({t["name"]: t for t in a.describe_topics([topic])}[topic]["partitions"]) == 4,
                   15, what="4 partitions")

        with pytest.raises(Errors.TopicAlreadyExistsError):
            a.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        with pytest.raises(Errors.InvalidConfigurationError):
            a.create_topics({topic + "-bad": {"num_partitions": 1, "replication_factor": 1,
                                              "configs": {"retention.ms": "yesterday"}}})

        cluster = a.describe_cluster()
        assert [(b["broker_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [(1, broker.host, broker.port)]
        assert cluster["controller_id"] == 1
        assert cluster["cluster_id"]

        a.delete_topics([topic])
        wait_until(lambda: topic not in a.list_topics(), 15, what="topic deleted")
    finally:
        a.close()


def test_delete_records_and_offsets(broker, topic):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    base = 1_690_000_000_000
    for i in range(10):
        p.send(topic, value=f"v{i}".encode(), partition=0, timestamp_ms=base + 100 * i)
    p.flush(timeout=scaled(30))
    p.close()
    a = _admin(broker.bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        offs = a.list_partition_offsets({tp: OffsetSpec.EARLIEST})
        assert offs[tp].offset == 0
        assert a.list_partition_offsets({tp: OffsetSpec.LATEST})[tp].offset == 10
        assert a.list_partition_offsets({tp: OffsetTimestamp(base + 450)})[tp].offset == 5
        mt = a.list_partition_offsets({tp: OffsetSpec.MAX_TIMESTAMP})[tp]
        assert (mt.offset, mt.timestamp) == (9, base + 900)

        res = a.delete_records({tp: 3})
        assert res[tp]["low_watermark"] == 3, res
        assert a.list_partition_offsets({tp: OffsetSpec.EARLIEST})[tp].offset == 3
        recs = _consume(broker.bootstrap, topic, 0, 3, 7)
        assert [r.offset for r in recs] == list(range(3, 10))
    finally:
        a.close()


def test_describe_log_dirs(broker, topic):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for i in range(20):
        p.send(topic, value=b"x" * 100, partition=0)
    p.flush(timeout=scaled(30))
    p.close()
    a = _admin(broker.bootstrap)
    try:
        [per_broker] = a.describe_log_dirs()
        assert per_broker["broker"] == 1
        dirs = per_broker["log_dirs"]
        assert len(dirs) == 1, dirs
        d = dirs[0]
        assert d["error_code"] == 0
        assert os.path.realpath(d["log_dir"]) == os.path.realpath(broker.data_dir), d["log_dir"]
        parts = {(t["name"], pp["partition_index"]): pp for t in d["topics"] for pp in t["partitions"]}
        assert (topic, 0) in parts, sorted(parts)
        assert parts[(topic, 0)]["partition_size"] >= 20 * 100, parts[(topic, 0)]
    finally:
        a.close()


def test_multi_partition_incremental_fetch(broker, topic):
    """kafka-python uses incremental fetch sessions (KIP-227, Fetch v7+): rounds
    of produce to different partitions while one consumer reads all three must
    deliver every record exactly once, in order per partition."""
    a = _admin(broker.bootstrap)
    try:
        a.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}})
    finally:
        a.close()
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="none", fetch_max_wait_ms=100)
    tps = [TopicPartition(topic, i) for i in range(3)]
    c.assign(tps)
    for tp in tps:
        c.seek(tp, 0)
    got = {i: [] for i in range(3)}
    sent = {i: [] for i in range(3)}
    try:
        # Partition pattern per round: all, only 1, 0 and 2, only 2, all.
        for rnd, parts in enumerate([(0, 1, 2), (1,), (0, 2), (2,), (0, 1, 2)]):
            for part in parts:
                for j in range(5):
                    v = f"r{rnd}-p{part}-{j}".encode()
                    p.send(topic, value=v, partition=part)
                    sent[part].append(v)
            p.flush(timeout=scaled(30))

            def caught_up():
                for recs in c.poll(timeout_ms=100).values():
                    for r in recs:
                        got[r.partition].append((r.offset, r.value))
                return all(len(got[i]) >= len(sent[i]) for i in range(3))

            wait_until(caught_up, 30, what=f"round {rnd} delivered")
    finally:
        p.close()
        c.close()
    for i in range(3):
        assert [o for o, _ in got[i]] == list(range(len(sent[i]))), f"partition {i} offsets"
        assert [v for _, v in got[i]] == sent[i], f"partition {i} values"
