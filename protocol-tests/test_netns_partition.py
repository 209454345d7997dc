"""A cluster link through a real network partition (network namespaces, see netns.py).

The source Strait runs in namespace `a`, the destination in `b`, each bound to its own
namespace address; the link (created with `cluster-links` on b) fetches from a, and an
idempotent confluent-kafka producer inside `a` writes a keyed sequence the whole time.
- Cut `a` off from everyone mid-stream: the link turns UNAVAILABLE (TIMEOUT_ERROR: a
  partition hangs, it does not refuse) within its availability-check bounds and the mirror
  SOURCE_UNAVAILABLE, while b keeps serving the mirrored prefix to consumers; heal: the link
  is ACTIVE again and the mirror catches up.
- Cut `b` off from its clients only (the host): the link, on the other side of the cut,
  keeps mirroring (seen from inside `a`), and the host's consumer resumes after the heal.
Each ends with the mirror equal to the source batch for batch (bytes) and record for record,
and equal to what the producer had acknowledged: nothing lost, nothing duplicated.

Run as a script (`python test_netns_partition.py produce BOOTSTRAP TOPIC PARTITIONS`) this
file is the producer that the tests start inside namespace `a`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------
# The producer, run inside a namespace (before the pytest imports: it needs none of them)


def _produce_main(bootstrap: str, topic: str, partitions: int) -> int:
    """Produce seq 0, 1, 2 ... (key k<seq % 7>, value v<seq>, header seq, partition seq %
    partitions) until a line arrives on stdin; one JSON line per delivery report, then
    {"done": produced, "left": undelivered}."""
    from confluent_kafka import Producer

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    out_lock = threading.Lock()

    def emit(obj: dict) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, "message.timeout.ms": 120000})

    def report(err, msg):
        seq = int(msg.value()[1:])
        if err is not None:
            emit({"seq": seq, "error": str(err)})
        else:
            emit({"seq": seq, "partition": msg.partition(), "offset": msg.offset()})

    seq = 0
    while not stop.is_set():
        for _ in range(10):
            p.produce(topic, key=f"k{seq % 7}".encode(), value=f"v{seq}".encode(),
                      headers=[("seq", str(seq).encode())], partition=seq % partitions, on_delivery=report)
            seq += 1
        # Paces the load (about 2000 records/s); no test condition depends on it.
        p.poll(0.005)
    left = p.flush(60)
    emit({"done": seq, "left": left})
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "produce":
        sys.exit(_produce_main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.exit(f"usage: {sys.argv[0]} produce BOOTSTRAP TOPIC PARTITIONS")


import pytest  # noqa: E402
from confluent_kafka import KafkaError, TopicPartition  # noqa: E402

import ck  # noqa: E402
import netns  # noqa: E402
from conftest import Broker, scaled, strait_bin, wait_until  # noqa: E402
from test_link import assert_identical, caught_up, records, tool  # noqa: E402

TOPIC = "orders"
PARTITIONS = 2
LINK = "partition-link"
CHECK_MS = 300
THRESHOLD = 2
# The link's real config keys, small so that an outage is noticed and left quickly.
LINK_CONFIG = {
    "metadata.max.age.ms": 500,
    "availability.check.ms": CHECK_MS,
    "availability.check.consecutive.failure.threshold": THRESHOLD,
    "request.timeout.ms": 2000,
    "socket.connection.setup.timeout.ms": 1000,
    "retry.backoff.ms": 50,
    "retry.backoff.max.ms": 200,
    "replica.fetch.wait.max.ms": 100,
    "replica.fetch.backoff.ms": 100,
    "auto.create.mirror.topics.enable": "true",
}
FILTER = json.dumps({"topicFilters": [{"name": TOPIC, "patternType": "LITERAL", "filterType": "INCLUDE"}]})


def _ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false") or bool(os.environ.get("STRAIT_REQUIRE_ALL_CLIENTS"))


@pytest.fixture(scope="session")
def netns_capable():
    """Skip (with the reason) where namespaces cannot be made; under CI fail instead, so
    CI cannot silently lose these tests."""
    reason = netns.probe()
    if reason:
        if _ci():
            pytest.fail(f"{reason} (CI / STRAIT_REQUIRE_ALL_CLIENTS is set: these tests must run)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def net(netns_capable):
    n = netns.Network()
    try:
        yield n
    finally:
        n.close()
        left = n.leftovers()
        assert not left, f"netns cleanup left {left}"


class NetnsBroker(Broker):
    """A conftest Broker started inside a namespace, listening on the node's address."""

    def __init__(self, network: netns.Network, node: netns.Node, workdir: Path, name: str):
        super().__init__(workdir, {}, name)
        self.network = network
        self.node = node

    def _argv(self, port: int) -> list[str]:
        argv = [str(strait_bin()), "--override", f"listeners=PLAINTEXT://{self.node.addr}:{port}",
                "--override", f"log.dirs={self.data_dir}"]
        return self.network.argv(self.node, argv)


