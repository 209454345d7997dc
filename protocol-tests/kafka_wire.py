"""Hand-encoded Kafka wire messages for the bad-input tests.

Only what the tests need: request framing (header v1/v2), ApiVersions v0/v3,
Metadata v1, Produce v3, Fetch v4, ListOffsets v1, and record batch v2
encoding/decoding with a pure-Python CRC-32C. Written from the Kafka protocol guide; deliberately tiny
and independent of any client library, so a test can send bytes that no
well-behaved client would send.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

# --------------------------------------------------------------------------
# Primitive encoders


def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def kbytes(b: bytes | None) -> bytes:
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items: list[bytes] | None) -> bytes:
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def uvarint(v: int) -> bytes:
    assert v >= 0
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v: int) -> bytes:
    """Zig-zag signed varint (as used inside records)."""
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


EMPTY_TAGS = uvarint(0)

# --------------------------------------------------------------------------
# Primitive decoder


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"read past end: need {n} at {self.pos}, have {len(self.data)}")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def i8(self) -> int:
        return struct.unpack(">b", self._take(1))[0]

    def i16(self) -> int:
        return struct.unpack(">h", self._take(2))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def i64(self) -> int:
        return struct.unpack(">q", self._take(8))[0]

    def string(self) -> str | None:
        n = self.i16()
        return None if n < 0 else self._take(n).decode()

    def uvarint(self) -> int:
        shift = 0
        v = 0
        while True:
            b = self._take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7

    def compact_string(self) -> str | None:
        n = self.uvarint()
        return None if n == 0 else self._take(n - 1).decode()

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self._take(self.uvarint())

    def remaining(self) -> int:
        return len(self.data) - self.pos


# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), table driven


def _make_table() -> list[int]:
    poly = 0x82F63B78
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # RFC 3720 check value

# --------------------------------------------------------------------------
# Record batch v2


@dataclass
class Record:
    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp_delta: int = 0


def encode_record(offset_delta: int, r: Record) -> bytes:
    body = bytearray()
    body += i8(0)  # attributes
    body += varint(r.timestamp_delta)
    body += varint(offset_delta)
    for b in (r.key, r.value):
        if b is None:
            body += varint(-1)
        else:
            body += varint(len(b)) + b
    body += varint(len(r.headers))
    for hk, hv in r.headers:
        kb = hk.encode()
        body += varint(len(kb)) + kb
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def raw_record_batch(record_bytes: bytes, count: int, base_timestamp: int, attributes: int = 0) -> bytes:
    """A batch around already-encoded (possibly hostile) record bytes, with a valid CRC."""
    after_crc = (
        i16(attributes) + i32(count - 1) + i64(base_timestamp) + i64(base_timestamp)
        + i64(-1) + i16(-1) + i32(-1) + i32(count) + record_bytes
    )
    return i64(0) + i32(4 + 1 + 4 + len(after_crc)) + i32(-1) + i8(2) + u32(crc32c(after_crc)) + after_crc


def record_batch(
    records: list[Record],
    base_timestamp: int | None = None,
    *,
    corrupt_crc: bool = False,
    batch_length_delta: int = 0,
    truncate_to: int | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """Encode an uncompressed magic-2 batch with base offset 0.

    corrupt_crc flips the stored CRC; batch_length_delta lies about batchLength;
    truncate_to cuts the finished batch to that many bytes (after CRC)."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    recs = b"".join(encode_record(i, r) for i, r in enumerate(records))
    max_ts = base_timestamp + max((r.timestamp_delta for r in records), default=0)
    after_crc = (
        i16(0)  # attributes: no compression, CreateTime, not transactional
        + i32(len(records) - 1)  # lastOffsetDelta
        + i64(base_timestamp)
        + i64(max_ts)
        + i64(producer_id)
        + i16(producer_epoch)
        + i32(base_sequence)
        + i32(len(records))
        + recs
    )
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    # batchLength counts from partitionLeaderEpoch to the end.
    batch_length = 4 + 1 + 4 + len(after_crc) + batch_length_delta
    batch = i64(0) + i32(batch_length) + i32(-1) + i8(2) + u32(crc) + after_crc
    if truncate_to is not None:
        batch = batch[:truncate_to]
    return batch


# --------------------------------------------------------------------------
# Requests

