"""Transactions across `kill -9` (issue 9), with the Apache Kafka Java client
(kafka-clients 3.9.1) and Kafka's documented outcomes:

(a) a transaction ongoing with data when the broker is killed stays open after the restart
    (the LSO is still its first offset; its state is recovered from disk) and is aborted by
    the coordinator once it times out: the LSO reaches the HW, read_committed skips it;
(a') the same, but the producer is still alive and commits after the restart (within its
    timeout): the commit succeeds and all its data is committed;
(b) commit returned, kill -9, restart: every committed record is there for read_committed,
    at its offset, and the transactional id is COMPLETE_COMMIT;
(c) abort returned, kill -9, restart: stays aborted (COMPLETE_ABORT), LSO = HW;
(d) the client halts mid-transaction (Runtime.halt, nothing closed or aborted): a new
    producer with the same transactional.id aborts it in initTransactions, without
    waiting for the (long) transaction timeout.

The PREPARE_COMMIT / PREPARE_ABORT phases (coordinator state written, markers not yet all
written) cannot be hit reliably from outside; the coordinator's Rust tests use a crash hook.
"""

from __future__ import annotations

import time

import ck
from conftest import scaled, wait_until
from test_transactions import jsend, jtxn, jview, lso_hw, vals, view

FAST_ABORT = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"}


def describe_txn(java, bootstrap: str, txn_id: str) -> dict:
    (d,) = java.admin(bootstrap, "describe-transactions", txn_id)
    return d


def test_kill9_with_transaction_ongoing_then_timeout_aborts(broker_factory, topic, java):
    broker = broker_factory(overrides=FAST_ABORT)
    ck.create_topic(broker.bootstrap, topic)
    ck.produce(broker.bootstrap, topic, [{"value": b"first", "partition": 0}])          # 0
    timeout_ms = 8000
    p = jtxn(java, broker.bootstrap, topic, f"{topic}-tx", transaction_timeout_ms=timeout_ms)
    try:
        t_begin = time.monotonic()
        p.ok("begin")
        assert jsend(p, vals("o0", "o1", "o2")) == [1, 2, 3]
        p.ok("hold")
        assert lso_hw(broker.bootstrap, topic) == (1, 4)
        broker.kill9()
        broker.restart()
        # Still within the transaction's timeout: the open transaction survived the crash.
        lso, hw = lso_hw(broker.bootstrap, topic)
        elapsed = time.monotonic() - t_begin
        print(f"restarted {elapsed:.2f}s after begin (timeout {timeout_ms} ms)")
        if elapsed < timeout_ms / 1000 - 1:
            assert (lso, hw) == (1, 4), "after restart the ongoing transaction must still hold the LSO"
            assert view(broker.bootstrap, topic) == [(0, b"first")]
            assert describe_txn(java, broker.bootstrap, f"{topic}-tx")["state"] == "ONGOING"
        wait_until(lambda: lso_hw(broker.bootstrap, topic) == (5, 5), 60, what="the timed-out transaction aborted after the restart")
        assert view(broker.bootstrap, topic) == [(0, b"first")]
        assert [o for o, _ in view(broker.bootstrap, topic, committed=False)] == [0, 1, 2, 3]
        assert describe_txn(java, broker.bootstrap, f"{topic}-tx")["state"] == "COMPLETE_ABORT"
        r = p.op("commit")
        assert r.get("error") == "org.apache.kafka.common.errors.ProducerFencedException", r
    finally:
        p.kill()
    # New data after it is readable at once.
    ck.produce(broker.bootstrap, topic, [{"value": b"after", "partition": 0}])
    assert view(broker.bootstrap, topic) == [(0, b"first"), (5, b"after")]


