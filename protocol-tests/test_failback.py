"""Failback through our CLIs with confluent-kafka clients (GitHub issue 10, item 6): two
Strait clusters A and B linked both ways. A -> B mirror; a disaster failover on B; writes on
both sides; `mirrors --truncate-and-restore` on A removes exactly A's unmirrored records,
clamps A's consumer-group offsets and makes A a mirror of B again, byte for byte; promote
A and the next write continues at B's end. Then `mirrors --reverse-and-start` for a planned
switch, and the one-line refusals of bad input. Prints a transcript of every command."""

from __future__ import annotations

import ck
from conftest import scaled, wait_until
from test_link import assert_identical, caught_up, cli, describe, group_consume, group_offset, run, write


def link(tmp_path, name: str, on: str, to: str) -> None:
    config = write(tmp_path, f"{name}.config", f"bootstrap.servers={to}\nmetadata.max.age.ms=500\n")
    run("cluster-links", "--bootstrap-server", on, "--create", "--link", name, "--config-file", str(config))


def produce(bootstrap: str, topic: str, partition: int, tag: str, n: int):
    return ck.produce(bootstrap, topic, [{"value": f"{tag}-{i}".encode(), "partition": partition} for i in range(n)])


def test_failback_round_trip(broker_factory, tmp_path):
    a = broker_factory("a")
    b = broker_factory("b")
    print(f"\ncluster A = {a.bootstrap}, cluster B = {b.bootstrap}")
    ck.create_topic(a.bootstrap, "orders", 2)
    for p in range(2):
        produce(a.bootstrap, "orders", p, "a", 10)
    link(tmp_path, "from-a", b.bootstrap, a.bootstrap)
    link(tmp_path, "from-b", a.bootstrap, b.bootstrap)
    run("mirrors", "--create", "--mirror-topic", "orders", "--link", "from-a", "--bootstrap-server", b.bootstrap)
    wait_until(lambda: caught_up(b.bootstrap, "orders", a.bootstrap, 2), timeout=scaled(30), what="B mirrors A")

    # Disaster: B fails over; A keeps taking writes nobody mirrors, B takes the new writes.
    run("mirrors", "--failover", "--topics", "orders", "--bootstrap-server", b.bootstrap)
    for p in range(2):
        produce(a.bootstrap, "orders", p, "lost", 3)
        produce(b.bootstrap, "orders", p, "b", 4)
    # A consumer group on A read (and committed) A's unmirrored records too.
    assert len(group_consume(a.bootstrap, "app", "orders", 26)) == 26
    assert [group_offset(a.bootstrap, "app", "orders", p) for p in range(2)] == [13, 13]

    # Bad input: one line on stderr, exit 1, nothing changed.
    ck.create_topic(a.bootstrap, "lonely", 1)
    for args, why in [
        (["--topics", "orders", "--link", "nope"], "cluster link 'nope' does not exist"),
        (["--topics", "lonely", "--link", "from-b"], "does not exist on the source cluster"),
    ]:
        p = run("mirrors", "--truncate-and-restore", *args, "--bootstrap-server", a.bootstrap, check=False)
        assert p.returncode == 1 and why in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert describe_missing(a.bootstrap, "orders")

    # Dry run, then the real thing.
    out = run("mirrors", "--truncate-and-restore", "--topics", "orders", "--link", "from-b", "--dry-run",
              "--bootstrap-server", a.bootstrap).stdout
    assert "6 messages would be truncated" in out
    assert describe_missing(a.bootstrap, "orders"), "a dry run changes nothing"
    out = run("mirrors", "--truncate-and-restore", "--topics", "orders", "--link", "from-b",
              "--bootstrap-server", a.bootstrap).stdout
    assert "Truncate and restore of mirror topic 'orders' over link 'from-b' completed: 6 messages truncated." in out
    lines = [line.split() for line in out.splitlines()]
    assert ["0", "10", "13", "3"] in lines and ["1", "10", "13", "3"] in lines, out
    assert ["app", "0", "13", "10"] in lines and ["app", "1", "13", "10"] in lines, out
    assert [group_offset(a.bootstrap, "app", "orders", p) for p in range(2)] == [10, 10]
    p = run("mirrors", "--truncate-and-restore", "--topics", "orders", "--link", "from-b",
            "--bootstrap-server", a.bootstrap, check=False)
    assert p.returncode == 1 and "already a mirror" in p.stderr

    # A is now identical to B: same offsets, same bytes.
    wait_until(lambda: caught_up(a.bootstrap, "orders", b.bootstrap, 2), timeout=scaled(30), what="A mirrors B")
    batches = assert_identical(b.bootstrap, a.bootstrap, "orders", 2)
    print(f"A and B identical: {batches} batches compared")
    run("mirrors", "--describe", "--topics", "orders", "--bootstrap-server", a.bootstrap)

    # Fail back: promote A; the next write continues at B's end offset.
    run("mirrors", "--promote", "--topics", "orders", "--bootstrap-server", a.bootstrap, "--wait")
    assert describe(a.bootstrap, "orders")["state"] == "STOPPED"
    (d,) = produce(a.bootstrap, "orders", 0, "back", 1)
    assert d.offset == 14
    print(f"first write on A after failback: orders-0 offset {d.offset}")


