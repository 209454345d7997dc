"""What every part of the soak shares: the topic and link names, the codecs the writers
take in turn, progress logging, the librdkafka logger (one file in the work dir, set once
by `soak.py` before any client starts), deadline-bounded waits and percentiles.

Importing this puts protocol-tests/ on sys.path (for `kafka_wire`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "protocol-tests"))

READY_RE = re.compile(r"^strait: listening on PLAINTEXT://(?P<host>[^:\s]+):(?P<port>\d+)\s*$")
TOPIC = "soak"
LINK = "soak-link"
CODECS = ["none", "lz4", "zstd", "snappy", "gzip"]


def client_logger(path: Path) -> logging.Logger:
    """librdkafka's log lines (a disconnect per kill) go to a file in the work dir, not the terminal."""
    lg = logging.getLogger("librdkafka")
    if not lg.handlers:
        h = logging.FileHandler(path)
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        lg.addHandler(h)
        lg.setLevel(logging.DEBUG if os.environ.get("SOAK_RDKAFKA_DEBUG") else logging.INFO)
        lg.propagate = False
    return lg


_CLIENT_LOG: logging.Logger | None = None


def set_client_log(path: Path) -> None:
    """Sends librdkafka's log lines to `path` from now on (called once, before any client)."""
    global _CLIENT_LOG
    _CLIENT_LOG = client_logger(path)


def client_log() -> logging.Logger | None:
    """The logger every librdkafka client of the soak is given (`None` before `set_client_log`)."""
    return _CLIENT_LOG


class HarnessError(RuntimeError):
    """The harness could not do its job (a deadline passed, a broker did not start)."""


def log(msg: str) -> None:
    sys.stderr.write(f"[soak {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def wait_until(cond, timeout: float, what: str, interval: float = 0.02):
    """Poll cond() until truthy (exceptions count as not yet); HarnessError at the deadline."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported at the deadline
            last = e
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}" + (f"; last error: {last!r}" if last else ""))
        time.sleep(interval)


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))  # nearest rank
    return round(s[k], 3)


def dist(xs: list[float]) -> dict:
    return {"p50": pct(xs, 50), "p99": pct(xs, 99), "max": round(max(xs), 3) if xs else None}

