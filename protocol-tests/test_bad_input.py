"""Malformed and hostile input over raw sockets (hand-encoded, see kafka_wire.py).

Rules checked (Kafka's behaviour, DESIGN.md invariant 6):
  * framing errors, unknown API keys and unsupported versions close the
    connection (no response can be encoded when the header is not understood);
  * ApiVersions at an unsupported version gets a v0-format reply with
    UNSUPPORTED_VERSION and the supported ranges (KIP-511), header v0;
  * a corrupt record batch is refused per partition (CORRUPT_MESSAGE or
    INVALID_RECORD) and leaves the log untouched;
  * after every case a normal client still works against the same broker.
"""

from __future__ import annotations

import socket
import struct

import pytest

import ck
import kafka_wire as kw
from conftest import scaled

CORRUPT_MESSAGE = 2
UNSUPPORTED_VERSION = 35
INVALID_RECORD = 87


def assert_healthy(broker, topic: str, expect_offset: int | None = None) -> None:
    """A fresh raw connection negotiates, and librdkafka can produce and read back."""
    with kw.Conn(broker.host, broker.port) as c:
        r = kw.parse_api_versions(c.roundtrip(kw.api_versions_request(3, 7), 7), 3)
        assert r.error_code == 0
    assert broker.alive, "broker process died"
    dr = ck.produce(broker.bootstrap, topic, [{"value": b"health", "partition": 0}])
    if expect_offset is not None:
        assert dr[0].offset == expect_offset
    got = ck.consume(broker.bootstrap, topic, 0, dr[0].offset, count=1)
    assert got[0].value() == b"health"


@pytest.fixture
def health_topic(broker, unique_name):
    t = unique_name("health")
    ck.create_topic(broker.bootstrap, t)
    return t


def _closed(c: kw.Conn) -> str:
    return c.wait_closed(scaled(10))


# --------------------------------------------------------------------------
# Framing


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(struct.pack(">i", -1) + b"\x00" * 16, id="negative-size"),
        pytest.param(struct.pack(">i", -2147483648), id="int-min-size"),
        pytest.param(struct.pack(">i", 104857600 + 1) + b"\x00\x12\x00\x00", id="over-socket.request.max.bytes"),
        pytest.param(struct.pack(">i", 2147483647) + b"\x00" * 64, id="int-max-size"),
        pytest.param(struct.pack(">i", 0), id="zero-size"),
        pytest.param(struct.pack(">i", 3) + b"\x00\x12\x00", id="shorter-than-header"),
    ],
)
def test_bad_frame_closes(broker, health_topic, frame):
    with kw.Conn(broker.host, broker.port) as c:
        c.send(frame)
        _closed(c)
    assert_healthy(broker, health_topic)


