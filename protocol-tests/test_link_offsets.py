"""Cluster links, "nothing skipped, offsets never go back" (issue 10, item 3), with
confluent-kafka consumer groups and our CLIs: a partition added on the source after its
mirror exists arrives whole even with mirror.start.offset.spec=latest, the consumer-offset
sync never lowers a destination group's offset, and `mirrors --promote --wait` carries the
last source commit."""

from __future__ import annotations

import json

from confluent_kafka.admin import AdminClient, NewPartitions

import ck
from conftest import scaled, wait_until
from test_link import GROUP_FILTER, TOPIC_FILTER, caught_up, cli, group_consume, group_offset, records


def offset_sync_runs(dest: str) -> int:
    d = json.loads(cli("cluster-links", "--describe", "--link", "l1", "--bootstrap-server", dest, "--output", "json").stdout)
    return next((t["runs"] for t in d["tasks"] if t["name"] == "consumer_offset_sync"), 0)


def offsets(bootstrap: str) -> tuple[int, int]:
    return tuple(group_offset(bootstrap, "test-group", "test-topic", p) for p in (0, 1))


def test_new_partition_arrives_whole_and_group_offsets_never_go_back(broker_factory):
    source = broker_factory("source")
    dest = broker_factory("dest", group_initial_rebalance_delay_ms=0)
    ck.create_topic(source.bootstrap, "test-topic", 1)
    ck.produce(source.bootstrap, "test-topic", [{"value": f"old-{i}".encode()} for i in range(3)])
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500,consumer.offset.sync.enable=true,consumer.offset.sync.ms=1000",
        "--config", "auto.create.mirror.topics.enable=true,mirror.start.offset.spec=latest",
        "--topic-filters-json", TOPIC_FILTER, "--consumer-group-filters-json", GROUP_FILTER)
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 1), timeout=scaled(30), what="mirror created")
    assert ck.watermarks(dest.bootstrap, "test-topic", 0) == (3, 3), "latest applies at creation"

    # A partition added on the source, written to at once: every record arrives.
    a = AdminClient({"bootstrap.servers": source.bootstrap})
    ck.result(a.create_partitions([NewPartitions("test-topic", 2)])["test-topic"])
    ck.produce(source.bootstrap, "test-topic", [{"value": f"p1-{i}".encode(), "partition": 1} for i in range(10)])
    ck.produce(source.bootstrap, "test-topic", [{"value": f"new-{i}".encode(), "partition": 0} for i in range(20)])
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 2), timeout=scaled(30), what="new partition mirrored")
    assert [r[2] for r in records(dest.bootstrap, "test-topic", 1, 10)] == [f"p1-{i}".encode() for i in range(10)]

    # test-group consumes on the source ...
    assert len(group_consume(source.bootstrap, "test-group", "test-topic", 15)) == 15
    src = offsets(source.bootstrap)
    wait_until(lambda: offsets(dest.bootstrap) == src, timeout=scaled(30), what="offsets synced")

    # ... then moves to the destination (the topic still mirrored), reads on and commits
    # further than the source has.
    assert len(group_consume(dest.bootstrap, "test-group", "test-topic", 5)) == 5
    moved = offsets(dest.bootstrap)
    assert all(m >= s for m, s in zip(moved, src)) and sum(moved) == sum(src) + 5
    start = offset_sync_runs(dest.bootstrap)
    wait_until(lambda: offset_sync_runs(dest.bootstrap) >= start + 3, timeout=scaled(30), what="three offset-sync rounds")
    assert offsets(dest.bootstrap) == moved, "the sync never lowers an offset"

    # The source group goes on; right after its last commit, promote --wait: the commit
    # is on the destination when promote returns (the final sync before the topic is
    # writable), wherever it is further than the destination.
    ck.produce(source.bootstrap, "test-topic", [{"value": f"late-{i}".encode(), "partition": 0} for i in range(30)])
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 2), timeout=scaled(30), what="caught up")
    assert len(group_consume(source.bootstrap, "test-group", "test-topic", 40)) == 40
    final = offsets(source.bootstrap)
    cli("mirrors", "--promote", "--topics", "test-topic", "--bootstrap-server", dest.bootstrap, "--wait")
    assert offsets(dest.bootstrap) == tuple(max(f, m) for f, m in zip(final, moved))
