"""Cluster links whose source is a replicated 3-node Strait cluster (RF=3,
min.insync.replicas=2, cluster.py's REPLICATION_TIMING), into a single-node Strait
destination, with our CLIs and confluent-kafka.

What Kafka's (Confluent's) cluster linking promises and these tests check:
1. the link bootstraps from one source node, finds each partition's leader among the three
   brokers and mirrors records produced acks=all: the mirror's batches are the source
   leaders' batches, same offsets and same bytes (leader epochs included), every source
   replica holds those same batches on disk, and consumers see the same records and end
   offsets on both sides (seed 004's flag form of `cluster-links --create`);
2. kill -9 of a source partition leader while the link mirrors and an idempotent acks=all
   producer keeps writing to the source: the link follows the new leader elected from the
   ISR (NOT_LEADER_OR_FOLLOWER or a dead connection, then a source metadata refresh), keeps
   mirroring while the producer runs, and ends byte-identical to the new leaders; every
   acknowledged record is in the mirror exactly once, at its acknowledged offset, in order;
3. `mirrors --promote --wait` of that mirror after the source failover, with the source
   producer still writing: the destination topic becomes writable and holds exactly the
   source's records up to the promote point (at least the source high watermark read before
   the request, byte for byte), and client writes continue right after them.

The link config keys are the README's ("Cluster links"), small so that leader moves are
seen within test deadlines. Records of the streaming tests carry their sequence number
(test_replication.SeqProducer), so "exactly once, in order" is a check on values.
"""

from __future__ import annotations

import gc
import struct

import pytest
from confluent_kafka.admin import ConfigResource, NewTopic

import ck
import link_wire
from cluster import REPLICATION_TIMING, Cluster, Node, partitions, wait_isr
from conftest import Broker, scaled, wait_until
from test_cluster import create, produce_keyed, read_all
from test_link import TOPIC_FILTER, cli, describe, records, write
from test_replication import SeqProducer, check_stream, wait_replicas_identical

TOPIC = "test-topic"  # the name TOPIC_FILTER selects
COUNT = 3
ALL = {1, 2, 3}

# Link options (README "Cluster links"): refresh source metadata often, retry a partition
# whose leader went away quickly, long-poll briefly.
FAST_LINK = ("metadata.max.age.ms=500,replica.fetch.backoff.ms=100,replica.fetch.wait.max.ms=200,"
             "retry.backoff.ms=50,retry.backoff.max.ms=500")


@pytest.fixture
def clusters(request, tmp_path):
    """(source: a started 3-node Cluster, dest: a started single-node Broker); every node's
    stderr tail is attached to a failing test's report."""
    source = Cluster(tmp_path / "source", overrides=REPLICATION_TIMING)
    dest = Broker(tmp_path / "dest", name="dest")
    request.node._strait_brokers = [*source.nodes, dest]
    try:
        source.start()
        dest.start()
        yield source, dest
    finally:
        gc.collect()  # close leaked clients while the brokers still answer
        dest.stop()
        source.stop()


def bootstrap_of(nodes: list[Node]) -> str:
    return ",".join(n.bootstrap for n in nodes)


def create_source_topic(source: Cluster) -> dict:
    """TOPIC with COUNT partitions, RF=3, min.insync.replicas=2; the view once every node
    lists a leader and the full ISR for each partition."""
    r = create(source.nodes[0].bootstrap, [NewTopic(TOPIC, num_partitions=COUNT, replication_factor=3,
                                                    config={"min.insync.replicas": "2"})])
    assert r == {TOPIC: None}, r
    view = wait_isr(source, TOPIC, ALL, count=COUNT, timeout=30)
    assert all(sorted(pm.replicas) == [1, 2, 3] for pm in view.values()), view
    return view


def create_link(dest: Broker, bootstrap: str) -> None:
    cli("cluster-links", "create", "--link", "l1", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={bootstrap},{FAST_LINK}",
        "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", TOPIC_FILTER)


def dest_topic_config(dest: Broker, key: str) -> str:
    a = ck.admin(dest.bootstrap)
    r = ConfigResource("topic", TOPIC)
    return ck.result(a.describe_configs([r])[r])[key].value


