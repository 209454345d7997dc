#!/usr/bin/env python3
"""Cluster-link catch-up against a MirrorMaker-style replicator and the machine's copy limit.

One invocation, side by side on the same preloaded data:

  0. start a source Strait (fresh dir, free loopback port) and preload topic `bench`
     (4 partitions) with N ~1 KB records in lz4 batches through confluent-kafka; the values
     are slices of a random-word corpus, so lz4 finds real matches (about 2:1);
  1. physical limits on the source's segment files, page cache warm: `cat` them into a new
     file (with and without fsync), and send them over a loopback TCP socket (sendfile) to a
     receiver process that writes a file, with recv_into + write (the copies any user-space
     copier makes) and with splice (the kernel's best): the "copy as is" a link cannot beat;
  2. link: start a fresh destination Strait, run `cluster-links create` with auto-created
     mirrors, poll ListOffsets on the destination until every mirror partition's log end
     offset equals the source high watermark; the destination's CPU seconds over that
     window come from /proc/PID/stat; then check the mirror's log bytes equal the source's;
  3. replicator: start another fresh destination Strait with a plain `bench` topic, run
     benches/replicator (librdkafka consume + produce, lz4 recompression, key, value,
     headers and timestamp kept) until the destination has every record; its CPU comes
     from wait4's rusage, the destination's from /proc.
  4. consume: real clients read every preloaded record from the source: confluent-kafka
     (a spawned process: assign() every partition at the beginning, consume() in batches
     until the count is reached) and kcat (-C -e, values to /dev/null); wall time, the
     client's CPU (rusage) and the source broker's CPU (/proc) for each.

Usage (from the repository root; see benches/README.md):
  cargo build --release --bins
  (cd benches/replicator && cargo build --release)
  protocol-tests/.venv/bin/python benches/e2e/link_catchup.py --gigabytes 2
  protocol-tests/.venv/bin/python benches/e2e/link_catchup.py --gigabytes 0.1   # smoke, ~15 s
  ... --skip replicator,link          # the consume bench alone against the limits
"""

import argparse
import fcntl
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import socket
import string
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ROOT, Strait, cpu_seconds, loadavg, spawn, stop, temp_dir, wait_until  # noqa: E402

from confluent_kafka import Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # noqa: E402

TOPIC = "bench"
REPLICATOR = os.path.join(ROOT, "benches/replicator/target/release/strait-bench-replicator")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# data

