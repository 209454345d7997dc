"""The soak's producers: idempotent acks=all confluent-kafka producers, one thread each,
whose delivery reports record every acknowledged offset (the ground truth `verify` judges).
"""

from __future__ import annotations

import array
import os
import threading
import time

from confluent_kafka import KafkaError, Producer

from .common import TOPIC, client_log



class Writer:
    """One idempotent acks=all producer (a thread) writing `<wid>:<seq>:<pad>` records,
    seq % partitions to each partition. acked[seq] = acknowledged offset, or -1."""

    def __init__(self, wid: int, bootstrap: str, partitions: int, rate: float, codec: str, pad: bytes):
        self.wid = wid
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.rate = rate
        self.codec = codec
        self.pad = pad
        self.acked = array.array("q")
        self.n_acked = 0
        self.n_failed = 0
        self.failures: dict[str, int] = {}
        self.fatal: list[str] = []
        self.errors: dict[str, int] = {}
        self.max_acked = [-1] * partitions  # highest acked offset per partition
        self.max_acked_seq = -1
        self.reacked = 0  # a delivery report for a seq that already had one (must never happen)
        self.burst = 0  # records to hand to the client at once, ignoring the rate (set by the main thread)
        self.burst_done = threading.Event()
        self.stop = threading.Event()
        self.generation = 0
        self.producer = self._new_producer()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"writer-{wid}")

    def _new_producer(self) -> Producer:
        self.generation += 1
        return Producer({
            "bootstrap.servers": self.bootstrap,
            "client.id": f"soak-w{self.wid}-g{self.generation}",
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": self.codec,
            "linger.ms": 5,
            "batch.num.messages": 500,
            "message.timeout.ms": 600000,
            "retry.backoff.ms": 20,
            "retry.backoff.max.ms": 200,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 200,
            "socket.timeout.ms": 10000,
            # librdkafka 2.16 re-bootstraps when every broker is down and then waits ~1 s for its
            # metadata timer; reconnecting to the known broker resumes as soon as it serves.
            "metadata.recovery.strategy": os.environ.get("SOAK_METADATA_RECOVERY", "none"),
            "error_cb": self._on_error,
            "logger": client_log(),
            **({"debug": os.environ["SOAK_RDKAFKA_DEBUG"]} if os.environ.get("SOAK_RDKAFKA_DEBUG") else {}),
        })

    def _on_error(self, err: KafkaError) -> None:
        key = err.name()
        self.errors[key] = self.errors.get(key, 0) + 1
        if err.fatal():
            self.fatal.append(f"{err.name()}: {err.str()}")

    def _on_delivery(self, err, msg) -> None:
        seq = int(msg.value().split(b":", 2)[1])
        if err is not None:
            self.n_failed += 1
            self.failures[err.name()] = self.failures.get(err.name(), 0) + 1
            return
        if self.acked[seq] != -1:
            self.reacked += 1
        self.acked[seq] = msg.offset()
        if seq > self.max_acked_seq:
            self.max_acked_seq = seq
        self.n_acked += 1
        p = msg.partition()
        if msg.offset() > self.max_acked[p]:
            self.max_acked[p] = msg.offset()

    @property
    def produced(self) -> int:
        return len(self.acked)

    def in_flight(self) -> int:
        return self.produced - self.n_acked - self.n_failed

    def _produce_one(self, p: Producer) -> bool:
        seq = len(self.acked)
        self.acked.append(-1)  # before produce(): the record may be on the wire before produce() returns
        try:
            p.produce(TOPIC, value=b"%d:%d:%s" % (self.wid, seq, self.pad), key=b"w%d-k%d" % (self.wid, seq % 97),
                      partition=seq % self.partitions, headers=[("seq", str(seq).encode())],
                      on_delivery=self._on_delivery)
            return True
        except BufferError:
            self.acked.pop()
            return False

    def _run(self) -> None:
        t0, sent0 = time.monotonic(), 0
        p = self.producer
        fatal_seen = 0
        while not self.stop.is_set():
            if len(self.fatal) > fatal_seen:
                # A fatal idempotence error: the broker broke the producer's guarantees. It is
                # counted (and fails the run); carry on with a fresh producer so the soak goes on.
                fatal_seen = len(self.fatal)
                p.flush(30)
                p = self.producer = self._new_producer()
            if self.burst:
                # Hand a burst to the client right before a kill, so produce requests are on
                # the wire when the broker dies. Not counted against the rate.
                n, self.burst = self.burst, 0
                for _ in range(n):
                    if not self._produce_one(p):
                        break
                sent0 += n
                self.burst_done.set()
            now = time.monotonic()
            budget = int((now - t0) * self.rate) - (self.produced - sent0)
            if budget > self.rate:  # do not build up a burst bigger than 1 s of traffic
                t0, sent0 = now, self.produced
                budget = 0
            for _ in range(min(budget, 200)):
                if len(p) >= 50000 or not self._produce_one(p):
                    break
            p.poll(0.005)

    def finish(self, timeout: float) -> int:
        self.stop.set()
        self.thread.join(30)
        left = self.producer.flush(timeout)
        return left