def mirror_ends(dest: Broker) -> dict[int, int]:
    """partition -> the mirror's local log end offset, as `mirrors --describe` reports it."""
    return {p["partition"]: p["local_log_end_offset"] for p in describe(dest.bootstrap, TOPIC)["partitions"]}


def source_hws(bootstrap: str) -> dict[int, int]:
    return {p: ck.watermarks(bootstrap, TOPIC, p)[1] for p in range(COUNT)}


def wait_mirror_caught_up(dest: Broker, source: Cluster, timeout: float = 30.0) -> dict[int, int]:
    """Until the mirror's log end of every partition equals the source leader's high
    watermark (asked of the live source nodes); returns partition -> that offset."""
    live = bootstrap_of(source.alive())

    def level():
        ends, hws = mirror_ends(dest), source_hws(live)
        if ends != hws:
            raise AssertionError(f"mirror log ends {ends}, source high watermarks {hws}")
        return hws

    return wait_until(level, timeout=timeout, interval=0.2, what="the mirror level with the source's high watermarks")


def leader_logs(source: Cluster, upto: dict[int, int] | None = None) -> dict[int, list[tuple[int, int, bytes]]]:
    """Each partition's batches as its current leader serves them to a consumer (Fetch,
    up to the high watermark), cut at `upto[p]` when given."""
    via = source.alive()[0]
    parts = partitions(via, TOPIC)
    out = {}
    for p in range(COUNT):
        leader = source.node(parts[p].leader)
        assert leader.alive, f"[{p}] leader {leader.node_id} is not running: {parts[p]}"
        log = link_wire.read_log(leader.bootstrap, TOPIC, p)
        out[p] = [b for b in log if upto is None or b[0] < upto[p]]
    return out


def assert_mirror_is_source(dest: Broker, source: Cluster, upto: dict[int, int] | None = None) -> int:
    """The mirror's batches equal the source leaders' (same offsets, same bytes), for each
    partition up to `upto[p]` (default: all of it); returns the number of batches compared."""
    src = leader_logs(source, upto)
    total = 0
    for p in range(COUNT):
        mine = [b for b in link_wire.read_log(dest.bootstrap, TOPIC, p) if upto is None or b[0] < upto[p]]
        assert [b[:2] for b in mine] == [b[:2] for b in src[p]], \
            f"[{p}] batch offsets differ: mirror {[b[:2] for b in mine][:5]}... source {[b[:2] for b in src[p]][:5]}..."
        for (base, _, x), (_, _, y) in zip(mine, src[p]):
            assert x == y, f"[{p}] the batch at offset {base} differs"
        if upto is not None:
            end = mine[-1][1] + 1 if mine else 0
            assert end == upto[p], f"[{p}] mirror batches end at {end}, want {upto[p]} (a batch split?)"
        total += len(mine)
    return total


# --------------------------------------------------------------------------
# 1. A 3-node RF=3 source, mirrored byte for byte