def word_corpus(size: int, seed: int = 7) -> bytes:
    """`size` bytes of space-separated words drawn from a 4096-word random vocabulary."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(4096)]
    out, n = [], 0
    while n < size:
        words = rng.choices(vocab, k=65536)
        chunk = " ".join(words) + " "
        out.append(chunk)
        n += len(chunk)
    return "".join(out).encode()[:size]


def topic_names(k: int) -> list:
    return [TOPIC] if k == 1 else [f"{TOPIC}-{i}" for i in range(k)]


def create_topics(bootstrap: str, tps: list) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    counts = {}
    for t, _ in tps:
        counts[t] = counts.get(t, 0) + 1
    for t, f in admin.create_topics([NewTopic(t, n, 1) for t, n in counts.items()]).items():
        f.result(30)


def preload(bootstrap: str, tps: list, records: int, size: int, batch_bytes: int) -> dict:
    create_topics(bootstrap, tps)
    corpus = word_corpus(64 << 20)
    span = len(corpus) - size
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": "lz4",
                         "linger.ms": 100, "batch.size": batch_bytes, "batch.num.messages": 1000000,
                         "queue.buffering.max.messages": 2000000, "queue.buffering.max.kbytes": 2097151,
                         "enable.idempotence": False})
    failures = []

    def on_delivery(err, _msg):
        if err is not None:
            failures.append(err)

    header = [("trace", b"0123456789abcdef")]
    key_bytes = 0
    off = 0
    start = time.monotonic()
    for i in range(records):
        off = (off + 1_000_003) % span          # a stride through the corpus: no two neighbours alike
        key = b"%d" % i
        key_bytes += len(key)
        value = corpus[off:off + size]
        while True:
            try:
                topic, partition = tps[i % len(tps)]
                producer.produce(topic, value, key=key, partition=partition, headers=header,
                                 on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 20000 == 0:
            producer.poll(0)
    remaining = producer.flush(600)
    elapsed = time.monotonic() - start
    if remaining or failures:
        raise RuntimeError(f"preload: {remaining} undelivered, {len(failures)} failed: {failures[:3]}")
    header_bytes = records * sum(len(k) + len(v) for k, v in header)
    return {"records": records, "value_bytes": records * size, "key_bytes": key_bytes,
            "header_bytes": header_bytes, "payload_bytes": records * size + key_bytes + header_bytes,
            "preload_s": round(elapsed, 1)}


class Watcher:
    """High watermarks of a broker's partitions through ListOffsets (librdkafka admin client).

    librdkafka caches "unknown topic/partition" for a topic that did not exist when it first
    looked (a consumer's get_watermark_offsets kept failing for ~3 s after the mirror appeared,
    and an admin client once kept failing for minutes), which would time the client's cache
    instead of the broker: a client that could not answer for every partition is replaced
    (at most every 0.5 s) by a fresh one."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.created = time.monotonic()

    def __call__(self, tps: list) -> list:
        """High watermark per partition (None if the topic or partition is not there yet)."""
        futs = self.admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest() for t, p in tps},
                                       request_timeout=5)
        out = []
        for t, p in tps:
            try:
                out.append(futs[TopicPartition(t, p)].result(10).offset)
            except Exception as e:  # KafkaException, or a future that did not complete
                if os.environ.get("BENCH_DEBUG"):
                    log(f"watermark {t}-{p}: {e!r}")
                out.append(None)
        if None in out and time.monotonic() - self.created > 0.5:
            self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
            self.created = time.monotonic()
        return out


def watermarks(w: Watcher, tps: list) -> list:
    return w(tps)


def watcher(bootstrap: str) -> Watcher:
    return Watcher(bootstrap)


def log_bytes(broker: Strait, tps: list) -> int:
    return sum(os.path.getsize(f) for t, p in tps for f in broker.partition_files(t, p))


def partition_digest(broker: Strait, topic: str, partition: int) -> str:
    h = hashlib.sha1()
    for f in broker.partition_files(topic, partition):
        with open(f, "rb") as fh:
            while True:
                b = fh.read(4 << 20)
                if not b:
                    break
                h.update(b)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# physical limits

def _receiver(srv: socket.socket, dst: str, mode: str, done) -> None:
    conn, _ = srv.accept()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    n_total = 0
    try:
        if mode == "splice":
            r, w = os.pipe()
            fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
            while True:
                n = os.splice(conn.fileno(), w, 1 << 20)
                if n == 0:
                    break
                n_total += n
                while n:
                    n -= os.splice(r, fd, n)
        else:
            buf = bytearray(8 << 20)
            view = memoryview(buf)
            while True:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                os.write(fd, view[:n])
                n_total += n
    finally:
        os.close(fd)
        conn.close()
        done.value = n_total


def loopback_copy(files: list, dst: str, mode: str, total: int) -> float:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    done = multiprocessing.Value("q", -1)
    proc = multiprocessing.get_context("fork").Process(target=_receiver, args=(srv, dst, mode, done))
    proc.start()
    t = time.monotonic()
    with socket.create_connection(srv.getsockname()) as c:
        for f in files:
            with open(f, "rb") as fh:
                size, sent = os.fstat(fh.fileno()).st_size, 0
                while sent < size:
                    sent += os.sendfile(c.fileno(), fh.fileno(), sent, size - sent)
    proc.join(600)
    elapsed = time.monotonic() - t
    srv.close()
    if done.value != total:
        raise RuntimeError(f"loopback copy ({mode}) received {done.value} of {total} bytes")
    return elapsed