def test_eof_mid_frame(broker, health_topic):
    """The peer goes away halfway through a frame: the broker just drops it."""
    req = kw.metadata_request_v1([health_topic], 1)
    with kw.Conn(broker.host, broker.port) as c:
        c.send(req[: len(req) // 2])
        c.sock.shutdown(socket.SHUT_WR)
        _closed(c)
    assert_healthy(broker, health_topic)


def test_truncated_body_closes(broker, health_topic):
    """A complete frame whose body ends early (array claims 3 topics, has 1)."""
    body = kw.request_header_v1(kw.API_METADATA, 1, 5) + kw.i32(3) + kw.string(health_topic)
    with kw.Conn(broker.host, broker.port) as c:
        c.send(kw.frame(body))
        _closed(c)
    assert_healthy(broker, health_topic)


def _lying_lengths():
    md = kw.request_header_v1(kw.API_METADATA, 1, 5)
    flex = kw.request_header_v2(kw.API_METADATA, 9, 6)
    return [
        pytest.param(md + kw.i32(0x7FFFFFFF), id="array-count-int-max"),
        pytest.param(md + kw.i32(1) + kw.i16(30000) + b"abc", id="string-longer-than-frame"),
        pytest.param(md + kw.i32(1) + kw.i16(-7), id="string-negative-length"),
        pytest.param(kw.i16(kw.API_METADATA) + kw.i16(1) + kw.i32(5) + kw.i16(32000) + b"cid", id="client-id-longer-than-frame"),
        pytest.param(flex + kw.uvarint(2**31) + kw.EMPTY_TAGS, id="compact-array-huge"),
        pytest.param(flex + b"\xff\xff\xff\xff\xff\xff", id="varint-overflow"),
        pytest.param(kw.request_header_v2(kw.API_API_VERSIONS, 3, 7) + kw.uvarint(5000) + b"x", id="apiversions-v3-body-lie"),
        # The same count lie inside other requests' bodies.
        pytest.param(kw.request_header_v1(kw.API_PRODUCE, 3, 8) + kw.string(None) + kw.i16(-1) + kw.i32(1000)
                     + kw.i32(0x7FFFFFFF), id="produce-v3-topics-int-max"),
        pytest.param(kw.request_header_v1(kw.API_FETCH, 4, 9) + kw.i32(-1) + kw.i32(0) + kw.i32(1) + kw.i32(1000)
                     + kw.i8(0) + kw.i32(0x7FFFFFFF), id="fetch-v4-topics-int-max"),
        pytest.param(kw.request_header_v1(kw.API_LIST_OFFSETS, 1, 10) + kw.i32(-1) + kw.i32(1) + kw.string("t")
                     + kw.i32(0x7FFFFFFF), id="list-offsets-v1-partitions-int-max"),
    ]


@pytest.mark.parametrize("payload", _lying_lengths())
def test_lying_lengths_close(broker, health_topic, payload):
    """Lengths and counts that exceed the frame must be rejected, not trusted
    (no huge pre-allocation, no hang waiting for bytes that never come)."""
    with kw.Conn(broker.host, broker.port) as c:
        c.send(kw.frame(payload))
        _closed(c)
    assert_healthy(broker, health_topic)


def test_garbage_after_valid_request(broker, health_topic):
    """A good request followed by a bad frame in the same write: the connection
    closes (Kafka may or may not answer the first request before closing)."""
    with kw.Conn(broker.host, broker.port) as c:
        c.send(kw.api_versions_request(0, 11) + kw.i32(-5))
        try:
            r = kw.parse_api_versions(c.recv_response(11), 0)
            assert r.error_code == 0
        except kw.Closed:
            pass
        else:
            _closed(c)
    assert_healthy(broker, health_topic)


# --------------------------------------------------------------------------
# Unknown keys and versions


def test_unknown_api_key_closes(broker, health_topic):
    with kw.Conn(broker.host, broker.port) as c:
        c.send(kw.frame(kw.request_header_v1(999, 0, 1) + b"\x00" * 8))
        _closed(c)
    assert_healthy(broker, health_topic)


def test_unsupported_metadata_version_closes(broker, health_topic):
    with kw.Conn(broker.host, broker.port) as c:
        c.send(kw.frame(kw.request_header_v2(kw.API_METADATA, 99, 1) + kw.uvarint(1) + kw.EMPTY_TAGS))
        _closed(c)
    assert_healthy(broker, health_topic)


def test_api_versions_unsupported_version(broker, health_topic):
    with kw.Conn(broker.host, broker.port) as c:
        raw = c.roundtrip(kw.api_versions_request(99, 42), 42)
        # Header v0 (no tagged-field byte), body v0: error, [key min max], nothing else.
        r = kw.parse_api_versions(raw, 0)
        assert r.error_code == UNSUPPORTED_VERSION
        assert r.trailing == 0, f"{r.trailing} unexpected trailing bytes (tagged fields in a v0 reply?)"
        assert kw.API_API_VERSIONS in r.apis, "the error reply must still list ApiVersions' range"
        lo, hi = r.apis[kw.API_API_VERSIONS]
        assert lo == 0 and 3 <= hi < 99
        # The connection stays usable: the client retries at a supported version.
        r3 = kw.parse_api_versions(c.roundtrip(kw.api_versions_request(3, 43), 43), 3)
        assert r3.error_code == 0
    assert_healthy(broker, health_topic)


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_api_versions(broker, version):
    with kw.Conn(broker.host, broker.port) as c:
        r = kw.parse_api_versions(c.roundtrip(kw.api_versions_request(version, 9), 9), version)
    assert r.error_code == 0
    assert r.trailing == 0, f"{r.trailing} trailing bytes"
    if version >= 1:
        assert r.throttle_ms == 0
    need = {
        0: (3, 9),  # Produce: v3 is the KIP-896 floor; librdkafka needs >= 7 for zstd
        1: (4, 11),  # Fetch: librdkafka needs >= 10 for zstd; kafkajs uses <= 11
        2: (1, 7),  # ListOffsets (v7: max timestamp)
        3: (1, 9),  # Metadata
        18: (0, 3),  # ApiVersions
        19: (2, 5),  # CreateTopics
        20: (1, 4),  # DeleteTopics
        21: (0, 2),  # DeleteRecords
        22: (0, 4),  # InitProducerId
        23: (2, 2),  # OffsetForLeaderEpoch (librdkafka uses exactly v2)
        32: (1, 1),  # DescribeConfigs
        33: (0, 1),  # AlterConfigs
        37: (0, 1),  # CreatePartitions
        44: (0, 1),  # IncrementalAlterConfigs
        60: (0, 1),  # DescribeCluster
    }
    missing = {k: v for k, v in need.items() if k not in r.apis}
    assert not missing, f"API keys not advertised: {sorted(missing)}"
    for key, (lo_needed, hi_needed) in need.items():
        lo, hi = r.apis[key]
        assert lo <= lo_needed and hi >= hi_needed, f"key {key}: advertises {lo}..{hi}, clients need {lo_needed}..{hi_needed}"


# --------------------------------------------------------------------------
# Corrupt record batches


def _hwm(c: kw.Conn, topic: str, corr: int) -> int:
    res = kw.parse_list_offsets_v1(c.roundtrip(kw.list_offsets_request_v1(topic, 0, -1, corr), corr))
    err, _ts, off = res[(topic, 0)]
    assert err == 0, f"ListOffsets error {err}"
    return off


def _produce(c: kw.Conn, topic: str, batch: bytes, corr: int) -> kw.ProducePartitionResult:
    res = kw.parse_produce_v3(c.roundtrip(kw.produce_request_v3(topic, 0, batch, corr), corr))
    return res[(topic, 0)]


GOOD = [kw.Record(b"v0", b"k0"), kw.Record(b"v1", b"k1", [("h", b"x")], 1), kw.Record(b"v2", None, [], 2)]


def _bad_batches():
    good = kw.record_batch(GOOD)
    four = GOOD + [kw.Record(b"v3")]
    return [
        pytest.param(kw.record_batch(GOOD, corrupt_crc=True), {CORRUPT_MESSAGE}, id="bad-crc"),
        pytest.param(good[:-1] + bytes([good[-1] ^ 0xFF]), {CORRUPT_MESSAGE}, id="flipped-payload-byte"),
        pytest.param(kw.record_batch(GOOD, truncate_to=len(good) - 5), {CORRUPT_MESSAGE, INVALID_RECORD},
                     id="truncated-batch"),
        pytest.param(kw.record_batch(GOOD, batch_length_delta=+40), {CORRUPT_MESSAGE, INVALID_RECORD},
                     id="batch-length-too-long"),
        pytest.param(kw.record_batch(GOOD, batch_length_delta=-7), {CORRUPT_MESSAGE, INVALID_RECORD},
                     id="batch-length-too-short"),
        pytest.param(good[:12], {CORRUPT_MESSAGE, INVALID_RECORD}, id="header-only"),
        pytest.param(_count_lie(four), {CORRUPT_MESSAGE, INVALID_RECORD}, id="record-count-lie"),
        pytest.param(_hostile_record(key_len=2**30), {CORRUPT_MESSAGE, INVALID_RECORD}, id="record-key-length-lie"),
        pytest.param(_hostile_record(headers=2**30), {CORRUPT_MESSAGE, INVALID_RECORD}, id="record-header-count-lie"),
        pytest.param(_hostile_record(record_len=2**30), {CORRUPT_MESSAGE, INVALID_RECORD}, id="record-length-lie"),
        pytest.param(_hostile_record(key_len=2**30, codec="gzip"), {CORRUPT_MESSAGE, INVALID_RECORD},
                     id="gzip-record-key-length-lie"),
        pytest.param(_gzip_garbage(), {CORRUPT_MESSAGE, INVALID_RECORD}, id="gzip-not-gzip"),
    ]


def _hostile_record(key_len=None, headers=None, record_len=None, codec="none") -> bytes:
    """One record whose inner lengths lie (valid batch CRC), optionally gzip-compressed."""
    import gzip as _gzip

    body = kw.i8(0) + kw.varint(0) + kw.varint(0)
    body += kw.varint(key_len if key_len is not None else 1) + b"k"
    body += kw.varint(1) + b"v"
    body += kw.varint(headers if headers is not None else 0)
    rec = kw.varint(record_len if record_len is not None else len(body)) + body
    attrs = 0
    if codec == "gzip":
        rec, attrs = _gzip.compress(rec), 1
    return kw.raw_record_batch(rec, 1, 1_600_000_000_000, attrs)


def _gzip_garbage() -> bytes:
    return kw.raw_record_batch(b"this is not gzip data at all" * 4, 3, 1_600_000_000_000, attributes=1)


def _count_lie(records) -> bytes:
    """Valid CRC, but the header's record count (and lastOffsetDelta) claim one
    more record than the batch holds."""
    b = bytearray(kw.record_batch(records))
    recs = b"".join(kw.encode_record(i, r) for i, r in enumerate(records))
    last = recs[-len(kw.encode_record(len(records) - 1, records[-1])):]
    b = b[: len(b) - len(last)]  # drop the last record
    # batchLength
    b[8:12] = kw.i32(len(b) - 12)
    # CRC over attributes..end (count field still says len(records))
    b[17:21] = kw.u32(kw.crc32c(bytes(b[21:])))
    return bytes(b)


@pytest.mark.parametrize("batch,allowed", _bad_batches())
def test_corrupt_batch_rejected_log_unchanged(broker, topic, batch, allowed):
    ck.create_topic(broker.bootstrap, topic)
    with kw.Conn(broker.host, broker.port) as c:
        r = _produce(c, topic, kw.record_batch(GOOD), 1)
        assert (r.error_code, r.base_offset) == (0, 0)
        assert _hwm(c, topic, 2) == 3

        r = _produce(c, topic, batch, 3)
        assert r.error_code in allowed, f"corrupt batch got error {r.error_code}, want one of {sorted(allowed)}"

    # The broker may close that connection after a corrupt batch; use a new one.
    with kw.Conn(broker.host, broker.port) as c:
        assert _hwm(c, topic, 4) == 3, "a rejected batch must not move the high watermark"
        r = _produce(c, topic, kw.record_batch([kw.Record(b"after")]), 5)
        assert (r.error_code, r.base_offset) == (0, 3), "the next valid batch gets the next offset"
        assert _hwm(c, topic, 6) == 4

    msgs = ck.consume(broker.bootstrap, topic, 0, 0, count=4)
    assert [(m.offset(), m.key(), m.value()) for m in msgs] == [
        (0, b"k0", b"v0"), (1, b"k1", b"v1"), (2, None, b"v2"), (3, None, b"after")]
    assert msgs[1].headers() == [("h", b"x")]
    assert_healthy(broker, topic, expect_offset=4)


def test_valid_raw_batch_roundtrip(broker, topic):
    """Control case for the encoder: the hand-made batch is accepted and reads back exactly."""
    ck.create_topic(broker.bootstrap, topic)
    ts = 1_600_000_000_123
    with kw.Conn(broker.host, broker.port) as c:
        r = _produce(c, topic, kw.record_batch(GOOD, base_timestamp=ts), 1)
        assert (r.error_code, r.base_offset) == (0, 0)
    msgs = ck.consume(broker.bootstrap, topic, 0, 0, count=3)
    assert [m.timestamp() for m in msgs] == [(1, ts), (1, ts + 1), (1, ts + 2)]
    assert [m.value() for m in msgs] == [b"v0", b"v1", b"v2"]


# --------------------------------------------------------------------------
# Limits, unknown partitions, pipelining

MESSAGE_TOO_LARGE = 10
UNKNOWN_TOPIC_OR_PARTITION = 3


def test_batch_over_max_message_bytes(broker, topic):
    """Broker default message.max.bytes (1048588) and a topic-level override both refuse bigger batches."""
    ck.create_topic(broker.bootstrap, topic)
    small = f"{topic}-small"
    ck.create_topic(broker.bootstrap, small, config={"max.message.bytes": "2000"})
    with kw.Conn(broker.host, broker.port, timeout=scaled(30)) as c:
        big = kw.record_batch([kw.Record(b"x" * (1048588 + 100))])
        r = _produce(c, topic, big, 1)
        assert r.error_code == MESSAGE_TOO_LARGE, f"got {r.error_code}"
        assert _hwm(c, topic, 2) == 0
        ok = kw.record_batch([kw.Record(b"y" * 1_000_000)])
        r = _produce(c, topic, ok, 3)
        assert (r.error_code, r.base_offset) == (0, 0), "a 1 MB record fits under the default limit"

        r = _produce(c, small, kw.record_batch([kw.Record(b"z" * 3000)]), 4)
        assert r.error_code == MESSAGE_TOO_LARGE, f"topic max.message.bytes=2000 not enforced, got {r.error_code}"
        r = _produce(c, small, kw.record_batch([kw.Record(b"z" * 500)]), 5)
        assert (r.error_code, r.base_offset) == (0, 0)
    assert_healthy(broker, topic, expect_offset=1)


def test_produce_unknown_partition(broker, topic):
    ck.create_topic(broker.bootstrap, topic)
    with kw.Conn(broker.host, broker.port) as c:
        res = kw.parse_produce_v3(c.roundtrip(kw.produce_request_v3(topic, 7, kw.record_batch(GOOD), 1), 1))
        assert res[(topic, 7)].error_code == UNKNOWN_TOPIC_OR_PARTITION
    assert_healthy(broker, topic, expect_offset=0)


def test_pipelined_requests_answered_in_order(broker, topic):
    """Kafka answers requests on one connection strictly in order; clients
    (librdkafka, kafkajs) pipeline and match by correlation id but rely on it."""
    ck.create_topic(broker.bootstrap, topic)
    reqs = []
    kinds = {}
    for corr in range(1, 121):
        k = corr % 4
        if k == 0:
            reqs.append(kw.api_versions_request(3, corr))
        elif k == 1:
            reqs.append(kw.metadata_request_v1([topic], corr))
        elif k == 2:
            reqs.append(kw.produce_request_v3(topic, 0, kw.record_batch([kw.Record(str(corr).encode())]), corr))
        else:
            reqs.append(kw.list_offsets_request_v1(topic, 0, -1, corr))
        kinds[corr] = k
    with kw.Conn(broker.host, broker.port, timeout=scaled(30)) as c:
        c.send(b"".join(reqs))
        produced = []
        for corr in range(1, 121):
            body = c.recv_response(corr)  # asserts the correlation id order
            if kinds[corr] == 2:
                r = kw.parse_produce_v3(body)[(topic, 0)]
                assert r.error_code == 0
                produced.append(r.base_offset)
            elif kinds[corr] == 3:
                err, _ts, hwm = kw.parse_list_offsets_v1(body)[(topic, 0)]
                assert err == 0 and hwm == len(produced), "ListOffsets must see every produce answered before it"
    assert produced == list(range(30))


def test_many_connections(broker, topic):
    conns = [kw.Conn(broker.host, broker.port) for _ in range(200)]
    try:
        for i, c in enumerate(conns):
            c.send(kw.api_versions_request(3, i))
        for i, c in enumerate(conns):
            assert kw.parse_api_versions(c.recv_response(i), 3).error_code == 0
    finally:
        for c in conns:
            c.close()
    ck.create_topic(broker.bootstrap, topic)
    assert_healthy(broker, topic, expect_offset=0)
