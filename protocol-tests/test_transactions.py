"""Transactions with real clients (issue 9): the Apache Kafka Java client (kafka-clients
3.9.1, through java/StraitDriver.java), confluent-kafka (librdkafka 2.16) and kafkajs 2.2.4
(node/txn.js), against Kafka's documented behaviour:

- commit and abort: `read_committed` sees exactly the committed records at their offsets
  (every COMMIT/ABORT control marker occupies one offset), `read_uncommitted` sees the
  aborted ones too, ListOffsets(READ_COMMITTED) is the last stable offset (LSO);
- an open transaction holds the LSO at its first offset; the Admin calls of Kafka's
  `kafka-transactions` tool (listTransactions, describeTransactions, describeProducers,
  abortTransaction) see and close it;
- zombie fencing: a second producer with the same transactional.id aborts the first one's
  transaction at once, and the first is fenced (ProducerFencedException);
- consume-transform-produce with sendOffsetsToTransaction(offsets, groupMetadata()): the
  offsets are visible to listConsumerGroupOffsets only after the commit, never after abort;
- a transaction left open past transaction.timeout.ms is aborted by the broker;
- transaction.timeout.ms above transaction.max.timeout.ms: the client's documented error;
- an idle transactional id expires after transactional.id.expiration.ms;
- a compacted topic: the cleaner drops aborted records, which never supersede a committed
  value of the same key;
- a Strait source with committed, aborted and open transactions mirrored into Strait:
  read_committed on the mirror equals the source's; promote aborts the open one; group
  offsets committed in a transaction are synced only once it commits.

Crash cases (kill -9 of the broker in each phase, a client halting mid-transaction) are in
test_transactions_crash.py; the PREPARE_COMMIT/PREPARE_ABORT phases are tested in Rust with a
crash hook in the coordinator.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from confluent_kafka import IsolationLevel, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

import ck
from conftest import HERE, client_missing, scaled, wait_until

RC = {"isolation.level": "read_committed"}
RU = {"isolation.level": "read_uncommitted"}


# --------------------------------------------------------------------------
# helpers shared with test_transactions_crash.py


def view(bootstrap: str, topic: str, partition: int = 0, committed: bool = True) -> list[tuple[int, bytes]]:
    """(offset, value) of every record a confluent-kafka consumer with that isolation level
    reads from offset 0 to its end (the LSO for read_committed)."""
    msgs = ck.consume(bootstrap, topic, partition, 0, None, **(RC if committed else RU))
    return [(m.offset(), m.value()) for m in msgs]


def end_offset(bootstrap: str, topic: str, partition: int = 0, committed: bool = True) -> int:
    """ListOffsets(latest) with READ_COMMITTED (the LSO) or READ_UNCOMMITTED (the HW)."""
    a = ck.admin(bootstrap)
    tp = TopicPartition(topic, partition)
    level = IsolationLevel.READ_COMMITTED if committed else IsolationLevel.READ_UNCOMMITTED
    return ck.result(a.list_offsets({tp: OffsetSpec.latest()}, isolation_level=level)[tp]).offset


def lso_hw(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    return end_offset(bootstrap, topic, partition, True), end_offset(bootstrap, topic, partition, False)


def kafka_python_end_offset(bootstrap: str, topic: str, partition: int = 0, committed: bool = True) -> int:
    """kafka-python's KafkaConsumer.end_offsets (ListOffsets with its isolation_level)."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed" if committed else "read_uncommitted",
                      request_timeout_ms=int(scaled(20) * 1000))
    try:
        return c.end_offsets([KTP(topic, partition)])[KTP(topic, partition)]
    finally:
        c.close()


def jtxn(java, bootstrap: str, topic: str, txn_id: str, **props):
    """A Java transactional producer, initialised (initTransactions returned)."""
    s = java.txn_producer(bootstrap, topic, txn_id, **props)
    r = s.init()
    assert r.get("ok"), f"initTransactions failed: {r}\nstderr:\n{s.stderr()}"
    return s


def jsend(s, values: list[bytes], partition: int = 0) -> list[int]:
    """send() each value, flush, return the acked offsets (asserting no callback failed)."""
    first = s.sent
    for v in values:
        s.send(None, v, partition)
    s.ok("flush")
    outs = s.wait_outcomes()
    got = [outs[i] for i in range(first, s.sent)]
    assert all(o.error is None for o in got), [(o.i, o.error, o.message) for o in got if o.error]
    return [o.offset for o in got]


