"""sarama (Go), from Debian's golang-github-shopify-sarama-dev 1.22, built offline in GOPATH
mode: admin CreateTopics, metadata, a gzip SyncProducer and partition consumers checking
exact offsets, keys and values (sarama/src/saramasmoke/main.go).

sarama 1.22 (2019) predates Kafka 4's removal of old API versions (KIP-896): its
ClusterAdmin.ListTopics/DescribeConfig send DescribeConfigs v0 and its OffsetManager sends
OffsetCommit v1, which Kafka 4.x and Strait refuse, so the smoke test does not use those."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import scaled

HERE = Path(__file__).resolve().parent
SARAMA_SRC = Path("/usr/share/gocode/src/github.com/Shopify/sarama")


@pytest.fixture(scope="module")
def saramasmoke(tmp_path_factory) -> Path:
    if shutil.which("go") is None or not SARAMA_SRC.is_dir():
        if os.environ.get("STRAIT_REQUIRE_ALL_CLIENTS"):
            pytest.fail("go or Debian's sarama sources are missing (run-all.sh installs them)")
        pytest.skip("go / golang-github-shopify-sarama-dev not installed")
    out = tmp_path_factory.mktemp("sarama") / "saramasmoke"
    env = dict(os.environ, GOPATH=f"{HERE / 'sarama'}:/usr/share/gocode", GO111MODULE="off", GOPROXY="off",
               GOCACHE=str(tmp_path_factory.mktemp("gocache")))
    p = subprocess.run(["go", "build", "-o", str(out), "saramasmoke"], env=env, capture_output=True, text=True,
                       timeout=scaled(300))
    assert p.returncode == 0, p.stderr
    return out


def test_sarama_produce_consume_admin(saramasmoke, broker):
    p = subprocess.run([str(saramasmoke), broker.bootstrap, "sarama-topic"], capture_output=True, text=True,
                       timeout=scaled(120), stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result == {"consumed": 30, "topics": 1}