def test_link_from_rf3_source_mirrors_the_leaders_batches_byte_for_byte(clusters, tmp_path):
    source, dest = clusters
    view = create_source_topic(source)
    assert {pm.leader for pm in view.values()} == ALL, f"leaders not spread over the three brokers: {view}"
    everyone = bootstrap_of(source.nodes)
    acked = produce_keyed(everyone, TOPIC, 1500)
    for codec in ["gzip", "lz4", "zstd"]:
        msgs = [{"key": f"{codec}{i % 7}".encode(), "value": f"{codec}-{i}".encode(), "partition": i % COUNT,
                 "headers": [("codec", codec.encode())]} for i in range(300)]
        got = ck.produce(everyone, TOPIC, msgs, acks="all", **{"compression.type": codec, "linger.ms": 10})
        acked |= {(d.partition, d.offset): (d.key, d.value) for d in got}

    # Seed 004's flag form, bootstrapped from one node only: the link must find the
    # leaders on the other two from the source's metadata, as any Kafka client does.
    config = write(tmp_path, "source.config", f"bootstrap.servers={source.nodes[0].bootstrap}\n"
                   "auto.create.mirror.topics.enable=true\n" + FAST_LINK.replace(",", "\n") + "\n")
    topics = write(tmp_path, "topic_filter.json", TOPIC_FILTER)
    out = cli("cluster-links", "--bootstrap-server", dest.bootstrap, "--create", "--link", "test-cluster-link",
              "--config-file", str(config), "--topic-filters-json-file", str(topics))
    assert "test-cluster-link" in out.stdout

    hws = wait_mirror_caught_up(dest, source)
    assert sum(hws.values()) == len(acked) == 2400, (hws, len(acked))
    # The source's replicas agree with each other, byte for byte, and the mirror with them.
    assert wait_replicas_identical(source, TOPIC, COUNT) == hws
    assert assert_mirror_is_source(dest, source) >= COUNT
    m = describe(dest.bootstrap, TOPIC)
    assert m["state"] == "ACTIVE" and m["num_partitions"] == COUNT and m["max_lag"] == 0, m

    # What consumers see: the same end offsets, the same records (offsets, keys, values,
    # headers, timestamps).
    for p in range(COUNT):
        assert ck.watermarks(dest.bootstrap, TOPIC, p) == ck.watermarks(everyone, TOPIC, p) == (0, hws[p]), p
        assert records(dest.bootstrap, TOPIC, p, hws[p]) == records(everyone, TOPIC, p, hws[p]), p
    assert read_all(dest.bootstrap, TOPIC, list(range(COUNT))) == acked


# --------------------------------------------------------------------------
# 2. Source leader kill -9 under a live acks=all producer


def mirror_and_kill_a_leader(source: Cluster, dest: Broker, prod: SeqProducer) -> tuple[Node, list[Node]]:
    """With the link mirroring and `prod` writing: kill -9 the source leader of partition 0,
    wait for new leaders from the ISR and for acknowledgements on partition 0 from its new
    leader, then for the mirror to copy past them (the link followed the new leader while the
    producer still writes). Returns (victim, survivors)."""
    prod.wait_acks(600)
    wait_until(lambda: all(e > 0 for e in mirror_ends(dest).values()) and len(mirror_ends(dest)) == COUNT,
               timeout=30, interval=0.2, what="every mirror partition copying")
    victim = source.node(partitions(source.nodes[0], TOPIC)[0].leader)
    survivors = [n for n in source.nodes if n is not victim]
    victim.kill9()
    after = wait_isr(source, TOPIC, {n.node_id for n in survivors}, via=survivors, timeout=30)
    assert after[0].leader != victim.node_id, after
    print(f"source partition 0: leader {victim.node_id} -> {after[0].leader}")
    prod.wait_acks(300, partition=0)
    newest = max(o for p, o in list(prod.acked.values()) if p == 0)
    wait_until(lambda: mirror_ends(dest)[0] > newest, timeout=30, interval=0.2,
               what=f"the mirror of partition 0 past offset {newest}, acknowledged by its new leader")
    return victim, survivors


def test_link_follows_new_source_leaders_after_kill9_and_loses_nothing(clusters):
    source, dest = clusters
    create_source_topic(source)
    create_link(dest, bootstrap_of(source.nodes))
    prod = SeqProducer(bootstrap_of(source.nodes), TOPIC, COUNT)
    try:
        mirror_and_kill_a_leader(source, dest, prod)
        prod.wait_acks(300)
    finally:
        prod.stop()

    hws = wait_mirror_caught_up(dest, source)
    assert sum(hws.values()) >= len(prod.acked), (hws, len(prod.acked))
    n = assert_mirror_is_source(dest, source)
    # Partition 0's mirror holds the batches of both source leaders, each with the leader
    # epoch its source leader stamped (the new leader's is higher).
    epochs = [struct.unpack_from(">i", raw, 12)[0] for _, _, raw in link_wire.read_log(dest.bootstrap, TOPIC, 0)]
    assert epochs == sorted(epochs) and epochs[0] < epochs[-1], f"partition 0 batch leader epochs {sorted(set(epochs))}"
    got = read_all(dest.bootstrap, TOPIC, list(range(COUNT)))
    check_stream(got, prod)  # every acknowledged record at its offset, once, in order
    assert got == read_all(bootstrap_of(source.alive()), TOPIC, list(range(COUNT)))
    for p in range(COUNT):
        assert ck.watermarks(dest.bootstrap, TOPIC, p) == (0, hws[p]), p
    m = describe(dest.bootstrap, TOPIC)
    assert m["state"] == "ACTIVE" and m["max_lag"] == 0, m
    print(f"{len(prod.acked)} acknowledged, {len(got)} records and {n} batches mirrored, high watermarks {hws}")


