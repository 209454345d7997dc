"""Shared fixtures for the real-client conformance suite.

The broker under test is the `strait` binary named by $STRAIT_BIN (default:
<repo>/target/debug/strait). Every test gets its own broker on port 0 in its own
temporary directory, so tests never share state.
"""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

READY_RE = re.compile(r"^strait: listening on PLAINTEXT://(?P<host>[^:\s]+):(?P<port>\d+)\s*$")

# Deadlines are multiplied by this on slow machines (CI sets CI=true).
TIME_SCALE = float(os.environ.get("STRAIT_TEST_TIME_SCALE", "3" if os.environ.get("CI") else "1"))


def scaled(seconds: float) -> float:
    return seconds * TIME_SCALE


def strait_bin() -> Path:
    return Path(os.environ.get("STRAIT_BIN", REPO / "target" / "debug" / "strait"))


def client_missing(reason: str):
    """Marker for a test module whose client is not installed: skip when run
    by hand, but fail collection under run-all.sh (STRAIT_REQUIRE_ALL_CLIENTS=1),
    where a missing client means the install step is broken."""
    if os.environ.get("STRAIT_REQUIRE_ALL_CLIENTS"):
        pytest.fail(f"{reason} (STRAIT_REQUIRE_ALL_CLIENTS is set)", pytrace=False)
    return pytest.mark.skip(reason=reason)


# --------------------------------------------------------------------------
# Waiting helpers (deadlines, never fixed sleeps)


class Timeout(AssertionError):
    pass