def test_kill9_mid_transaction_producer_commits_after_restart(broker, topic, java):
    ck.create_topic(broker.bootstrap, topic, 2)
    p = jtxn(java, broker.bootstrap, topic, f"{topic}-tx", transaction_timeout_ms=120000)
    try:
        p.ok("begin")
        assert jsend(p, vals("b0", "b1"), partition=0) == [0, 1]
        assert jsend(p, vals("b2"), partition=1) == [0]
        broker.kill9()
        broker.restart()
        # The same producer (same epoch) carries on; its client reconnects and retries.
        assert jsend(p, vals("b3"), partition=0) == [2]
        p.ok("commit")
        assert describe_txn(java, broker.bootstrap, f"{topic}-tx")["state"] == "COMPLETE_COMMIT"
    finally:
        p.kill()
    assert view(broker.bootstrap, topic, 0) == [(0, b"b0"), (1, b"b1"), (2, b"b3")]
    assert view(broker.bootstrap, topic, 1) == [(0, b"b2")]
    assert lso_hw(broker.bootstrap, topic, 0) == (4, 4)
    assert lso_hw(broker.bootstrap, topic, 1) == (2, 2)


def test_kill9_after_commit_and_after_abort(broker, topic, java):
    ck.create_topic(broker.bootstrap, topic, 2)
    committed_id, aborted_id = f"{topic}-c", f"{topic}-a"
    c = jtxn(java, broker.bootstrap, topic, committed_id)
    a = jtxn(java, broker.bootstrap, topic, aborted_id)
    try:
        c.ok("begin")
        offs0 = jsend(c, [f"c{i}".encode() for i in range(50)], partition=0)
        offs1 = jsend(c, [f"d{i}".encode() for i in range(20)], partition=1)
        a.ok("begin")
        aoffs = jsend(a, [f"x{i}".encode() for i in range(30)], partition=0)
        c.ok("commit")            # (b) commit returned
        a.ok("abort")             # (c) abort returned
        before = describe_txn(java, broker.bootstrap, committed_id), describe_txn(java, broker.bootstrap, aborted_id)
    finally:
        c.kill()
        a.kill()
    assert before[0]["state"] == "COMPLETE_COMMIT" and before[1]["state"] == "COMPLETE_ABORT", before
    want0 = [(o, f"c{i}".encode()) for i, o in enumerate(offs0)]
    want1 = [(o, f"d{i}".encode()) for i, o in enumerate(offs1)]
    hw0 = max(offs0 + aoffs) + 3   # one marker per transaction follows its data
    for rnd in range(2):
        broker.kill9()
        broker.restart()
        assert lso_hw(broker.bootstrap, topic, 0) == (hw0, hw0), f"round {rnd}"
        assert lso_hw(broker.bootstrap, topic, 1) == (offs1[-1] + 2, offs1[-1] + 2), f"round {rnd}"
        assert view(broker.bootstrap, topic, 0) == want0, f"round {rnd}: partition 0 for read_committed"
        assert view(broker.bootstrap, topic, 1) == want1, f"round {rnd}: partition 1 for read_committed"
        assert jview(java, broker.bootstrap, topic, 0) == (want0, hw0)
        assert sorted(o for o, _ in view(broker.bootstrap, topic, 0, committed=False)) == sorted(offs0 + aoffs)
        after = describe_txn(java, broker.bootstrap, committed_id), describe_txn(java, broker.bootstrap, aborted_id)
        assert [d["state"] for d in after] == ["COMPLETE_COMMIT", "COMPLETE_ABORT"], after
        assert [(d["producer_id"], d["producer_epoch"]) for d in after] == [(d["producer_id"], d["producer_epoch"]) for d in before]

    # Both ids work again after the crashes (a new producer bumps the epoch).
    for tid, part in ((committed_id, 0), (aborted_id, 1)):
        n = jtxn(java, broker.bootstrap, topic, tid)
        n.ok("begin")
        off = jsend(n, [b"again"], partition=part)[0]
        n.ok("commit")
        assert n.close() == 0
        assert view(broker.bootstrap, topic, part)[-1] == (off, b"again")


