"""The Apache Kafka Java client (kafka-clients 3.9.1) for the protocol tests.

`java/StraitDriver.java` is compiled once per source version into
`protocol-tests/.work/java-classes/<hash>/` (gitignored) by the session fixture
`java_client` in conftest.py, and run as a subprocess; it prints one JSON object per line
(see the comment at its top). The jars come from `run-all.sh`'s install step
(`protocol-tests/java/lib`, or `$STRAIT_JAVA_LIB`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from conftest import scaled

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "java" / "StraitDriver.java"
JARS = ["kafka-clients.jar", "slf4j-api.jar", "lz4-java.jar", "snappy-java.jar", "zstd-jni.jar"]
# Short-lived JVMs: skip the optimising JIT and use the serial GC (start-up ~2x faster).
JVM_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss512k", "-Xmx256m"]


def lib_dir() -> Path:
    return Path(os.environ.get("STRAIT_JAVA_LIB", HERE / "java" / "lib"))


def missing() -> str | None:
    """Why the Java client cannot run here, or None."""
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (run-all.sh installs openjdk-17-jdk-headless)"
    absent = [j for j in JARS if not (lib_dir() / j).is_file()]
    if absent:
        return f"Kafka Java client jars missing in {lib_dir()}: {absent} (run `STRAIT_INSTALL_ONLY=1 bash protocol-tests/run-all.sh`)"
    return None


def compile_driver() -> Path:
    """Compile StraitDriver.java (cached by source + jar names); return the classes dir."""
    digest = hashlib.sha256(SOURCE.read_bytes() + "".join(JARS).encode()).hexdigest()[:16]
    out = HERE / ".work" / "java-classes" / digest
    if (out / "StraitDriver.class").is_file():
        return out
    tmp = out.with_name(f"{digest}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    p = subprocess.run(
        ["javac", "-nowarn", "-d", str(tmp), "-cp", classpath(None), str(SOURCE)],
        capture_output=True, text=True, timeout=scaled(120),
    )
    if p.returncode != 0:
        raise RuntimeError(f"javac failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    try:
        tmp.rename(out)
    except OSError:  # another process won the race; use its copy
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def classpath(classes: Path | None) -> str:
    parts = [str(lib_dir() / j) for j in JARS]
    return os.pathsep.join(([str(classes)] if classes else []) + parts)


def enc(b: bytes | None) -> str:
    return "." if b is None else base64.b64encode(b).decode()


def dec(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s)


@dataclass
class Outcome:
    """A produce callback: offset/partition, or the exception class and message."""

    i: int
    offset: int | None = None
    partition: int | None = None
    error: str | None = None
    message: str | None = None


@dataclass
class JavaProducer:
    """A long-lived KafkaProducer fed through stdin: send() queues a record, flush()
    waits for every callback so far. One JVM across many rounds, as an application's
    producer would be (same producer id and sequence numbers throughout)."""

    proc: subprocess.Popen
    stderr_path: Path
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    sent: int = 0
    _lines: list = field(default_factory=list)
    _cv: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self):
        threading.Thread(target=self._pump, daemon=True, name="java-producer-stdout").start()

    def _pump(self):
        for raw in self.proc.stdout:
            with self._cv:
                self._lines.append(json.loads(raw))
                self._cv.notify_all()
        with self._cv:
            self._lines.append({"eof": True})
            self._cv.notify_all()

    def _take_until(self, pred, timeout: float, what: str) -> dict:
        deadline = threading.Event()
        timer = threading.Timer(scaled(timeout), deadline.set)
        timer.start()
        try:
            with self._cv:
                while True:
                    while self._lines:
                        obj = self._lines.pop(0)
                        if "i" in obj:
                            self.outcomes[obj["i"]] = Outcome(**{k: obj.get(k) for k in ("i", "offset", "partition", "error", "message")})
                        elif pred(obj):
                            return obj
                        elif obj.get("eof"):
                            raise AssertionError(f"java producer exited ({self.proc.wait()}) while waiting for {what}; stderr:\n{self.stderr()}")
                    if deadline.is_set():
                        raise AssertionError(f"java producer: timed out after {scaled(timeout):.0f}s waiting for {what}; stderr:\n{self.stderr()}")
                    self._cv.wait(0.1)
        finally:
            timer.cancel()

    def send(self, key: bytes | None, value: bytes | None, partition: int | None = None,
             timestamp: int | None = None) -> int:
        """Queue one record; returns its index (the key of `outcomes`)."""
        opt = lambda x: "" if x is None else str(x)  # noqa: E731
        line = f"{enc(key)}\t{enc(value)}\t{opt(partition)}\t{opt(timestamp)}\n"
        self.proc.stdin.write(line.encode())
        self.sent += 1
        return self.sent - 1

    def flush(self, timeout: float = 60) -> dict[int, Outcome]:
        self.proc.stdin.write(b"!flush\n")
        self.proc.stdin.flush()
        self._take_until(lambda o: "flushed" in o, timeout, "flush")
        return self.outcomes

    def close(self, timeout: float = 60) -> dict[int, Outcome]:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self._take_until(lambda o: "done" in o, timeout, "close")
            self.proc.wait(scaled(timeout))
        return self.outcomes

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stderr(self) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-40:])
        except FileNotFoundError:
            return ""


class JavaClient:
    def __init__(self, classes: Path, workdir: Path):
        self.classes = classes
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._n = 0

    def argv(self, *args: str) -> list[str]:
        return ["java", *JVM_FLAGS, "-cp", classpath(self.classes), "StraitDriver", *args]

    def _stderr_file(self, what: str) -> Path:
        self._n += 1
        return self.workdir / f"java-{self._n}-{what}.stderr.log"

    def run(self, *args: str, stdin: str = "", timeout: float = 120) -> tuple[int, list[dict], str]:
        """Run one subcommand to completion: (exit status, JSON lines, stderr tail)."""
        err_path = self._stderr_file(args[0])
        with open(err_path, "wb") as err:
            p = subprocess.run(self.argv(*args), input=stdin.encode(), stdout=subprocess.PIPE, stderr=err,
                               timeout=scaled(timeout))
        lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
        tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-40:])
        return p.returncode, lines, tail

    def producer(self, bootstrap: str, topic: str, **props) -> JavaProducer:
        """props use _ for . (enable_idempotence=False); values are passed as strings."""
        kv = [f"{k.replace('_', '.')}={str(v).lower() if isinstance(v, bool) else v}" for k, v in props.items()]
        err_path = self._stderr_file("producer")
        proc = subprocess.Popen(self.argv("produce", bootstrap, topic, *kv), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=open(err_path, "wb"))
        return JavaProducer(proc, err_path)

    def produce(self, bootstrap: str, topic: str, records: list[tuple], timeout: float = 120, **props) -> list[Outcome]:
        """Produce (key, value[, partition[, timestamp]]) tuples with one producer; outcomes in send order."""
        p = self.producer(bootstrap, topic, **props)
        try:
            for r in records:
                p.send(*r)
            out = p.close(timeout)
        finally:
            p.kill()
        return [out.get(i, Outcome(i, error="(no callback)")) for i in range(len(records))]

    def consume(self, bootstrap: str, topic: str, partition: int = 0, start: int = -1,
                timeout: float = 60) -> tuple[list[tuple[int, bytes | None, bytes | None]], int, int]:
        """([(offset, key, value)] from `start` (default: the beginning) to the end offset, begin, end)."""
        rc, lines, err = self.run("consume", bootstrap, topic, str(partition), str(start),
                                  str(int(scaled(timeout) * 1000)), timeout=timeout + 60)
        if rc != 0 or not lines or "count" not in lines[-1]:
            raise AssertionError(f"java consume {topic}[{partition}] exited {rc}: last lines {lines[-3:]}\nstderr:\n{err}")
        head = lines[0]
        recs = [(l["offset"], dec(l["key"]), dec(l["value"])) for l in lines[1:-1]]
        return recs, head["begin"], head["end"]

    def create_topic(self, bootstrap: str, topic: str, partitions: int = 1, config: dict | None = None) -> dict:
        rc, lines, err = self.run("create-topic", bootstrap, topic, str(partitions),
                                  *[f"{k}={v}" for k, v in (config or {}).items()])
        if rc != 0 or not lines:
            raise AssertionError(f"java create-topic exited {rc}: {lines}\nstderr:\n{err}")
        return lines[-1]

    def consume_with(self, bootstrap: str, topic: str, partition: int = 0, start: int = -1, timeout: float = 60,
                     **props) -> tuple[list[tuple[int, bytes | None, bytes | None]], int, int]:
        """consume() with consumer props (_ for .), e.g. isolation_level="read_committed":
        ([(offset, key, value)], begin, end) where end is the end offset for that isolation
        level (the last stable offset under read_committed)."""
        kv = [f"{k.replace('_', '.')}={v}" for k, v in props.items()]
        rc, lines, err = self.run("consume", bootstrap, topic, str(partition), str(start),
                                  str(int(scaled(timeout) * 1000)), *kv, timeout=timeout + 60)
        if rc != 0 or not lines or "count" not in lines[-1]:
            raise AssertionError(f"java consume {topic}[{partition}] {kv} exited {rc}: last lines {lines[-3:]}\nstderr:\n{err}")
        head = lines[0]
        recs = [(l["offset"], dec(l["key"]), dec(l["value"])) for l in lines[1:-1]]
        return recs, head["begin"], head["end"]

    def _session(self, what: str, *args: str) -> "JavaSession":
        err_path = self._stderr_file(what)
        proc = subprocess.Popen(self.argv(*args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(err_path, "wb"))
        return JavaSession(proc, err_path)

    def txn_producer(self, bootstrap: str, topic: str, txn_id: str, **props) -> "JavaSession":
        """A transactional KafkaProducer (`txn-produce`); wait for its init with .init()."""
        kv = [f"{k.replace('_', '.')}={str(v).lower() if isinstance(v, bool) else v}" for k, v in props.items()]
        return self._session("txn", "txn-produce", bootstrap, topic, txn_id, *kv)

    def ctp(self, bootstrap: str, in_topic: str, out_topic: str, group: str, txn_id: str, **props) -> "JavaSession":
        """A consume-transform-produce application (`ctp`)."""
        kv = [f"{k.replace('_', '.')}={v}" for k, v in props.items()]
        return self._session("ctp", "ctp", bootstrap, in_topic, out_topic, group, txn_id, *kv)

    def admin(self, bootstrap: str, op: str, *args: str, timeout: float = 60) -> list[dict]:
        """One `admin` op: the result items; raises AssertionError carrying the Java error."""
        rc, lines, err = self.run("admin", bootstrap, op, *map(str, args), timeout=timeout)
        if rc != 0 or not lines or not ("ok" in lines[-1] or "error" in lines[-1]):
            raise AssertionError(f"java admin {op} exited {rc}: {lines[-3:]}\nstderr:\n{err}")
        if "error" in lines[-1]:
            raise JavaError(lines[-1]["error"], lines[-1].get("message"))
        return lines[:-1]


class JavaError(AssertionError):
    def __init__(self, cls: str, message: str | None):
        super().__init__(f"{cls}: {message}")
        self.cls = cls
        self.message = message


class JavaSession:
    """A scripted JVM (`txn-produce` / `ctp`): op() writes one command line and waits for
    its {"op": ...} answer; send() queues a record whose callback lands in `outcomes`."""

    def __init__(self, proc: subprocess.Popen, stderr_path: Path):
        self.proc = proc
        self.stderr_path = stderr_path
        self.outcomes: dict[int, Outcome] = {}
        self.sent = 0
        self.lines: list[dict] = []
        self._pending: list[dict] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._pump, daemon=True, name="java-session-stdout").start()

    def _pump(self):
        for raw in self.proc.stdout:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            with self._cv:
                self.lines.append(obj)
                if "i" in obj:
                    self.outcomes[obj["i"]] = Outcome(**{k: obj.get(k) for k in ("i", "offset", "partition", "error", "message")})
                else:
                    self._pending.append(obj)
                self._cv.notify_all()
        with self._cv:
            self._pending.append({"eof": True})
            self._cv.notify_all()

    def _wait(self, pred, timeout: float, what: str) -> dict:
        import time
        deadline = time.monotonic() + scaled(timeout)
        with self._cv:
            while True:
                for i, obj in enumerate(self._pending):
                    if pred(obj):
                        return self._pending.pop(i)
                    if obj.get("eof"):
                        raise AssertionError(f"java {what}: the JVM exited ({self.proc.wait()}); stderr:\n{self.stderr()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"java: timed out after {scaled(timeout):.0f}s waiting for {what}; stderr:\n{self.stderr()}")
                self._cv.wait(min(left, 0.2))

    def init(self, timeout: float = 90) -> dict:
        """The initTransactions() answer: {"op":"init","ok":true} or with "error"."""
        return self._wait(lambda o: o.get("op") == "init", timeout, "initTransactions")

    def op(self, line: str, timeout: float = 90) -> dict:
        name = line.split()[0]
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self._wait(lambda o: o.get("op") == name, timeout, f"'{line}'")

    def ok(self, line: str, timeout: float = 90) -> dict:
        r = self.op(line, timeout)
        assert r.get("ok"), f"java '{line}' failed: {r}\nstderr:\n{self.stderr()}"
        return r

    def send(self, key: bytes | None, value: bytes | None, partition: int | None = None) -> int:
        self.proc.stdin.write(f"{enc(key)}\t{enc(value)}\t{'' if partition is None else partition}\n".encode())
        self.proc.stdin.flush()
        self.sent += 1
        return self.sent - 1

    def wait_outcomes(self, n: int | None = None, timeout: float = 60) -> dict[int, Outcome]:
        n = self.sent if n is None else n
        import time
        deadline = time.monotonic() + scaled(timeout)
        with self._cv:
            while len(self.outcomes) < n:
                if time.monotonic() > deadline:
                    raise AssertionError(f"java: {len(self.outcomes)} of {n} callbacks; stderr:\n{self.stderr()}")
                self._cv.wait(0.2)
        return self.outcomes

    def close(self, timeout: float = 60) -> int:
        """EOF on stdin (the client closes), then the exit status."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                return self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def exit_now(self, timeout: float = 30) -> int:
        """Runtime.halt() inside the JVM: nothing is flushed, closed or aborted."""
        self.proc.stdin.write(b"exit-now\n")
        self.proc.stdin.flush()
        return self.proc.wait(scaled(timeout))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stderr(self) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-40:])
        except FileNotFoundError:
            return ""