def physical_limits(files: list, workdir: str) -> dict:
    total = sum(os.path.getsize(f) for f in files)
    out = {"bytes": total}
    dst = os.path.join(workdir, "copy.bin")

    def timed(cmd):
        t = time.monotonic()
        subprocess.run(cmd, check=True)
        return time.monotonic() - t

    # Warm the cache the same way for every variant (the link and the replicator read from it too).
    subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)
    s = timed(["sh", "-c", 'cat "$@" > "$0"', dst, *files])
    out["cat_file_s"] = round(s, 3)
    os.unlink(dst)
    s = timed(["sh", "-c", 'cat "$@" > "$0" && sync "$0"', dst, *files])
    out["cat_fsync_s"] = round(s, 3)
    os.unlink(dst)

    # file -> sendfile -> loopback TCP -> receiver process -> file, two ways: recv_into + write
    # (the copies any user-space copier makes) and splice through a pipe (the kernel's best).
    for mode in ("recv", "splice"):
        out[f"loopback_{mode}_s"] = round(loopback_copy(files, dst, mode, total), 3)
        os.unlink(dst)
    for k in ("cat_file", "cat_fsync", "loopback_recv", "loopback_splice"):
        out[f"{k}_MBps"] = round(total / 1e6 / out[f"{k}_s"], 1)
    return out


# ---------------------------------------------------------------------------------------------
# the two copiers