@pytest.fixture
def brokers(net, request, tmp_path):
    """brokers(node, name) -> a started NetnsBroker; stopped before the network goes."""
    made: list[NetnsBroker] = []
    request.node._strait_brokers = made  # conftest attaches their stderr to a failure

    def make(node: netns.Node, name: str) -> NetnsBroker:
        b = NetnsBroker(net, node, tmp_path / name, name)
        made.append(b)
        b.start()
        assert b.host == node.addr, f"{name} advertises {b.host}, not its namespace address {node.addr}"
        return b

    yield make
    for b in made:
        b.stop()


# --------------------------------------------------------------------------
# Helpers


def cli_in(net: netns.Network, node: str, name: str, *args: str) -> str:
    """Run one of our CLIs inside `node` ("host" for the host); its stdout."""
    p = net.run(node, [str(tool(name)), *args], timeout=scaled(60))
    if p.returncode != 0:
        raise AssertionError(f"[{node}] {name} {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p.stdout


def link_json(net: netns.Network, dest: Broker, node: str = "host") -> dict:
    return json.loads(cli_in(net, node, "cluster-links", "--describe", "--link", LINK,
                             "--bootstrap-server", dest.bootstrap, "--output", "json"))


def mirror_json(net: netns.Network, dest: Broker, node: str = "host") -> dict:
    out = json.loads(cli_in(net, node, "mirrors", "--describe", "--topics", TOPIC,
                            "--bootstrap-server", dest.bootstrap, "--output", "json"))
    (m,) = [m for m in (out["mirrors"] if isinstance(out, dict) else out) if m["mirror_topic"] == TOPIC]
    return m


def mirrored(net: netns.Network, dest: Broker, node: str = "host") -> int:
    """Records in the mirror's local logs, as `mirrors --describe` reports them."""
    return sum(p["local_log_end_offset"] for p in mirror_json(net, dest, node)["partitions"])


def create_link(net: netns.Network, source: Broker, dest: Broker) -> None:
    config = ",".join(f"{k}={v}" for k, v in {"bootstrap.servers": source.bootstrap, **LINK_CONFIG}.items())
    cli_in(net, "host", "cluster-links", "create", "--link", LINK, "--bootstrap-server", dest.bootstrap,
           "--config", config, "--topic-filters-json", FILTER)


def assert_connect_hangs(addr: str, port: int) -> None:
    """A fresh connection across a cut gets no answer: no refusal, no reset."""
    s = socket.socket()
    s.settimeout(1.0)
    try:
        with pytest.raises(TimeoutError):
            s.connect((addr, port))
    finally:
        s.close()


class ProducerProc:
    """_produce_main running inside a namespace; collects its delivery reports."""

    def __init__(self, net: netns.Network, node: netns.Node, bootstrap: str, topic: str, partitions: int):
        self.acks: list[dict] = []
        self.errors: list[dict] = []
        self.done: dict | None = None
        self.proc = net.popen(node, [sys.executable, str(Path(__file__).resolve()), "produce", bootstrap, topic,
                                     str(partitions)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=HERE)
        threading.Thread(target=self._read, daemon=True, name="netns-producer").start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            obj = json.loads(line)
            if "done" in obj:
                self.done = obj
            elif "error" in obj:
                self.errors.append(obj)
            else:
                self.acks.append(obj)

    def acked(self) -> int:
        return len(self.acks)

    def stop(self) -> list[dict]:
        """Stop producing, wait for every outstanding delivery; the acknowledgements."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        wait_until(lambda: self.done is not None, timeout=90, what="producer flushed")
        self.proc.wait(timeout=scaled(30))
        assert self.done is not None
        assert not self.errors, f"delivery errors: {self.errors[:5]}"
        assert self.done["left"] == 0, self.done
        assert sorted(a["seq"] for a in self.acks) == list(range(self.done["done"])), "every record acknowledged once"
        return list(self.acks)


class MirrorReader:
    """A confluent-kafka consumer on the host reading the mirror (assign from 0) in a thread."""

    def __init__(self, bootstrap: str, topic: str, partitions: int):
        self.got: list[tuple] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        # Short socket timeouts: after the heal it reconnects within seconds whichever way
        # librdkafka found out about the cut.
        self.c = ck.consumer(bootstrap, **{"socket.timeout.ms": 3000, "socket.connection.setup.timeout.ms": 3000,
                                           "reconnect.backoff.max.ms": 500, "fetch.wait.max.ms": 100})
        self.c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.t = threading.Thread(target=self._run, daemon=True, name="mirror-reader")
        self.t.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                m = self.c.poll(0.1)
                if m is None:
                    continue
                if m.error():
                    # Connection trouble during the cut is what this consumer lives through.
                    if m.error().code() in (KafkaError._PARTITION_EOF, KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
                                            KafkaError._ALL_BROKERS_DOWN):
                        continue
                    raise RuntimeError(f"mirror consumer: {m.error()}")
                self.got.append((m.partition(), m.offset(), m.key(), m.value(), m.headers(), m.timestamp()))
        except BaseException as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def count(self) -> int:
        return len(self.got)

    def stop(self) -> list[tuple]:
        self._stop.set()
        self.t.join(timeout=scaled(30))
        self.c.close()
        assert self.error is None, f"mirror consumer failed: {self.error!r}"
        return list(self.got)


def verify(source: Broker, dest: Broker, acks: list[dict]) -> int:
    """Mirror == source byte for byte and record for record, and == the acknowledged
    records at their acknowledged offsets (dense, each once). Returns the record count."""
    assert_identical(source.bootstrap, dest.bootstrap, TOPIC, PARTITIONS)
    total = 0
    for p in range(PARTITIONS):
        hw = ck.watermarks(source.bootstrap, TOPIC, p)[1]
        src = records(source.bootstrap, TOPIC, p, hw)
        dst = records(dest.bootstrap, TOPIC, p, hw)
        assert dst == src, f"{TOPIC}-{p}: mirror records differ from the source's"
        expected = sorted((a["offset"], a["seq"]) for a in acks if a["partition"] == p)
        assert [(r[0], int(r[2][1:])) for r in dst] == expected, f"{TOPIC}-{p}: mirror != acknowledged records"
        for off, key, value, headers, _ts in dst:
            seq = int(value[1:])
            assert key == f"k{seq % 7}".encode() and headers == [("seq", str(seq).encode())], (off, key, headers)
        total += hw
    assert total == len(acks)
    return total


def start_mirroring(net: netns.Network, brokers):
    a, b = net.add_node("a"), net.add_node("b")
    source = brokers(a, "source")
    dest = brokers(b, "dest")
    ck.create_topic(source.bootstrap, TOPIC, PARTITIONS)
    create_link(net, source, dest)
    producer = ProducerProc(net, a, source.bootstrap, TOPIC, PARTITIONS)
    wait_until(lambda: mirrored(net, dest) >= 200, timeout=30, what="mirroring under way")
    return a, b, source, dest, producer


# --------------------------------------------------------------------------
# Tests


def test_a_cut_hangs_connections_and_a_heal_resumes_them(net):
    """The harness itself: across a cut an established connection neither errors nor
    closes, a new connect gets no answer, the other nodes are unaffected by a partial cut,
    and after the heal the same connection carries the bytes sent during the cut."""
    a, b = net.add_node("a"), net.add_node("b")
    server = net.popen(a, [sys.executable, "-c", (
        "import socket,sys\n"
        f"s=socket.create_server(('{a.addr}',0)); print(s.getsockname()[1], flush=True)\n"
        "while True:\n"
        "  c,_=s.accept()\n"
        "  while (d:=c.recv(65536)): c.sendall(d)\n")], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    conn = socket.create_connection((a.addr, port), timeout=5)
    conn.sendall(b"before")
    assert conn.recv(100) == b"before"

    net.cut(a, peers=["host"])
    conn.sendall(b"during")  # accepted into the socket buffer: nothing tells the sender
    conn.settimeout(1.0)
    with pytest.raises(TimeoutError):
        conn.recv(100)  # no data, and no EOF or reset either
    assert_connect_hangs(a.addr, port)
    # b is not cut from a: it still connects.
    probe = net.run(b, [sys.executable, "-c", f"import socket; socket.create_connection(('{a.addr}',{port}),timeout=5)"],
                    timeout=scaled(30))
    assert probe.returncode == 0, probe.stderr

    net.heal(a)
    conn.settimeout(scaled(30))  # the kernel's retransmission timer brings the bytes across
    got = b""
    while len(got) < len(b"during"):
        got += conn.recv(100)
    assert got == b"during"
    conn.close()


def test_source_cut_off_mid_stream_then_healed(net, brokers):
    a, b, source, dest, producer = start_mirroring(net, brokers)

    net.cut(a)
    cut_at = time.monotonic()
    # Within threshold x availability.check.ms (plus a check round and scheduling).
    bound = THRESHOLD * CHECK_MS / 1000 + 2 * CHECK_MS / 1000 + 5
    wait_until(lambda: link_json(net, dest)["state"] == "UNAVAILABLE", timeout=bound, what="link UNAVAILABLE")
    unavailable_after = time.monotonic() - cut_at
    assert_connect_hangs(a.addr, source.port)
    d = link_json(net, dest)
    assert d["error"] == "TIMEOUT_ERROR", d  # a hang, not a refused connection
    assert mirror_json(net, dest)["state"] == "SOURCE_UNAVAILABLE"

    # The destination keeps serving the mirrored prefix.
    frozen = [ck.watermarks(dest.bootstrap, TOPIC, p) for p in range(PARTITIONS)]
    for p, (_, hw) in enumerate(frozen):
        assert hw > 0
        got = [(m.offset(), int(m.value()[1:])) for m in ck.consume(dest.bootstrap, TOPIC, p, 0, hw)]
        assert [o for o, _ in got] == list(range(hw))
        assert all(seq % PARTITIONS == p for _, seq in got)
    # The source kept acknowledging writes inside its namespace; none reached the mirror.
    at_cut = producer.acked()
    wait_until(lambda: producer.acked() >= at_cut + 500, timeout=30, what="source acks during the cut")
    assert [ck.watermarks(dest.bootstrap, TOPIC, p) for p in range(PARTITIONS)] == frozen

    net.heal(a)
    wait_until(lambda: link_json(net, dest)["state"] == "ACTIVE", timeout=30, what="link ACTIVE after the heal")
    acks = producer.stop()
    wait_until(lambda: caught_up(dest.bootstrap, TOPIC, source.bootstrap, PARTITIONS), timeout=60, what="mirror caught up")
    assert mirror_json(net, dest)["state"] == "ACTIVE"
    n = verify(source, dest, acks)
    assert n > sum(hw for _, hw in frozen) + 500
    print(f"\nsource cut: link UNAVAILABLE {unavailable_after:.2f}s after the cut (config bound "
          f"{THRESHOLD}x{CHECK_MS} ms + a round); mirror frozen at {sum(hw for _, hw in frozen)} records "
          f"while the source acked on; {n} records identical after the heal")


def test_destination_cut_off_from_its_clients_keeps_mirroring(net, brokers):
    a, b, source, dest, producer = start_mirroring(net, brokers)
    reader = MirrorReader(dest.bootstrap, TOPIC, PARTITIONS)
    try:
        wait_until(lambda: reader.count() >= 100, timeout=30, what="host consumer reading the mirror")

        net.cut(b, peers=["host"])
        assert_connect_hangs(b.addr, dest.port)
        # Seen from inside a (which still reaches b): the link keeps copying and stays ACTIVE.
        at_cut = mirrored(net, dest, node="a")
        wait_until(lambda: mirrored(net, dest, node="a") >= at_cut + 500, timeout=30, what="mirroring during the cut")
        assert link_json(net, dest, node="a")["state"] == "ACTIVE"
        read_during = reader.count()
        # ... and nothing of it reached the host's consumer: b sent nothing newer than its
        # log end at the cut (at_cut, measured just after it) before the cut.
        assert read_during <= at_cut, (read_during, at_cut)

        net.heal(b)
        acks = producer.stop()
        wait_until(lambda: caught_up(dest.bootstrap, TOPIC, source.bootstrap, PARTITIONS), timeout=60,
                   what="mirror caught up")
        wait_until(lambda: reader.count() >= len(acks), timeout=60, what="host consumer resumed to the end")
    finally:
        got = reader.stop()
    n = verify(source, dest, acks)
    assert n == len(got) and n > read_during
    # The consumer that lived through the cut read every record once, in offset order.
    for p in range(PARTITIONS):
        mine = [r[1:] for r in got if r[0] == p]
        assert mine == records(source.bootstrap, TOPIC, p, len(mine)), f"{TOPIC}-{p}: consumer's records"
    print(f"\ndestination cut from its clients: the consumer had {read_during} records while the link "
          f"mirrored on past {at_cut}; it resumed after the heal and read all {n}, identical to the source")
