"""Cluster links with real clients and our CLIs: a Strait destination mirroring from a
second Strait broker and from librdkafka's 3-broker mock cluster (a source Strait did not
write). Every test compares the raw batches of source and mirror (same offsets, same bytes)
and what real consumers read from both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import ck
import link_wire
from conftest import scaled, strait_bin, wait_until

HERE = Path(__file__).resolve().parent


def tool(name: str) -> Path:
    return strait_bin().parent / name


def cli(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(tool(name)), *args], capture_output=True, text=True, timeout=scaled(60), stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """One CLI call, echoed like a terminal session (for the tests that print a transcript)."""
    p = cli(*args, check=check)
    print(f"\n$ {' '.join(args)}")
    if p.stdout:
        print(p.stdout, end="")
    if p.stderr:
        print(p.stderr, end="")
    if p.returncode:
        print(f"(exit {p.returncode})")
    return p


def describe(dest: str, topic: str) -> dict:
    out = json.loads(cli("mirrors", "--describe", "--topics", topic, "--bootstrap-server", dest, "--output", "json").stdout)
    mirrors = out["mirrors"] if isinstance(out, dict) else out
    (m,) = [m for m in mirrors if m["mirror_topic"] == topic]
    return m


def caught_up(dest: str, topic: str, source: str, partitions: int) -> bool:
    try:
        m = describe(dest, topic)
    except AssertionError:
        return False
    if len(m["partitions"]) != partitions:
        return False
    for p in m["partitions"]:
        _, hw = ck.watermarks(source, topic, p["partition"])
        if p["local_log_end_offset"] != hw:
            return False
    return True


def assert_identical(source: str, dest: str, topic: str, partitions: int, start: int = 0) -> int:
    """Raw batches equal, partition by partition; returns the number of batches compared."""
    total = 0
    for p in range(partitions):
        a = link_wire.read_log(source, topic, p, start)
        b = link_wire.read_log(dest, topic, p, start)
        assert [x[:2] for x in a] == [x[:2] for x in b], f"{topic}-{p}: offsets differ"
        for (base, _, x), (_, _, y) in zip(a, b):
            assert x == y, f"{topic}-{p}: batch at offset {base} differs"
        total += len(a)
    return total


def records(bootstrap: str, topic: str, partition: int, count: int) -> list[tuple]:
    return [(m.offset(), m.key(), m.value(), m.headers(), m.timestamp()) for m in ck.consume(bootstrap, topic, partition, 0, count)]


def group_consume(bootstrap: str, group: str, topic: str, count: int) -> list[bytes]:
    """Subscribe in `group`, read `count` records, commit synchronously, close."""
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000})
    try:
        c.subscribe([topic])
        got = []
        deadline = __import__("time").monotonic() + scaled(30)
        while len(got) < count and __import__("time").monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value())
        c.commit(asynchronous=False)
        return got
    finally:
        c.close()


def group_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int:
    from confluent_kafka import ConsumerGroupTopicPartitions
    a = AdminClient({"bootstrap.servers": bootstrap})
    try:
        f = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, partition)])])
        res = ck.result(f[group])
        return res.topic_partitions[0].offset
    except KafkaException:
        return -1


def read_acl(user: str, topic: str):
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
    return AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", "*",
                      AclOperation.READ, AclPermissionType.ALLOW)


def acl_keys(bootstrap: str) -> set[tuple]:
    from confluent_kafka.admin import AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
    a = AdminClient({"bootstrap.servers": bootstrap})
    f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY)
    return {(b.name, b.principal, b.operation.name, b.permission_type.name) for b in ck.result(a.describe_acls(f))}


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


TOPIC_FILTER = '{ "topicFilters": [ { "name": "test-topic", "patternType": "LITERAL", "filterType": "INCLUDE" } ] }'
GROUP_FILTER = '{ "groupFilters": [ { "name": "test-group", "patternType": "LITERAL", "filterType": "INCLUDE" } ] }'
ACL_FILTER = '{ "aclFilters": [ { "resourceFilter": { "resourceType": "any", "patternType": "any" }, "accessFilter": { "operation": "any", "permissionType": "any" } } ] }'


def test_seed_004_flow_against_a_strait_source(broker_factory, tmp_path):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "test-topic", 1)
    ck.produce(source.bootstrap, "test-topic", [{"value": str(i).encode()} for i in range(1, 6)])
    # Consume them in test-group, committing, as the seed's console consumer does.
    assert group_consume(source.bootstrap, "test-group", "test-topic", 5) == [b"1", b"2", b"3", b"4", b"5"]
    # kafka-acls --add --allow-principal User:test-user --operation READ --topic test-topic
    src_admin = AdminClient({"bootstrap.servers": source.bootstrap})
    ck.result(src_admin.create_acls([read_acl("test-user", "test-topic")])[read_acl("test-user", "test-topic")])

    # The seed's files, with our PLAINTEXT source (SASL arrives with issue 3).
    config = write(tmp_path, "source.config", f"bootstrap.servers={source.bootstrap}\nauto.create.mirror.topics.enable=true\n"
                   "consumer.offset.sync.enable=true\nacl.sync.enable=true\nmetadata.max.age.ms=500\nconsumer.offset.sync.ms=1000\nacl.sync.ms=500\n")
    topics = write(tmp_path, "topic_filter.json", TOPIC_FILTER)
    groups = write(tmp_path, "group.json", GROUP_FILTER)
    acls = write(tmp_path, "acl.json", ACL_FILTER)
    out = cli("cluster-links", "--bootstrap-server", dest.bootstrap, "--create", "--link", "test-cluster-link",
              "--config-file", str(config), "--topic-filters-json-file", str(topics),
              "--consumer-group-filters-json-file", str(groups), "--acl-filters-json-file", str(acls))
    assert "test-cluster-link" in out.stdout

    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 1), timeout=scaled(30), what="mirror caught up")
    assert_identical(source.bootstrap, dest.bootstrap, "test-topic", 1)
    assert [r[2] for r in records(dest.bootstrap, "test-topic", 0, 5)] == [b"1", b"2", b"3", b"4", b"5"]
    # The group and its committed offset came across, unchanged.
    wait_until(lambda: group_offset(dest.bootstrap, "test-group", "test-topic") == 5, timeout=scaled(30), what="offsets synced")
    # ... and the ACL (kafka-acls --list on the destination).
    wait_until(lambda: acl_keys(dest.bootstrap) == {("test-topic", "User:test-user", "READ", "ALLOW")}, timeout=scaled(30), what="ACL synced")
    assert records(dest.bootstrap, "test-topic", 0, 5) == records(source.bootstrap, "test-topic", 0, 5)

    # Read-only: the producer fails fast with a non-retriable error (librdkafka shows the
    # code; the message naming the link is checked in crates/broker/tests/link.rs).
    with pytest.raises(AssertionError) as e:
        ck.produce(dest.bootstrap, "test-topic", [{"value": b"nope"}], timeout=10)
    assert "INVALID_REQUEST" in str(e.value)

    listed = cli("cluster-links", "--bootstrap-server", dest.bootstrap, "--list").stdout
    assert "test-cluster-link" in listed

    out = cli("mirrors", "--promote", "--topics", "test-topic", "--bootstrap-server", dest.bootstrap)
    assert "Calculating max offset and ms lag for mirror topics: [test-topic]" in out.stdout
    assert "Request for stopping topic test-topic's mirror was successfully scheduled" in out.stdout
    wait_until(lambda: describe(dest.bootstrap, "test-topic")["state"] == "STOPPED", timeout=scaled(30), what="promotion")

    delivered = ck.produce(dest.bootstrap, "test-topic", [{"value": b"6"}])
    assert delivered[0].offset == 5, "new offsets continue right after the mirrored ones"
    # A consumer of test-group that moves to the destination resumes at exactly the next record.
    assert group_consume(dest.bootstrap, "test-group", "test-topic", 1) == [b"6"]
    assert [r[2] for r in records(dest.bootstrap, "test-topic", 0, 6)] == [b"1", b"2", b"3", b"4", b"5", b"6"]

    out = cli("cluster-links", "--delete", "--link", "test-cluster-link", "--bootstrap-server", dest.bootstrap)
    assert "Cluster link 'test-cluster-link' deletion successfully completed." in out.stdout
    assert "test-cluster-link" not in cli("cluster-links", "--bootstrap-server", dest.bootstrap, "--list").stdout


def test_every_codec_idempotent_data_and_partitions(broker_factory, tmp_path):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "test-topic", 3)
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        msgs = [{"value": f"{codec}-{i}".encode(), "key": f"k{i}".encode(), "partition": i % 3, "headers": [("h", codec.encode())]} for i in range(60)]
        ck.produce(source.bootstrap, "test-topic", msgs, **{"compression.type": codec, "enable.idempotence": True, "linger.ms": 20})
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER)
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 3), timeout=scaled(30), what="mirror caught up")
    assert assert_identical(source.bootstrap, dest.bootstrap, "test-topic", 3) >= 15
    for p in range(3):
        n = ck.watermarks(source.bootstrap, "test-topic", p)[1]
        assert records(dest.bootstrap, "test-topic", p, n) == records(source.bootstrap, "test-topic", p, n)


def test_kill9_destination_mid_mirror_resumes_without_gap_or_duplicate(broker_factory):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "test-topic", 2)
    ck.produce(source.bootstrap, "test-topic", [{"value": f"a{i}".encode(), "partition": i % 2} for i in range(2000)], **{"linger.ms": 5})
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500,replica.fetch.max.bytes=4096",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER)
    # Kill as soon as some but not all data is mirrored.
    wait_until(lambda: any(p["local_log_end_offset"] > 0 for p in describe(dest.bootstrap, "test-topic")["partitions"]),
               timeout=scaled(30), what="mirroring started")
    dest.kill9()
    ck.produce(source.bootstrap, "test-topic", [{"value": f"b{i}".encode(), "partition": i % 2} for i in range(500)])
    dest.restart()
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 2), timeout=scaled(60), what="mirror resumed")
    assert_identical(source.bootstrap, dest.bootstrap, "test-topic", 2)


def test_source_restart_and_delete_records(broker_factory):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "test-topic", 1)
    ck.produce(source.bootstrap, "test-topic", [{"value": f"v{i}".encode()} for i in range(20)], **{"batch.num.messages": 1})
    # Data deleted at the source before the link starts: the mirror starts at the source's log start.
    a = AdminClient({"bootstrap.servers": source.bootstrap})
    from confluent_kafka import TopicPartition as TP
    res = a.delete_records([TP("test-topic", 0, 7)])
    ck.result(list(res.values())[0])
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER)
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 1), timeout=scaled(30), what="mirror caught up")
    assert ck.watermarks(dest.bootstrap, "test-topic") == (7, 20)
    assert_identical(source.bootstrap, dest.bootstrap, "test-topic", 1, start=7)

    # The source restarts; mirroring resumes when it is back.
    source.stop()
    source.restart()
    ck.produce(source.bootstrap, "test-topic", [{"value": f"w{i}".encode()} for i in range(10)])
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 1), timeout=scaled(60), what="mirror after source restart")
    # DeleteRecords on the source while mirroring: the mirror's log start follows. (A fresh
    # admin client: librdkafka's leader cache does not recover from the broker restart.)
    a = AdminClient({"bootstrap.servers": source.bootstrap})
    ck.result(list(a.delete_records([TP("test-topic", 0, 12)]).values())[0])
    wait_until(lambda: ck.watermarks(dest.bootstrap, "test-topic")[0] == 12, timeout=scaled(30), what="log start followed")
    assert_identical(source.bootstrap, dest.bootstrap, "test-topic", 1, start=12)


@pytest.fixture
def mock_cluster():
    p = subprocess.Popen([sys.executable, str(HERE / "mock_cluster.py"), "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if not line.startswith("BOOTSTRAP "):
        p.kill()
        pytest.fail(f"mock cluster did not start: {line!r}")
    yield line.split(" ", 1)[1]
    p.stdin.close()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()


def test_mirror_from_librdkafka_mock_cluster(mock_cluster, broker_factory, tmp_path):
    dest = broker_factory("dest")
    bootstrap = mock_cluster
    # The mock auto-creates topics on first produce (4 partitions), led by different brokers.
    for codec in ["none", "gzip", "lz4", "zstd", "snappy"]:
        msgs = [{"value": f"{codec}-{i}".encode(), "key": f"k{i}".encode(), "partition": i % 4} for i in range(40)]
        ck.produce(bootstrap, "test-topic", msgs, **{"compression.type": codec, "enable.idempotence": True, "linger.ms": 10})
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics("test-topic", timeout=10)
    partitions = len(md.topics["test-topic"].partitions)
    leaders = {p.leader for p in md.topics["test-topic"].partitions.values()}
    assert len(leaders) > 1, "the mock should spread leaders across brokers"
    cli("cluster-links", "create", "--link", "mock", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={bootstrap},metadata.max.age.ms=500",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER)
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", bootstrap, partitions), timeout=scaled(60), what="mirror of the mock caught up")
    for p in range(partitions):
        leader = md.topics["test-topic"].partitions[p].leader
        addr = md.brokers[leader]
        src_addr = f"{addr.host}:{addr.port}"
        a = link_wire.read_log(src_addr, "test-topic", p)
        b = link_wire.read_log(dest.bootstrap, "test-topic", p)
        assert a and [x[2] for x in a] == [x[2] for x in b], f"partition {p} differs"
        n = ck.watermarks(bootstrap, "test-topic", p)[1]
        assert records(dest.bootstrap, "test-topic", p, n) == records(bootstrap, "test-topic", p, n)

    # The mock has no DescribeConfigs: the config-sync task reports its error while the
    # data keeps flowing.
    desc = json.loads(cli("cluster-links", "--describe", "--link", "mock", "--bootstrap-server", dest.bootstrap, "--output", "json").stdout)
    task = [t for t in desc["tasks"] if t["name"] == "topic_config_sync"]
    assert task and task[0]["state"] == "IN_ERROR" and task[0]["error"], desc["tasks"]
    assert desc["state"] == "ACTIVE"

    # The rest of seed 004's flow against this source: promote, write, delete the link.
    out = cli("mirrors", "--promote", "--topics", "test-topic", "--bootstrap-server", dest.bootstrap, "--wait", "--timeout-ms", "60000")
    assert "successfully scheduled" in out.stdout
    assert describe(dest.bootstrap, "test-topic")["state"] == "STOPPED"
    end = ck.watermarks(dest.bootstrap, "test-topic", 0)[1]
    assert ck.produce(dest.bootstrap, "test-topic", [{"value": b"after", "partition": 0}])[0].offset == end
    out = cli("cluster-links", "--delete", "--link", "mock", "--bootstrap-server", dest.bootstrap)
    assert "Cluster link 'mock' deletion successfully completed." in out.stdout


def test_manual_mirror_pause_resume_failover_and_delete_guard(broker_factory):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "orders", 2)
    ck.create_topic(dest.bootstrap, "taken", 1)
    ck.produce(source.bootstrap, "orders", [{"value": f"o{i}".encode(), "partition": i % 2} for i in range(40)])
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500")
    # A mirror name that exists as a normal topic is refused, with a reason.
    bad = cli("mirrors", "--create", "--mirror-topic", "taken", "--source-topic", "orders", "--link", "l1",
              "--bootstrap-server", dest.bootstrap, check=False)
    assert bad.returncode != 0 and "taken" in (bad.stdout + bad.stderr)
    cli("mirrors", "--create", "--mirror-topic", "orders", "--link", "l1", "--bootstrap-server", dest.bootstrap)
    wait_until(lambda: caught_up(dest.bootstrap, "orders", source.bootstrap, 2), timeout=scaled(30), what="manual mirror caught up")
    assert_identical(source.bootstrap, dest.bootstrap, "orders", 2)

    cli("mirrors", "--pause", "--topics", "orders", "--bootstrap-server", dest.bootstrap)
    assert describe(dest.bootstrap, "orders")["state"] == "PAUSED"
    ck.produce(source.bootstrap, "orders", [{"value": f"p{i}".encode(), "partition": i % 2} for i in range(10)])
    cli("mirrors", "--resume", "--topics", "orders", "--bootstrap-server", dest.bootstrap)
    wait_until(lambda: caught_up(dest.bootstrap, "orders", source.bootstrap, 2), timeout=scaled(30), what="caught up after resume")

    # The link cannot be deleted while it has an active mirror, unless forced.
    refused = cli("cluster-links", "--delete", "--link", "l1", "--bootstrap-server", dest.bootstrap, check=False)
    assert refused.returncode != 0 and "orders" in (refused.stdout + refused.stderr)

    # Failover stops at once; the topic becomes writable and continues the offsets.
    cli("mirrors", "--failover", "--topics", "orders", "--bootstrap-server", dest.bootstrap)
    assert describe(dest.bootstrap, "orders")["state"] == "STOPPED"
    end = ck.watermarks(dest.bootstrap, "orders", 1)[1]
    assert ck.produce(dest.bootstrap, "orders", [{"value": b"mine", "partition": 1}])[0].offset == end
    again = cli("mirrors", "--promote", "--topics", "orders", "--bootstrap-server", dest.bootstrap, check=False)
    assert again.returncode != 0 and "already stopped" in (again.stdout + again.stderr)
    cli("cluster-links", "--delete", "--link", "l1", "--bootstrap-server", dest.bootstrap)


@pytest.mark.skipif(not __import__("os").environ.get("STRAIT_TANSU"), reason="opt-in: set STRAIT_TANSU=1 (and TANSU_BIN) — Tansu takes ~10 minutes to build")
def test_mirror_from_tansu(broker_factory, tmp_path):
    import os
    import shutil
    import socket
    tansu = os.environ.get("TANSU_BIN") or shutil.which("tansu") or "/tmp/tansu/root/bin/tansu"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "sqlite://tansu.db"],  # relative: tansu drops a leading '/'
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "tansu.log", "wb"))
    try:
        src = f"127.0.0.1:{port}"
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, timeout=scaled(30), what="tansu up")
        ck.create_topic(src, "test-topic", 2)
        for codec in ["none", "gzip", "lz4", "zstd"]:
            ck.produce(src, "test-topic", [{"value": f"{codec}-{i}".encode(), "partition": i % 2} for i in range(20)],
                       **{"compression.type": codec, "enable.idempotence": True})
        # Seed 004 against Tansu: a group consumes and commits on the source. (No ACL step:
        # Tansu's CreateAcls replies cannot be decoded by any client, peers.md.)
        n0 = ck.watermarks(src, "test-topic", 0)[1]
        assert len(group_consume(src, "test-group", "test-topic", 2 * n0)) > 0
        committed = group_offset(src, "test-group", "test-topic")
        assert committed > 0
        dest = broker_factory("dest")
        cli("cluster-links", "create", "--link", "tansu", "--bootstrap-server", dest.bootstrap,
            "--config", f"bootstrap.servers={src},metadata.max.age.ms=500,consumer.offset.sync.enable=true,consumer.offset.sync.ms=1000",
            "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER,
            "--consumer-group-filters-json", GROUP_FILTER)
        wait_until(lambda: caught_up(dest.bootstrap, "test-topic", src, 2), timeout=scaled(60), what="mirror of tansu caught up")
        # Tansu stores records, not batches, and rebuilds each batch per fetch with a new
        # maxTimestamp every time (so a new CRC): it never serves the same bytes twice. The
        # mirror holds exactly one of its answers: every byte but maxTimestamp and the CRC
        # that covers it must match, and the mirror's CRC must be valid. (The link reads
        # Tansu at Fetch v11: Tansu 0.6 writes a v16 tagged field into v12 responses.)
        import kafka_wire

        def masked(raw: bytes) -> bytes:
            return raw[:17] + b"\0" * 4 + raw[21:35] + b"\0" * 8 + raw[43:]

        for p in range(2):
            a = link_wire.read_log(src, "test-topic", p, version=11)
            b = link_wire.read_log(dest.bootstrap, "test-topic", p)
            assert a and [x[:2] for x in a] == [x[:2] for x in b], f"partition {p}: offsets differ"
            assert [masked(x[2]) for x in a] == [masked(x[2]) for x in b], f"partition {p}: batches differ"
            for _, _, raw in b:
                assert int.from_bytes(raw[17:21], "big") == kafka_wire.crc32c(raw[21:]), "mirror CRC invalid"
        for p in range(2):
            n = ck.watermarks(src, "test-topic", p)[1]
            assert records(dest.bootstrap, "test-topic", p, n) == records(src, "test-topic", p, n)
        wait_until(lambda: group_offset(dest.bootstrap, "test-group", "test-topic") == committed,
                   timeout=scaled(30), what="group offsets synced from tansu")
        cli("mirrors", "--promote", "--topics", "test-topic", "--bootstrap-server", dest.bootstrap, "--wait", "--timeout-ms", "60000")
        end = ck.watermarks(dest.bootstrap, "test-topic", 0)[1]
        assert ck.produce(dest.bootstrap, "test-topic", [{"value": b"after", "partition": 0}])[0].offset == end
        out = cli("cluster-links", "--delete", "--link", "tansu", "--bootstrap-server", dest.bootstrap)
        assert "deletion successfully completed" in out.stdout
    finally:
        proc.terminate()
        proc.wait(10)


def test_topic_config_sync_and_link_health(broker_factory):
    from confluent_kafka.admin import ConfigResource, ConfigEntry, AlterConfigOpType
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "test-topic", 1, config={"max.message.bytes": "200000", "retention.ms": "3600000"})
    ck.produce(source.bootstrap, "test-topic", [{"value": b"x"}])
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500,topic.config.sync.ms=200",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER)
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 1), timeout=scaled(30), what="caught up")

    dest_admin = AdminClient({"bootstrap.servers": dest.bootstrap})

    def dest_config(key):
        r = ConfigResource("topic", "test-topic")
        return ck.result(dest_admin.describe_configs([r])[r])[key].value

    # Copied at creation: the always-synced max.message.bytes, and (creation copies all
    # explicit configs) retention.ms.
    assert dest_config("max.message.bytes") == "200000"
    # A source change to an always-synced config reaches the mirror within a sync interval;
    # an optionally synced one (retention.ms, not in topic.config.sync.include) does not.
    a = AdminClient({"bootstrap.servers": source.bootstrap})
    r = ConfigResource("topic", "test-topic", incremental_configs=[
        ConfigEntry("max.message.bytes", "300000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    ck.result(a.incremental_alter_configs([r])[r])
    wait_until(lambda: dest_config("max.message.bytes") == "300000", timeout=scaled(30), what="config synced")
    assert dest_config("retention.ms") == "3600000"
    # Local changes to a synced config are refused while mirroring, with the link named;
    # a local-only config may change.
    d = AdminClient({"bootstrap.servers": dest.bootstrap})
    bad = ConfigResource("topic", "test-topic", incremental_configs=[
        ConfigEntry("max.message.bytes", "5", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as e:
        ck.result(d.incremental_alter_configs([bad])[bad])
    assert "l1" in str(e.value)
    ok = ConfigResource("topic", "test-topic", incremental_configs=[
        ConfigEntry("retention.ms", "1000000", incremental_operation=AlterConfigOpType.SET)])
    ck.result(d.incremental_alter_configs([ok])[ok])

    # Health: the link reports IN_SYNC with zero lag, and its config-sync task ran.
    listing = json.loads(cli("cluster-links", "--describe", "--link", "l1", "--bootstrap-server", dest.bootstrap, "--output", "json").stdout)
    text = json.dumps(listing)
    assert "IN_SYNC" in text and "topic_config_sync" in text, text


def test_prometheus_metrics(broker_factory):
    import urllib.error
    import urllib.request
    source = broker_factory("source")
    dest = broker_factory("dest", overrides={"metrics.http.listener": "127.0.0.1:0"})
    # The metrics line follows the ready line on stdout; the reader thread may not have it yet.
    line = wait_until(lambda: next((l for l in dest.stdout_lines if l.startswith("strait: metrics on ")), None),
                      timeout=10, what="the metrics start-up line")
    url = line.split("strait: metrics on ", 1)[1]
    ck.create_topic(source.bootstrap, "test-topic", 2)
    ck.produce(source.bootstrap, "test-topic", [{"value": b"m" * 100, "partition": i % 2} for i in range(50)])
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER)
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 2), timeout=scaled(30), what="caught up")

    def scrape() -> dict[str, float]:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        out = {}
        for l in text.splitlines():
            if l and not l.startswith("#"):
                k, v = l.rsplit(" ", 1)
                out[k] = float(v)
        return out

    m = scrape()
    assert m['strait_cluster_links{state="ACTIVE"}'] == 1
    assert m['strait_mirror_partitions{link="l1",state="ACTIVE"}'] == 2
    assert m['strait_mirror_records_written_total{link="l1",topic="test-topic",partition="0"}'] == 25
    assert m['strait_mirror_partition_lag_offsets{link="l1",topic="test-topic",partition="1"}'] == 0
    written = sum(v for k, v in m.items() if k.startswith("strait_mirror_bytes_written_total"))
    log_bytes = sum(len(b[2]) for p in range(2) for b in link_wire.read_log(dest.bootstrap, "test-topic", p))
    assert written == log_bytes, "bytes written must equal the mirrored log's batch bytes"
    assert any(k.startswith("strait_link_task_runs_total{link=\"l1\",task=\"topic_config_sync\"}") for k in m)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("/metrics", "/nope"), timeout=10)
    assert e.value.code == 404


def test_source_failures_are_reported_and_recovered(broker_factory):
    source = broker_factory("source")
    dest = broker_factory("dest")
    for t in ["gone", "again", "steady"]:
        ck.create_topic(source.bootstrap, t, 1)
        ck.produce(source.bootstrap, t, [{"value": f"{t}{i}".encode()} for i in range(5)])
    filters = '{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}'
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=300,replica.fetch.backoff.ms=100,"
        "cluster.link.retry.timeout.ms=1000,availability.check.ms=500,availability.check.consecutive.failure.threshold=2",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", filters)
    for t in ["gone", "again", "steady"]:
        wait_until(lambda t=t: caught_up(dest.bootstrap, t, source.bootstrap, 1), timeout=scaled(30), what=f"{t} caught up")

    a = AdminClient({"bootstrap.servers": source.bootstrap})
    ck.result(a.delete_topics(["gone"])["gone"])
    wait_until(lambda: describe(dest.bootstrap, "gone")["state"] == "FAILED", timeout=scaled(30), what="gone -> FAILED")
    assert describe(dest.bootstrap, "gone")["reason"] == "SOURCE_TOPIC_MAY_BE_DELETED"
    # The failed mirror keeps its data and stays read-only until failed over.
    assert [r[2] for r in records(dest.bootstrap, "gone", 0, 5)] == [f"gone{i}".encode() for i in range(5)]

    # Deleted and recreated under the same name: a different topic, not the same stream.
    ck.result(a.delete_topics(["again"])["again"])
    wait_until(lambda: "again" not in a.list_topics(timeout=10).topics, timeout=scaled(30), what="again deleted")
    ck.create_topic(source.bootstrap, "again", 1)
    wait_until(lambda: describe(dest.bootstrap, "again")["state"] == "FAILED", timeout=scaled(30), what="again -> FAILED")
    assert describe(dest.bootstrap, "again")["reason"] in ("SOURCE_TOPIC_ID_CHANGED", "SOURCE_TOPIC_MAY_BE_DELETED")

    # The source goes away: mirrors show SOURCE_UNAVAILABLE, then resume with no gap.
    source.stop()
    wait_until(lambda: describe(dest.bootstrap, "steady")["state"] == "SOURCE_UNAVAILABLE", timeout=scaled(30), what="SOURCE_UNAVAILABLE")
    listing = json.loads(cli("cluster-links", "--describe", "--link", "l1", "--bootstrap-server", dest.bootstrap, "--output", "json").stdout)
    assert listing["state"] == "UNAVAILABLE" and listing["error"], listing
    assert listing["sync_status"] == "OUT_OF_SYNC"
    source.restart()
    ck.produce(source.bootstrap, "steady", [{"value": f"late{i}".encode()} for i in range(5)])
    wait_until(lambda: caught_up(dest.bootstrap, "steady", source.bootstrap, 1), timeout=scaled(60), what="resumed")
    assert describe(dest.bootstrap, "steady")["state"] == "ACTIVE"
    assert_identical(source.bootstrap, dest.bootstrap, "steady", 1)


def test_offset_sync_never_overwrites_a_group_active_on_the_destination(broker_factory):
    import threading
    from confluent_kafka import Consumer
    source = broker_factory("source")
    dest = broker_factory("dest", group_initial_rebalance_delay_ms=0)
    ck.create_topic(source.bootstrap, "test-topic", 1)
    ck.produce(source.bootstrap, "test-topic", [{"value": str(i).encode()} for i in range(10)])
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500,consumer.offset.sync.enable=true,consumer.offset.sync.ms=1000",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER,
        "--consumer-group-filters-json", GROUP_FILTER)
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 1), timeout=scaled(30), what="caught up")

    # A consumer of test-group is live on the destination and has committed offset 2.
    c = Consumer({"bootstrap.servers": dest.bootstrap, "group.id": "test-group", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    c.subscribe(["test-topic"])
    wait_until(lambda: c.poll(0.2) is not None and bool(c.assignment()), timeout=scaled(30), what="dest member joined")
    c.commit(offsets=[TopicPartition("test-topic", 0, 2)], asynchronous=False)
    stop = threading.Event()
    t = threading.Thread(target=lambda: [c.poll(0.1) for _ in iter(stop.is_set, True)], daemon=True)
    t.start()

    def runs() -> int:
        d = json.loads(cli("cluster-links", "--describe", "--link", "l1", "--bootstrap-server", dest.bootstrap, "--output", "json").stdout)
        return next((x["runs"] for x in d["tasks"] if x["name"] == "consumer_offset_sync"), 0)

    try:
        # The source group is at 7; several sync rounds pass; the live group keeps its 2.
        assert group_consume(source.bootstrap, "test-group", "test-topic", 7) == [str(i).encode() for i in range(7)]
        start = runs()
        wait_until(lambda: runs() >= start + 2, timeout=scaled(30), what="two offset-sync rounds")
        assert group_offset(dest.bootstrap, "test-group", "test-topic") == 2
    finally:
        stop.set()
        t.join(10)
        c.close()
    # Once the group is empty on the destination, the source's offset is copied.
    wait_until(lambda: group_offset(dest.bootstrap, "test-group", "test-topic") == 7, timeout=scaled(30), what="offset synced after the group emptied")


def test_acl_sync_creates_deletes_and_leaves_unselected_acls_alone(broker_factory):
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
    source = broker_factory("source")
    dest = broker_factory("dest")
    src = AdminClient({"bootstrap.servers": source.bootstrap})
    dst = AdminClient({"bootstrap.servers": dest.bootstrap})
    for user, topic in [("alice", "orders"), ("bob", "payments")]:
        ck.result(src.create_acls([read_acl(user, topic)])[read_acl(user, topic)])
    # A destination-only ACL on a group: the topic-only filter never selects it.
    local_group = AclBinding(ResourceType.GROUP, "ops", ResourcePatternType.LITERAL, "User:ops", "*",
                             AclOperation.READ, AclPermissionType.ALLOW)
    ck.result(dst.create_acls([local_group])[local_group])
    topic_acls = '{"aclFilters":[{"resourceFilter":{"resourceType":"topic","patternType":"any"},"accessFilter":{"operation":"any","permissionType":"any"}}]}'
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},acl.sync.enable=true,acl.sync.ms=300",
        "--acl-filters-json", topic_acls)
    want = {("orders", "User:alice", "READ", "ALLOW"), ("payments", "User:bob", "READ", "ALLOW"), ("ops", "User:ops", "READ", "ALLOW")}
    wait_until(lambda: acl_keys(dest.bootstrap) == want, timeout=scaled(30), what="ACLs created")
    # Deleted at the source -> deleted here; the unselected group ACL stays.
    from confluent_kafka.admin import AclBindingFilter
    f = AclBindingFilter(ResourceType.TOPIC, "payments", ResourcePatternType.LITERAL, "User:bob", "*", AclOperation.READ, AclPermissionType.ALLOW)
    ck.result(src.delete_acls([f])[f])
    want.discard(("payments", "User:bob", "READ", "ALLOW"))
    wait_until(lambda: acl_keys(dest.bootstrap) == want, timeout=scaled(30), what="ACL deletion synced")
    # acl.sync.enable=true without filters is refused with a clear message.
    bad = cli("cluster-links", "create", "--link", "l2", "--bootstrap-server", dest.bootstrap,
              "--config", f"bootstrap.servers={source.bootstrap},acl.sync.enable=true", check=False)
    assert bad.returncode != 0 and "acl.filters" in (bad.stdout + bad.stderr)


def test_filters_that_select_nothing_leave_a_healthy_empty_link(broker_factory):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "orders", 1)
    ck.produce(source.bootstrap, "orders", [{"value": b"x"}])
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=300,topic.config.sync.ms=200",
        "--config", "auto.create.mirror.topics.enable=true",
        "--topic-filters-json", '{"topicFilters":[{"name":"nothing-","patternType":"PREFIXED","filterType":"INCLUDE"}]}')

    def described() -> dict:
        return json.loads(cli("cluster-links", "--describe", "--link", "l1", "--bootstrap-server", dest.bootstrap, "--output", "json").stdout)

    # Several config-sync rounds pass (so discovery ran against fresh metadata) ...
    wait_until(lambda: any(t["name"] == "topic_config_sync" and t["runs"] >= 3 for t in described()["tasks"]),
               timeout=scaled(30), what="link rounds")
    d = described()
    # ... and the link is healthy, with nothing mirrored and no topic created here.
    assert d["state"] == "ACTIVE" and d["topics"] == [] and d["sync_status"] == "IN_SYNC", d
    assert "orders" not in AdminClient({"bootstrap.servers": dest.bootstrap}).list_topics(timeout=10).topics
