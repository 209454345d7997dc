"""Consumer groups with kafkajs 2.2.4 (pre-flexible versions: JoinGroup v5 with the
MEMBER_ID_REQUIRED round trip, SyncGroup v3, OffsetCommit v5, OffsetFetch v4): two
members rebalancing over a topic, every record consumed, the group's offsets and
description through kafkajs' admin, and a restarted consumer resuming at the committed
offsets. The JS side is node/groups.js."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import ck
from conftest import HERE, client_missing, scaled

NODE_DIR = HERE / "node"
NODE = shutil.which("node")

if NODE is None:
    pytestmark = [client_missing("node is not installed")]
elif not (NODE_DIR / "node_modules" / "kafkajs").exists():
    pytestmark = [client_missing("node modules missing: run `npm ci` in protocol-tests/node (run-all.sh does)")]


def groups_driver(*args: str, timeout: float = 180.0) -> dict:
    p = subprocess.run([NODE, str(NODE_DIR / "groups.js"), *args], cwd=NODE_DIR, capture_output=True, text=True,
                       timeout=scaled(timeout))
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    try:
        out = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise AssertionError(f"groups.js printed no JSON (rc={p.returncode})\nstdout:\n{p.stdout[-3000:]}\n"
                             f"stderr:\n{p.stderr[-3000:]}")
    if p.returncode != 0 or "error" in out:
        raise AssertionError(f"kafkajs failed at step {out.get('step')!r}: {json.dumps(out.get('error'), indent=1)}\n"
                             f"stderr:\n{p.stderr[-3000:]}")
    return out


def test_kafkajs_consumer_group(broker_factory, topic, unique_name):
    broker = broker_factory(overrides={"group.initial.rebalance.delay.ms": "200"})
    group = unique_name("g")
    parts = 3
    ck.create_topic(broker.bootstrap, topic, parts)
    n = 90
    out = groups_driver("rebalance", broker.bootstrap, topic, group, str(n))

    seen = {tuple(map(int, k.split(":"))): v for k, v in out["seen"].items()}
    assert len(seen) == 2 * n, "every record consumed"
    assert {name for v in seen.values() for name in v} == {"a", "b"}, "both members consumed"
    # kafkajs commits after each message (autoCommitThreshold 1); a record in flight at
    # the rebalance may be seen twice, never lost.
    dupes = {k: v for k, v in seen.items() if len(v) > 1}
    assert len(dupes) <= parts, dupes

    # A joined alone, then both joined one generation with one leader, "RoundRobinAssigner"
    # chosen; each member id came from the MEMBER_ID_REQUIRED round trip.
    a_joins = [j for j in out["joins"] if j["name"] == "a"]
    assert len(a_joins) >= 2 and a_joins[0]["isLeader"]
    last = {j["name"]: j for j in out["joins"]}
    assert last["a"]["leaderId"] == last["b"]["leaderId"]
    assert last["a"]["isLeader"] != last["b"]["isLeader"]
    assert last["a"]["memberId"].startswith("strait-kafkajs-groups-")
    assert {j["protocol"] for j in last.values()} == {"RoundRobinAssigner"}

    # Offsets through kafkajs' admin: every partition committed at its end.
    ends = {p: max(o for (pp, o) in seen if pp == p) + 1 for p in range(parts)}
    got = {int(p["partition"]): int(p["offset"]) for t in out["offsets"] for p in t["partitions"]}
    assert got == ends
    d = out["described"]["groups"][0]
    assert d["groupId"] == group and d["state"] == "Empty" and d["protocolType"] == "consumer"
    assert any(g["groupId"] == group for g in out["listed"]["groups"])

    # A restarted consumer resumes at the committed offsets.
    more = ck.produce(broker.bootstrap, topic, [{"value": b"later", "partition": i % parts} for i in range(30)])
    out = groups_driver("resume", broker.bootstrap, topic, group, "30")
    resumed = {tuple(map(int, k.split(":"))) for k in out["seen"]}
    assert resumed == {(d.partition, d.offset) for d in more}
