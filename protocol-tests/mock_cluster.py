"""Hosts librdkafka's mock cluster (3 brokers) for the link tests: a Kafka-compatible source
that Strait did not write. Prints `BOOTSTRAP <list>` once the brokers listen, then keeps
the handle alive until stdin closes (the test owns the process)."""

import re
import sys
import threading
import time
import logging

from confluent_kafka import Producer

found = threading.Event()
bootstrap = {}


class Grab(logging.Handler):
    def emit(self, record):
        m = re.search(r"replaced with (\S+)", record.getMessage())
        if m and not found.is_set():
            bootstrap["value"] = m.group(1).rstrip(",")
            found.set()


log = logging.getLogger("mock")
log.setLevel(logging.DEBUG)
log.addHandler(Grab())
brokers = int(sys.argv[1]) if len(sys.argv) > 1 else 3
p = Producer({"test.mock.num.brokers": brokers, "bootstrap.servers": "x", "debug": "mock"}, logger=log)
deadline = time.monotonic() + 30
while not found.is_set() and time.monotonic() < deadline:
    p.poll(0.05)
if not found.is_set():
    print("ERROR no bootstrap line", flush=True)
    sys.exit(1)
print(f"BOOTSTRAP {bootstrap['value']}", flush=True)

stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
while not stop.is_set():
    p.poll(0.2)
