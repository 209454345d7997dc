"""Promote cutover with a real client (GitHub issue 10): seed 004's flow, then a producer
that switches to the destination the moment `mirrors --promote` returns, while the mirror
is still behind. Produce requests that arrive while the mirror is PENDING_STOPPED are held
until the promotion completes, so every record is acknowledged, none errors, and the new
offsets continue right after the mirrored ones (none of which is lost or duplicated)."""

from __future__ import annotations

import time

import ck
from conftest import scaled, wait_until
from test_link import ACL_FILTER, GROUP_FILTER, TOPIC_FILTER, caught_up, cli, describe, group_consume, records, write


def test_producer_switching_at_promote_never_sees_the_switch(broker_factory, tmp_path):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "test-topic", 1)
    ck.produce(source.bootstrap, "test-topic", [{"value": str(i).encode()} for i in range(1, 6)])
    assert group_consume(source.bootstrap, "test-group", "test-topic", 5) == [b"1", b"2", b"3", b"4", b"5"]

    config = write(tmp_path, "source.config", f"bootstrap.servers={source.bootstrap}\nauto.create.mirror.topics.enable=true\n"
                   "consumer.offset.sync.enable=true\nacl.sync.enable=true\nmetadata.max.age.ms=500\nconsumer.offset.sync.ms=1000\n")
    topics = write(tmp_path, "topic_filter.json", TOPIC_FILTER)
    groups = write(tmp_path, "group.json", GROUP_FILTER)
    acls = write(tmp_path, "acl.json", ACL_FILTER)
    cli("cluster-links", "--bootstrap-server", dest.bootstrap, "--create", "--link", "test-cluster-link",
        "--config-file", str(config), "--topic-filters-json-file", str(topics),
        "--consumer-group-filters-json-file", str(groups), "--acl-filters-json-file", str(acls))
    wait_until(lambda: caught_up(dest.bootstrap, "test-topic", source.bootstrap, 1), timeout=scaled(30), what="mirror caught up")

    # More source data while the mirror is paused, so it is really behind when promoted:
    # the promote has to catch up with it first.
    cli("mirrors", "--pause", "--topics", "test-topic", "--bootstrap-server", dest.bootstrap)
    behind = 20000
    ck.produce(source.bootstrap, "test-topic", [{"value": f"s{i}".encode()} for i in range(behind)])
    final = 5 + behind

    t0 = time.monotonic()
    out = cli("mirrors", "--promote", "--topics", "test-topic", "--bootstrap-server", dest.bootstrap)
    assert "Request for stopping topic test-topic's mirror was successfully scheduled" in out.stdout
    # No wait: the producer switches the instant the CLI returns.
    delivered = ck.produce(dest.bootstrap, "test-topic", [{"value": f"d{i}".encode()} for i in range(200)])
    elapsed = time.monotonic() - t0
    print(f"\npromote + 200 records acknowledged on the destination in {elapsed * 1000:.0f} ms (mirror {behind} records behind)")

    assert [d.offset for d in delivered] == list(range(final, final + 200)), "offsets continue right after the mirrored ones"
    assert describe(dest.bootstrap, "test-topic")["state"] == "STOPPED"
    got = records(dest.bootstrap, "test-topic", 0, final + 200)
    assert [r[0] for r in got] == list(range(final + 200))
    assert got[:final] == records(source.bootstrap, "test-topic", 0, final), "the mirrored prefix is the source's"
    assert [r[2] for r in got[final:]] == [f"d{i}".encode() for i in range(200)]
