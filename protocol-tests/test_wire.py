"""Raw-protocol conformance at the version floors (hand-encoded, kafka_wire.py).

Clients negotiate the highest common version, so the floors (Produce v3,
Fetch v4, ListOffsets v1 — the oldest versions Kafka 4 still serves) are only
exercised here.
"""

from __future__ import annotations

import time

import ck
import kafka_wire as kw
from conftest import scaled

RECORDS = [
    kw.Record(b"v0", b"k0", [("h", b"1")]),
    kw.Record(b"v1", None, [], 5),
    kw.Record(None, b"tombstone", [("null", None)], 9),
]


def _fetch(c, topic, offset, corr, **kw_args) -> kw.FetchPartition:
    return kw.parse_fetch_v4(c.roundtrip(kw.fetch_request_v4(topic, 0, offset, corr, **kw_args), corr))[(topic, 0)]


def test_produce_v3_fetch_v4_bytes_preserved(broker, topic):
    """An uncompressed CreateTime batch is stored as sent: only baseOffset and
    partitionLeaderEpoch (both outside the CRC) may change; the CRC and every
    byte after it come back identical."""
    ck.create_topic(broker.bootstrap, topic)
    ts = 1_600_000_000_000
    first = kw.record_batch(RECORDS, base_timestamp=ts)
    second = kw.record_batch([kw.Record(b"second")], base_timestamp=ts + 100)
    with kw.Conn(broker.host, broker.port) as c:
        for i, batch in enumerate((first, second)):
            res = kw.parse_produce_v3(c.roundtrip(kw.produce_request_v3(topic, 0, batch, 10 + i), 10 + i))
            assert res[(topic, 0)].error_code == 0
            assert res[(topic, 0)].base_offset == (0, 3)[i]
            assert res[(topic, 0)].log_append_time == -1, "CreateTime topics report log_append_time -1"

        f = _fetch(c, topic, 0, 20)
        assert f.error_code == 0
        assert f.high_watermark == 4 and f.last_stable_offset == 4
        batches, partial = kw.decode_batches(f.records or b"")
        assert partial == 0
        assert [b.base_offset for b in batches] == [0, 3]
        for b, sent in zip(batches, (first, second)):
            assert b.magic == 2 and b.crc_ok
            assert b.raw[16:] == sent[16:], "batch bytes from magic onwards must be preserved"
            assert b.partition_leader_epoch >= 0
        recs = [r for b in batches for r in b.records]
        assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in recs] == [
            (0, ts, b"k0", b"v0", [("h", b"1")]),
            (1, ts + 5, None, b"v1", []),
            (2, ts + 9, b"tombstone", None, [("null", None)]),
            (3, ts + 100, None, b"second", []),
        ]

        # Mid-batch fetch offset: Kafka returns the whole batch containing it.
        f = _fetch(c, topic, 1, 21)
        batches, _ = kw.decode_batches(f.records or b"")
        assert batches and batches[0].base_offset == 0, "a fetch at offset 1 starts with the batch holding 1"
        assert batches[-1].base_offset == 3

        # At the high watermark: empty, no error.
        f = _fetch(c, topic, 4, 22)
        assert (f.error_code, f.records or b"") == (0, b"")

        # Beyond it: OFFSET_OUT_OF_RANGE.
        assert _fetch(c, topic, 99, 23).error_code == 1

        # Tiny partition_max_bytes still returns the first whole batch (KIP-74).
        f = _fetch(c, topic, 0, 24, partition_max_bytes=10)
        batches, _ = kw.decode_batches(f.records or b"")
        assert batches and batches[0].base_offset == 0 and batches[0].crc_ok


def test_fetch_v4_long_poll(broker, topic):
    """max_wait_ms with min_bytes=1 parks the request until data arrives."""
    ck.create_topic(broker.bootstrap, topic)
    with kw.Conn(broker.host, broker.port, timeout=scaled(30)) as fetcher, kw.Conn(broker.host, broker.port) as prod:
        t0 = time.monotonic()
        f = _fetch(fetcher, topic, 0, 1, max_wait_ms=300)
        waited = time.monotonic() - t0
        assert f.error_code == 0 and not f.records
        assert waited >= 0.25, f"empty fetch with max_wait_ms=300 returned after {waited:.3f}s"

        fetcher.send(kw.fetch_request_v4(topic, 0, 0, 2, max_wait_ms=10_000))
        t_send = time.monotonic()
        res = kw.parse_produce_v3(prod.roundtrip(kw.produce_request_v3(topic, 0, kw.record_batch([kw.Record(b"x")]), 3), 3))
        assert res[(topic, 0)].error_code == 0
        f = kw.parse_fetch_v4(fetcher.recv_response(2))[(topic, 0)]
        woke = time.monotonic() - t_send
        batches, _ = kw.decode_batches(f.records or b"")
        assert [r.value for b in batches for r in b.records] == [b"x"]
        assert woke < scaled(2.0), f"parked fetch answered {woke:.2f}s after the produce (max_wait 10s)"
