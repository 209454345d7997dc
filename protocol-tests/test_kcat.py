"""kcat (librdkafka) against strait: metadata, produce with every codec, consume.

Every test runs twice:
  * `debian`: Debian's kcat 1.7.1 as installed, i.e. librdkafka 2.0.2. Old
    librdkafkas are what users actually have; peers.md gotcha 6 records that
    2.0.2 failed to parse another broker's ApiVersions v3 reply. If strait hits
    the same problem these tests fail with kcat's own error text.
  * `rdkafka216`: the same kcat with the librdkafka 2.16.0 shipped inside the
    confluent-kafka wheel preloaded through LD_LIBRARY_PATH.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import ck
from conftest import client_missing, scaled

KCAT = shutil.which("kcat")
pytestmark = [client_missing("kcat not installed (run-all.sh installs it)")] if KCAT is None else []


@pytest.fixture(scope="session")
def wheel_librdkafka_dir(tmp_path_factory) -> Path:
    import confluent_kafka

    libs = glob.glob(str(Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs" / "librdkafka-*.so.1"))
    assert libs, "librdkafka not found inside the confluent-kafka wheel"
    d = tmp_path_factory.mktemp("rdk")
    (d / "librdkafka.so.1").symlink_to(libs[0])
    return d


@pytest.fixture(params=["debian", "rdkafka216"])
def kcat_env(request, wheel_librdkafka_dir) -> dict:
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    if request.param == "rdkafka216":
        env["LD_LIBRARY_PATH"] = str(wheel_librdkafka_dir)
    ver = subprocess.run([KCAT, "-V"], env=env, capture_output=True, text=True, timeout=10).stdout
    env["_KCAT_VERSION"] = " ".join(line.strip() for line in ver.splitlines() if "librdkafka" in line)
    if request.param == "rdkafka216":
        assert "2.16" in env["_KCAT_VERSION"], env["_KCAT_VERSION"]
    return env


def kcat(env: dict, args: list[str], stdin: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    argv = [KCAT, *args]
    p = subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True, timeout=scaled(timeout))
    if p.returncode != 0 or "Delivery failed" in p.stderr or "ERROR" in p.stderr:
        raise AssertionError(
            f"kcat failed ({env.get('_KCAT_VERSION')}), rc={p.returncode}\n"
            f"argv: {argv}\nstderr:\n{p.stderr[-4000:]}\nstdout:\n{p.stdout[-2000:]}"
        )
    return p


COMMON = ["-X", "socket.timeout.ms=10000", "-X", "metadata.request.timeout.ms=10000"]


def test_metadata(broker_factory, topic, kcat_env):
    b = broker_factory(num_partitions=3)
    # Auto-creation through the producer's metadata request; num.partitions=3 applies.
    kcat(kcat_env, ["-b", b.bootstrap, *COMMON, "-P", "-t", topic, "-X", "message.timeout.ms=15000"], stdin="hello\n")
    md = json.loads(kcat(kcat_env, ["-b", b.bootstrap, *COMMON, "-L", "-J", "-t", topic]).stdout)
    assert md["brokers"] == [{"id": 1, "name": b.bootstrap}], md
    # (originating_broker is -1/"bootstrap" with librdkafka >= 2.10, so not checked)
    assert md["controllerid"] == 1, md
    [t] = md["topics"]
    assert t["topic"] == topic
    assert "error" not in t, t
    parts = sorted(t["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["leader"] == 1, p
        assert [r["id"] for r in p["replicas"]] == [1], p
        assert [r["id"] for r in p["isrs"]] == [1], p

    # All-topics listing includes it too.
    md_all = json.loads(kcat(kcat_env, ["-b", b.bootstrap, *COMMON, "-L", "-J"]).stdout)
    assert topic in [x["topic"] for x in md_all["topics"]]


N = 40
HEADERS = [("h1", "v1"), ("trace", "abc-123")]


def _produce_lines(n: int) -> str:
    return "".join(f"key{i}:value-{i}-{'x' * (i % 7) * 20}\n" for i in range(n))


def _parse(out: str) -> list[tuple[int, str, str, str, int]]:
    rows = []
    for line in out.splitlines():
        if not line.strip():
            continue
        off, key, val, hdrs, ts = line.split(" ")
        rows.append((int(off), key, val, hdrs, int(ts)))
    return rows


FMT = "%o %k %s %h %T\\n"


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume(broker, topic, kcat_env, codec):
    t0 = int(time.time() * 1000)
    hdr_args = [x for k, v in HEADERS for x in ("-H", f"{k}={v}")]
    kcat(
        kcat_env,
        ["-b", broker.bootstrap, *COMMON, "-P", "-t", topic, "-K:", *hdr_args, "-z", codec,
         "-X", "message.timeout.ms=20000", "-X", "linger.ms=50"],
        stdin=_produce_lines(N),
    )
    t1 = int(time.time() * 1000)
    out = kcat(
        kcat_env,
        ["-b", broker.bootstrap, *COMMON, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", FMT],
    ).stdout
    rows = _parse(out)
    assert [r[0] for r in rows] == list(range(N)), out[:2000]
    expected_hdrs = ",".join(f"{k}={v}" for k, v in HEADERS)
    for i, (off, key, val, hdrs, ts) in enumerate(rows):
        assert key == f"key{i}"
        assert val == f"value-{i}-{'x' * (i % 7) * 20}"
        assert hdrs == expected_hdrs, hdrs
        assert t0 - 1000 <= ts <= t1 + 1000, f"timestamp {ts} not within produce window [{t0}, {t1}]"

    # Start in the middle of the (single, linger-batched) batch: offsets from n exactly.
    start = 17
    out = kcat(
        kcat_env,
        ["-b", broker.bootstrap, *COMMON, "-C", "-t", topic, "-p", "0", "-o", str(start), "-e", "-q", "-f", FMT],
    ).stdout
    rows = _parse(out)
    assert [r[0] for r in rows] == list(range(start, N)), out[:2000]
    assert [r[1] for r in rows] == [f"key{i}" for i in range(start, N)]

    # Relative from the end (ListOffsets latest, then fetch from HWM-3).
    out = kcat(
        kcat_env,
        ["-b", broker.bootstrap, *COMMON, "-C", "-t", topic, "-p", "0", "-o", "-3", "-e", "-q", "-f", FMT],
    ).stdout
    assert [r[0] for r in _parse(out)] == [N - 3, N - 2, N - 1], out


def test_multiple_produce_runs_append(broker, topic, kcat_env):
    """Three separate producer sessions append densely after one another."""
    for run in range(3):
        kcat(
            kcat_env,
            ["-b", broker.bootstrap, *COMMON, "-P", "-t", topic, "-K:", "-z", "lz4", "-X", "message.timeout.ms=20000"],
            stdin="".join(f"r{run}:m{run}-{i}\n" for i in range(10)),
        )
    out = kcat(
        kcat_env,
        ["-b", broker.bootstrap, *COMMON, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %k %s\\n"],
    ).stdout
    rows = [line.split(" ") for line in out.splitlines() if line]
    assert [int(r[0]) for r in rows] == list(range(30))
    assert [r[2] for r in rows] == [f"m{run}-{i}" for run in range(3) for i in range(10)]
    assert ck.watermarks(broker.bootstrap, topic) == (0, 30)