def jview(java, bootstrap: str, topic: str, partition: int = 0, committed: bool = True):
    """The Java consumer's view: ([(offset, value)], end offset for that isolation level)."""
    recs, _, end = java.consume_with(bootstrap, topic, partition, -1,
                                     isolation_level="read_committed" if committed else "read_uncommitted")
    return [(o, v) for o, _, v in recs], end


def ck_txn_producer(bootstrap: str, txn_id: str, **conf) -> tuple[Producer, list]:
    """A confluent-kafka transactional producer and the list its delivery reports fill."""
    acks: list = []

    def on_delivery(err, msg):
        acks.append((err.name() if err else None, msg.value(), msg.offset()))

    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "on_delivery": on_delivery,
                  "reconnect.backoff.max.ms": 500, **conf})
    return p, acks


def group_offsets(java, bootstrap: str, group: str, stable: bool = False) -> dict[tuple[str, int], int]:
    """Admin.listConsumerGroupOffsets (requireStable when stable)."""
    args = ("group-offsets", group, "stable") if stable else ("group-offsets", group)
    return {(o["topic"], o["partition"]): o["offset"] for o in java.admin(bootstrap, *args)}


def vals(*names: str) -> list[bytes]:
    return [n.encode() for n in names]


# --------------------------------------------------------------------------
# Java client


def test_java_commit_abort_read_committed_vs_uncommitted(broker, topic, java):
    ck.create_topic(broker.bootstrap, topic)
    p = jtxn(java, broker.bootstrap, topic, f"{topic}-tx")
    try:
        p.ok("begin")
        assert jsend(p, vals("c0", "c1", "c2", "c3", "c4")) == [0, 1, 2, 3, 4]
        p.ok("commit")                                     # COMMIT marker at 5
        p.ok("begin")
        assert jsend(p, vals("a0", "a1", "a2")) == [6, 7, 8]
        p.ok("abort")                                      # ABORT marker at 9
        p.ok("begin")
        assert jsend(p, vals("d0", "d1", "d2", "d3")) == [10, 11, 12, 13]
        p.ok("commit")                                     # COMMIT marker at 14
    finally:
        assert p.close() == 0
    committed = [(0, b"c0"), (1, b"c1"), (2, b"c2"), (3, b"c3"), (4, b"c4"),
                 (10, b"d0"), (11, b"d1"), (12, b"d2"), (13, b"d3")]
    everything = sorted(committed + [(6, b"a0"), (7, b"a1"), (8, b"a2")])
    assert lso_hw(broker.bootstrap, topic) == (15, 15)
    assert jview(java, broker.bootstrap, topic, committed=True) == (committed, 15)
    assert jview(java, broker.bootstrap, topic, committed=False) == (everything, 15)
    assert view(broker.bootstrap, topic, committed=True) == committed
    assert view(broker.bootstrap, topic, committed=False) == everything


def test_java_open_transaction_holds_lso_and_admin_sees_it(broker, topic, java):
    ck.create_topic(broker.bootstrap, topic)
    ck.produce(broker.bootstrap, topic, [{"value": b"before", "partition": 0}])
    txn_id = f"{topic}-tx"
    p = jtxn(java, broker.bootstrap, topic, txn_id)
    try:
        p.ok("begin")
        assert jsend(p, vals("o0", "o1")) == [1, 2]
        p.ok("hold")
        ck.produce(broker.bootstrap, topic, [{"value": b"plain-after", "partition": 0}])   # offset 3
        assert lso_hw(broker.bootstrap, topic) == (1, 4), "the open transaction holds the LSO at its first offset"
        assert view(broker.bootstrap, topic, committed=True) == [(0, b"before")]
        assert jview(java, broker.bootstrap, topic, committed=True) == ([(0, b"before")], 1)
        assert [o for o, _ in view(broker.bootstrap, topic, committed=False)] == [0, 1, 2, 3]

        # kafka-transactions list / describe / describe-producers
        listed = [t for t in java.admin(broker.bootstrap, "list-transactions") if t["transactional_id"] == txn_id]
        assert len(listed) == 1 and listed[0]["state"] == "ONGOING", listed
        (d,) = java.admin(broker.bootstrap, "describe-transactions", txn_id)
        assert d["state"] == "ONGOING" and d["producer_id"] == listed[0]["producer_id"], d
        assert d["partitions"] == [f"{topic}-0"] and d["timeout_ms"] == 60000 and d["start_ms"] > 0, d
        (prod,) = [x for x in java.admin(broker.bootstrap, "describe-producers", topic, 0) if x["producer_id"] == d["producer_id"]]
        assert prod["txn_start_offset"] == 1 and prod["producer_epoch"] == d["producer_epoch"], prod
        assert prod["last_sequence"] == 1, prod

        p.ok("commit")
        assert lso_hw(broker.bootstrap, topic) == (5, 5)
        assert view(broker.bootstrap, topic, committed=True) == [(0, b"before"), (1, b"o0"), (2, b"o1"), (3, b"plain-after")]
        (d,) = java.admin(broker.bootstrap, "describe-transactions", txn_id)
        assert d["state"] == "COMPLETE_COMMIT" and d["partitions"] == [], d
        (prod,) = [x for x in java.admin(broker.bootstrap, "describe-producers", topic, 0) if x["producer_id"] == d["producer_id"]]
        assert prod["txn_start_offset"] == -1, prod
    finally:
        p.kill()