def run_link(src: Strait, workdir: str, tps: list, hwm: list, link_configs: list, link_per_topic: bool,
             perf: bool, deadline_s: float) -> dict:
    dst = Strait("link-dest", workdir).start()
    w = watcher(dst.bootstrap)
    configs = [f"bootstrap.servers={src.bootstrap},metadata.max.age.ms=1000", "auto.create.mirror.topics.enable=true"]
    configs += link_configs
    topics = sorted({t for t, _ in tps})
    groups = [[t] for t in topics] if link_per_topic else [topics]
    cmds = []
    for i, group in enumerate(groups):
        cmd = [common.strait_bin("cluster-links"), "create", "--link", "bench" if len(groups) == 1 else f"bench-{i}",
               "--bootstrap-server", dst.bootstrap]
        for c in configs:
            cmd += ["--config", c]
        filters = [{"name": t, "patternType": "LITERAL", "filterType": "INCLUDE"} for t in group]
        cmds.append(cmd + ["--topic-filters-json", json.dumps({"topicFilters": filters})])
    perf_procs = []
    if perf:
        for who, pid in (("dest", dst.pid), ("source", src.pid)):
            data_path = os.path.join(workdir, f"link.{who}.perf.data")
            perf_procs.append((who, data_path, subprocess.Popen(
                ["perf", "record", "-F", "999", "-g", "-p", str(pid), "-o", data_path],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        time.sleep(1)
    for cmd in cmds:
        log(f"link: {' '.join(cmd)}")
    dst_cpu0, src_cpu0 = cpu_seconds(dst.pid), cpu_seconds(src.pid)
    t0 = time.monotonic()
    for cmd in cmds:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    first = [None]
    timeline = []   # (seconds since create, mirror log end offsets) at every change

    def caught_up():
        wm = watermarks(w, tps)
        if first[0] is None and any(x for x in wm):
            first[0] = time.monotonic()
        if not timeline or timeline[-1][1] != wm:
            timeline.append((round(time.monotonic() - t0, 3), wm))
            if os.environ.get("BENCH_DEBUG"):
                log(f"mirror log end offsets {wm}, source {hwm}")
        return wm == hwm

    wait_until(caught_up, deadline_s, "the mirror to reach the source high watermarks", interval=0.02)
    t1 = time.monotonic()
    dst_cpu1, src_cpu1 = cpu_seconds(dst.pid), cpu_seconds(src.pid)
    del w
    res = {"wall_s": round(t1 - t0, 3), "from_first_data_s": round(t1 - first[0], 3),
           "dest_cpu_s": round(dst_cpu1 - dst_cpu0, 2), "source_cpu_s": round(src_cpu1 - src_cpu0, 2),
           "dest_log_bytes": log_bytes(dst, tps), "links": len(cmds),
           "timeline": timeline}
    for who, data_path, proc in perf_procs:
        proc.send_signal(2)
        proc.wait(60)
        report = subprocess.run(["perf", "report", "-i", data_path, "--no-children", "--sort", "dso,symbol",
                                 "--stdio", "--percent-limit", "1", "-g", "none"],
                                capture_output=True, text=True)
        res[f"perf_{who}"] = os.path.join(workdir, f"link.{who}.perf.txt")
        with open(res[f"perf_{who}"], "w") as f:
            f.write(report.stdout)
    res["identical"] = all(partition_digest(src, t, p) == partition_digest(dst, t, p) for t, p in tps)
    dst.stop()
    shutil.rmtree(dst.data, ignore_errors=True)
    return res


def run_replicator(src: Strait, workdir: str, tps: list, total: int, deadline_s: float) -> dict:
    """One replicator process per source topic (one in the default layout)."""
    if not os.path.exists(REPLICATOR):
        raise SystemExit(f"{REPLICATOR} missing: (cd benches/replicator && cargo build --release)")
    dst = Strait("repl-dest", workdir).start()
    create_topics(dst.bootstrap, tps)
    w = watcher(dst.bootstrap)
    wait_until(lambda: all(x is not None for x in watermarks(w, tps)), 30, "the destination topics")
    dst_cpu0, src_cpu0 = cpu_seconds(dst.pid), cpu_seconds(src.pid)
    procs = []
    t0 = time.monotonic()
    for t in sorted({t for t, _ in tps}):
        cmd = [REPLICATOR, "--source", src.bootstrap, "--dest", dst.bootstrap, "--topic", t,
               "--timeout-s", str(int(deadline_s))]
        log(f"replicator: {' '.join(cmd)}")
        out_path = os.path.join(workdir, f"replicator-{t}.out")
        procs.append((spawn(cmd, out_path), out_path))
    def exited(p) -> bool:
        # Without reaping it (Popen.poll would), so wait4 below still gets its rusage.
        return os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    wait_until(lambda: sum(x or 0 for x in watermarks(w, tps)) >= total or any(exited(p) for p, _ in procs),
               deadline_s, "the replicated topics to hold every record", interval=0.02)
    t1 = time.monotonic()
    dst_cpu1, src_cpu1 = cpu_seconds(dst.pid), cpu_seconds(src.pid)
    del w
    cpu, stats = 0.0, []
    for rp, out_path in procs:
        # rusage of the exited child: exact CPU, including librdkafka's threads.
        _, status, ru = os.wait4(rp.pid, 0)
        rp.returncode = os.waitstatus_to_exitcode(status)
        common._procs.remove(rp)
        cpu += ru.ru_utime + ru.ru_stime
        with open(out_path) as f:
            text = f.read()
        if rp.returncode != 0:
            raise RuntimeError(f"replicator failed ({rp.returncode}): {text[-2000:]}")
        stats.append(json.loads(text.strip().splitlines()[-1]))
    copied = sum(s["records"] for s in stats)
    if copied != total:
        raise RuntimeError(f"replicators copied {copied} of {total}")
    res = {"wall_s": round(t1 - t0, 3), "replicator_cpu_s": round(cpu, 2),
           "dest_cpu_s": round(dst_cpu1 - dst_cpu0, 2), "source_cpu_s": round(src_cpu1 - src_cpu0, 2),
           "dest_log_bytes": log_bytes(dst, tps), "replicator": stats}
    dst.stop()
    shutil.rmtree(dst.data, ignore_errors=True)
    return res


# ---------------------------------------------------------------------------------------------
# consumers

def _consume_child(bootstrap: str, tps: list, total: int, out) -> None:
    import resource
    from confluent_kafka import Consumer, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-consume", "enable.auto.commit": False,
                  "enable.partition.eof": False,
                  # librdkafka's default 1000 ms back-off once its local queue is full stalls a
                  # consumer a fast broker fills (benches/README.md, "Consume"): 10 ms.
                  "fetch.queue.backoff.ms": 10})
    def cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)   # librdkafka's threads included
        return ru.ru_utime + ru.ru_stime

    cpu0, t0 = cpu(), time.monotonic()
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in tps])
    n = 0
    while n < total and time.monotonic() - t0 < 600:
        for m in c.consume(num_messages=100000, timeout=1.0):
            if m.error() is None:
                n += 1
    wall, used = time.monotonic() - t0, cpu() - cpu0
    c.close()
    out.put({"records": n, "wall_s": round(wall, 3), "client_cpu_s": round(used, 2)})