def test_client_halts_mid_transaction_new_producer_aborts_it_at_once(broker, topic, java):
    ck.create_topic(broker.bootstrap, topic)
    txn_id = f"{topic}-tx"
    # A long timeout: only the new producer's initTransactions can end this transaction.
    old = jtxn(java, broker.bootstrap, topic, txn_id, transaction_timeout_ms=600000)
    old.ok("begin")
    assert jsend(old, vals("gone0", "gone1")) == [0, 1]
    assert old.exit_now() == 0
    ck.produce(broker.bootstrap, topic, [{"value": b"plain", "partition": 0}])          # 2
    assert lso_hw(broker.bootstrap, topic) == (0, 3)
    assert describe_txn(java, broker.bootstrap, txn_id)["state"] == "ONGOING"

    t0 = time.monotonic()
    new = jtxn(java, broker.bootstrap, topic, txn_id, transaction_timeout_ms=600000)
    try:
        took = time.monotonic() - t0
        print(f"initTransactions of the new producer took {took:.2f}s")
        # initTransactions returns once the coordinator completed the abort (Kafka answers
        # CONCURRENT_TRANSACTIONS until then), so the LSO is already at the HW.
        assert lso_hw(broker.bootstrap, topic) == (4, 4)
        assert took < scaled(30), f"initTransactions took {took:.1f}s"
        assert view(broker.bootstrap, topic) == [(2, b"plain")]
        new.ok("begin")
        assert jsend(new, vals("n0")) == [4]
        new.ok("commit")
    finally:
        new.kill()
    assert view(broker.bootstrap, topic) == [(2, b"plain"), (4, b"n0")]


def test_mirror_keeps_transaction_state_across_kill9_and_follows_the_source(broker_factory, java):
    """A mirror rebuilds producer/transaction state from the mirrored log after kill -9:
    an open source transaction still holds the mirror's LSO after the restart; when the
    source commits it (and aborts another), the mirror's read_committed view follows and
    equals the source's."""
    from test_transactions import MIRRORED, caught_up, start_link
    source, dest = broker_factory("source"), broker_factory("dest")
    t = MIRRORED
    ck.create_topic(source.bootstrap, t, 1)
    ck.produce(source.bootstrap, t, [{"value": b"p0", "partition": 0}])               # 0
    b = jtxn(java, source.bootstrap, t, "tx-b")
    a = jtxn(java, source.bootstrap, t, "tx-a")
    try:
        b.ok("begin")
        assert jsend(b, vals("b0", "b1")) == [1, 2]
        a.ok("begin")
        assert jsend(a, vals("a0")) == [3]
        a.ok("abort")                                                                   # 4
        start_link(source, dest)
        wait_until(lambda: caught_up(dest.bootstrap, t, source.bootstrap), 30, what="mirror caught up")
        assert lso_hw(dest.bootstrap, t) == lso_hw(source.bootstrap, t) == (1, 5)

        dest.kill9()
        dest.restart()
        wait_until(lambda: caught_up(dest.bootstrap, t, source.bootstrap), 30, what="mirror back")
        assert lso_hw(dest.bootstrap, t) == (1, 5), "the mirror lost the open transaction's state in recovery"
        assert view(dest.bootstrap, t) == [(0, b"p0")]

        b.ok("commit")                                                                  # 5
        a.ok("begin")
        assert jsend(a, vals("a1")) == [6]
        a.ok("abort")                                                                   # 7
        ck.produce(source.bootstrap, t, [{"value": b"p1", "partition": 0}])           # 8
        wait_until(lambda: caught_up(dest.bootstrap, t, source.bootstrap), 30, what="mirror caught up again")
        want = [(0, b"p0"), (1, b"b0"), (2, b"b1"), (8, b"p1")]
        assert view(source.bootstrap, t) == want
        wait_until(lambda: lso_hw(dest.bootstrap, t) == (9, 9), 30, what="the mirror's LSO at its HW")
        assert view(dest.bootstrap, t) == want
        assert view(dest.bootstrap, t, committed=False) == view(source.bootstrap, t, committed=False)
    finally:
        a.kill()
        b.kill()
