"""Consumer groups with confluent-kafka (librdkafka): a two-member group rebalancing
(eager `range` and `cooperative-sticky`), every record consumed exactly once across the
members, consumers restarted resume at the committed offsets, a static member restarting
without a rebalance, the admin group APIs, and a standalone commit without subscribing.

Offsets are committed from the revoke callback (what careful applications do), so an
exactly-once split across a rebalance is an honest expectation of the coordinator."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)

import ck
from conftest import scaled, wait_until

GROUP_BROKER = {"group.initial.rebalance.delay.ms": "200"}


def group_consumer(bootstrap: str, group: str, **conf) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 300,
            "isolation.level": "read_uncommitted",
            **conf,
        }
    )


class Member:
    """One group member polled by the test; commits what it processed when partitions are
    revoked (and on demand)."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str, seen: dict, **conf):
        self.name = name
        self.seen = seen
        self.c = group_consumer(bootstrap, group, **conf)
        self.next: dict[tuple[str, int], int] = {}
        self.assigned: set[int] = set()
        self.errors: list[str] = []
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, c, parts):
        self.assigned |= {p.partition for p in parts}

    def _on_revoke(self, c, parts):
        self.commit({p.partition for p in parts})
        self.assigned -= {p.partition for p in parts}

    def commit(self, partitions=None):
        offs = [
            TopicPartition(t, p, o)
            for (t, p), o in self.next.items()
            if partitions is None or p in partitions
        ]
        if offs:
            res = self.c.commit(offsets=offs, asynchronous=False)
            bad = [r for r in res if r.error]
            if bad:
                self.errors.append(f"{self.name} commit errors: {bad}")
        for tp in [tp for tp in self.next if partitions is None or tp[1] in partitions]:
            del self.next[tp]

    def poll(self, timeout: float = 0.1) -> None:
        m = self.c.poll(timeout)
        if m is None:
            return
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                self.errors.append(f"{self.name}: {m.error()}")
            return
        key = (m.partition(), m.offset())
        self.seen.setdefault(key, []).append(self.name)
        self.next[(m.topic(), m.partition())] = m.offset() + 1

    def close(self) -> None:
        self.commit()
        self.c.close()


def produce_keyed(bootstrap: str, topic: str, start: int, count: int, partitions: int):
    return ck.produce(
        bootstrap,
        topic,
        [{"value": f"v{i}".encode(), "partition": i % partitions} for i in range(start, start + count)],
    )


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_two_member_group_rebalances_exactly_once_and_resumes(broker_factory, topic, unique_name, strategy):
    broker = broker_factory(overrides=GROUP_BROKER)
    group = unique_name("g")
    parts = 4
    ck.create_topic(broker.bootstrap, topic, parts)
    first = produce_keyed(broker.bootstrap, topic, 0, 400, parts)
    seen: dict[tuple[int, int], list[str]] = {}
    conf = {"partition.assignment.strategy": strategy}

    a = Member("a", broker.bootstrap, group, topic, seen, **conf)
    # A alone gets every partition and starts consuming.
    wait_until(lambda: (a.poll(), len(a.assigned) == parts and len(seen) >= 50)[1], 30, 0, "a owns all and consumes")
    b = Member("b", broker.bootstrap, group, topic, seen, **conf)
    # The group rebalances to two members; both end up owning partitions.
    def both_assigned():
        a.poll(0.05)
        b.poll(0.05)
        return a.assigned and b.assigned and not (a.assigned & b.assigned) and len(a.assigned | b.assigned) == parts

    wait_until(both_assigned, 45, 0, "partitions split between a and b")

    def all_seen():
        a.poll(0.05)
        b.poll(0.05)
        return len(seen) >= len(first)

    wait_until(all_seen, 60, 0, "every record consumed")
    assert not a.errors and not b.errors, a.errors + b.errors
    dupes = {k: v for k, v in seen.items() if len(v) > 1}
    assert not dupes, f"records consumed twice: {list(dupes.items())[:10]}"
    assert set(seen) == {(d.partition, d.offset) for d in first}
    assert {n for v in seen.values() for n in v} == {"a", "b"}, "both members consumed"
    a.close()
    b.close()

    # Committed offsets are the end of each partition.
    admin = ck.admin(broker.bootstrap)
    res = ck.result(
        admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(parts)])])[group]
    )
    ends = {p: max(d.offset for d in first if d.partition == p) + 1 for p in range(parts)}
    assert {tp.partition: tp.offset for tp in res.topic_partitions} == ends

    # More records; restarted consumers resume exactly at the committed offsets.
    second = produce_keyed(broker.bootstrap, topic, 400, 100, parts)
    seen2: dict[tuple[int, int], list[str]] = {}
    c = Member("c", broker.bootstrap, group, topic, seen2, **conf)
    d = Member("d", broker.bootstrap, group, topic, seen2, **conf)

    def all_seen2():
        c.poll(0.05)
        d.poll(0.05)
        return len(seen2) >= len(second)

    wait_until(all_seen2, 60, 0, "restarted consumers read the new records")
    # Give a moment for anything unexpected (re-delivery of old records) to show up.
    end = time.monotonic() + scaled(1)
    while time.monotonic() < end:
        c.poll(0.05)
        d.poll(0.05)
    assert set(seen2) == {(x.partition, x.offset) for x in second}, "resumed at the committed offsets"
    assert all(len(v) == 1 for v in seen2.values())
    c.close()
    d.close()


