"""Consumer groups with kafka-python: a two-member group (each member in its own thread,
as applications run them) rebalancing with every record consumed exactly once, restarted
consumers resuming at the committed offsets, and the admin group APIs (list_groups,
describe_groups, list_group_offsets, alter/delete offsets, delete_groups)."""

from __future__ import annotations

import threading
import time

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import GroupSubscribedToTopicError, NoError
from kafka.structs import OffsetAndMetadata

from conftest import scaled, wait_until

GROUP_BROKER = {"group.initial.rebalance.delay.ms": "200"}


def produce(bootstrap: str, topic: str, start: int, count: int, partitions: int) -> list[tuple[int, int]]:
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        futs = [p.send(topic, value=f"v{i}".encode(), partition=i % partitions) for i in range(start, start + count)]
        p.flush(timeout=scaled(30))
        return [(m.partition, m.offset) for m in (f.get(timeout=scaled(30)) for f in futs)]
    finally:
        p.close()


class Member(threading.Thread):
    """A consumer in its own thread. Commits what it processed after every poll (kafka-python
    rebalances inside poll(), so nothing processed is left uncommitted at a rebalance; its
    synchronous listener must not block on I/O)."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str, seen: dict, lock: threading.Lock):
        super().__init__(daemon=True, name=name)
        self.seen, self.lock, self.topic = seen, lock, topic
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.assigned: set[int] = set()
        self.pending: dict[TopicPartition, int] = {}
        self.c = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=300,
            max_poll_records=20,
        )
        member = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                member.assigned -= {tp.partition for tp in revoked}

            def on_partitions_assigned(self, assigned):
                member.assigned |= {tp.partition for tp in assigned}

        self.c.subscribe([topic], listener=Listener())

    def commit(self, partitions=None):
        offs = {
            tp: OffsetAndMetadata(o, "", -1)
            for tp, o in self.pending.items()
            if partitions is None or tp.partition in partitions
        }
        if offs:
            self.c.commit(offs)
        for tp in offs:
            del self.pending[tp]

    def run(self):
        try:
            while not self.stop.is_set():
                for tp, msgs in self.c.poll(timeout_ms=100).items():
                    for m in msgs:
                        with self.lock:
                            self.seen.setdefault((m.partition, m.offset), []).append(self.name)
                        self.pending[tp] = m.offset + 1
                self.commit()
            self.commit()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))
        finally:
            self.c.close()

    def finish(self):
        self.stop.set()
        self.join(timeout=scaled(30))
        assert not self.is_alive(), f"{self.name} did not stop"
        assert not self.errors, self.errors


def test_two_member_group_exactly_once_then_resume(broker_factory, topic, unique_name):
    broker = broker_factory(overrides=GROUP_BROKER, num_partitions=4)
    group = unique_name("g")
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        from kafka.admin import NewTopic

        admin.create_topics([NewTopic(topic, 4, 1)])
        first = produce(broker.bootstrap, topic, 0, 300, 4)
        seen: dict = {}
        lock = threading.Lock()
        a = Member("kp-a", broker.bootstrap, group, topic, seen, lock)
        a.start()
        wait_until(lambda: len(seen) >= 30, 30, what="a consumes")
        b = Member("kp-b", broker.bootstrap, group, topic, seen, lock)
        b.start()
        wait_until(
            lambda: a.assigned and b.assigned and len(a.assigned | b.assigned) == 4 and not (a.assigned & b.assigned),
            45,
            what="partitions split between the two members",
        )
        # Records produced once both own partitions are consumed by both.
        first += produce(broker.bootstrap, topic, 300, 200, 4)
        wait_until(lambda: len(seen) >= len(first), 60, what="every record consumed")
        a.finish()
        b.finish()
        with lock:
            dupes = {k: v for k, v in seen.items() if len(v) > 1}
            assert not dupes, f"consumed twice: {list(dupes.items())[:10]}"
            assert set(seen) == set(first)
            assert {n for v in seen.values() for n in v} == {"kp-a", "kp-b"}

        # Admin views of the (now empty) group.
        groups = {g["group_id"]: g for g in admin.list_groups()}
        assert groups[group]["protocol_type"] == "consumer"
        offsets = admin.list_group_offsets(group)[group]
        ends = {p: max(o for (pp, o) in first if pp == p) + 1 for p in range(4)}
        assert {tp.partition: om.offset for tp, om in offsets.items()} == ends

        # Restarted consumers resume at the committed offsets.
        second = produce(broker.bootstrap, topic, 500, 80, 4)
        seen2: dict = {}
        c = Member("kp-c", broker.bootstrap, group, topic, seen2, lock)
        d = Member("kp-d", broker.bootstrap, group, topic, seen2, lock)
        c.start()
        d.start()
        wait_until(lambda: len(seen2) >= len(second), 60, what="new records consumed")
        time.sleep(scaled(0.5))  # anything re-delivered would show up now
        c.finish()
        d.finish()
        assert set(seen2) == set(second)
        assert all(len(v) == 1 for v in seen2.values())
    finally:
        admin.close()


def test_admin_groups_and_offsets(broker_factory, topic, unique_name):
    broker = broker_factory(overrides=GROUP_BROKER)
    group = unique_name("g")
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        from kafka.admin import NewTopic

        admin.create_topics([NewTopic(topic, 2, 1)])
        produce(broker.bootstrap, topic, 0, 10, 2)
        seen: dict = {}
        lock = threading.Lock()
        a = Member("kp-admin", broker.bootstrap, group, topic, seen, lock)
        a.start()
        wait_until(lambda: len(seen) >= 10, 30, what="consume")
        wait_until(lambda: len(a.assigned) == 2, 30, what="assigned")

        def describe():
            return admin.describe_groups([group])[group]

        desc = wait_until(lambda: (lambda d: d if d["group_state"] == "Stable" else None)(describe()), 20, what="stable")
        assert desc["error"] is None
        assert desc["protocol_type"] == "consumer"
        assert desc["protocol_data"] == "range"
        assert len(desc["members"]) == 1
        m = desc["members"][0]
        assert m["client_id"] == "kp-admin"
        assert m["member_assignment"], "assignment bytes are described for a Stable group"
        listed = {g["group_id"]: g for g in admin.list_groups(states_filter=["Stable"])}
        assert listed[group]["group_state"] == "Stable"

        # Active groups are not deleted; offsets of a subscribed topic are not deleted.
        assert admin.delete_groups([group]) == {group: "NonEmptyGroupError"}
        res = admin.delete_group_offsets(group, [TopicPartition(topic, 0)])
        assert res == {TopicPartition(topic, 0): GroupSubscribedToTopicError}, res

        a.finish()
        wait_until(lambda: describe()["group_state"] == "Empty", 20, what="empty")

        # Alter offsets of the empty group (a standalone commit) and read them back.
        admin.alter_group_offsets(group, {TopicPartition(topic, 0): OffsetAndMetadata(2, "meta", 0)})
        offs = admin.list_group_offsets(group)[group]
        assert offs[TopicPartition(topic, 0)] == OffsetAndMetadata(2, "meta", 0)
        assert offs[TopicPartition(topic, 1)].offset == 5

        assert admin.delete_group_offsets(group, [TopicPartition(topic, 1)]) == {TopicPartition(topic, 1): NoError}
        offs = admin.list_group_offsets(group)[group]
        assert TopicPartition(topic, 1) not in offs

        admin.delete_groups([group])
        names = [g["group_id"] for g in admin.list_groups()]
        assert group not in names
    finally:
        admin.close()