def describe_missing(bootstrap: str, topic: str) -> bool:
    """True when `topic` is not a mirror on `bootstrap` (a normal topic)."""
    p = cli("mirrors", "--describe", "--topics", topic, "--bootstrap-server", bootstrap, check=False)
    return p.returncode == 1 and "is not a mirror topic" in p.stderr


def test_reverse_and_start_and_one_way_refusal(broker_factory, tmp_path):
    a = broker_factory("a")
    b = broker_factory("b")
    ck.create_topic(a.bootstrap, "rev", 1)
    produce(a.bootstrap, "rev", 0, "r", 6)
    link(tmp_path, "from-a", b.bootstrap, a.bootstrap)
    run("mirrors", "--create", "--mirror-topic", "rev", "--link", "from-a", "--bootstrap-server", b.bootstrap)
    wait_until(lambda: caught_up(b.bootstrap, "rev", a.bootstrap, 1), timeout=scaled(30), what="B mirrors A")

    # One-way: the peer (A) has no link whose source is B yet.
    p = run("mirrors", "--reverse-and-start", "--topics", "rev", "--link", "from-a", "--bootstrap-server", b.bootstrap,
            check=False)
    assert p.returncode == 1 and "is one-way" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert describe(b.bootstrap, "rev")["state"] == "ACTIVE", "a refused reverse changes nothing"

    link(tmp_path, "from-b", a.bootstrap, b.bootstrap)
    out = run("mirrors", "--reverse-and-start", "--topics", "rev", "--link", "from-a",
              "--bootstrap-server", b.bootstrap).stdout
    assert "Mirror topic 'rev' was promoted on this cluster" in out
    assert "over link 'from-b' completed: 0 messages truncated." in out
    assert describe(b.bootstrap, "rev")["state"] == "STOPPED"
    assert describe(a.bootstrap, "rev")["state"] == "ACTIVE"
    (d,) = produce(b.bootstrap, "rev", 0, "after", 1)
    assert d.offset == 6
    wait_until(lambda: caught_up(a.bootstrap, "rev", b.bootstrap, 1), timeout=scaled(30), what="A mirrors B")
    assert_identical(b.bootstrap, a.bootstrap, "rev", 1)
    run("mirrors", "--describe", "--topics", "rev", "--bootstrap-server", a.bootstrap)

    # And back again, leaving B's new mirror paused: A is promoted, B mirrors A, PAUSED.
    out = run("mirrors", "--reverse-and-pause", "--topics", "rev", "--link", "from-b",
              "--bootstrap-server", a.bootstrap, "--output", "json").stdout
    (x,) = __import__("json").loads(out)
    assert (x["error_code"], x["local_status"], x["local_end_offsets"]) == (0, "STOPPED", [7]), x
    assert (x["remote"]["link_name"], x["remote"]["mirror_status"], x["remote"]["messages_truncated"]) == ("from-a", "PAUSED", 0)
    assert describe(b.bootstrap, "rev")["state"] == "PAUSED"
    (d,) = produce(a.bootstrap, "rev", 0, "again", 1)
    assert d.offset == 7
    run("mirrors", "--resume", "--topics", "rev", "--bootstrap-server", b.bootstrap)
    wait_until(lambda: caught_up(b.bootstrap, "rev", a.bootstrap, 1), timeout=scaled(30), what="B mirrors A again")
    assert_identical(a.bootstrap, b.bootstrap, "rev", 1)