def test_offsets_survive_broker_restart(broker_factory, topic, unique_name):
    broker = broker_factory(overrides=GROUP_BROKER)
    group = unique_name("g")
    ck.create_topic(broker.bootstrap, topic, 2)
    produce_keyed(broker.bootstrap, topic, 0, 20, 2)
    seen: dict = {}
    a = Member("a", broker.bootstrap, group, topic, seen)
    wait_until(lambda: (a.poll(), len(seen) >= 20)[1], 30, 0, "consume 20")
    a.commit()
    a.c.close()
    broker.kill9()
    broker.restart()
    produce_keyed(broker.bootstrap, topic, 20, 10, 2)
    seen2: dict = {}
    b = Member("b", broker.bootstrap, group, topic, seen2)
    wait_until(lambda: (b.poll(), len(seen2) >= 10)[1], 45, 0, "consume the 10 new records")
    end = time.monotonic() + scaled(1)
    while time.monotonic() < end:
        b.poll(0.05)
    assert len(seen2) == 10 and all(off >= 10 for (_, off) in seen2)
    b.close()


def test_static_member_restart_keeps_assignment(broker_factory, topic, unique_name):
    broker = broker_factory(overrides=GROUP_BROKER)
    group = unique_name("g")
    ck.create_topic(broker.bootstrap, topic, 2)
    admin = ck.admin(broker.bootstrap)
    seen: dict = {}
    a = Member("a", broker.bootstrap, group, topic, seen, **{"group.instance.id": "inst-a"})
    wait_until(lambda: (a.poll(), len(a.assigned) == 2)[1], 30, 0, "static member assigned")

    def describe():
        return ck.result(admin.describe_consumer_groups([group])[group])

    d1 = wait_until(lambda: (lambda d: d if d.state == ConsumerGroupState.STABLE else None)(describe()), 20, 0.1, "stable")
    assert d1.members[0].group_instance_id == "inst-a"
    # A static member's close does not leave the group; its restart replaces its member id
    # without a rebalance (same generation, same assignment).
    a.c.close()
    seen2: dict = {}
    a2 = Member("a2", broker.bootstrap, group, topic, seen2, **{"group.instance.id": "inst-a"})
    wait_until(lambda: (a2.poll(), len(a2.assigned) == 2)[1], 30, 0, "restarted static member assigned")
    d2 = describe()
    assert d2.state == ConsumerGroupState.STABLE
    assert len(d2.members) == 1 and d2.members[0].member_id != d1.members[0].member_id
    a2.c.close()