# --------------------------------------------------------------------------
# 3. Promote after the source failover


def test_promote_after_source_failover_holds_exactly_the_source_prefix(clusters):
    source, dest = clusters
    create_source_topic(source)
    create_link(dest, bootstrap_of(source.nodes))
    prod = SeqProducer(bootstrap_of(source.nodes), TOPIC, COUNT)
    try:
        _, survivors = mirror_and_kill_a_leader(source, dest, prod)
        live = bootstrap_of(survivors)
        # The promote point is the source high watermark read after the request: at least
        # what the source had acknowledged before it.
        floor = source_hws(live)
        out = cli("mirrors", "--promote", "--topics", TOPIC, "--bootstrap-server", dest.bootstrap,
                  "--wait", "--timeout-ms", str(int(scaled(30) * 1000)))
        assert "Request for stopping topic test-topic's mirror was successfully scheduled" in out.stdout, out.stdout
        prod.wait_acks(300)  # the source keeps taking writes past the promote point
    finally:
        prod.stop()

    m = describe(dest.bootstrap, TOPIC)
    assert m["state"] == "STOPPED", m
    ends = {p: ck.watermarks(dest.bootstrap, TOPIC, p) for p in range(COUNT)}
    cut = {p: hw for p, (_, hw) in ends.items()}
    final = source_hws(live)
    for p in range(COUNT):
        assert ends[p][0] == 0 and floor[p] <= cut[p] <= final[p], (p, ends[p], floor[p], final[p])
    assert any(cut[p] < final[p] for p in range(COUNT)), \
        f"the source took no writes after the promote point: {cut} vs {final}"

    # Exactly the source's records below the promote point: same batches, same records, and
    # every record the source acknowledged below it, once and in order.
    assert_mirror_is_source(dest, source, upto=cut)
    got = read_all(dest.bootstrap, TOPIC, list(range(COUNT)))
    assert set(got) == {(p, o) for p in range(COUNT) for o in range(cut[p])}, "the mirror is not dense from 0"
    src = read_all(live, TOPIC, list(range(COUNT)))
    assert got == {po: kv for po, kv in src.items() if po[1] < cut[po[0]]}
    below = {s: po for s, po in prod.acked.items() if po[1] < cut[po[0]]}
    assert all(got.get(po, (None, None))[1] == f"v{s}".encode() for s, po in below.items()), \
        "an acknowledged record below the promote point is missing from the promoted topic"
    for p in range(COUNT):
        vals = [int(got[(p, o)][1][1:]) for o in range(cut[p])]
        assert vals == sorted(set(vals)), f"[{p}] duplicated or reordered records"

    # min.insync.replicas describes the destination's replication, not the data: a link never
    # copies it (crates/link/src/sync.rs NEVER_SYNCED_TOPIC_CONFIGS, as Confluent's mirrors
    # and MirrorMaker 2's default filter do), so this RF=1 topic keeps the destination's
    # default (1) and acks=all writes can succeed once it is promoted.
    assert dest_topic_config(dest, "min.insync.replicas") == "1", \
        "the mirror took the source's min.insync.replicas (2) though it is never synced"

    # Writable now: client writes (acks=all, the clients' default) continue right after the
    # mirrored records, and nothing of the source's later records arrives.
    for p in range(COUNT):
        d = ck.produce(dest.bootstrap, TOPIC, [{"value": f"dest-{p}".encode(), "partition": p}], acks="all")
        assert d[0].offset == cut[p], (p, d[0].offset, cut[p])
    for p in range(COUNT):
        assert ck.watermarks(dest.bootstrap, TOPIC, p) == (0, cut[p] + 1), p
        last = ck.consume(dest.bootstrap, TOPIC, p, cut[p], 1)[0]
        assert (last.offset(), last.value()) == (cut[p], f"dest-{p}".encode()), p