API_PRODUCE = 0
API_LIST_OFFSETS = 2
API_METADATA = 3
API_API_VERSIONS = 18

CLIENT_ID = "strait-protocol-tests"


def request_header_v1(api_key: int, version: int, corr: int, client_id: str | None = CLIENT_ID) -> bytes:
    return i16(api_key) + i16(version) + i32(corr) + string(client_id)


def request_header_v2(api_key: int, version: int, corr: int, client_id: str | None = CLIENT_ID) -> bytes:
    return request_header_v1(api_key, version, corr, client_id) + EMPTY_TAGS


def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


def api_versions_request(version: int, corr: int) -> bytes:
    if version >= 3:
        body = compact_string("strait-protocol-tests") + compact_string("0.1") + EMPTY_TAGS
        return frame(request_header_v2(API_API_VERSIONS, version, corr) + body)
    return frame(request_header_v1(API_API_VERSIONS, version, corr))


def metadata_request_v1(topics: list[str] | None, corr: int, version: int = 1) -> bytes:
    body = array(None if topics is None else [string(t) for t in topics])
    return frame(request_header_v1(API_METADATA, version, corr) + body)


def produce_request_v3(topic: str, partition: int, records_bytes: bytes, corr: int, acks: int = -1) -> bytes:
    body = (
        string(None)  # transactional_id
        + i16(acks)
        + i32(10_000)  # timeout_ms
        + array([string(topic) + array([i32(partition) + kbytes(records_bytes)])])
    )
    return frame(request_header_v1(API_PRODUCE, 3, corr) + body)


def list_offsets_request_v1(topic: str, partition: int, timestamp: int, corr: int) -> bytes:
    body = i32(-1) + array([string(topic) + array([i32(partition) + i64(timestamp)])])
    return frame(request_header_v1(API_LIST_OFFSETS, 1, corr) + body)


# --------------------------------------------------------------------------
# Responses


@dataclass
class ApiVersionsResponse:
    error_code: int
    apis: dict[int, tuple[int, int]]
    throttle_ms: int | None
    trailing: int  # bytes left after what we parsed


def parse_api_versions(body: bytes, version: int) -> ApiVersionsResponse:
    """Body only (after correlation id; the ApiVersions response header is always v0)."""
    r = Reader(body)
    err = r.i16()
    apis: dict[int, tuple[int, int]] = {}
    if version >= 3:
        n = r.uvarint() - 1
        for _ in range(max(n, 0)):
            k, lo, hi = r.i16(), r.i16(), r.i16()
            r.skip_tags()
            apis[k] = (lo, hi)
        throttle = r.i32()
        r.skip_tags()
    else:
        n = r.i32()
        for _ in range(max(n, 0)):
            k, lo, hi = r.i16(), r.i16(), r.i16()
            apis[k] = (lo, hi)
        throttle = r.i32() if version >= 1 else None
    return ApiVersionsResponse(err, apis, throttle, r.remaining())


@dataclass
class ProducePartitionResult:
    partition: int
    error_code: int
    base_offset: int
    log_append_time: int


def parse_produce_v3(body: bytes) -> dict[tuple[str, int], ProducePartitionResult]:
    r = Reader(body)
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            err = r.i16()
            base = r.i64()
            lat = r.i64()
            out[(name, p)] = ProducePartitionResult(p, err, base, lat)
    r.i32()  # throttle
    return out


def parse_list_offsets_v1(body: bytes) -> dict[tuple[str, int], tuple[int, int, int]]:
    """-> {(topic, partition): (error_code, timestamp, offset)}"""
    r = Reader(body)
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            err = r.i16()
            ts = r.i64()
            off = r.i64()
            out[(name, p)] = (err, ts, off)
    return out


# --------------------------------------------------------------------------
# Connection


class Closed(Exception):
    """The broker closed the connection (EOF or reset)."""