def test_java_admin_abort_transaction_closes_a_hanging_transaction(broker, topic, java):
    """`kafka-transactions --abort`: Admin.abortTransaction writes an ABORT marker for the
    producer DescribeProducers reports; the LSO moves to the HW, the data is aborted."""
    ck.create_topic(broker.bootstrap, topic)
    p = jtxn(java, broker.bootstrap, topic, f"{topic}-tx")
    try:
        p.ok("begin")
        assert jsend(p, vals("h0", "h1")) == [0, 1]
        p.ok("hold")
        ck.produce(broker.bootstrap, topic, [{"value": b"plain", "partition": 0}])        # 2
        assert lso_hw(broker.bootstrap, topic) == (0, 3)
        hanging = [x for x in java.admin(broker.bootstrap, "describe-producers", topic, 0) if x["txn_start_offset"] == 0]
        assert len(hanging) == 1, hanging
        h = hanging[0]
        java.admin(broker.bootstrap, "abort-transaction", topic, 0, h["producer_id"], h["producer_epoch"], h["coordinator_epoch"])
        assert lso_hw(broker.bootstrap, topic) == (4, 4)
        assert view(broker.bootstrap, topic, committed=True) == [(2, b"plain")]
    finally:
        p.kill()


def test_java_zombie_fencing(broker, topic, java):
    ck.create_topic(broker.bootstrap, topic)
    txn_id = f"{topic}-tx"
    zombie = jtxn(java, broker.bootstrap, topic, txn_id)
    second = third = None
    try:
        zombie.ok("begin")
        assert jsend(zombie, vals("z0", "z1")) == [0, 1]
        # Same transactional.id, long timeout: only the fencing can abort z0, z1 now.
        second = jtxn(java, broker.bootstrap, topic, txn_id)
        assert lso_hw(broker.bootstrap, topic) == (3, 3), "initTransactions returns once the old transaction is aborted"
        second.ok("begin")
        assert jsend(second, vals("s0")) == [3]
        second.ok("commit")
        r = zombie.op("commit")
        assert r.get("error") == "org.apache.kafka.common.errors.ProducerFencedException", r

        # A zombie that sends again after being fenced: the send fails with the epoch error
        # (Java maps INVALID_PRODUCER_EPOCH on produce to InvalidProducerEpochException,
        # PRODUCER_FENCED from the coordinator to ProducerFencedException), and it stays fenced.
        second.ok("begin")
        assert jsend(second, vals("x0")) == [5]
        third = jtxn(java, broker.bootstrap, topic, txn_id)
        fenced = {"org.apache.kafka.common.errors.ProducerFencedException",
                  "org.apache.kafka.common.errors.InvalidProducerEpochException"}
        i = second.send(None, b"x1", 0)
        second.op("flush")
        out = second.wait_outcomes(i + 1)[i]
        assert out.error in fenced, out
        r = second.op("commit")
        assert r.get("error") in fenced, r
        r = second.op("abort")
        assert r.get("error") == "org.apache.kafka.common.errors.ProducerFencedException", r
        third.ok("begin")
        tail = jsend(third, vals("t0"))
        third.ok("commit")
    finally:
        for s in (zombie, second, third):
            if s:
                s.kill()
    assert view(broker.bootstrap, topic, committed=True) == [(3, b"s0"), (tail[0], b"t0")]
    assert [v for _, v in view(broker.bootstrap, topic, committed=False)] == vals("z0", "z1", "s0", "x0", "t0")


