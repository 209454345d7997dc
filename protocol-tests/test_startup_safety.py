"""Start-up safety (issue 11, item 2) with the metadata log (issue 12): the broker refuses a
log directory whose metadata is missing or belongs elsewhere, never deletes data because
metadata does not name it, migrates an old-format `strait-metadata.json` into the log, and
keeps every acknowledged metadata change through `kill -9`.

Each test runs the real `strait` binary on a data directory it damages the way an operator
or a bad restore would, then checks the exit status, the message, and that every partition
directory and every byte is still there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import ck
from conftest import scaled, strait_bin


METADATA_LOG = "__cluster_metadata-0"


def tree_digest(root: Path) -> dict[str, str]:
    """path -> sha256 of every file under the partition directories (not the metadata log)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if METADATA_LOG in p.parts:
            continue
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
    shutil.rmtree(broker.data_dir / METADATA_LOG)
    r = run_once(broker.data_dir)
    assert r.returncode != 0, r.stderr
    assert f"the metadata log {METADATA_LOG} is missing" in r.stderr, r.stderr
    assert str(broker.data_dir) in r.stderr
    assert not (broker.data_dir / METADATA_LOG).exists(), "a fresh log was written over the loss"
    assert tree_digest(broker.data_dir) == before


def test_empty_metadata_log_is_as_missing(broker, topic):
    """A metadata log directory holding no state (emptied by hand) is not metadata."""
    before = seeded(broker, topic)
    shutil.rmtree(broker.data_dir / METADATA_LOG)
    (broker.data_dir / METADATA_LOG).mkdir()
    r = run_once(broker.data_dir)
    assert r.returncode != 0, r.stderr
    assert f"the metadata log {METADATA_LOG} is missing" in r.stderr, r.stderr
    assert list((broker.data_dir / METADATA_LOG).iterdir()) == [], "the empty log was initialised"
    assert tree_digest(broker.data_dir) == before


def test_both_files_missing_with_partitions_is_refused(broker, topic):
    before = seeded(broker, topic)
    shutil.rmtree(broker.data_dir / METADATA_LOG)
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
    a_meta = (a.data_dir / "meta.properties").read_bytes()
    # A restore that mixed two clusters' files.
    (a.data_dir / "meta.properties").write_bytes((b.data_dir / "meta.properties").read_bytes())
    r = run_once(a.data_dir)
    assert r.returncode != 0
    assert "cluster" in r.stderr and "meta.properties" in r.stderr and METADATA_LOG in r.stderr, r.stderr
    assert tree_digest(a.data_dir) == before
    # The right meta.properties, another cluster's metadata log.
    (a.data_dir / "meta.properties").write_bytes(a_meta)
    shutil.rmtree(a.data_dir / METADATA_LOG)
    shutil.copytree(b.data_dir / METADATA_LOG, a.data_dir / METADATA_LOG)
    r = run_once(a.data_dir)
    assert r.returncode != 0
    assert "cluster" in r.stderr and "meta.properties" in r.stderr and METADATA_LOG in r.stderr, r.stderr
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


def old_format_image(cluster_id: str, topic: str, partitions: int) -> dict:
    """`strait-metadata.json` as a Strait from before the metadata log wrote it."""
    return {
        "format_version": 1,
        "cluster_id": cluster_id,
        "node_id": 1,
        "topics": [{
            "name": topic,
            "topic_id": str(uuid.uuid4()),
            "partitions": [{"leader_epoch": 0}] * partitions,
            "configs": {"retention.ms": "86400000"},
            "mirror": None,
        }],
        "dynamic_broker_configs": {},
        "dynamic_default_broker_configs": {},
        "producer_id_block_end": 5000,
        "links": [],
        "acls": [],
        "scram_credentials": [],
    }


def topic_config(bootstrap: str, topic: str, key: str) -> str:
    from confluent_kafka.admin import ConfigResource
    a = ck.admin(bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return ck.result(a.describe_configs([res])[res])[key].value


def test_old_format_data_dir_is_migrated(broker, topic):
    """A real old-format data directory (partitions + strait-metadata.json, no metadata log,
    no meta.properties) opens, serves its data, and is on the log from then on."""
    before = seeded(broker, topic)
    cluster_id = dict(
        line.split("=", 1) for line in (broker.data_dir / "meta.properties").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )["cluster.id"]
    shutil.rmtree(broker.data_dir / METADATA_LOG)
    (broker.data_dir / "meta.properties").unlink()
    image = old_format_image(cluster_id, topic, 2)
    (broker.data_dir / "strait-metadata.json").write_text(json.dumps(image))
    broker.restart()
    assert not (broker.data_dir / "strait-metadata.json").exists()
    assert json.loads((broker.data_dir / "strait-metadata.json.migrated").read_text()) == image
    assert (broker.data_dir / METADATA_LOG).is_dir() and (broker.data_dir / "meta.properties").exists()
    got = ck.consume(broker.bootstrap, topic, 0, 0, count=25)
    assert [m.value() for m in got] == [f"v{i}".encode() for i in range(0, 50, 2)]
    assert topic_config(broker.bootstrap, topic, "retention.ms") == "86400000"
    ck.produce(broker.bootstrap, topic, [{"value": b"after", "partition": 1}])
    # Once more: from the log now, the .migrated file is only a record.
    broker.stop()
    broker.restart()
    got = ck.consume(broker.bootstrap, topic, 1, 0, count=26)
    assert [m.value() for m in got] == [f"v{i}".encode() for i in range(1, 50, 2)] + [b"after"]
    assert topic_config(broker.bootstrap, topic, "retention.ms") == "86400000"
    assert not (broker.data_dir / "strait-metadata.json").exists()
    broker.stop()
    after = tree_digest(broker.data_dir)
    # Partition 0 took no writes: its segments are byte-for-byte what they were.
    p0 = f"{topic}-0/"
    assert {k: v for k, v in after.items() if k.endswith(".log") and k.startswith(p0)} == {
        k: v for k, v in before.items() if k.endswith(".log") and k.startswith(p0)
    }


def test_kill9_during_create_topic_loop_keeps_every_acknowledged_topic(broker, topic):
    acked: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def create_loop():
        a = ck.admin(broker.bootstrap)
        i = 0
        while not stop.is_set():
            name = f"{topic}-k{i}"
            try:
                fs = a.create_topics([ck.NewTopic(name, num_partitions=1, replication_factor=1)],
                                     request_timeout=scaled(5))
                fs[name].result(timeout=scaled(10))
            except Exception as e:  # the kill: the in-flight request fails
                errors.append(e)
                return
            acked.append(name)
            i += 1

    t = threading.Thread(target=create_loop, daemon=True)
    t.start()
    deadline = time.monotonic() + scaled(60)
    while len(acked) < 30 and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.01)
    assert len(acked) >= 30, (len(acked), errors)
    broker.kill9()
    stop.set()
    t.join(timeout=scaled(30))
    broker.restart()
    a = ck.admin(broker.bootstrap)
    topics = set(a.list_topics(timeout=scaled(10)).topics)
    missing = [n for n in acked if n not in topics]
    assert missing == [], f"{len(missing)} acknowledged topics lost, e.g. {missing[:3]}"
