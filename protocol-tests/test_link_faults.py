"""Per-partition fault containment through our CLIs: one mirror partition that cannot
progress is shown with its reason by `mirrors --describe` (text and JSON), counted by
`cluster-links --describe`/`--list`, keeps the link out of IN_SYNC, and leaves the other
partitions of its source broker copying. Waits are deadlines on conditions, never sleeps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

import ck
from conftest import scaled, wait_until
from test_link import caught_up, cli, describe

HERE = Path(__file__).resolve().parent
ALL = '{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}'


def link_json(dest: str, link: str) -> dict:
    return json.loads(cli("cluster-links", "--describe", "--link", link, "--bootstrap-server", dest, "--output", "json").stdout)


def partition(dest: str, topic: str, p: int) -> dict:
    (x,) = [x for x in describe(dest, topic)["partitions"] if x["partition"] == p]
    return x


def produce_round(bootstrap: str, topic: str, partitions: int, tag: str) -> None:
    for p in range(partitions):
        ck.produce(bootstrap, topic, [{"value": f"{tag}-{p}-{i}".encode(), "partition": p} for i in range(3)])


def test_a_stuck_partition_is_reported_by_the_clis_while_the_others_copy(broker_factory):
    source = broker_factory("source")
    dest = broker_factory("dest")
    # Both on the one source broker, so they share its fetcher.
    ck.create_topic(source.bootstrap, "doomed", 1)
    ck.create_topic(source.bootstrap, "alive", 2)
    produce_round(source.bootstrap, "doomed", 1, "before")
    produce_round(source.bootstrap, "alive", 2, "before")
    cli("cluster-links", "create", "--link", "l", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=300,replica.fetch.backoff.ms=100",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", ALL)
    for t, n in [("doomed", 1), ("alive", 2)]:
        wait_until(lambda t=t, n=n: caught_up(dest.bootstrap, t, source.bootstrap, n), timeout=scaled(30), what=f"{t} caught up")
    wait_until(lambda: link_json(dest.bootstrap, "l")["sync_status"] == "IN_SYNC", timeout=scaled(30), what="IN_SYNC")

    # The source partition goes away; retried for cluster.link.retry.timeout.ms (5 min).
    a = AdminClient({"bootstrap.servers": source.bootstrap})
    ck.result(a.delete_topics(["doomed"])["doomed"])
    wait_until(lambda: partition(dest.bootstrap, "doomed", 0)["state"] == "IN_ERROR", timeout=scaled(30), what="doomed-0 IN_ERROR")

    # mirrors --describe, JSON: the partition's state, reason code, message and since.
    m = describe(dest.bootstrap, "doomed")
    assert m["state"] == "ACTIVE", m
    p = m["partitions"][0]
    assert p["error_reason"] == "SOURCE_TOPIC_MAY_BE_DELETED", p
    assert "missing from source metadata" in p["error"], p
    assert isinstance(p["error_since_ms"], int) and p["error_since_ms"] > 0, p
    # ... and text.
    text = cli("mirrors", "--describe", "--topics", "doomed", "--bootstrap-server", dest.bootstrap).stdout
    row = [line for line in text.splitlines() if line.strip().startswith("0 ")]
    assert row and "IN_ERROR" in row[0] and "SOURCE_TOPIC_MAY_BE_DELETED: source topic 'doomed' is missing" in row[0], text

    # cluster-links --describe / --list: the stuck partition counted by reason, not IN_SYNC.
    d = link_json(dest.bootstrap, "l")
    assert d["sync_status"] == "OUT_OF_SYNC", d
    assert d["partitions_in_error"] == 1 and d["partition_errors"] == {"SOURCE_TOPIC_MAY_BE_DELETED": 1}, d
    text = cli("cluster-links", "--describe", "--link", "l", "--bootstrap-server", dest.bootstrap).stdout
    assert "PartitionsInError:  1 (SOURCE_TOPIC_MAY_BE_DELETED 1)" in text, text
    assert "OUT_OF_SYNC" in text, text
    text = cli("cluster-links", "--list", "--bootstrap-server", dest.bootstrap).stdout
    header, line = text.splitlines()[:2]
    assert "PartitionsInError" in header and "1 (SOURCE_TOPIC_MAY_BE_DELETED 1)" in line, text

    # The other partitions of that source broker keep copying, round after round.
    for r in range(5):
        produce_round(source.bootstrap, "alive", 2, f"r{r}")
        wait_until(lambda: caught_up(dest.bootstrap, "alive", source.bootstrap, 2), timeout=scaled(30), what=f"alive round {r}")
        assert partition(dest.bootstrap, "doomed", 0)["state"] == "IN_ERROR"
    assert [x["state"] for x in describe(dest.bootstrap, "alive")["partitions"]] == ["ACTIVE", "ACTIVE"]


@pytest.fixture
def mock_cluster():
    p = subprocess.Popen([sys.executable, str(HERE / "mock_cluster.py"), "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if not line.startswith("BOOTSTRAP "):
        p.kill()
        pytest.fail(f"mock cluster did not start: {line!r}")
    yield line.split(" ", 1)[1]
    p.stdin.close()
    p.wait(timeout=10)


def test_a_corrupt_batch_from_the_librdkafka_mock_fails_only_its_topic(mock_cluster, broker_factory):
    """The mock writes transaction markers with CRC 0 (a batch no CRC check passes): that
    mirror topic is FAILED with SOURCE_DATA_CORRUPT, its partition carries the reason, and a
    plain topic of the same (single) mock broker keeps copying."""
    bootstrap = mock_cluster
    dest = broker_factory("dest")
    plain = Producer({"bootstrap.servers": bootstrap})
    for i in range(5):
        plain.produce("plain", value=f"p{i}".encode(), partition=0)
    plain.flush(30)
    txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": "faults-txn"})
    txn.init_transactions(30)
    txn.begin_transaction()
    for i in range(3):
        txn.produce("txn", value=f"t{i}".encode(), partition=0)
    txn.commit_transaction(30)
    cli("cluster-links", "create", "--link", "mock", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={bootstrap},metadata.max.age.ms=300,replica.fetch.backoff.ms=100",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", ALL)
    wait_until(lambda: describe(dest.bootstrap, "txn")["state"] == "FAILED", timeout=scaled(60), what="txn FAILED")
    m = describe(dest.bootstrap, "txn")
    assert m["reason"] == "SOURCE_DATA_CORRUPT", m
    p = m["partitions"][0]
    assert p["error_reason"] == "SOURCE_DATA_CORRUPT" and "CRC" in p["error"], p
    assert p["local_log_end_offset"] == 3, "everything before the marker is mirrored"
    text = cli("mirrors", "--describe", "--topics", "txn", "--bootstrap-server", dest.bootstrap).stdout
    assert "SOURCE_DATA_CORRUPT" in text, text

    for r in range(3):
        for i in range(3):
            plain.produce("plain", value=f"r{r}-{i}".encode(), partition=0)
        plain.flush(30)
        # The mock auto-created the topic with 4 partitions (only partition 0 has data).
        wait_until(lambda: caught_up(dest.bootstrap, "plain", bootstrap, 4), timeout=scaled(60), what=f"plain round {r}")
    d = link_json(dest.bootstrap, "mock")
    assert d["sync_status"] != "IN_SYNC", d
    assert d["partition_errors"] == {"SOURCE_DATA_CORRUPT": 1}, d
    text = cli("cluster-links", "--describe", "--link", "mock", "--bootstrap-server", dest.bootstrap).stdout
    assert "PartitionsInError:  1 (SOURCE_DATA_CORRUPT 1)" in text, text