def run_consume(src: Strait, tps: list, total: int) -> dict:
    res = {}
    # Not fork: this process holds librdkafka clients whose threads a forked child would
    # lack (a child forked while one of them held a lock hung in consume()).
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    cpu0 = cpu_seconds(src.pid)
    proc = ctx.Process(target=_consume_child, args=(src.bootstrap, tps, total, q))
    proc.start()
    r = q.get(timeout=660)
    proc.join(60)
    # From the child's start (its Python start-up included, which serves nothing).
    r["source_cpu_s"] = round(cpu_seconds(src.pid) - cpu0, 2)
    if r["records"] != total:
        raise RuntimeError(f"confluent-kafka consumed {r['records']} of {total}")
    res["confluent_kafka"] = r
    kcat = shutil.which("kcat")
    if kcat:
        topics = sorted({t for t, _ in tps})
        cpu0 = cpu_seconds(src.pid)
        cmd = [kcat, "-C", "-b", src.bootstrap, "-o", "beginning", "-e", "-q", "-u"]
        for t in topics:
            cmd += ["-t", t]
        if len(topics) > 1:
            raise SystemExit("the kcat consume supports one topic")
        t0 = time.monotonic()
        with open(os.devnull, "wb") as null:
            p = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"kcat failed ({p.returncode}): {p.stderr.read()[-2000:]}")
        res["kcat"] = {"wall_s": round(wall, 3), "client_cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
                       "source_cpu_s": round(cpu_seconds(src.pid) - cpu0, 2)}
    return res


