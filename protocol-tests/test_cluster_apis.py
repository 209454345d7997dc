"""The cluster admin APIs (issue 12 item 2) against real clients, on today's one-node cluster:
Metadata / DescribeCluster list the live brokers, DescribeTopicPartitions (KIP-966, which
the Java client 3.9 prefers for Admin.describeTopics), ElectLeaders, List/Alter
PartitionReassignments, CreateTopics / CreatePartitions with replication factors and
manual assignments. Errors must be Kafka's (the Java client maps codes to exception
classes, so the class and message are checked), and a refused request must leave the
cluster as it was.

The Java calls go through java/ClusterAdmin.java (kafka-clients 3.9.1), compiled once per
source version next to StraitDriver's classes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import ck
import java_client
from conftest import scaled, wait_until
from security_util import PLAIN_JAAS, listener_port

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "java" / "ClusterAdmin.java"
ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA"
KCAT = shutil.which("kcat")


@pytest.fixture(scope="session")
def admin_classes() -> Path:
    """ClusterAdmin.java compiled (cached by source + jar names)."""
    reason = java_client.missing()
    if reason:
        if os.environ.get("STRAIT_REQUIRE_ALL_CLIENTS"):
            pytest.fail(f"{reason} (STRAIT_REQUIRE_ALL_CLIENTS is set)", pytrace=False)
        pytest.skip(reason)
    digest = hashlib.sha256(SOURCE.read_bytes() + "".join(java_client.JARS).encode()).hexdigest()[:16]
    out = HERE / ".work" / "java-classes" / f"cluster-admin-{digest}"
    if (out / "ClusterAdmin.class").is_file():
        return out
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    p = subprocess.run(
        ["javac", "-nowarn", "-d", str(tmp), "-cp", java_client.classpath(None), str(SOURCE)],
        capture_output=True, text=True, timeout=scaled(120),
    )
    assert p.returncode == 0, f"javac failed:\n{p.stdout}\n{p.stderr}"
    try:
        tmp.rename(out)
    except OSError:  # another process compiled it first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


class Admin:
    def __init__(self, classes: Path, bootstrap: str, props: dict[str, str] | None = None):
        self.classes = classes
        self.bootstrap = bootstrap
        self.props = props or {}

    def __call__(self, op: str, *args) -> list[dict]:
        """Run one ClusterAdmin op: its result lines (without the final {"done": true})."""
        argv = ["java", *java_client.JVM_FLAGS, "-cp", java_client.classpath(self.classes), "ClusterAdmin",
                *[f"-X{k}={v}" for k, v in self.props.items()], op, self.bootstrap, *map(str, args)]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=scaled(120))
        lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        assert p.returncode == 0 and lines and lines[-1] == {"done": True}, (
            f"ClusterAdmin {op} {args} exited {p.returncode}: {lines}\nstderr:\n{p.stderr[-3000:]}")
        return lines[:-1]

    def one(self, op: str, *args) -> dict:
        [line] = self(op, *args)
        return line


@pytest.fixture
def admin(broker, admin_classes) -> Admin:
    return Admin(admin_classes, broker.bootstrap)


def by_key(lines: list[dict], key: str) -> dict[str, dict]:
    return {line[key]: line for line in lines}


def test_describe_topics_uses_describe_topic_partitions_and_follows_its_cursor(broker_factory, admin_classes, monkeypatch):
    # The handler logs each request at debug: the trace that the Java client chose the API.
    monkeypatch.setenv("RUST_LOG", "info,strait_broker::handlers::describe_topic_partitions=debug")
    b = broker_factory()
    admin = Admin(admin_classes, b.bootstrap)
    assert admin.one("create-topic", "alpha", 5, 1) == {"topic": "alpha"}
    assert admin.one("create-topic", "beta", 3, 1) == {"topic": "beta"}

    # Two partitions per response: alpha 0-1, alpha 2-3, alpha 4 + beta 0, beta 1-2.
    got = by_key(admin("describe-topics", 2, "alpha", "beta", "missing"), "topic")
    assert got["missing"]["error"] == "UnknownTopicOrPartitionException", got
    for name, count in (("alpha", 5), ("beta", 3)):
        t = got[name]
        assert "error" not in t, t
        assert t["id"] != ZERO_UUID and not t["internal"], t
        assert [p["p"] for p in t["partitions"]] == list(range(count)), t
        for p in t["partitions"]:
            assert (p["leader"], p["replicas"], p["isr"], p["elr"]) == (1, [1], [1], []), p
            assert p["leader_host"] == b.bootstrap, p
        assert "DESCRIBE" in t["ops"] and "ALTER" in t["ops"], t
    assert got["alpha"]["id"] != got["beta"]["id"]

    log = wait_until(lambda: (s := b.stderr_path.read_text(errors="replace")).count("DescribeTopicPartitions") >= 4 and s,
                     timeout=10, what="four DescribeTopicPartitions requests in the broker log")
    for cursor in ('Some(("alpha", 2))', 'Some(("alpha", 4))', 'Some(("beta", 1))'):
        assert cursor in log, f"no request with cursor {cursor}:\n{log[-3000:]}"

    # Without a limit, one response carries everything (and ids are stable).
    again = by_key(admin("describe-topics", 2000, "alpha", "beta"), "topic")
    assert again["alpha"]["id"] == got["alpha"]["id"]
    assert len(again["alpha"]["partitions"]) == 5


def test_describe_cluster_lists_the_live_broker(broker_factory, admin_classes):
    b = broker_factory(broker_rack="rack-a")
    d = Admin(admin_classes, b.bootstrap).one("describe-cluster")
    assert d["nodes"] == [{"id": 1, "host": "127.0.0.1", "port": b.port, "rack": "rack-a"}], d
    assert d["controller"] == 1
    assert "ALTER" in d["ops"] and "DESCRIBE" in d["ops"], d
    a = ck.admin(b.bootstrap)
    desc = ck.result(a.describe_cluster(include_authorized_operations=True))
    assert desc.cluster_id == d["cluster_id"]
    assert [(n.id, n.host, n.port, n.rack) for n in desc.nodes] == [(1, "127.0.0.1", b.port, "rack-a")]
    assert desc.controller.id == 1


def test_create_topics_replication_factor_and_assignments_are_kafkas(admin, broker):
    rf3 = admin.one("create-topic", "rf3", 1, 3)
    assert rf3["error"] == "InvalidReplicationFactorException", rf3
    assert rf3["message"] == (
        "Unable to replicate the partition 3 time(s): The target replication factor of 3 "
        "cannot be reached because only 1 broker(s) are registered.")

    unknown = admin.one("create-topic-assigned", "asg-unknown", "1;2")
    assert unknown["error"] == "InvalidReplicaAssignmentException", unknown
    assert unknown["message"] == "The manual partition assignment includes broker 2, but no such broker is registered."
    twice = admin.one("create-topic-assigned", "asg-twice", "1;1,1")
    assert twice["error"] == "InvalidReplicaAssignmentException", twice
    assert twice["message"] == "The manual partition assignment includes the broker 1 more than once."
    # Uneven lengths: the longer list names a broker that does not exist, reported first as Kafka does.
    uneven = admin.one("create-topic-assigned", "asg-uneven", "1;1,5")
    assert uneven["error"] == "InvalidReplicaAssignmentException", uneven
    assert "broker 5" in uneven["message"]

    # Valid requests behave as before: RF 1 and RF -1 (the default), assignments naming this node.
    assert admin.one("create-topic", "rf1", 2, 1) == {"topic": "rf1"}
    assert admin.one("create-topic", "rf-default", 1, -1) == {"topic": "rf-default"}
    assert admin.one("create-topic-assigned", "asg-ok", "1;1;1") == {"topic": "asg-ok"}

    # Nothing refused was created; what was created is whole.
    got = by_key(admin("describe-topics", 2000, "rf3", "asg-unknown", "asg-twice", "asg-uneven", "rf1", "asg-ok"), "topic")
    for name in ("rf3", "asg-unknown", "asg-twice", "asg-uneven"):
        assert got[name]["error"] == "UnknownTopicOrPartitionException", got[name]
    assert len(got["rf1"]["partitions"]) == 2
    assert [p["replicas"] for p in got["asg-ok"]["partitions"]] == [[1], [1], [1]]

    # CreatePartitions: Kafka's count and assignment checks.
    assert admin.one("create-partitions", "rf1", 2)["message"] == "Topic already has 2 partition(s)."
    assert admin.one("create-partitions", "rf1", 1)["message"] == (
        "The topic rf1 currently has 2 partition(s); 1 would not be an increase.")
    short = admin.one("create-partitions", "rf1", 4, "1")
    assert short["error"] == "InvalidReplicaAssignmentException", short
    assert short["message"] == "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."
    bad = admin.one("create-partitions", "rf1", 3, "2")
    assert bad["error"] == "InvalidReplicaAssignmentException", bad
    assert bad["message"] == "The manual partition assignment includes broker 2, but no such broker is registered."
    assert admin.one("create-partitions", "rf1", 4, "1;1") == {"topic": "rf1"}
    assert len(admin.one("describe-topics", 2000, "rf1")["partitions"]) == 4


def test_elect_leaders(admin):
    assert admin.one("create-topic", "el", 2, 1) == {"topic": "el"}
    got = by_key(admin("elect", "PREFERRED", "el:0", "el:1", "el:7", "missing:0"), "tp")
    for tp in ("el:0", "el:1"):
        assert got[tp]["error"] == "ElectionNotNeededException", got[tp]
        assert got[tp]["message"] == "Leader election not needed for topic partition."
    assert got["el:7"] == {"tp": "el:7", "error": "UnknownTopicOrPartitionException",
                           "message": "No such partition as el-7"}
    assert got["missing:0"]["message"] == "No such topic as missing"
    unclean = admin.one("elect", "UNCLEAN", "el:1")
    assert unclean["error"] == "ElectionNotNeededException", unclean
    # All partitions (a null list): those needing no election are left out, as Kafka does.
    assert admin("elect", "PREFERRED") == []
    assert admin("elect", "UNCLEAN") == []
    leaders = [p["leader"] for p in admin.one("describe-topics", 2000, "el")["partitions"]]
    assert leaders == [1, 1]


def test_partition_reassignments(admin):
    assert admin.one("create-topic", "ra", 3, 1) == {"topic": "ra"}
    assert admin("list-reassignments") == [{"count": 0}]
    assert admin("list-reassignments", "ra:0", "ra:9", "missing:0") == [{"count": 0}]

    got = by_key(admin("alter-reassignments", "ra:0=1", "ra:1=2", "ra:2=1,1", "ra:0=cancel"), "tp")
    # (a map on the client: ra:0=cancel replaces ra:0=1)
    assert got["ra:0"]["error"] == "NoReassignmentInProgressException", got
    assert got["ra:0"]["message"] == "No partition reassignment is in progress."
    assert got["ra:1"] == {"tp": "ra:1", "error": "InvalidReplicaAssignmentException",
                           "message": "The manual partition assignment includes broker 2, but no such broker is registered."}
    assert got["ra:2"]["message"] == "The manual partition assignment includes the broker 1 more than once."

    # The current replicas as target: success, nothing changes.
    same = admin("alter-reassignments", "ra:0=1", "ra:1=1")
    assert sorted(same, key=lambda x: x["tp"]) == [{"tp": "ra:0"}, {"tp": "ra:1"}], same
    unknown = by_key(admin("alter-reassignments", "missing:0=1", "ra:5=1"), "tp")
    assert unknown["missing:0"]["message"] == "Unable to find a topic named missing."
    assert unknown["ra:5"]["message"] == "Unable to find partition ra:5."
    for v in unknown.values():
        assert v["error"] == "UnknownTopicOrPartitionException", v

    # The cluster is unharmed: same placement, nothing in progress.
    parts = admin.one("describe-topics", 2000, "ra")["partitions"]
    assert [(p["leader"], p["replicas"], p["isr"]) for p in parts] == [(1, [1], [1])] * 3
    assert admin("list-reassignments") == [{"count": 0}]


def test_describe_quorum_reports_the_one_voter_metadata_log(admin, broker):
    # The broker's metadata lives in a one-voter quorum (__cluster_metadata-0): this node
    # leads it, is its only voter, and every metadata change moves its high watermark.
    q = admin.one("describe-quorum")
    assert q.get("error") is None, q
    assert q["leader"] == 1 and q["voters"] == [1], q
    assert q["epoch"] >= 1, q
    before = q["high_watermark"]
    assert admin.one("create-topic", "dq", 1, 1) == {"topic": "dq"}
    after = admin.one("describe-quorum")
    assert after["leader"] == 1 and after["epoch"] == q["epoch"], after
    assert after["high_watermark"] > before, (before, after)
    assert admin.one("describe-cluster")["nodes"][0]["id"] == 1


@pytest.mark.skipif(KCAT is None, reason="kcat not installed")
def test_kcat_metadata_lists_brokers_and_replicas(admin, broker):
    assert admin.one("create-topic", "kc", 3, 1) == {"topic": "kc"}
    p = subprocess.run([KCAT, "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000", "-L", "-J", "-t", "kc"],
                       capture_output=True, text=True, timeout=scaled(60))
    assert p.returncode == 0, p.stderr
    md = json.loads(p.stdout)
    assert md["brokers"] == [{"id": 1, "name": broker.bootstrap}], md
    assert md["controllerid"] == 1
    [t] = md["topics"]
    parts = sorted(t["partitions"], key=lambda x: x["partition"])
    assert [(x["partition"], x["leader"], [r["id"] for r in x["replicas"]], [r["id"] for r in x["isrs"]])
            for x in parts] == [(i, 1, [1], [1]) for i in range(3)]


def test_confluent_admin_calls(broker):
    from confluent_kafka import ElectionType, KafkaError, TopicCollection, TopicPartition
    from confluent_kafka.admin import NewPartitions, NewTopic

    a = ck.admin(broker.bootstrap)
    fs = a.create_topics([NewTopic("ck-rf3", 1, 3), NewTopic("ck-ok", 2, 1)], request_timeout=scaled(20))
    with pytest.raises(Exception) as e:
        ck.result(fs["ck-rf3"])
    err = e.value.args[0]
    assert err.code() == KafkaError.INVALID_REPLICATION_FACTOR
    assert "only 1 broker(s) are registered" in err.str()
    ck.result(fs["ck-ok"])

    d = ck.result(a.describe_topics(TopicCollection(["ck-ok"]))["ck-ok"])
    assert [(p.id, p.leader.id, [r.id for r in p.replicas], [r.id for r in p.isr]) for p in d.partitions] == \
        [(0, 1, [1], [1]), (1, 1, [1], [1])]

    res = ck.result(a.elect_leaders(ElectionType.PREFERRED, [TopicPartition("ck-ok", 0), TopicPartition("ck-ok", 5)]))
    by_p = {tp.partition: exc for tp, exc in res.items()}
    assert by_p[0].code() == KafkaError.ELECTION_NOT_NEEDED, by_p
    assert by_p[5].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, by_p

    fs = a.create_partitions([NewPartitions("ck-ok", 3, replica_assignment=[[2]])], request_timeout=scaled(20))
    with pytest.raises(Exception) as e:
        ck.result(fs["ck-ok"])
    assert e.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert len(ck.result(a.describe_topics(TopicCollection(["ck-ok"]))["ck-ok"]).partitions) == 2


def sasl(user: str) -> dict[str, str]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.jaas.config": f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{user}" password="{user}-secret";',
    }


def test_authorization_is_kafkas(broker_factory, admin_classes):
    b = broker_factory(overrides={
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
    })
    bootstrap = f"127.0.0.1:{listener_port(b, 'SASL_PLAINTEXT')}"
    root = Admin(admin_classes, bootstrap, sasl("admin"))
    alice = Admin(admin_classes, bootstrap, sasl("alice"))
    assert root.one("create-topic", "secret", 1, 1) == {"topic": "secret"}

    # DESCRIBE on the topic: a named topic the principal may not see is reported as
    # unauthorized (not as unknown), whether or not it exists.
    got = by_key(alice("describe-topics", 2000, "secret", "nothing-here"), "topic")
    assert got["secret"]["error"] == "TopicAuthorizationException", got
    assert got["nothing-here"]["error"] == "TopicAuthorizationException", got

    # ALTER / DESCRIBE on the cluster.
    el = alice.one("elect", "PREFERRED", "secret:0")
    assert el["error"] == "ClusterAuthorizationException", el
    ra = alice.one("alter-reassignments", "secret:0=1")
    assert ra["error"] == "ClusterAuthorizationException", ra
    lr = alice.one("list-reassignments")
    assert lr["error"] == "ClusterAuthorizationException", lr

    # The super user is unaffected.
    assert root.one("elect", "PREFERRED", "secret:0")["error"] == "ElectionNotNeededException"
    assert root("list-reassignments") == [{"count": 0}]
    assert root.one("describe-topics", 2000, "secret")["partitions"][0]["leader"] == 1
