"""Shared pieces of the end-to-end benchmark harnesses: brokers on free loopback ports in
fresh temporary directories, waits with deadlines, per-process CPU accounting, machine load,
and cleanup of every process this harness started (on normal exit, exceptions, SIGINT and
SIGTERM)."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")

_procs = []      # every Popen we started, stopped at exit
_dirs = []       # temp dirs to remove at exit (unless --keep)


def _cleanup() -> None:
    for p in reversed(_procs):
        if p.poll() is None:
            p.terminate()
    for p in reversed(_procs):
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    _procs.clear()
    if not os.environ.get("BENCH_KEEP"):
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)
    _dirs.clear()


def _on_signal(signum, _frame):
    _cleanup()
    sys.exit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def spawn(cmd: list, log_path: str, **kw) -> subprocess.Popen:
    """Starts a process whose output goes to log_path; it is stopped when the harness exits."""
    log = open(log_path, "wb")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **kw)
    log.close()
    _procs.append(p)
    return p


def stop(p: subprocess.Popen, timeout: float = 10) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in _procs:
        _procs.remove(p)


def temp_dir(prefix: str, base: str = None) -> str:
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    _dirs.append(d)
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, deadline_s: float, proc: subprocess.Popen = None) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {deadline_s}s")


def wait_until(cond, deadline_s: float, what: str, interval: float = 0.1):
    """Calls cond() until it returns a truthy value (returned) or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(interval)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def strait_bin(name: str = "strait") -> str:
    """A release binary of this repository: $STRAIT_BIN_DIR/NAME (to benchmark a build made
    elsewhere, e.g. from `git archive` of a commit), else target/release/NAME."""
    return os.path.join(os.environ.get("STRAIT_BIN_DIR", os.path.join(ROOT, "target/release")), name)


class Strait:
    """A Strait broker on a free loopback port with a fresh log dir."""

    def __init__(self, name: str, workdir: str, overrides: list = ()):
        self.name = name
        self.port = free_port()
        self.data = os.path.join(workdir, f"{name}-data")
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.cmd = [strait_bin(), "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "--override", f"log.dirs={self.data}"]
        for o in overrides:
            self.cmd += ["--override", o]
        self.proc = None

    def start(self) -> "Strait":
        self.proc = spawn(self.cmd, self.log_path)
        wait_port(self.port, 30, self.proc)
        return self

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def partition_files(self, topic: str, partition: int) -> list:
        d = os.path.join(self.data, f"{topic}-{partition}")
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".log"))
