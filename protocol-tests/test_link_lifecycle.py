"""Link lifecycle through our CLIs with confluent-kafka as the client: a SCRAM password
rotated on the source and on the link with `cluster-links --alter --config-file` (no gap,
no duplicate), refused alters that change nothing, a link created paused and started by
alter, a FAILED mirror resumed with `mirrors --resume`, and a topic auto-created by a
producer on the destination that shadows a would-be mirror."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

import ck
from conftest import wait_until
from test_link import assert_identical, caught_up, cli, describe, records, write

ALL = '{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}'


def link(dest: str, name: str = "l") -> dict:
    return json.loads(cli("cluster-links", "--describe", "--link", name, "--bootstrap-server", dest, "--output", "json").stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jaas(user: str, password: str) -> str:
    return f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'


def alter(dest: str, *args: str, check: bool = True):
    return cli("cluster-links", "--alter", "--link", "l", "--bootstrap-server", dest, *args, check=check)


def test_scram_password_rotated_live_with_alter(broker_factory, tmp_path: Path):
    # Fixed ports, so the source restarts on the same addresses.
    plain_port, sasl_port = free_port(), free_port()
    source = broker_factory(
        "source",
        overrides={
            "listeners": f"PLAINTEXT://127.0.0.1:{plain_port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "strait.scram.credentials": "SCRAM-SHA-512=[name=linker,password=old-secret]",
        },
    )
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "pay", 2)
    ck.produce(source.bootstrap, "pay", [{"value": f"v{i}".encode(), "partition": i % 2} for i in range(10)])
    config = write(tmp_path, "source.config", f"bootstrap.servers=127.0.0.1:{sasl_port}\nsecurity.protocol=SASL_PLAINTEXT\n"
                   f"sasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config={jaas('linker', 'old-secret')}\n"
                   "auto.create.mirror.topics.enable=true\nmetadata.max.age.ms=300\nretry.backoff.ms=50\nretry.backoff.max.ms=200\n")
    topics = write(tmp_path, "topics.json", ALL)
    cli("cluster-links", "--create", "--link", "l", "--bootstrap-server", dest.bootstrap,
        "--config-file", str(config), "--topic-filters-json-file", str(topics))
    wait_until(lambda: caught_up(dest.bootstrap, "pay", source.bootstrap, 2), timeout=30, what="pay mirrored")
    created = describe(dest.bootstrap, "pay")["state_time_ms"]

    # The source rotates the password and restarts (dropping every session).
    a = ck.admin(source.bootstrap)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
    ck.result(a.alter_user_scram_credentials([UserScramCredentialUpsertion("linker", info, b"new-secret")])["linker"])
    source.stop()
    source.restart()
    wait_until(lambda: link(dest.bootstrap)["error"] == "AUTHENTICATION_ERROR", timeout=30, what="link fails authentication")
    assert link(dest.bootstrap)["state"] == "FAILED"
    ck.produce(source.bootstrap, "pay", [{"value": f"w{i}".encode(), "partition": i % 2} for i in range(6)])

    new = write(tmp_path, "new.properties", f"sasl.jaas.config={jaas('linker', 'new-secret')}\n")
    out = alter(dest.bootstrap, "--config-file", str(new)).stdout
    assert "changed sasl.jaas.config" in out and "reconnects" in out, out
    wait_until(lambda: caught_up(dest.bootstrap, "pay", source.bootstrap, 2), timeout=30, what="pay caught up after alter")
    assert link(dest.bootstrap)["state"] == "ACTIVE"
    assert_identical(source.bootstrap, dest.bootstrap, "pay", 2)
    for p in range(2):
        assert records(source.bootstrap, "pay", p, 8) == records(dest.bootstrap, "pay", p, 8)
    assert describe(dest.bootstrap, "pay")["state_time_ms"] == created, "the mirror was restarted"
    shown = cli("cluster-links", "--describe", "--link", "l", "--bootstrap-server", dest.bootstrap).stdout
    assert "new-secret" not in shown and "old-secret" not in shown

    # Refused alters: one line, non-zero, nothing changed.
    before = link(dest.bootstrap)["configs"]
    for args, code, want in [
        (["--add-config", "fetch.speed=fast"], 2, "unknown link config 'fetch.speed'"),
        (["--add-config", "link.mode=BIDIRECTIONAL"], 1, "'link.mode' cannot be altered"),
        (["--add-config", "cluster.link.prefix=dr."], 1, "'cluster.link.prefix' cannot be altered"),
        (["--delete-config", "bootstrap.servers"], 1, "bootstrap.servers"),
    ]:
        p = alter(dest.bootstrap, *args, check=False)
        assert p.returncode == code, (args, p)
        assert len(p.stderr.strip().splitlines()) == 1 and want in p.stderr, (args, p.stderr)
    assert link(dest.bootstrap)["configs"] == before


def test_paused_link_then_started_and_failed_mirror_resumed(broker_factory, tmp_path: Path):
    source = broker_factory("source")
    dest = broker_factory("dest")
    ck.create_topic(source.bootstrap, "t", 1)
    # Not mirrored; keeps the source's topic list non-empty once "t" is deleted (the link
    # loop skips its checks on an empty source metadata answer).
    ck.create_topic(source.bootstrap, "keep", 1)
    ck.produce(source.bootstrap, "t", [{"value": f"v{i}".encode()} for i in range(5)])
    cli("cluster-links", "--create", "--link", "l", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},cluster.link.paused=true,metadata.max.age.ms=300,cluster.link.retry.timeout.ms=1000")
    listed = cli("cluster-links", "--list", "--bootstrap-server", dest.bootstrap).stdout
    assert "PAUSED" in listed.splitlines()[1], listed
    cli("mirrors", "--create", "--mirror-topic", "t", "--link", "l", "--bootstrap-server", dest.bootstrap)
    m = describe(dest.bootstrap, "t")
    assert m["state"] == "LINK_PAUSED", m
    assert m["partitions"][0]["local_log_end_offset"] == 0

    alter(dest.bootstrap, "--add-config", "cluster.link.paused=false")
    wait_until(lambda: caught_up(dest.bootstrap, "t", source.bootstrap, 1), timeout=30, what="t mirrored after start")
    assert link(dest.bootstrap)["state"] == "ACTIVE"
    assert describe(dest.bootstrap, "t")["state"] == "ACTIVE"

    # The source topic goes away: FAILED after the retry timeout. Resume while the cause
    # persists (the topic was recreated: a new topic id): FAILED again, with the reason.
    a = ck.admin(source.bootstrap)  # kept: a collected AdminClient fails its futures
    ck.result(a.delete_topics(["t"])["t"])
    wait_until(lambda: describe(dest.bootstrap, "t")["state"] == "FAILED", timeout=30, what="t FAILED")
    assert describe(dest.bootstrap, "t")["reason"] == "SOURCE_TOPIC_MAY_BE_DELETED"
    ck.create_topic(source.bootstrap, "t", 1)
    first = describe(dest.bootstrap, "t")["state_time_ms"]
    cli("mirrors", "--resume", "--topics", "t", "--bootstrap-server", dest.bootstrap)
    wait_until(lambda: (lambda m: m["state"] == "FAILED" and m["state_time_ms"] > first)(describe(dest.bootstrap, "t")),
               timeout=30, what="t FAILED again")
    assert describe(dest.bootstrap, "t")["reason"] == "SOURCE_TOPIC_ID_CHANGED"


def test_auto_created_topic_shadowing_a_mirror_is_reported(broker_factory, tmp_path: Path):
    source = broker_factory("source")
    dest = broker_factory("dest", auto_create_topics_enable="true")
    for t in ("orders", "other"):
        ck.create_topic(source.bootstrap, t, 1)
        ck.produce(source.bootstrap, t, [{"value": b"x"}])
    # A producer pointed at the destination too early auto-creates a normal "orders".
    ck.produce(dest.bootstrap, "orders", [{"value": b"local"}])
    topics = write(tmp_path, "topics.json", ALL)
    cli("cluster-links", "--create", "--link", "l", "--bootstrap-server", dest.bootstrap,
        "--config", f"bootstrap.servers={source.bootstrap},auto.create.mirror.topics.enable=true,metadata.max.age.ms=300",
        "--topic-filters-json-file", str(topics))
    wait_until(lambda: caught_up(dest.bootstrap, "other", source.bootstrap, 1), timeout=30, what="other mirrored")

    def reported():
        text = cli("cluster-links", "--describe", "--link", "l", "--bootstrap-server", dest.bootstrap).stdout
        return "shadowed topics: orders (local non-mirror topic exists)" in text and text

    text = wait_until(reported, timeout=30, what="shadow reported")
    assert "auto_create_mirror" in text and "IN_ERROR" in text, text
    p = cli("mirrors", "--describe", "--topics", "orders", "--bootstrap-server", dest.bootstrap, check=False)
    assert p.returncode == 1 and "shadowing" in p.stderr and "'l'" in p.stderr, p
    p = cli("mirrors", "--create", "--mirror-topic", "orders", "--link", "l", "--bootstrap-server", dest.bootstrap, check=False)
    assert p.returncode == 1 and "already exists as a normal topic" in p.stderr, p
    # The local topic was never written by the link.
    assert [r[2] for r in records(dest.bootstrap, "orders", 0, 1)] == [b"local"]