def test_admin_list_describe_offsets_delete(broker_factory, topic, unique_name):
    broker = broker_factory(overrides=GROUP_BROKER)
    group = unique_name("g")
    ck.create_topic(broker.bootstrap, topic, 3)
    produce_keyed(broker.bootstrap, topic, 0, 30, 3)
    admin = ck.admin(broker.bootstrap)
    seen: dict = {}
    a = Member("a", broker.bootstrap, group, topic, seen, **{"client.id": "strait-admin-test"})
    wait_until(lambda: (a.poll(), len(seen) >= 30)[1], 30, 0, "consume")
    a.commit()

    listed = ck.result(admin.list_consumer_groups(states={ConsumerGroupState.STABLE}))
    assert group in {g.group_id for g in listed.valid}
    listed = ck.result(admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}))
    assert group not in {g.group_id for g in listed.valid}

    d = ck.result(admin.describe_consumer_groups([group])[group])
    assert d.state == ConsumerGroupState.STABLE
    assert d.partition_assignor == "range"
    assert not d.is_simple_consumer_group
    assert len(d.members) == 1
    m = d.members[0]
    assert m.client_id == "strait-admin-test"
    assert sorted(tp.partition for tp in m.assignment.topic_partitions) == [0, 1, 2]

    # While the group is active it cannot be deleted.
    with pytest.raises(KafkaException) as e:
        ck.result(admin.delete_consumer_groups([group])[group])
    assert e.value.args[0].code() == KafkaError.NON_EMPTY_GROUP

    a.close()
    wait_until(lambda: ck.result(admin.describe_consumer_groups([group])[group]).state == ConsumerGroupState.EMPTY, 20, 0.1, "empty")

    # Offsets: list, alter (group is empty), list again with metadata and leader epoch.
    res = ck.result(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group])
    assert sorted((tp.partition, tp.offset) for tp in res.topic_partitions) == [(0, 10), (1, 10), (2, 10)]
    new = [TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 4, metadata="hello", leader_epoch=0)]
    ck.result(admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, new)])[group])
    res = ck.result(
        admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(3)])]
        )[group]
    )
    got = {tp.partition: (tp.offset, tp.metadata, tp.leader_epoch) for tp in res.topic_partitions}
    assert got[0][0] == 3 and got[1][:2] == (4, "hello") and got[1][2] == 0
    assert got[2][0] == 10

    # Deleted once empty; then it is gone from the list and its offsets are gone.
    ck.result(admin.delete_consumer_groups([group])[group])
    assert group not in {g.group_id for g in ck.result(admin.list_consumer_groups()).valid}
    res = ck.result(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group])
    assert res.topic_partitions[0].offset < 0


def test_standalone_commit_without_subscribing(broker_factory, topic, unique_name):
    broker = broker_factory(overrides=GROUP_BROKER)
    group = unique_name("g")
    ck.create_topic(broker.bootstrap, topic, 2)
    c = group_consumer(broker.bootstrap, group)
    try:
        tp = TopicPartition(topic, 1, 17, metadata="standalone", leader_epoch=0)
        res = c.commit(offsets=[tp], asynchronous=False)
        assert all(r.error is None for r in res)
        got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=scaled(10))
        by_p = {t.partition: t for t in got}
        assert by_p[1].offset == 17 and by_p[1].metadata == "standalone"
        assert by_p[1].leader_epoch == 0
        assert by_p[0].offset < 0
    finally:
        c.close()
    admin = ck.admin(broker.bootstrap)
    listed = ck.result(admin.list_consumer_groups())
    g = [x for x in listed.valid if x.group_id == group]
    assert g and g[0].state == ConsumerGroupState.EMPTY
