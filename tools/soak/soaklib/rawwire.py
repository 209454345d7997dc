"""Raw wire: watermarks and record batches as stored (ListOffsets v1, Fetch v4), with no
client library in the way, so a byte comparison sees exactly what each broker stores.
"""

from __future__ import annotations

import hashlib
import struct

from . import common  # noqa: F401  (puts protocol-tests/ on sys.path)
import kafka_wire as kw  # noqa: E402



class Wire:
    def __init__(self, addr: str, timeout: float = 10.0):
        host, port = addr.rsplit(":", 1)
        self.conn = kw.Conn(host, int(port), timeout=timeout)
        self.corr = 0

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def list_offset(self, topic: str, partition: int, ts: int) -> int:
        self.corr += 1
        body = self.conn.roundtrip(kw.list_offsets_request_v1(topic, partition, ts, self.corr), self.corr)
        err, _ts, off = kw.parse_list_offsets_v1(body)[(topic, partition)]
        if err:
            raise RuntimeError(f"ListOffsets {topic}-{partition}: error {err}")
        return off

    def fetch(self, topic: str, partition: int, offset: int, max_bytes: int = 1 << 20) -> kw.FetchPartition:
        self.corr += 1
        req = kw.fetch_request_v4(topic, partition, offset, self.corr, max_bytes=max_bytes, partition_max_bytes=max_bytes)
        return kw.parse_fetch_v4(self.conn.roundtrip(req, self.corr))[(topic, partition)]


def watermarks(addr: str, topic: str, partitions: int) -> list[tuple[int, int]]:
    with Wire(addr, timeout=5) as w:
        return [(w.list_offset(topic, p, -2), w.list_offset(topic, p, -1)) for p in range(partitions)]


def high_watermarks(addr: str, topic: str, partitions: int) -> list[int]:
    with Wire(addr, timeout=5) as w:
        return [w.list_offset(topic, p, -1) for p in range(partitions)]


def raw_batches(w: Wire, topic: str, partition: int, start: int, end: int):
    """(base, last, bytes) of every complete batch from `start` up to offset `end` (exclusive)."""
    offset = start
    while offset < end:
        fp = w.fetch(topic, partition, offset)
        if fp.error_code:
            raise RuntimeError(f"fetch {topic}-{partition}@{offset}: error {fp.error_code}")
        recs = fp.records or b""
        pos, progressed = 0, False
        while pos + 12 <= len(recs):
            base, length = struct.unpack_from(">qi", recs, pos)
            stop = pos + 12 + length
            if stop > len(recs):
                break  # partial trailing batch
            (last_delta,) = struct.unpack_from(">i", recs, pos + 23)
            last = base + last_delta
            if last >= offset and base < end:
                yield base, last, recs[pos:stop]
                offset = last + 1
                progressed = True
            pos = stop
        if not progressed:
            raise RuntimeError(f"fetch {topic}-{partition}@{offset} made no progress (HWM {fp.high_watermark}, end {end})")


def compare_raw(src: str, dst: str, topic: str, partitions: int, ends: list[int]) -> dict:
    """Byte-compare the batches of both logs from 0 up to ends[p]. Stops at the first difference."""
    out = {"batches": 0, "bytes": 0, "divergence": None}
    with Wire(src) as a, Wire(dst) as b:
        for p in range(partitions):
            ga, gb = raw_batches(a, topic, p, 0, ends[p]), raw_batches(b, topic, p, 0, ends[p])
            while True:
                x, y = next(ga, None), next(gb, None)
                if x is None and y is None:
                    break
                if x is None or y is None or x[:2] != y[:2] or x[2] != y[2]:
                    out["divergence"] = {
                        "partition": p,
                        "source": None if x is None else [x[0], x[1], len(x[2]), hashlib.sha256(x[2]).hexdigest()[:16]],
                        "mirror": None if y is None else [y[0], y[1], len(y[2]), hashlib.sha256(y[2]).hexdigest()[:16]],
                    }
                    return out
                out["batches"] += 1
                out["bytes"] += len(x[2])
    return out

