"""Start-up safety (issue 11, item 2): the broker refuses a log directory whose metadata
is missing or belongs elsewhere, and never deletes data because metadata does not name it.

Each test runs the real `strait` binary on a data directory it damages the way an operator
or a bad restore would, then checks the exit status, the message, and that every partition
directory and every byte is still there.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import ck
from conftest import scaled, strait_bin


def tree_digest(root: Path) -> dict[str, str]:
    """path -> sha256 of every file under the partition directories."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and "-" in p.parent.name:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_once(data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """Starts strait and expects it to exit on its own (a refusal)."""
    return subprocess.run(
        [str(strait_bin()), "--override", "listeners=PLAINTEXT://127.0.0.1:0",
         "--override", f"log.dirs={data_dir}", *extra],
        capture_output=True, text=True, timeout=scaled(30), stdin=subprocess.DEVNULL,
    )


def seeded(broker, topic) -> dict[str, str]:
    ck.create_topic(broker.bootstrap, topic, partitions=2)
    ck.produce(broker.bootstrap, topic, [{"value": f"v{i}".encode(), "partition": i % 2} for i in range(50)])
    broker.stop()
    return tree_digest(broker.data_dir)


def test_meta_properties_written_in_kafka_format(broker):
    meta = (broker.data_dir / "meta.properties").read_text()
    props = dict(line.split("=", 1) for line in meta.splitlines() if "=" in line and not line.startswith("#"))
    assert props["version"] == "1"
    assert props["node.id"] == "1"
    a = ck.admin(broker.bootstrap)
    assert props["cluster.id"] == a.describe_cluster().result(timeout=scaled(10)).cluster_id
    assert props["directory.id"]


def test_missing_metadata_is_refused_and_nothing_deleted(broker, topic):
    before = seeded(broker, topic)
    assert len([k for k in before if k.endswith(".log")]) >= 2
    (broker.data_dir / "strait-metadata.json").unlink()
    r = run_once(broker.data_dir)
    assert r.returncode != 0, r.stderr
    assert "strait-metadata.json is missing" in r.stderr, r.stderr
    assert str(broker.data_dir) in r.stderr
    assert not (broker.data_dir / "strait-metadata.json").exists(), "a fresh image was written over the loss"
    assert tree_digest(broker.data_dir) == before


def test_both_files_missing_with_partitions_is_refused(broker, topic):
    before = seeded(broker, topic)
    (broker.data_dir / "strait-metadata.json").unlink()
    (broker.data_dir / "meta.properties").unlink()
    r = run_once(broker.data_dir)
    assert r.returncode != 0
    assert "2 partition directories" in r.stderr, r.stderr
    assert tree_digest(broker.data_dir) == before


def test_mismatched_cluster_and_node_are_refused(broker_factory, topic):
    a = broker_factory("a")
    before = seeded(a, topic)
    b = broker_factory("b")
    b.stop()
    # A restore that mixed two clusters' files.
    (a.data_dir / "meta.properties").write_bytes((b.data_dir / "meta.properties").read_bytes())
    r = run_once(a.data_dir)
    assert r.returncode != 0
    assert "cluster" in r.stderr and "meta.properties" in r.stderr, r.stderr
    assert tree_digest(a.data_dir) == before
    # The right meta.properties, the wrong node.id.
    meta = (a.data_dir / "meta.properties").read_text()
    r = run_once(b.data_dir, "--override", "node.id=7")
    assert r.returncode != 0
    assert "node.id 1" in r.stderr and "node.id 7" in r.stderr, r.stderr
    del meta


def test_legacy_directory_is_migrated(broker, topic):
    """A data dir written before meta.properties existed opens and gains the file."""
    before = seeded(broker, topic)
    (broker.data_dir / "meta.properties").unlink()
    broker.restart()
    assert (broker.data_dir / "meta.properties").exists()
    got = ck.consume(broker.bootstrap, topic, 0, 0, count=25)
    assert [m.value() for m in got] == [f"v{i}".encode() for i in range(0, 50, 2)]
    broker.stop()
    assert {k: v for k, v in tree_digest(broker.data_dir).items() if k.endswith(".log")} == {
        k: v for k, v in before.items() if k.endswith(".log")
    }


def test_unknown_partition_directory_is_kept_as_stray(broker, topic):
    before = seeded(broker, topic)
    # A directory the image does not name (a restore from elsewhere, or a crash right
    # after a topic deletion was persisted): renamed aside, never deleted.
    foreign = broker.data_dir / "restored-0"
    foreign.mkdir()
    (foreign / "00000000000000000000.log").write_bytes(b"precious")
    broker.restart()
    strays = [p for p in broker.data_dir.iterdir() if p.name.startswith("restored-0.") and p.name.endswith("-stray")]
    assert len(strays) == 1, list(broker.data_dir.iterdir())
    assert (strays[0] / "00000000000000000000.log").read_bytes() == b"precious"
    got = ck.consume(broker.bootstrap, topic, 1, 0, count=25)
    assert len(got) == 25
    del before


def test_deleted_topic_directories_are_removed(broker, topic):
    ck.create_topic(broker.bootstrap, topic, partitions=2)
    ck.produce(broker.bootstrap, topic, [{"value": b"x", "partition": 0}])
    a = ck.admin(broker.bootstrap)
    ck.result(a.delete_topics([topic])[topic])
    leftovers = [p.name for p in broker.data_dir.iterdir() if p.name.startswith(topic)]
    assert leftovers == []
