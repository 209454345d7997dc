"""Raw log reading for the cluster-link tests: Fetch v4 (non-flexible) over a plain socket,
returning the record batches exactly as the broker stores them, so tests can compare a
source partition and its mirror byte for byte. Written from the Kafka protocol guide."""

from __future__ import annotations

import socket
import struct

API_FETCH = 1


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def fetch_v4(topic: str, partition: int, offset: int, max_bytes: int = 8 << 20, corr: int = 1) -> bytes:
    header = struct.pack(">hhi", API_FETCH, 4, corr) + _string("link-tests")
    body = struct.pack(">iiiib", -1, 0, 1, max_bytes, 0)  # replica, max_wait, min_bytes, max_bytes, isolation
    body += struct.pack(">i", 1) + _string(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqi", partition, offset, max_bytes)
    return _frame(header + body)


def fetch_v11(topic: str, partition: int, offset: int, max_bytes: int = 8 << 20, corr: int = 1) -> bytes:
    """Fetch v11: the last pre-flexible version (what the link falls back to for sources whose
    flexible Fetch encoding is broken)."""
    header = struct.pack(">hhi", API_FETCH, 11, corr) + _string("link-tests")
    body = struct.pack(">iiiib", -1, 0, 1, max_bytes, 0)  # replica, max_wait, min_bytes, max_bytes, isolation
    body += struct.pack(">ii", 0, -1)  # session id, session epoch (sessionless)
    body += struct.pack(">i", 1) + _string(topic) + struct.pack(">i", 1)
    body += struct.pack(">iiqqi", partition, -1, offset, -1, max_bytes)  # current epoch, log start
    body += struct.pack(">i", 0)  # forgotten topics
    body += _string("")  # rack id
    return _frame(header + body)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        out += chunk
    return out


def _parse_fetch(body: bytes, version: int) -> tuple[int, int, bytes]:
    """(error_code, high_watermark, records) of the single partition (v4 or v11)."""
    pos = 4  # throttle_time_ms
    if version >= 7:
        pos += 2 + 4  # error_code, session_id
    (ntopics,) = struct.unpack_from(">i", body, pos)
    pos += 4
    assert ntopics == 1, ntopics
    (tlen,) = struct.unpack_from(">h", body, pos)
    pos += 2 + tlen
    (nparts,) = struct.unpack_from(">i", body, pos)
    pos += 4
    assert nparts == 1, nparts
    _p, err, hw, _lso = struct.unpack_from(">ihqq", body, pos)
    pos += 4 + 2 + 8 + 8
    if version >= 5:
        pos += 8  # log_start_offset
    (naborted,) = struct.unpack_from(">i", body, pos)
    pos += 4 + max(naborted, 0) * 16
    if version >= 11:
        pos += 4  # preferred_read_replica
    (rlen,) = struct.unpack_from(">i", body, pos)
    pos += 4
    records = body[pos : pos + max(rlen, 0)]
    return err, hw, records


def batches(records: bytes):
    """(base_offset, last_offset, bytes) of each complete batch."""
    pos = 0
    while pos + 12 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        end = pos + 12 + length
        if end > len(records):
            return
        (last_delta,) = struct.unpack_from(">i", records, pos + 23)
        yield base, base + last_delta, records[pos:end]
        pos = end


def read_log(addr: str, topic: str, partition: int, start: int = 0, version: int = 4) -> list[tuple[int, int, bytes]]:
    """Every batch of a partition from `start` to its high watermark (Fetch v4 or v11)."""
    host, port = addr.rsplit(":", 1)
    out: list[tuple[int, int, bytes]] = []
    offset = start
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        corr = 0
        while True:
            corr += 1
            request = fetch_v11 if version >= 11 else fetch_v4
            sock.sendall(request(topic, partition, offset, corr=corr))
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            resp = _recv_exact(sock, size)
            (got_corr,) = struct.unpack_from(">i", resp, 0)
            assert got_corr == corr
            err, hw, records = _parse_fetch(resp[4:], version)
            if err != 0:
                raise RuntimeError(f"fetch {topic}-{partition}@{offset} from {addr}: error {err}")
            progressed = False
            for base, last, raw in batches(records):
                if last >= offset:
                    out.append((base, last, raw))
                    offset = last + 1
                    progressed = True
            if not progressed or offset >= hw:
                return out
