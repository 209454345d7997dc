"""The strait processes of the soak and the CLIs it runs.

A `Broker` takes a free port on its first start (port 0) and keeps it across restarts;
every broker started is in `LIVE` so `cleanup` can SIGKILL them all on any exit, and each
gets PR_SET_PDEATHSIG so none outlives the script.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from .common import READY_RE, HarnessError



def _die_with_parent() -> None:
    # SIGKILL the broker if this script dies (PR_SET_PDEATHSIG). Brokers are only ever
    # spawned from the main thread, which lives as long as the script.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:  # noqa: BLE001
        pass


LIVE: list["Broker"] = []


class Broker:
    """One strait process, restartable on the same port and data dir."""

    def __init__(self, binary: Path, workdir: Path, name: str, overrides: dict[str, str] | None = None):
        self.binary = binary
        self.name = name
        self.workdir = workdir / name
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.workdir / "stderr.log"
        self.overrides = overrides or {}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0
        LIVE.append(self)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start (port 0 the first time, then the same port). Returns seconds to the ready line."""
        argv = [str(self.binary), "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--override", f"log.dirs={self.data_dir}"]
        for k, v in self.overrides.items():
            argv += ["--override", f"{k}={v}"]
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        while True:
            self.starts += 1
            with open(self.stderr_path, "ab") as err:
                err.write(f"\n===== start #{self.starts}: {' '.join(argv)}\n".encode())
                err.flush()
                self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                             cwd=self.workdir, preexec_fn=_die_with_parent,
                                             env={**os.environ, "RUST_BACKTRACE": "1"})
            port = self._await_ready(deadline)
            if port is not None:
                if self.port and port != self.port:
                    raise HarnessError(f"{self.name}: asked for port {self.port}, strait reports {port}")
                self.port = port
                return time.monotonic() - t0
            # Exited before the ready line (e.g. a bind race): retry until the deadline.
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name} did not start within {timeout:.0f}s (exit {self.proc.returncode})\n{self.stderr_tail()}")
            time.sleep(0.05)

    def _await_ready(self, deadline: float) -> int | None:
        assert self.proc and self.proc.stdout
        found: dict = {}
        ready = threading.Event()
        proc = self.proc

        def pump():
            for raw in proc.stdout:
                m = READY_RE.match(raw.decode(errors="replace").rstrip("\n"))
                if m and not ready.is_set():
                    found["port"] = int(m["port"])
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        while not ready.wait(0.01):
            if proc.poll() is not None:
                return None
            if time.monotonic() > deadline:
                self.kill9()
                raise HarnessError(f"{self.name} printed no ready line in time\n{self.stderr_tail()}")
        return found["port"]

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def stderr_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no stderr)"


def cleanup() -> None:
    for b in LIVE:
        try:
            b.kill9()
        except Exception:  # noqa: BLE001
            pass


def cli(binary: Path, *args: str) -> str:
    p = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise HarnessError(f"{binary.name} {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p.stdout

