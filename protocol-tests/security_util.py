"""Helpers for the security tests: brokers with SASL/TLS listeners, certificates made
with the openssl CLI (no extra Python package), and listener ports from the broker's
`strait: listening on NAME://host:port` lines."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import scaled, wait_until

ADMIN, ALICE, BOB = ("admin", "admin-secret"), ("alice", "alice-secret"), ("bob", "bob-secret")

PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-secret" user_admin="admin-secret" '
    'user_alice="alice-secret" user_bob="bob-secret";'
)


def listener_port(broker, name: str) -> int:
    pat = re.compile(rf"^strait: listening on {name}://[^:\s]+:(\d+)\s*$")

    def find():
        for line in broker.stdout_lines:
            m = pat.match(line)
            if m:
                return int(m.group(1))
        return None

    return wait_until(find, timeout=scaled(10), what=f"{name} listener line")


def make_pki(d: Path) -> dict[str, str]:
    """A CA and a server certificate for 127.0.0.1/localhost; the server key and
    certificate go into one PEM file (ssl.keystore.location with ssl.keystore.type=PEM)."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=strait-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\n"
    )
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    (d / "server.pem").write_text((d / "server.key").read_text() + (d / "server.crt").read_text())
    return {"ca": str(d / "ca.pem"), "keystore": str(d / "server.pem")}