# ---------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gigabytes", type=float, default=2.0, help="uncompressed value bytes to preload")
    ap.add_argument("--record-size", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=4, help="partitions in all (split evenly over --topics)")
    ap.add_argument("--topics", type=int, default=1, help="source topics (bench, or bench-0..K-1)")
    ap.add_argument("--link-per-topic", action="store_true",
                    help="one link per topic (so one fetcher each) instead of one link for all")
    ap.add_argument("--batch-bytes", type=int, default=1000000, help="producer batch.size for the preload")
    ap.add_argument("--skip", default="", help="comma list of: limits,link,replicator,consume")
    ap.add_argument("--link-config", action="append", default=[], help="extra link config k=v (repeatable)")
    ap.add_argument("--perf", action="store_true", help="perf record the destination and the source during the first link run (needs --keep to read)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="trials of each measurement (interleaved limits, link, replicator); the median is reported")
    ap.add_argument("--deadline-s", type=float, default=1800)
    ap.add_argument("--workdir", default=None, help="parent of the temp dir (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    if args.keep:
        os.environ["BENCH_KEEP"] = "1"
    skip = set(filter(None, args.skip.split(",")))
    for b in ("strait", "cluster-links"):
        if not os.path.exists(common.strait_bin(b)):
            raise SystemExit(f"{common.strait_bin(b)} missing: cargo build --release --bins")

    workdir = temp_dir("bench-link-", args.workdir)
    log(f"workdir {workdir}")
    if args.partitions % args.topics:
        raise SystemExit("--partitions must be a multiple of --topics")
    tps = [(t, p) for t in topic_names(args.topics) for p in range(args.partitions // args.topics)]
    records = int(args.gigabytes * 1e9 / args.record_size)
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "argv": sys.argv[1:], "load_start": loadavg()}

    src = Strait("source", workdir).start()
    log(f"preloading {records} x {args.record_size} B into {len(tps)} partitions (lz4)")
    data = preload(src.bootstrap, tps, records, args.record_size, args.batch_bytes)
    w = watcher(src.bootstrap)
    hwm = wait_until(lambda: (lambda wm: wm if sum(x or 0 for x in wm) == records else None)(watermarks(w, tps)),
                     60, "source high watermarks")
    del w
    files = [f for t, p in tps for f in src.partition_files(t, p)]
    data["source_log_bytes"] = sum(os.path.getsize(f) for f in files)
    data["hwm"] = hwm
    result["data"] = data
    log(f"preloaded: {json.dumps(data)}")

    for trial in range(args.repeat):
        if "limits" not in skip:
            result.setdefault("limits_trials", []).append(dict(physical_limits(files, workdir), load=loadavg()))
            log(f"limits #{trial}: {json.dumps(result['limits_trials'][-1])}")
        if "link" not in skip:
            load = loadavg()
            result.setdefault("link_trials", []).append(dict(
                run_link(src, workdir, tps, hwm, args.link_config, args.link_per_topic, args.perf and trial == 0,
                         args.deadline_s),
                load=load))
            log(f"link #{trial}: {json.dumps(result['link_trials'][-1])}")
        if "replicator" not in skip:
            load = loadavg()
            result.setdefault("replicator_trials", []).append(dict(
                run_replicator(src, workdir, tps, records, args.deadline_s), load=load))
            log(f"replicator #{trial}: {json.dumps(result['replicator_trials'][-1])}")
        if "consume" not in skip:
            load = loadavg()
            result.setdefault("consume_trials", []).append(dict(run_consume(src, tps, records), load=load))
            log(f"consume #{trial}: {json.dumps(result['consume_trials'][-1])}")
    # The trial with the median wall time stands for each measurement (all trials are in the JSON).
    for k, key in (("limits", "loopback_recv_s"), ("link", "wall_s"), ("replicator", "wall_s")):
        trials = result.get(f"{k}_trials")
        if trials:
            result[k] = sorted(trials, key=lambda t: t[key])[len(trials) // 2]
    if result.get("consume_trials"):
        trials = result["consume_trials"]
        result["consume"] = sorted(trials, key=lambda t: t["confluent_kafka"]["wall_s"])[len(trials) // 2]
    result["load_end"] = loadavg()
    src.stop()

    summarize(result)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


def summarize(r: dict) -> None:
    d = r["data"]
    pay, logb, n = d["payload_bytes"], d["source_log_bytes"], d["records"]
    print(f"data: {n} records, payload {pay / 1e6:.1f} MB, source log {logb / 1e6:.1f} MB "
          f"(lz4 ratio {pay / logb:.2f})")
    rows = {}
    if "link" in r:
        L = r["link"]
        rows["link"] = (L["wall_s"], L["dest_cpu_s"], L["dest_cpu_s"], L["source_cpu_s"])
        print(f"link: {L['wall_s']} s wall ({L['from_first_data_s']} s from first mirrored data), "
              f"mirror log identical to source: {L['identical']}")
    if "replicator" in r:
        R = r["replicator"]
        rows["replicator"] = (R["wall_s"], R["replicator_cpu_s"] + R["dest_cpu_s"], R["replicator_cpu_s"],
                              R["source_cpu_s"])
        print(f"replicator: {R['wall_s']} s wall, replicator CPU {R['replicator_cpu_s']} s, destination broker "
              f"CPU {R['dest_cpu_s']} s, destination log {R['dest_log_bytes'] / 1e6:.1f} MB")
    hdr = f"{'copier':11} {'wall s':>7} {'payload MB/s':>13} {'log MB/s':>9} {'records/s':>10} " \
          f"{'copy CPU s':>10} {'payload MB/CPU-s':>17} {'source CPU s':>12}"
    print(hdr)
    per = {}
    for name, (wall, cpu, _own, scpu) in rows.items():
        per[name] = (pay / 1e6 / wall, pay / 1e6 / cpu)
        print(f"{name:11} {wall:>7.2f} {pay / 1e6 / wall:>13.1f} {logb / 1e6 / wall:>9.1f} {n / wall:>10.0f} "
              f"{cpu:>10.2f} {pay / 1e6 / cpu:>17.1f} {scpu:>12.2f}")
    print("(copy CPU: link = destination broker; replicator = replicator + destination broker. "
          "log MB/s uses the source's stored bytes for both.)")
    if "link" in per and "replicator" in per:
        print(f"ratio link/replicator: throughput {per['link'][0] / per['replicator'][0]:.2f}x, "
              f"per busy core {per['link'][1] / per['replicator'][1]:.2f}x")
    if "limits" in r and "link" in r:
        lim = r["limits"]
        link_log = logb / 1e6 / r["link"]["wall_s"]
        print(f"physical limits on {lim['bytes'] / 1e6:.1f} MB of segments: cat {lim['cat_file_MBps']} MB/s, "
              f"cat+fsync {lim['cat_fsync_MBps']} MB/s, loopback sendfile->recv+write {lim['loopback_recv_MBps']} "
              f"MB/s, loopback sendfile->splice {lim['loopback_splice_MBps']} MB/s")
        print(f"link log MB/s as a fraction: {link_log / lim['cat_file_MBps']:.3f} of cat, "
              f"{link_log / lim['loopback_recv_MBps']:.3f} of loopback recv+write, "
              f"{link_log / lim['loopback_splice_MBps']:.3f} of loopback splice")
    if "link" in r and r.get("limits_trials") and len(r["limits_trials"]) == len(r.get("link_trials", [])):
        # Each link trial against the limits measured just before it.
        fr = [(round(logb / 1e6 / L["wall_s"] / lim["loopback_splice_MBps"], 3),
               round(logb / 1e6 / L["wall_s"] / lim["loopback_recv_MBps"], 3))
              for L, lim in zip(r["link_trials"], r["limits_trials"])]
        print(f"link trials (log MB/s / splice, / recv+write): {fr}")
    if "consume" in r:
        C = r["consume"]
        for client, m in C.items():
            if not isinstance(m, dict):
                continue
            line = (f"consume {client}: {m['wall_s']} s wall, {logb / 1e6 / m['wall_s']:.1f} log MB/s, "
                    f"{pay / 1e6 / m['wall_s']:.1f} payload MB/s, {n / m['wall_s']:.0f} records/s, client CPU "
                    f"{m['client_cpu_s']} s, source broker CPU {m['source_cpu_s']} s")
            if "limits" in r:
                lim = r["limits"]
                line += (f"; log MB/s {logb / 1e6 / m['wall_s'] / lim['loopback_splice_MBps']:.3f} of splice, "
                         f"{logb / 1e6 / m['wall_s'] / lim['loopback_recv_MBps']:.3f} of recv+write")
            print(line)
    for k in ("limits", "link", "replicator"):
        trials = r.get(f"{k}_trials", [])
        if len(trials) > 1:
            key = "loopback_recv_MBps" if k == "limits" else "wall_s"
            print(f"{k} trials ({key}): {[t[key] for t in trials]}")
    if len(r.get("consume_trials", [])) > 1:
        print(f"consume trials (wall s): {[{c: m['wall_s'] for c, m in t.items() if isinstance(m, dict)} for t in r['consume_trials']]}")
    print(f"load (1/5/15 min): start {r['load_start']}, limits {r.get('limits', {}).get('load')}, "
          f"link {r.get('link', {}).get('load')}, replicator {r.get('replicator', {}).get('load')}, "
          f"consume {r.get('consume', {}).get('load')}, end {r['load_end']}")
    print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
