"""ACLs with confluent-kafka's AdminClient against strait's enforcing authorizer
(authorizer.class.name=StandardAuthorizer, super.users=User:admin): create, describe and
delete ACLs; a principal without ACLs gets TOPIC_AUTHORIZATION_FAILED /
GROUP_AUTHORIZATION_FAILED, an allowed one succeeds, the super user always does.
Principals authenticate with SASL/PLAIN on a SASL_PLAINTEXT listener."""

from __future__ import annotations

import time
import uuid

import pytest

from conftest import scaled
from security_util import PLAIN_JAAS, listener_port

pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import (  # noqa: E402
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)


@pytest.fixture
def secured(broker_factory):
    b = broker_factory(
        overrides={
            "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:admin",
        }
    )
    return listener_port(b, "SASL_PLAINTEXT")


def conf(port: int, user: str) -> dict:
    return {
        "bootstrap.servers": f"127.0.0.1:{port}",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
    }


def produce_error(port: int, user: str, topic: str):
    p = Producer({**conf(port, user), "message.timeout.ms": int(scaled(8000))})
    result = []
    p.produce(topic, value=b"v", on_delivery=lambda e, m: result.append(e))
    p.flush(scaled(15))
    assert result, "no delivery report"
    return result[0]


def consume_error(port: int, user: str, topic: str, group: str):
    c = Consumer({**conf(port, user), "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    deadline = time.monotonic() + scaled(20)
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                return m.error().code()
            return None  # a record: authorized
        return "timeout"
    finally:
        c.close()


def test_acl_admin_and_enforcement(secured):
    port = secured
    admin = AdminClient(conf(port, "admin"))
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=scaled(15))
    assert produce_error(port, "admin", topic) is None  # super user

    group = f"g-{topic}"
    bindings = [
        AclBinding(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, "User:alice", "*",
                   AclOperation.WRITE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, group, ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:bob", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:bob", "*",
                   AclOperation.ALL, AclPermissionType.DENY),
    ]
    for f in admin.create_acls(bindings).values():
        assert f.result(timeout=scaled(10)) is None

    described = admin.describe_acls(
        AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                         AclOperation.ANY, AclPermissionType.ANY)
    ).result(timeout=scaled(10))
    assert sorted(map(str, described)) == sorted(map(str, bindings))
    matching = admin.describe_acls(
        AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.MATCH, "User:alice", None,
                         AclOperation.ANY, AclPermissionType.ANY)
    ).result(timeout=scaled(10))
    assert len(matching) == 2  # the literal READ and the prefixed WRITE

    # alice: allowed to write (prefixed) and to consume with her group.
    assert produce_error(port, "alice", topic) is None
    assert consume_error(port, "alice", topic, group) is None
    # alice with another group: GROUP_AUTHORIZATION_FAILED.
    assert consume_error(port, "alice", topic, group + "-other") == KafkaError.GROUP_AUTHORIZATION_FAILED
    # bob: ALL DENY beats his READ ALLOW; he cannot write either.
    err = produce_error(port, "bob", topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    # Only the super user administers ACLs.
    # (librdkafka 2.16 does not surface DescribeAcls' top-level error: alice just sees none.)
    alice_admin = AdminClient(conf(port, "alice"))
    assert alice_admin.describe_acls(
        AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                         AclOperation.ANY, AclPermissionType.ANY)
    ).result(timeout=scaled(10)) == []
    (f,) = alice_admin.create_acls([bindings[0]]).values()
    with pytest.raises(KafkaException) as raised:
        f.result(timeout=scaled(10))
    assert raised.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED

    # Delete bob's bindings; bob then has no ACL at all on the topic.
    deleted = admin.delete_acls(
        [AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:bob", None,
                          AclOperation.ANY, AclPermissionType.ANY)]
    )
    (f,) = deleted.values()
    assert len(f.result(timeout=scaled(10))) == 2
    err = produce_error(port, "bob", topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