class Conn:
    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e)) from e
            if not chunk:
                raise Closed(f"EOF after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._recv_exact(4))
        if size < 0 or size > 200 * 1024 * 1024:
            raise ValueError(f"implausible response size {size}")
        return self._recv_exact(size)

    def recv_response(self, corr: int, flexible_header: bool = False) -> bytes:
        """Return the body after the response header; checks the correlation id."""
        data = self.recv_frame()
        r = Reader(data)
        got = r.i32()
        if got != corr:
            raise AssertionError(f"correlation id {got} != {corr}")
        if flexible_header:
            r.skip_tags()
        return data[r.pos :]

    def wait_closed(self, timeout: float) -> str:
        """Wait until the peer closes. Returns how it closed; raises AssertionError
        if data arrives or the connection stays open past the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"connection still open after {timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return "reset"
            if not chunk:
                return "eof"
            raise AssertionError(f"expected close, got {len(chunk)} bytes: {chunk[:64]!r}")

    def roundtrip(self, request: bytes, corr: int, flexible_header: bool = False) -> bytes:
        self.send(request)
        return self.recv_response(corr, flexible_header)


# --------------------------------------------------------------------------
# Fetch v4 (the KIP-896 floor; pre-flexible) and record batch decoding

API_FETCH = 1


def fetch_request_v4(topic: str, partition: int, offset: int, corr: int, *, max_wait_ms: int = 0,
                     min_bytes: int = 1, max_bytes: int = 50 * 1024 * 1024, partition_max_bytes: int = 1024 * 1024,
                     isolation_level: int = 0) -> bytes:
    body = (
        i32(-1)  # replica_id
        + i32(max_wait_ms)
        + i32(min_bytes)
        + i32(max_bytes)
        + i8(isolation_level)
        + array([string(topic) + array([i32(partition) + i64(offset) + i32(partition_max_bytes)])])
    )
    return frame(request_header_v1(API_FETCH, 4, corr) + body)


@dataclass
class FetchPartition:
    error_code: int
    high_watermark: int
    last_stable_offset: int
    aborted: list[tuple[int, int]] | None
    records: bytes | None


def parse_fetch_v4(body: bytes) -> dict[tuple[str, int], FetchPartition]:
    r = Reader(body)
    r.i32()  # throttle
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            err = r.i16()
            hwm = r.i64()
            lso = r.i64()
            n = r.i32()
            aborted = None if n < 0 else [(r.i64(), r.i64()) for _ in range(n)]
            size = r.i32()
            recs = None if size < 0 else r._take(size)
            out[(name, p)] = FetchPartition(err, hwm, lso, aborted, recs)
    return out


def read_varint(r: Reader) -> int:
    v = r.uvarint()
    return (v >> 1) ^ -(v & 1)


@dataclass
class DecodedRecord:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


@dataclass
class DecodedBatch:
    base_offset: int
    partition_leader_epoch: int
    magic: int
    crc: int
    crc_ok: bool
    attributes: int
    raw: bytes  # the whole batch as served
    records: list[DecodedRecord] | None  # None when compressed


def decode_batches(data: bytes) -> tuple[list[DecodedBatch], int]:
    """Decode magic-2 batches; returns (batches, bytes of trailing partial batch)."""
    out = []
    pos = 0
    while len(data) - pos >= 12:
        base, blen = struct.unpack(">qi", data[pos : pos + 12])
        if len(data) - pos - 12 < blen:
            break
        raw = data[pos : pos + 12 + blen]
        r = Reader(raw)
        r.pos = 12
        epoch = r.i32()
        magic = r.i8()
        crc = struct.unpack(">I", r._take(4))[0]
        crc_ok = crc32c(raw[21:]) == crc
        attrs = r.i16()
        r.i32()  # last offset delta
        base_ts = r.i64()
        r.i64()  # max ts
        r.i64(), r.i16(), r.i32()  # producer id/epoch, base seq
        count = r.i32()
        recs = None
        if attrs & 0x7 == 0:
            recs = []
            for _ in range(count):
                read_varint(r)  # length
                r.i8()
                ts_delta = read_varint(r)
                off_delta = read_varint(r)
                kl = read_varint(r)
                key = None if kl < 0 else r._take(kl)
                vl = read_varint(r)
                value = None if vl < 0 else r._take(vl)
                headers = []
                for _ in range(read_varint(r)):
                    hk = r._take(read_varint(r)).decode()
                    hl = read_varint(r)
                    headers.append((hk, None if hl < 0 else r._take(hl)))
                recs.append(DecodedRecord(base + off_delta, base_ts + ts_delta, key, value, headers))
        out.append(DecodedBatch(base, epoch, magic, crc, crc_ok, attrs, raw, recs))
        pos += 12 + blen
    return out, len(data) - pos