def test_java_consume_transform_produce(broker_factory, unique_name, java):
    broker = broker_factory(overrides={"group.initial.rebalance.delay.ms": "0"})
    src, out, group = unique_name("in"), unique_name("out"), unique_name("g")
    ck.create_topic(broker.bootstrap, src, 2)
    ck.create_topic(broker.bootstrap, out, 2)
    ck.produce(broker.bootstrap, src, [{"value": f"in{i}".encode(), "partition": i % 2} for i in range(10)])
    value_at = {(i % 2, i // 2): f"in{i}".encode() for i in range(10)}
    app = java.ctp(broker.bootstrap, src, out, group, f"{group}-tx")
    assert app.init().get("ok")

    def transformed(consumed):
        return sorted(b"t:" + value_at[(p, o)] for p, o in consumed)

    def output(committed=True):
        return sorted(v for p in (0, 1) for _, v in view(broker.bootstrap, out, p, committed))

    try:
        r1 = app.ok("round 6")
        assert len(r1["consumed"]) == 6
        offsets1 = {(src, int(p)): o for p, o in r1["offsets"].items()}
        assert group_offsets(java, broker.bootstrap, group) == {}, "TxnOffsetCommit offsets are invisible before the commit"
        assert output() == []
        app.ok("commit")
        assert group_offsets(java, broker.bootstrap, group) == offsets1
        assert output() == transformed(r1["consumed"])

        r2 = app.ok("round 4")
        assert group_offsets(java, broker.bootstrap, group) == offsets1
        # require_stable: partitions with pending transactional offsets get
        # UNSTABLE_OFFSET_COMMIT, which the Java Admin skips ("Skipping return offset").
        pending = {(src, int(p)) for p in r2["offsets"]}
        stable = {k: v for k, v in offsets1.items() if k not in pending}
        assert group_offsets(java, broker.bootstrap, group, stable=True) == stable
        app.ok("abort")
        assert group_offsets(java, broker.bootstrap, group) == offsets1, "aborted offsets must be discarded"
        assert group_offsets(java, broker.bootstrap, group, stable=True) == offsets1
        assert output() == transformed(r1["consumed"])
        assert output(committed=False) == sorted(transformed(r1["consumed"]) + transformed(r2["consumed"]))

        r3 = app.ok("round 4")        # the aborted records again, from the committed offsets
        assert sorted(map(tuple, r3["consumed"])) == sorted(map(tuple, r2["consumed"]))
        app.ok("commit")
        assert group_offsets(java, broker.bootstrap, group) == {(src, 0): 5, (src, 1): 5}
        assert output() == sorted(b"t:" + v for v in value_at.values()), "every input exactly once"
    finally:
        app.kill()


def test_java_transaction_timeout_aborts_and_fences(broker_factory, topic, java):
    broker = broker_factory(overrides={"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"})
    ck.create_topic(broker.bootstrap, topic)
    txn_id = f"{topic}-tx"
    # The checks below must all run while the transaction is still open; they start a
    # JVM (describe-transactions) and two other clients, which under CI load took more
    # than 3 s once, so the timeout leaves a wide margin and the fast checks go first.
    timeout_ms = 12000
    p = jtxn(java, broker.bootstrap, topic, txn_id, transaction_timeout_ms=timeout_ms)
    try:
        p.ok("begin")
        assert jsend(p, vals("late0", "late1")) == [0, 1]
        p.ok("hold")
        ck.produce(broker.bootstrap, topic, [{"value": b"plain", "partition": 0}])       # 2
        assert lso_hw(broker.bootstrap, topic) == (0, 3)
        assert kafka_python_end_offset(broker.bootstrap, topic, committed=True) == 0
        assert kafka_python_end_offset(broker.bootstrap, topic, committed=False) == 3
        (before,) = java.admin(broker.bootstrap, "describe-transactions", txn_id)
        assert before["state"] == "ONGOING" and before["timeout_ms"] == timeout_ms, before
        # The coordinator aborts it: ABORT marker at 3, LSO = HW.
        wait_until(lambda: lso_hw(broker.bootstrap, topic) == (4, 4), 60, what="the timed-out transaction aborted")
        assert kafka_python_end_offset(broker.bootstrap, topic, committed=True) == 4
        assert view(broker.bootstrap, topic, committed=True) == [(2, b"plain")]
        assert jview(java, broker.bootstrap, topic, committed=True) == ([(2, b"plain")], 4)
        (after,) = java.admin(broker.bootstrap, "describe-transactions", txn_id)
        assert after["state"] == "COMPLETE_ABORT" and after["producer_epoch"] > before["producer_epoch"], after
        r = p.op("commit")
        assert r.get("error") == "org.apache.kafka.common.errors.ProducerFencedException", r
    finally:
        p.kill()
    assert lso_hw(broker.bootstrap, topic) == (4, 4)


def test_idle_transactional_id_expires(broker_factory, topic, java):
    """transactional.id.expiration.ms: an id idle (no transaction open) that long is
    removed; describeTransactions then fails with TRANSACTIONAL_ID_NOT_FOUND
    (TransactionalIdNotFoundException) and listTransactions omits it. An id with a
    transaction open is not expired. The expired id can be used again."""
    from java_client import JavaError
    # The busy id is idle between its InitProducerId and its first send (a JVM's first
    # send, slow under CI load), so the expiration leaves it a wide margin.
    broker = broker_factory(overrides={"transactional.id.expiration.ms": "5000",
                                       "transaction.remove.expired.transaction.cleanup.interval.ms": "200"})
    ck.create_topic(broker.bootstrap, topic)
    idle, busy = f"{topic}-idle", f"{topic}-busy"
    p = jtxn(java, broker.bootstrap, topic, idle)
    q = jtxn(java, broker.bootstrap, topic, busy, transaction_timeout_ms=600000)
    try:
        p.ok("begin")
        jsend(p, [b"i0"])
        p.ok("commit")
        q.ok("begin")
        jsend(q, [b"b0"])
        q.ok("hold")

        def gone():
            try:
                java.admin(broker.bootstrap, "describe-transactions", idle)
                return False
            except JavaError as e:
                return e.cls

        assert wait_until(gone, 30, what="the idle id expired") == \
            "org.apache.kafka.common.errors.TransactionalIdNotFoundException"
        ids = {t["transactional_id"]: t["state"] for t in java.admin(broker.bootstrap, "list-transactions")}
        assert idle not in ids and ids.get(busy) == "ONGOING", ids
        (d,) = java.admin(broker.bootstrap, "describe-transactions", busy)
        assert d["state"] == "ONGOING", d
    finally:
        p.kill()
    again = jtxn(java, broker.bootstrap, topic, idle)
    try:
        again.ok("begin")
        jsend(again, [b"i1"])
        again.ok("commit")
        q.ok("commit")
    finally:
        again.kill()
        q.kill()
    assert [v for _, v in view(broker.bootstrap, topic)] == [b"i0", b"b0", b"i1"]


def test_transaction_timeout_above_the_maximum(broker_factory, topic, java):
    """transaction.max.timeout.ms=5000: InitProducerId with 10000 gets
    INVALID_TRANSACTION_TIMEOUT. librdkafka returns that code from init_transactions
    (documented). kafka-clients 3.9.1's InitProducerIdHandler has no case for it and fails
    initTransactions with a plain KafkaException("Unexpected error in InitProducerIdResponse;
    <Errors.INVALID_TRANSACTION_TIMEOUT's message>") - the message proves the code."""
    broker = broker_factory(overrides={"transaction.max.timeout.ms": "5000"})
    ck.create_topic(broker.bootstrap, topic)
    from confluent_kafka import KafkaError

    p, _ = ck_txn_producer(broker.bootstrap, f"{topic}-ck", **{"transaction.timeout.ms": 10000})
    with pytest.raises(KafkaException) as e:
        p.init_transactions(scaled(30))
    assert e.value.args[0].code() == KafkaError.INVALID_TRANSACTION_TIMEOUT, e.value.args[0]

    s = java.txn_producer(broker.bootstrap, topic, f"{topic}-j", transaction_timeout_ms=10000)
    r = s.init()
    s.kill()
    assert r.get("error") == "org.apache.kafka.common.KafkaException", r
    assert "transaction timeout is larger than the maximum value allowed by the broker" in r["message"], r

    # At the maximum it works, on the same broker.
    ok, _ = ck_txn_producer(broker.bootstrap, f"{topic}-ck2", **{"transaction.timeout.ms": 5000})
    ok.init_transactions(scaled(30))
    ok.begin_transaction()
    ok.produce(topic, b"fine", partition=0)
    ok.commit_transaction(scaled(30))
    assert view(broker.bootstrap, topic) == [(0, b"fine")]


def test_compaction_removes_aborted_records_without_losing_committed_values(broker_factory, topic, java):
    """The cleaner is transaction-aware (Kafka): records of aborted transactions are
    discarded and never supersede an older committed value of their key, so read_committed
    and read_uncommitted both end up with the committed k1=v1."""
    import time

    from test_compaction import FAST, Model, create_compacted, roll
    broker = broker_factory(overrides=FAST)
    create_compacted(broker.bootstrap, topic)
    p = jtxn(java, broker.bootstrap, topic, f"{topic}-tx")
    try:
        p.ok("begin")
        for k, v in ((b"k1", b"v1"), (b"k2", b"v2")):
            p.send(k, v, 0)
        p.ok("flush")
        p.ok("commit")                                      # 0, 1, COMMIT at 2
        p.ok("begin")
        for k, v in ((b"k1", b"aborted-k1"), (b"k3", b"aborted-k3")):
            p.send(k, v, 0)
        p.ok("flush")
        p.ok("abort")                                       # 3, 4, ABORT at 5
        assert [o.offset for o in p.wait_outcomes(4).values()] == [0, 1, 3, 4]
    finally:
        p.kill()
    model = Model()
    deadline = time.monotonic() + scaled(60)
    while True:
        roll(broker.bootstrap, topic, model)
        want = [(0, b"v1"), (1, b"v2")] + sorted((o, v) for o, (_, v) in model.at.items())
        got = view(broker.bootstrap, topic, committed=False), view(broker.bootstrap, topic, committed=True)
        if got == (want, want):
            break
        assert time.monotonic() < deadline, f"not cleaned within {scaled(60):.0f}s: read_uncommitted " \
            f"{[(o, v[:12]) for o, v in got[0]]}, read_committed {[(o, v[:12]) for o, v in got[1]]}"
        time.sleep(0.5)


# --------------------------------------------------------------------------
# confluent-kafka (librdkafka)


def test_confluent_kafka_transactions_and_offsets(broker, unique_name):
    topic, src, group = unique_name("t"), unique_name("in"), unique_name("g")
    ck.create_topic(broker.bootstrap, topic)
    ck.create_topic(broker.bootstrap, src)
    c = ck.consumer(broker.bootstrap, **{"group.id": group})
    p, acks = ck_txn_producer(broker.bootstrap, f"{topic}-tx")
    from test_link import group_offset
    try:
        p.init_transactions(scaled(30))
        p.begin_transaction()
        for v in vals("c0", "c1", "c2", "c3", "c4"):
            p.produce(topic, v, partition=0)
        p.commit_transaction(scaled(30))                  # 0-4, COMMIT at 5
        p.begin_transaction()
        for v in vals("a0", "a1", "a2"):
            p.produce(topic, v, partition=0)
        assert p.flush(scaled(30)) == 0                   # librdkafka purges unsent records on abort
        p.abort_transaction(scaled(30))                   # 6-8, ABORT at 9
        p.begin_transaction()
        for v in vals("d0", "d1"):
            p.produce(topic, v, partition=0)
        p.send_offsets_to_transaction([TopicPartition(src, 0, 7)], c.consumer_group_metadata(), scaled(30))
        assert group_offset(broker.bootstrap, group, src) < 0, "visible only after the commit"
        p.commit_transaction(scaled(30))                  # 10-11, COMMIT at 12
        assert group_offset(broker.bootstrap, group, src) == 7
        p.begin_transaction()
        p.produce(topic, b"x0", partition=0)
        p.send_offsets_to_transaction([TopicPartition(src, 0, 9)], c.consumer_group_metadata(), scaled(30))
        assert p.flush(scaled(30)) == 0
        p.abort_transaction(scaled(30))                   # 13, ABORT at 14
        assert group_offset(broker.bootstrap, group, src) == 7, "aborted offsets are discarded"
    finally:
        c.close()
    assert sorted((v, o) for e, v, o in acks if e is None) == sorted(
        zip(vals("c0", "c1", "c2", "c3", "c4", "a0", "a1", "a2", "d0", "d1", "x0"), [0, 1, 2, 3, 4, 6, 7, 8, 10, 11, 13]))
    committed = list(zip([0, 1, 2, 3, 4, 10, 11], vals("c0", "c1", "c2", "c3", "c4", "d0", "d1")))
    assert lso_hw(broker.bootstrap, topic) == (15, 15)
    assert view(broker.bootstrap, topic, committed=True) == committed
    assert [o for o, _ in view(broker.bootstrap, topic, committed=False)] == [0, 1, 2, 3, 4, 6, 7, 8, 10, 11, 13]
    # librdkafka's default isolation level is read_committed.
    assert [(m.offset(), m.value()) for m in ck.consume(broker.bootstrap, topic, 0, 0, None)] == committed


# --------------------------------------------------------------------------
# kafkajs

NODE = shutil.which("node")
KAFKAJS = HERE / "node" / "node_modules" / "kafkajs"


def txn_js(*args: str, timeout: float = 120) -> dict:
    p = subprocess.run([NODE, str(HERE / "node" / "txn.js"), *args], cwd=HERE / "node", capture_output=True,
                       text=True, timeout=scaled(timeout))
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    out = json.loads(lines[-1]) if lines else {"error": "no output"}
    if p.returncode != 0 or "error" in out:
        raise AssertionError(f"txn.js {args[0]} failed at {out.get('step')!r}: {out.get('error')}\nstderr:\n{p.stderr[-3000:]}")
    return out


def test_kafkajs_transactions(broker_factory, unique_name):
    if NODE is None or not KAFKAJS.exists():
        client_missing("node or kafkajs missing (run-all.sh installs them)")
        pytest.skip("node or kafkajs missing")
    broker = broker_factory(overrides={"group.initial.rebalance.delay.ms": "0"})
    topic, src, group = unique_name("t"), unique_name("in"), unique_name("g")
    ck.create_topic(broker.bootstrap, topic)
    ck.create_topic(broker.bootstrap, src)
    out = txn_js("produce", broker.bootstrap, topic, f"{topic}-tx", group, src)
    assert [s[0]["baseOffset"] for s in out["sends"]] == ["0", "4", "7"], out
    from test_link import group_offset
    assert group_offset(broker.bootstrap, group, src) == 2, "committed sendOffsets kept, aborted one discarded"
    committed = [(0, b"c0"), (1, b"c1"), (2, b"c2"), (7, b"d0")]
    assert lso_hw(broker.bootstrap, topic) == (9, 9)
    assert view(broker.bootstrap, topic, committed=True) == committed
    rc = txn_js("consume", broker.bootstrap, topic, unique_name("rc"), "4", "0")["records"]
    assert [(o, v.encode()) for o, v in rc] == committed
    ru = txn_js("consume", broker.bootstrap, topic, unique_name("ru"), "6", "1")["records"]
    assert [o for o, _ in ru] == [0, 1, 2, 4, 5, 7]


# --------------------------------------------------------------------------
# Mirrors of a transactional Strait source (cluster link between two Strait brokers)

MIRRORED = "test-topic"


def start_link(source, dest) -> None:
    from test_link import GROUP_FILTER, TOPIC_FILTER, cli
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500,"
                    "consumer.offset.sync.enable=true,consumer.offset.sync.ms=1000",
        "--config", "auto.create.mirror.topics.enable=true",
        "--topic-filters-json", TOPIC_FILTER, "--consumer-group-filters-json", GROUP_FILTER)


def caught_up(dest: str, topic: str, source: str) -> bool:
    """The mirror's log end is the source's high watermark. (test_link.caught_up compares
    with ck.watermarks, whose librdkafka consumer is read_committed by default, so its
    "high" is the LSO: never reached while a transaction is open.)"""
    from test_link import describe
    (p,) = describe(dest, topic)["partitions"]
    return p["local_log_end_offset"] == end_offset(source, topic, 0, committed=False)


def test_mirror_of_transactional_source_then_promote(broker_factory, java):
    from test_link import cli, describe
    source, dest = broker_factory("source"), broker_factory("dest")
    t = MIRRORED
    ck.create_topic(source.bootstrap, t, 1)
    a = jtxn(java, source.bootstrap, t, "tx-a")
    b = None
    try:
        a.ok("begin")
        assert jsend(a, vals("c0", "c1", "c2")) == [0, 1, 2]
        a.ok("commit")                                                   # COMMIT at 3
        a.ok("begin")
        assert jsend(a, vals("a0", "a1")) == [4, 5]
        a.ok("abort")                                                    # ABORT at 6
        ck.produce(source.bootstrap, t, [{"value": b"plain", "partition": 0}])  # 7
        b = jtxn(java, source.bootstrap, t, "tx-b")
        b.ok("begin")
        assert jsend(b, vals("open0", "open1")) == [8, 9]
        b.ok("hold")                                                     # stays open on the source
        a.ok("begin")
        assert jsend(a, vals("late0")) == [10]
        a.ok("commit")                                                   # COMMIT at 11
        assert lso_hw(source.bootstrap, t) == (8, 12)

        start_link(source, dest)
        wait_until(lambda: caught_up(dest.bootstrap, t, source.bootstrap), 30, what="mirror caught up")
        src_rc = view(source.bootstrap, t)
        assert src_rc == [(0, b"c0"), (1, b"c1"), (2, b"c2"), (7, b"plain")]
        assert lso_hw(dest.bootstrap, t) == (8, 12), "the mirror's LSO is the source's"
        assert view(dest.bootstrap, t) == src_rc
        assert view(dest.bootstrap, t, committed=False) == view(source.bootstrap, t, committed=False)
        assert jview(java, dest.bootstrap, t) == jview(java, source.bootstrap, t) == (src_rc, 8)

        out = cli("mirrors", "--promote", "--topics", t, "--bootstrap-server", dest.bootstrap, "--wait")
        assert f"Aborted 1 open mirrored transaction(s) of topic {t} (partition 0: 1)." in out.stdout, out.stdout
        m = describe(dest.bootstrap, t)
        assert m["state"] == "STOPPED" and m["partitions"][0]["aborted_transactions"] == 1, m
        assert lso_hw(dest.bootstrap, t) == (13, 13), "ABORT marker for tx-b at 12: LSO = HW"
        promoted = src_rc + [(10, b"late0")]
        assert view(dest.bootstrap, t) == promoted
        assert jview(java, dest.bootstrap, t) == (promoted, 13)
        assert lso_hw(source.bootstrap, t) == (8, 12), "the source is untouched"

        # The same transactional ids, re-initialised on the destination, commit there (their
        # producer ids must not collide with the mirrored producers' state).
        for tid in ("tx-b", "tx-a"):
            n = jtxn(java, dest.bootstrap, t, tid)
            n.ok("begin")
            promoted += list(zip(jsend(n, [f"new-{tid}".encode()]), [f"new-{tid}".encode()]))
            n.ok("commit")
            assert n.close() == 0
        assert [o for o, _ in promoted[-2:]] == [13, 15]
        assert view(dest.bootstrap, t) == promoted
        assert lso_hw(dest.bootstrap, t) == (17, 17)
    finally:
        for s in (a, b):
            if s:
                s.kill()


def test_mirror_syncs_transactional_group_offsets_only_after_commit(broker_factory, java):
    from test_link import group_offset
    from test_link_offsets import offset_sync_runs
    source, dest = broker_factory("source"), broker_factory("dest")
    t, g = MIRRORED, "test-group"
    ck.create_topic(source.bootstrap, t, 1)
    ck.produce(source.bootstrap, t, [{"value": f"v{i}".encode(), "partition": 0} for i in range(10)])
    start_link(source, dest)
    wait_until(lambda: caught_up(dest.bootstrap, t, source.bootstrap), 30, what="mirror caught up")

    def sync_rounds(n: int):
        start = offset_sync_runs(dest.bootstrap)
        wait_until(lambda: offset_sync_runs(dest.bootstrap) >= start + n, 30, what=f"{n} offset-sync rounds")

    p = jtxn(java, source.bootstrap, t, "tx-g")
    try:
        p.ok("begin")
        p.ok(f"offsets {g} {t} 0 6")
        p.ok("hold")
        assert group_offset(source.bootstrap, g, t) < 0
        sync_rounds(3)
        assert group_offset(dest.bootstrap, g, t) < 0, "an uncommitted transactional offset was synced"
        p.ok("commit")
        assert group_offset(source.bootstrap, g, t) == 6
        wait_until(lambda: group_offset(dest.bootstrap, g, t) == 6, 30, what="committed offset synced")
        p.ok("begin")
        p.ok(f"offsets {g} {t} 0 9")
        sync_rounds(2)
        p.ok("abort")
        sync_rounds(2)
        assert group_offset(source.bootstrap, g, t) == 6
        assert group_offset(dest.bootstrap, g, t) == 6, "an aborted transactional offset was synced"
    finally:
        p.kill()
