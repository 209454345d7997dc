#!/usr/bin/env python3
"""Metadata commit latency: wall time of one CreateTopics (1 partition, no configs) against
one Strait, sequentially, against the disk's share of a commit measured in the same run.

Each CreateTopics is one metadata change: in a build with the metadata log it is one
quorum entry (an fsync'd log append, applied to the image); in an older build it is a
rewrite of `strait-metadata.json` (write temp, fsync, rename, fsync the directory). Either way
the partition directory is created after it. The round trip is timed on one open socket with
no client library (a CreateTopics v4 request, the response read whole), so the figure is the
broker's, not librdkafka's. Reference, same run and disk: a 4 KiB write + fsync (what a
log append costs) and the same + rename + directory fsync (what the JSON rewrite costs
besides serialising the whole image), in the broker's data directory. Then the broker is
restarted twice on that data dir (after `kill -9`, and after SIGTERM) and timed from spawn to
its port accepting connections: the metadata share of a restart (opening the metadata log and
replaying its entries, or reading the JSON image), with --topics topics of 1 empty partition.

    CARGO_TARGET_DIR=/work/target-h3 cargo build --release --bins
    STRAIT_BIN_DIR=/work/target-h3/release protocol-tests/.venv/bin/python benches/e2e/metadata_commit.py
    STRAIT_BIN_DIR=/tmp/strait-before protocol-tests/.venv/bin/python benches/e2e/metadata_commit.py  # an older build
"""

import argparse
import json
import os
import signal
import socket
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Strait, loadavg, temp_dir  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True)


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def create_topics_v4(name: str, correlation: int) -> bytes:
    """CreateTopics v4 (not flexible): one topic, 1 partition, replication factor 1."""
    body = struct.pack(">i", 1) + _str(name) + struct.pack(">ihii", 1, 1, 0, 0)
    body += struct.pack(">i?", 30000, False)
    header = struct.pack(">hhi", 19, 4, correlation) + _str("metadata-commit-bench")
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


def read_response(sock: socket.socket) -> bytes:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return buf
    (size,) = struct.unpack(">i", exact(4))
    return exact(size)


def error_code(resp: bytes, name: str) -> int:
    # correlation id, throttle_time_ms, topics array of 1: name, error_code, ...
    off = 4 + 4 + 4
    (n,) = struct.unpack_from(">h", resp, off)
    off += 2
    assert resp[off:off + n].decode() == name, resp
    off += n
    (code,) = struct.unpack_from(">h", resp, off)
    return code


def disk_reference(data_dir: str, samples: int) -> dict:
    append, rewrite = [], []
    for i in range(samples):
        path = os.path.join(data_dir, f"fsync-probe-{i}.tmp")
        t = time.perf_counter()
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        os.write(fd, b"x" * 4096)
        os.fsync(fd)
        os.close(fd)
        append.append((time.perf_counter() - t) * 1000)
        os.rename(path, path + ".done")
        dfd = os.open(data_dir, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        rewrite.append((time.perf_counter() - t) * 1000)
        os.unlink(path + ".done")
    return {"write_fsync_ms": round(statistics.median(append), 3),
            "write_fsync_rename_dirsync_ms": round(statistics.median(rewrite), 3)}


def timed_restart(broker: Strait, how: str) -> float:
    if how == "kill9":
        broker.proc.send_signal(signal.SIGKILL)
        broker.proc.wait(timeout=30)
    else:
        broker.stop()
    t = time.perf_counter()
    broker.proc = common.spawn(broker.cmd, broker.log_path + f".{how}")
    end = time.monotonic() + 60
    while True:
        if broker.proc.poll() is not None:
            raise RuntimeError(f"broker exited with {broker.proc.returncode} on restart ({how})")
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=0.2):
                return time.perf_counter() - t
        except OSError:
            if time.monotonic() > end:
                raise TimeoutError(f"not listening 60 s after the {how} restart")
            time.sleep(0.002)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topics", type=int, default=300, help="CreateTopics requests, one after another")
    ap.add_argument("--fsync-samples", type=int, default=50)
    args = ap.parse_args()
    work = temp_dir("strait-metadata-commit-")
    broker = Strait("dst", work).start()
    result = {"bin": common.strait_bin(), "load_start": loadavg(), "topics": args.topics}
    try:
        sock = socket.create_connection(("127.0.0.1", broker.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for i in range(args.topics):
            name = f"commit-{i}"
            t = time.perf_counter()
            sock.sendall(create_topics_v4(name, i))
            resp = read_response(sock)
            times.append((time.perf_counter() - t) * 1000)
            code = error_code(resp, name)
            if code != 0:
                raise RuntimeError(f"CreateTopics {name}: error {code}")
        times.sort()
        result["create_topic_ms_median"] = round(statistics.median(times), 3)
        result["create_topic_ms_p90"] = round(times[int(len(times) * 0.9)], 3)
        result["create_topic_ms_p99"] = round(times[int(len(times) * 0.99)], 3)
        result.update(disk_reference(broker.data, args.fsync_samples))
        result["median_over_write_fsync"] = round(
            result["create_topic_ms_median"] / result["write_fsync_ms"], 2)
        sock.close()
        for how in ("kill9", "clean"):
            result[f"restart_{how}_ready_s"] = round(timed_restart(broker, how), 3)
        # Every acknowledged topic is still there: creating the first again is refused.
        sock = socket.create_connection(("127.0.0.1", broker.port))
        sock.sendall(create_topics_v4("commit-0", 1))
        if error_code(read_response(sock), "commit-0") != 36:
            raise RuntimeError("commit-0 is gone after the restarts")
        sock.close()
        result["load_end"] = loadavg()
    finally:
        broker.stop()
    log(json.dumps(result))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
