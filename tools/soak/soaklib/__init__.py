"""The kill -9 soak's harness (run it with `tools/soak/soak.py`; see tools/soak/README.md).

Modules, each owning one part:
* `common`: names shared by the soak (topic, link, codecs), the log and the librdkafka
  logger, deadline-bounded waits and percentiles;
* `procs`: the strait processes (start on a kept port, SIGKILL, stop) and the CLIs;
* `rawwire`: watermarks and raw batches over the Kafka protocol, no client library;
* `writer`: the idempotent acks=all producers and what each acknowledgement said;
* `verify`: the read-back judgement (every acknowledged record once, at its offset);
* `scenario`: the `broker` and `link` kill cycles and their summary;
* `selftest`: the faults the checks must report.
"""
