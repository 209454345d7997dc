"""`link.mode=BIDIRECTIONAL` through our CLIs with confluent-kafka clients (GitHub issue 10,
item 6; seeds 000 "Both" and 002 "renaming with a prefix"): two Strait clusters A and B with
one link name created on both, each pulling from the other with auto-create `*`.

* With prefixes (`a.` on B, `b.` on A): B gets `a.orders`, A gets `b.payments`, byte for
  byte, and after many discovery rounds nothing is mirrored back (no `b.a.orders`); the
  first side shows REMOTE_LINK_NOT_FOUND_ERROR until the second exists; describe/list show
  the link mode and the peer link; an explicit `mirrors --create` of the loop is refused.
* Without prefixes: A's `orders` reaches B as `orders` and is never mirrored back; then
  `mirrors --reverse-and-start` over the bidirectional link (no `--remote-link`) switches
  the direction, and writes on B reach A's consumers.
Prints a transcript of every command."""

from __future__ import annotations

import json

import ck
import link_wire
from conftest import scaled, wait_until
from test_link import assert_identical, cli, describe, mock_cluster, run, write  # noqa: F401 (fixture)

ALL = '{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}'


def create_bidi(tmp_path, name: str, on: str, peer: str, prefix: str | None) -> None:
    text = (
        f"bootstrap.servers={peer}\nlink.mode=BIDIRECTIONAL\nmetadata.max.age.ms=300\n"
        f"auto.create.mirror.topics.enable=true\nauto.create.mirror.topics.filters={ALL}\n"
    )
    if prefix:
        text += f"cluster.link.prefix={prefix}\n"
    config = write(tmp_path, f"{name}-{on.replace(':', '_')}.config", text)
    run("cluster-links", "--bootstrap-server", on, "--create", "--link", name, "--config-file", str(config))


def link_json(bootstrap: str, name: str) -> dict:
    return json.loads(cli("cluster-links", "--describe", "--link", name, "--bootstrap-server", bootstrap,
                          "--output", "json").stdout)


def task(bootstrap: str, name: str, task_name: str) -> dict | None:
    return next((t for t in link_json(bootstrap, name)["tasks"] if t["name"] == task_name), None)


def topics(bootstrap: str) -> set[str]:
    md = ck.admin(bootstrap).list_topics(timeout=scaled(10))
    return {t for t in md.topics if not t.startswith("__")}


def produce(bootstrap: str, topic: str, partition: int, tag: str, n: int):
    return ck.produce(bootstrap, topic, [{"value": f"{tag}-{i}".encode(), "partition": partition} for i in range(n)])


def mirrored(dest: str, mirror: str, source: str, topic: str, partitions: int) -> bool:
    """The mirror's log end equals the source's high watermark on every partition."""
    try:
        m = describe(dest, mirror)
    except AssertionError:
        return False
    if len(m["partitions"]) != partitions:
        return False
    return all(p["local_log_end_offset"] == ck.watermarks(source, topic, p["partition"])[1] for p in m["partitions"])


def same_bytes(source: str, topic: str, dest: str, mirror: str, partitions: int) -> int:
    total = 0
    for p in range(partitions):
        a = link_wire.read_log(source, topic, p)
        b = link_wire.read_log(dest, mirror, p)
        assert a and a == b, f"{topic}-{p} vs {mirror}-{p}: batches differ"
        total += len(a)
    return total


def wait_rounds(bootstrap: str, name: str, rounds: int) -> None:
    """Waits for `rounds` more discovery passes (each one runs the loop check)."""
    start = (task(bootstrap, name, "loop_prevention") or {"runs": 0})["runs"]
    wait_until(lambda: (task(bootstrap, name, "loop_prevention") or {"runs": 0})["runs"] >= start + rounds,
               timeout=scaled(30), what=f"{rounds} discovery rounds of {name}")