def wait_until(cond, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Call cond() until it returns a truthy value; return that value.

    Exceptions raised by cond() count as "not yet"; the last one is reported
    if the deadline passes."""
    deadline = time.monotonic() + scaled(timeout)
    last_exc: BaseException | None = None
    last_val = None
    while True:
        try:
            last_val = cond()
            if last_val:
                return last_val
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_exc!r}" if last_exc else f"; last value: {last_val!r}"
            raise Timeout(f"timed out after {scaled(timeout):.1f}s waiting for {what}{detail}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# Broker process


class BrokerStartError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL the broker if pytest dies, so an
    interrupted run never leaves brokers behind (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except Exception:  # noqa: BLE001 - best effort; not Linux or no libc
        pass


class Broker:
    """One strait process (restartable on the same port and data dir)."""

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None, name: str = "strait"):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.overrides = dict(overrides or {})
        self.name = name
        self.stderr_path = workdir / f"{name}.stderr.log"
        self.stdout_lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.starts = 0

    # -- lifecycle ---------------------------------------------------------

    def _argv(self, port: int) -> list[str]:
        argv = [
            str(strait_bin()),
            "--override",
            f"listeners=PLAINTEXT://127.0.0.1:{port}",
            "--override",
            f"log.dirs={self.data_dir}",
        ]
        for k, v in self.overrides.items():
            argv += ["--override", f"{k}={v}"]
        return argv

    def start(self, port: int = 0, timeout: float = 30.0) -> "Broker":
        binp = strait_bin()
        if not binp.exists():
            raise BrokerStartError(
                f"strait binary not found at {binp}; build it with `cargo build --bin strait` or set STRAIT_BIN"
            )
        self.starts += 1
        err = open(self.stderr_path, "ab")
        err.write(f"\n===== start #{self.starts}: {' '.join(self._argv(port))}\n".encode())
        err.flush()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(
            self._argv(port),
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.workdir,
            preexec_fn=_die_with_parent,
        )
        err.close()
        ready = threading.Event()
        found: dict[str, str] = {}
        proc = self.proc

        def pump():
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                self.stdout_lines.append(line)
                m = READY_RE.match(line)
                if m and not ready.is_set():
                    found.update(m.groupdict())
                    ready.set()

        threading.Thread(target=pump, daemon=True, name=f"{self.name}-stdout").start()
        deadline = time.monotonic() + scaled(timeout)
        while not ready.wait(0.02):
            if proc.poll() is not None:
                raise BrokerStartError(
                    f"strait exited with status {proc.returncode} before printing the ready line\n"
                    f"stdout: {self.stdout_lines[-5:]}\nstderr tail:\n{self.stderr_tail()}"
                )
            if time.monotonic() > deadline:
                self._kill()
                raise BrokerStartError(
                    f"strait did not print its ready line within {scaled(timeout):.0f}s\n"
                    f"stdout: {self.stdout_lines[-5:]}\nstderr tail:\n{self.stderr_tail()}"
                )
        self.host = found["host"]
        got_port = int(found["port"])
        if port and got_port != port:
            raise BrokerStartError(f"asked for port {port}, strait reports {got_port}")
        if got_port == 0:
            raise BrokerStartError("strait advertised port 0; it must report the bound port")
        self.port = got_port
        return self

    def restart(self, timeout: float = 30.0) -> "Broker":
        """Start again on the same port and data dir (after kill9() or stop()).

        The port is free the moment the old process is gone (strait binds with
        SO_REUSEADDR, as tokio does), so a bind failure is a real failure;
        nevertheless a start that dies within the deadline is retried, and the
        retries are visible in the stderr log."""
        assert self.port, "restart() before start()"
        assert self.proc is None or self.proc.poll() is not None, "restart() while running"
        deadline = time.monotonic() + scaled(timeout)
        while True:
            try:
                return self.start(self.port, timeout=max(1.0, (deadline - time.monotonic()) / TIME_SCALE))
            except BrokerStartError:
                if time.monotonic() > deadline or (self.proc and self.proc.poll() is None):
                    raise
                time.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after the timeout. Returns the exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            with open(self.stderr_path, "ab") as f:
                f.write(b"\n===== harness: SIGTERM ignored, sending SIGKILL\n")
            self._kill()
            return self.proc.returncode

    # -- info --------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def bootstrap(self) -> str:
        assert self.port, "broker not started"
        return f"{self.host}:{self.port}"

    def stderr_tail(self, lines: int = 60) -> str:
        try:
            data = self.stderr_path.read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return "(no stderr file)"
        return "\n".join(data.splitlines()[-lines:])


# --------------------------------------------------------------------------
# pytest wiring


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    brokers: list[Broker] = getattr(item, "_strait_brokers", [])
    if rep.failed and brokers:
        for b in brokers:
            state = "running" if b.alive else f"exited ({b.proc.returncode if b.proc else 'never started'})"
            rep.sections.append(
                (f"strait stderr tail [{b.name}, {state}, {b.stderr_path}]", b.stderr_tail())
            )


@pytest.fixture
def broker_factory(request, tmp_path):
    """broker_factory(**overrides) -> started Broker. Stopped at teardown."""
    made: list[Broker] = []
    request.node._strait_brokers = made

    def make(name: str = "strait", start: bool = True, overrides: dict | None = None, **kw) -> Broker:
        """Keyword overrides use _ for . (num_partitions=3); pass `overrides`
        for keys that need it spelled exactly."""
        ov = {k.replace("_", "."): str(v) for k, v in kw.items()}
        ov.update({k: str(v) for k, v in (overrides or {}).items()})
        b = Broker(tmp_path / f"{name}-{len(made)}", ov, name)
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    # Destroy clients the test leaked (e.g. through reference cycles) while the
    # brokers are still up, so they close cleanly instead of logging connection
    # errors at interpreter exit.
    gc.collect()
    for b in made:
        b.stop()
        if b.proc is not None and b.proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL, None):
            # A non-zero exit on SIGTERM is worth knowing about but is not this test's subject.
            sys.stderr.write(f"\nnote: {b.name} exited with status {b.proc.returncode} on SIGTERM\n")


@pytest.fixture
def broker(broker_factory) -> Broker:
    return broker_factory()


@pytest.fixture
def topic(request) -> str:
    """A topic name unique to this test invocation."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:120]
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unique_name(request):
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:100]

    def make(suffix: str = "") -> str:
        return f"{base}{'-' + suffix if suffix else ''}-{uuid.uuid4().hex[:8]}"

    return make


# --------------------------------------------------------------------------
# The Apache Kafka Java client (java_client.py, java/StraitDriver.java)


@pytest.fixture(scope="session")
def java_classes():
    """StraitDriver compiled once per session (cached in .work/java-classes by source hash).
    Skips when Java or the jars are missing; under run-all.sh that is a failure instead."""
    import java_client

    reason = java_client.missing()
    if reason:
        if os.environ.get("STRAIT_REQUIRE_ALL_CLIENTS"):
            pytest.fail(f"{reason} (STRAIT_REQUIRE_ALL_CLIENTS is set)", pytrace=False)
        pytest.skip(reason)
    return java_client.compile_driver()


@pytest.fixture
def java(java_classes, tmp_path):
    """A java_client.JavaClient whose JVM stderr logs go to this test's tmp dir."""
    import java_client

    return java_client.JavaClient(java_classes, tmp_path / "java")
