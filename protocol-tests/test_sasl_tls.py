"""SASL_SSL with SCRAM-SHA-512 and PLAIN against strait, from confluent-kafka and kcat:
produce and consume over TLS with each mechanism, and a wrong password is an
authentication failure. Certificates are made with the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from conftest import client_missing, scaled
from security_util import PLAIN_JAAS, listener_port, make_pki

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

KCAT = shutil.which("kcat")

MECHS = [("SCRAM-SHA-512", "carol", "carol-secret"), ("PLAIN", "alice", "alice-secret")]


@pytest.fixture
def tls_broker(broker_factory, tmp_path):
    pki = make_pki(tmp_path / "pki")
    b = broker_factory(
        overrides={
            "listeners": "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": pki["keystore"],
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
            "strait.scram.credentials": "SCRAM-SHA-512=[name=carol,password=carol-secret]",
        }
    )
    return b, listener_port(b, "SASL_SSL"), pki["ca"]


def conf(port: int, ca: str, mech: str, user: str, pw: str) -> dict:
    return {
        "bootstrap.servers": f"127.0.0.1:{port}",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mech,
        "sasl.username": user,
        "sasl.password": pw,
        "ssl.ca.location": ca,
    }


@pytest.mark.parametrize("mech,user,pw", MECHS)
def test_confluent_kafka_produce_consume_over_sasl_ssl(tls_broker, mech, user, pw):
    broker, port, ca = tls_broker
    topic = f"sasl-ssl-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(conf(port, ca, mech, user, pw))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=scaled(15))
    md = admin.list_topics(timeout=scaled(10))
    # Metadata advertises the SASL_SSL listener the client connected on.
    assert [b.port for b in md.brokers.values()] == [port]
    p = Producer(conf(port, ca, mech, user, pw))
    errors = []
    for i in range(5):
        p.produce(topic, value=f"m{i}".encode(), on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(scaled(15)) == 0 and not errors, errors
    c = Consumer({**conf(port, ca, mech, user, pw), "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    import time

    deadline = time.monotonic() + scaled(30)
    while len(got) < 5 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got == [f"m{i}".encode() for i in range(5)]


@pytest.mark.parametrize("mech,user,pw", MECHS)
def test_confluent_kafka_wrong_password_fails_authentication(tls_broker, mech, user, pw):
    broker, port, ca = tls_broker
    seen = []
    admin = AdminClient({**conf(port, ca, mech, user, pw + "-wrong"), "error_cb": seen.append})
    with pytest.raises(KafkaException) as raised:
        admin.list_topics(timeout=scaled(5))
    admin.poll(0.5)  # serve error_cb
    text = str(raised.value) + " ".join(str(e) for e in seen)
    assert "uthenticat" in text, text


@pytest.mark.skipif(KCAT is None, reason="kcat not installed")
@pytest.mark.parametrize("mech,user,pw", MECHS)
def test_kcat_over_sasl_ssl(tls_broker, mech, user, pw):
    broker, port, ca = tls_broker
    topic = f"kcat-sasl-{uuid.uuid4().hex[:8]}"
    args = [KCAT, "-b", f"127.0.0.1:{port}", "-X", "security.protocol=SASL_SSL",
            "-X", f"sasl.mechanism={mech}", "-X", f"sasl.username={user}",
            "-X", f"ssl.ca.location={ca}"]
    good = args + ["-X", f"sasl.password={pw}"]
    subprocess.run(good + ["-P", "-t", topic], input=b"one\ntwo\n", check=True,
                   capture_output=True, timeout=scaled(30))
    out = subprocess.run(good + ["-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                         check=True, capture_output=True, timeout=scaled(30))
    assert out.stdout.split() == [b"one", b"two"]
    bad = subprocess.run(args + ["-X", f"sasl.password={pw}x", "-L", "-m", "5"],
                         capture_output=True, timeout=scaled(30))
    assert bad.returncode != 0
    assert b"uthenticat" in bad.stderr + bad.stdout
