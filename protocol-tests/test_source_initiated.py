"""Source-initiated cluster links through our CLIs with confluent-kafka clients (GitHub issue
10, item 6; seed 000 "Push"): the destination cannot reach the source, so the source's
`link.mode=SOURCE` link connects to the destination's SASL_PLAINTEXT listener and the
destination's `connection.mode=INBOUND` link pulls over those connections.

* The INBOUND link is created with no bootstrap at all (a bootstrap is refused by name).
* The SOURCE link authenticates to the destination with PLAIN (alice) and relays to its own
  cluster's SASL_PLAINTEXT listener with `local.*` credentials (bob).
* confluent-kafka produces on the source; the mirror is byte-identical and a confluent-kafka
  consumer on the destination reads the same values.
* Bad input: an INBOUND link with a bootstrap, SOURCE without OUTBOUND, `mirrors --create`
  over the SOURCE link, and a SOURCE link with a wrong password for the destination."""

from __future__ import annotations

import json

import ck
from conftest import scaled, wait_until
from security_util import PLAIN_JAAS, listener_port
from test_link import assert_identical, caught_up, cli, write


def jaas(user: str, pw: str) -> str:
    return f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{user}" password="{pw}";'


SASL = {
    "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
}


def source_link_config(tmp_path, name: str, dest_sasl: str, password: str) -> str:
    text = (
        "link.mode=SOURCE\nconnection.mode=OUTBOUND\n"
        f"bootstrap.servers={dest_sasl}\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        f"sasl.jaas.config={jaas('alice', password)}\n"
        "local.security.protocol=SASL_PLAINTEXT\nlocal.sasl.mechanism=PLAIN\n"
        f"local.sasl.jaas.config={jaas('bob', 'bob-secret')}\n"
        "retry.backoff.ms=50\nretry.backoff.max.ms=500\n"
    )
    return str(write(tmp_path, f"{name}.config", text))


def tunnel_task(bootstrap: str, link: str) -> dict | None:
    d = json.loads(cli("cluster-links", "--describe", "--link", link, "--bootstrap-server", bootstrap,
                       "--output", "json").stdout)
    return next((t for t in d["tasks"] if t["name"] == "link_tunnel"), None)


def test_source_initiated_link_mirrors_through_the_source_s_connections(broker_factory, tmp_path):
    source = broker_factory("source", overrides=SASL)
    dest = broker_factory("dest", overrides=SASL)
    dest_sasl = f"127.0.0.1:{listener_port(dest, 'SASL_PLAINTEXT')}"

    # The destination half: no bootstrap (refused by name if given).
    bad = cli("cluster-links", "--create", "--link", "push", "--bootstrap-server", dest.bootstrap,
              "--config", f"connection.mode=INBOUND,bootstrap.servers={source.bootstrap}", check=False)
    assert bad.returncode != 0 and "bootstrap.servers" in bad.stderr, bad
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    cli("cluster-links", "--create", "--link", "push", "--bootstrap-server", dest.bootstrap,
        "--config", "connection.mode=INBOUND,metadata.max.age.ms=500")

    # The source half; SOURCE without OUTBOUND is refused first.
    bad = cli("cluster-links", "--create", "--link", "push", "--bootstrap-server", source.bootstrap,
              "--config", "link.mode=SOURCE,connection.mode=INBOUND", check=False)
    assert bad.returncode != 0 and "connection.mode=OUTBOUND" in bad.stderr, bad
    cli("cluster-links", "--create", "--link", "push", "--bootstrap-server", source.bootstrap,
        "--config-file", source_link_config(tmp_path, "push", dest_sasl, "alice-secret"))

    ck.create_topic(source.bootstrap, "orders", 2)
    for p in range(2):
        ck.produce(source.bootstrap, "orders", [{"value": f"v{p}-{i}".encode(), "partition": p} for i in range(20)])

    # A SOURCE link carries no mirrors.
    bad = cli("mirrors", "--create", "--mirror-topic", "orders", "--link", "push",
              "--bootstrap-server", source.bootstrap, check=False)
    assert bad.returncode != 0 and "link.mode=SOURCE" in bad.stderr, bad
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr

    cli("mirrors", "--create", "--mirror-topic", "orders", "--link", "push", "--bootstrap-server", dest.bootstrap)
    wait_until(lambda: caught_up(dest.bootstrap, "orders", source.bootstrap, 2), timeout=scaled(60),
               what="mirror caught up through the tunnels")
    assert assert_identical(source.bootstrap, dest.bootstrap, "orders", 2) > 0
    for p in range(2):
        got = [m.value() for m in ck.consume(dest.bootstrap, "orders", partition=p, count=20)]
        assert got == [f"v{p}-{i}".encode() for i in range(20)]

    # Both sides describe their tunnels.
    d = json.loads(cli("cluster-links", "--describe", "--link", "push", "--bootstrap-server", source.bootstrap,
                       "--output", "json").stdout)
    assert d["state"] == "ACTIVE", d
    t = tunnel_task(source.bootstrap, "push")
    assert t and t["state"] == "ACTIVE" and "relaying" in (t["error"] or ""), t
    t = tunnel_task(dest.bootstrap, "push")
    assert t and t["state"] == "ACTIVE" and "claimed so far" in (t["error"] or ""), t
    out = cli("cluster-links", "--describe", "--link", "push", "--bootstrap-server", dest.bootstrap).stdout
    assert "INBOUND" in out and "link_tunnel" in out, out

    # A SOURCE link with a wrong password for the destination: the create's validation
    # reaches the destination and reports the authentication failure in one line.
    bad = cli("cluster-links", "--create", "--link", "push2", "--bootstrap-server", source.bootstrap,
              "--config-file", source_link_config(tmp_path, "push2", dest_sasl, "wrong"), check=False)
    print(bad.stderr)
    assert bad.returncode != 0 and "auth" in bad.stderr.lower(), bad