def test_bidirectional_pair_with_prefixes_has_no_loops(broker_factory, tmp_path):
    a = broker_factory("a")
    b = broker_factory("b")
    print(f"\ncluster A = {a.bootstrap}, cluster B = {b.bootstrap}")
    ck.create_topic(a.bootstrap, "orders", 2)
    ck.create_topic(b.bootstrap, "payments", 1)
    for p in range(2):
        produce(a.bootstrap, "orders", p, "order", 5)
    produce(b.bootstrap, "payments", 0, "pay", 7)

    # The first side: created, and it says its other half is missing.
    create_bidi(tmp_path, "ab", a.bootstrap, b.bootstrap, "b.")
    wait_until(lambda: (link_json(a.bootstrap, "ab").get("peer_link") or {}).get("state") == "REMOTE_LINK_NOT_FOUND_ERROR",
               timeout=scaled(30), what="A's link reports the missing peer link")
    out = run("cluster-links", "--describe", "--link", "ab", "--bootstrap-server", a.bootstrap).stdout
    assert "BIDIRECTIONAL" in out and "REMOTE_LINK_NOT_FOUND_ERROR" in out, out

    # The second side pairs them.
    create_bidi(tmp_path, "ab", b.bootstrap, a.bootstrap, "a.")
    for side in (a, b):
        wait_until(lambda: (link_json(side.bootstrap, "ab").get("peer_link") or {}).get("paired") is True,
                   timeout=scaled(30), what="paired")
        j = link_json(side.bootstrap, "ab")
        assert j["link_mode"] == "BIDIRECTIONAL" and j["peer_link"]["state"] == "ACTIVE", j
    out = run("cluster-links", "--list", "--bootstrap-server", b.bootstrap).stdout
    header, row = out.splitlines()[:2]
    assert "LinkMode" in header and "PeerLink" in header and "BIDIRECTIONAL" in row and "ACTIVE" in row, out
    listed = json.loads(run("cluster-links", "--list", "--bootstrap-server", b.bootstrap, "--output", "json").stdout)
    assert listed[0]["link_mode"] == "BIDIRECTIONAL" and listed[0]["peer_link"]["paired"], listed

    wait_until(lambda: mirrored(b.bootstrap, "a.orders", a.bootstrap, "orders", 2), timeout=scaled(30), what="B mirrors A")
    wait_until(lambda: mirrored(a.bootstrap, "b.payments", b.bootstrap, "payments", 1), timeout=scaled(30), what="A mirrors B")
    print(f"batches identical: {same_bytes(a.bootstrap, 'orders', b.bootstrap, 'a.orders', 2)} + "
          f"{same_bytes(b.bootstrap, 'payments', a.bootstrap, 'b.payments', 1)}")
    got = [m.value() for m in ck.consume(b.bootstrap, "a.orders", 1, 0, 5)]
    assert got == [f"order-{i}".encode() for i in range(5)]
    got = [m.value() for m in ck.consume(a.bootstrap, "b.payments", 0, 0, 7)]
    assert got == [f"pay-{i}".encode() for i in range(7)]

    # Many discovery rounds later nothing came back.
    wait_rounds(a.bootstrap, "ab", 6)
    wait_rounds(b.bootstrap, "ab", 6)
    assert topics(a.bootstrap) == {"orders", "b.payments"}
    assert topics(b.bootstrap) == {"payments", "a.orders"}
    note = task(a.bootstrap, "ab", "loop_prevention")["error"]
    assert "skipped-for-loop" in note and "a.orders" in note, note

    # An explicit mirror of the loop: refused in one line, nothing created.
    p = run("mirrors", "--create", "--mirror-topic", "b.a.orders", "--link", "ab", "--bootstrap-server", a.bootstrap,
            check=False)
    assert p.returncode == 1 and "would make a loop" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert "b.a.orders" not in topics(a.bootstrap)


def test_bidirectional_same_names_and_reverse_and_start(broker_factory, tmp_path):
    a = broker_factory("a")
    b = broker_factory("b")
    print(f"\ncluster A = {a.bootstrap}, cluster B = {b.bootstrap}")
    ck.create_topic(a.bootstrap, "orders", 1)
    produce(a.bootstrap, "orders", 0, "a", 6)
    create_bidi(tmp_path, "pair", b.bootstrap, a.bootstrap, None)
    create_bidi(tmp_path, "pair", a.bootstrap, b.bootstrap, None)
    wait_until(lambda: mirrored(b.bootstrap, "orders", a.bootstrap, "orders", 1), timeout=scaled(30), what="B mirrors A")
    assert_identical(a.bootstrap, b.bootstrap, "orders", 1)

    # B's `orders` is a mirror of A: A never mirrors it back onto its own `orders`.
    wait_rounds(a.bootstrap, "pair", 6)
    p = cli("mirrors", "--describe", "--topics", "orders", "--bootstrap-server", a.bootstrap, check=False)
    assert p.returncode == 1 and "is not a mirror topic" in p.stderr, p.stderr
    note = task(a.bootstrap, "pair", "loop_prevention")["error"]
    assert "orders" in note, note
    assert topics(a.bootstrap) == topics(b.bootstrap) == {"orders"}

    # Planned switch over the bidirectional link: the peer's same-named link is used.
    out = run("mirrors", "--reverse-and-start", "--topics", "orders", "--link", "pair",
              "--bootstrap-server", b.bootstrap).stdout
    assert "Mirror topic 'orders' was promoted on this cluster" in out
    assert "over link 'pair' completed: 0 messages truncated." in out, out
    assert describe(b.bootstrap, "orders")["state"] == "STOPPED"
    assert describe(a.bootstrap, "orders")["state"] == "ACTIVE"
    (d,) = produce(b.bootstrap, "orders", 0, "b", 1)
    assert d.offset == 6
    wait_until(lambda: mirrored(a.bootstrap, "orders", b.bootstrap, "orders", 1), timeout=scaled(30), what="A mirrors B")
    assert_identical(b.bootstrap, a.bootstrap, "orders", 1)
    got = [m.value() for m in ck.consume(a.bootstrap, "orders", 0, 0, 7)]
    assert got == [f"a-{i}".encode() for i in range(6)] + [b"b-0"]
    # And B's link does not mirror A's (now a mirror of B) back.
    wait_rounds(b.bootstrap, "pair", 6)
    assert topics(b.bootstrap) == {"orders"} and describe(b.bootstrap, "orders")["state"] == "STOPPED"


def test_bidirectional_link_to_a_non_strait_peer_is_refused(mock_cluster, broker_factory):
    """librdkafka's mock cluster cannot hold the other half: one line, exit 1, no link."""
    a = broker_factory("a")
    p = run("cluster-links", "--create", "--link", "ab", "--bootstrap-server", a.bootstrap,
            "--config", f"bootstrap.servers={mock_cluster},link.mode=BIDIRECTIONAL", check=False)
    assert p.returncode == 1 and "not a Strait cluster" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    out = run("cluster-links", "--list", "--bootstrap-server", a.bootstrap).stdout
    assert "No cluster links found." in out, out
    # The same link as DESTINATION is fine: a non-Strait source simply has no mirrors.
    run("cluster-links", "--create", "--link", "ab", "--bootstrap-server", a.bootstrap,
        "--config", f"bootstrap.servers={mock_cluster}")
