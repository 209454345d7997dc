"""kafkajs 2.2.4 (pure JS, pre-flexible protocol versions only) against strait.

The JS side is node/driver.js, which prints one JSON document; the assertions
live here. kafkajs can only consume through a consumer group (covered in
test_groups_kafkajs.py), so here its produced data is read back with
confluent-kafka (assign), which keeps data-plane checks independent of groups.
Codecs: gzip is built in; snappy (kafkajs-snappy), lz4 (lz4js) and zstd
(@bokuweb/zstd-wasm) are registered by node/codecs.js, all pinned in
node/package.json and installed by `npm ci`.
"""

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


def driver(*args: str, timeout: float = 120.0) -> dict:
    p = subprocess.run([NODE, str(NODE_DIR / "driver.js"), *args], cwd=NODE_DIR, capture_output=True, text=True,
                       timeout=scaled(timeout))
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    try:
        out = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise AssertionError(f"driver printed no JSON (rc={p.returncode})\nstdout:\n{p.stdout[-3000:]}\n"
                             f"stderr:\n{p.stderr[-3000:]}")
    if p.returncode != 0 or "error" in out:
        raise AssertionError(f"kafkajs failed at step {out.get('step')!r}: {json.dumps(out.get('error'), indent=1)}\n"
                             f"stderr:\n{p.stderr[-3000:]}")
    return out


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce(broker, topic, codec, idempotent):
    n = 40
    out = driver("produce", broker.bootstrap, topic, codec, "1" if idempotent else "0", str(n))
    per = (n + 3) // 4
    assert [s[0]["baseOffset"] for s in out["sends"]] == [str(i) for i in range(0, n, per)]
    assert all(s[0]["errorCode"] == 0 for s in out["sends"])

    msgs = ck.consume(broker.bootstrap, topic, 0, 0, count=n)
    assert [m.offset() for m in msgs] == list(range(n))
    for i, m in enumerate(msgs):
        assert m.value() == f"js-{codec}-{i}-{'q' * (i % 40)}".encode()
        assert m.key() == (None if i % 4 == 1 else f"key-{i}".encode())
        assert (m.headers() or []) == ([("idx", str(i).encode()), ("codec", codec.encode())] if i % 3 == 0 else [])
        if i % 2 == 0:
            assert m.timestamp() == (1, out["tsBase"] + i)
        else:
            assert m.timestamp()[0] == 1 and m.timestamp()[1] > 1_700_000_000_000


def test_admin(broker, unique_name):
    prefix = unique_name("js")
    out = driver("admin", broker.bootstrap, prefix)
    t, t2 = f"{prefix}-a", f"{prefix}-b"

    cl = out["cluster"]
    assert [(b["nodeId"], b["host"], b["port"]) for b in cl["brokers"]] == [(1, broker.host, broker.port)]
    assert cl["controller"] == 1
    assert cl["clusterId"]

    assert out["created"] is True
    assert out["createdAgain"] is False, "kafkajs maps TOPIC_ALREADY_EXISTS to false"
    err = out["invalidConfig"]["error"]
    assert err is not None, "creating a topic with retention.ms=soon must fail"
    flat = json.dumps(err)
    assert "INVALID_CONFIG" in flat, err
    assert out["topics"] == sorted([t, t2])

    [md] = out["metadata"]["topics"]
    assert md["name"] == t
    assert sorted(p["partitionId"] for p in md["partitions"]) == [0, 1]
    assert all(p["leader"] == 1 and p["replicas"] == [1] and p["isr"] == [1] for p in md["partitions"])

    [cfg] = out["configs"]
    assert cfg["errorCode"] == 0
    assert cfg["entries"] == {"retention.ms": "5400000", "cleanup.policy": "delete"}
    assert out["configsAfterAlter"] == {"retention.ms": "3600000"}
    assert out["brokerConfigs"] == {"num.partitions": "1", "auto.create.topics.enable": "true"}
    assert out["partitionsAfter"] == 3

    assert out["offsets"] == [{"partition": 0, "offset": "8", "high": "8", "low": "0"}]
    assert out["offsetsByTs"] == [{"partition": 0, "offset": "3"}]
    assert out["offsetsAfterDelete"] == [{"partition": 0, "offset": "8", "high": "8", "low": "5"}]
    assert out["topicsAfterDelete"] == [t2]
