#!/usr/bin/env python3
"""Idle cost of a cluster link: CPU (% of one core) and RSS (MB) of the destination and the
source while N mirrored partitions receive no traffic, against the same two brokers with the
same topics and no link (the reference: what the topics cost with nobody mirroring them).

For each size in --partitions (default 1000,5000,10000), in one run:
  1. a fresh source Strait; `--topics`-sized topics created with CreateTopics (many partitions
     per topic, so 10k partitions take one request per topic, not one per partition);
  2. reference: a fresh destination Strait with the same topics created as plain topics, no
     link; after --settle-s, CPU (utime+stime from /proc/PID/stat) of both brokers over
     --window-s, and VmRSS from /proc/PID/status at the end;
  3. link: a fresh destination Strait, `cluster-links create` with auto-created mirrors of
     every source topic; the harness waits until every mirror partition exists on the
     destination and the link has fetched each one once (mirrors describe), then settles and
     measures the same way.
The link's own cost is link minus reference.

Open files: each idle partition holds one descriptor per broker, its active segment's `.log`
(index files are written at flush/roll/close and not kept open, as Kafka mmaps its indexes and
closes them; crates/storage/src/segment/mod.rs). A partition with S segments holds S. This
machine's hard RLIMIT_NOFILE is 20,000 (not raisable without CAP_SYS_RESOURCE), so ~19,000
single-segment partitions per broker fit; the harness raises the soft limit to the hard one.
Before that change each partition held 4 (.log, .index, .timeindex, .txnindex) and ~4,900 was
the cap.

Release builds into a separate target dir (STRAIT_BIN_DIR points the harness at them):

    CARGO_TARGET_DIR=/work/target-bench cargo build --release -p strait-broker --bin strait
    CARGO_TARGET_DIR=/work/target-bench cargo build --release -p strait-tools
    STRAIT_BIN_DIR=/work/target-bench/release protocol-tests/.venv/bin/python benches/e2e/idle_link.py \
        --partitions 1000,5000,10000 --window-s 20                                   # ~20 min
    protocol-tests/.venv/bin/python benches/e2e/idle_link.py --partitions 1000 --window-s 10   # smoke
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Strait, cpu_seconds, loadavg, temp_dir, wait_until  # noqa: E402

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def create_topics(bootstrap: str, topics: int, per_topic: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    names = [f"idle-{i}" for i in range(topics)]
    # In chunks, so one request never carries more than ~2,000 partitions.
    chunk = max(1, 2000 // per_topic)
    for i in range(0, len(names), chunk):
        futs = admin.create_topics([NewTopic(n, per_topic, 1) for n in names[i:i + chunk]],
                                   request_timeout=120, operation_timeout=120)
        for _, f in futs.items():
            f.result(180)


def measure(brokers: dict, window_s: float) -> dict:
    cpu0 = {k: cpu_seconds(b.pid) for k, b in brokers.items()}
    t0 = time.monotonic()
    time.sleep(window_s)
    wall = time.monotonic() - t0
    out = {}
    for k, b in brokers.items():
        out[k] = {"cpu_pct": round(100 * (cpu_seconds(b.pid) - cpu0[k]) / wall, 2),
                  "rss_mb": round(rss_mb(b.pid), 1), "threads": threads(b.pid),
                  "fds": open_fds(b.pid)}
    out["window_s"] = round(wall, 2)
    return out


def mirrored_partitions(dest: Strait) -> int:
    """Mirror partitions the link has fetched at least once (per `mirrors describe`)."""
    r = subprocess.run([common.strait_bin("mirrors"), "describe", "--bootstrap-server", dest.bootstrap,
                        "--link", "idle"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return 0
    n = 0
    for line in r.stdout.splitlines():
        # One row per partition: Partition State LocalLogEndOffset LastFetchSourceHighWatermark
        # Lag LagMs TimeSinceLastFetchMs Error; a partition fetched once has a last fetch time.
        f = line.split()
        if len(f) >= 7 and f[0].isdigit() and f[1] == "ACTIVE" and f[6] != "-":
            n += 1
    return n


def run_size(workdir: str, total: int, per_topic: int, settle_s: float, window_s: float,
             link_configs: list, perf: bool = False) -> dict:
    topics = total // per_topic
    res = {"partitions": topics * per_topic, "topics": topics, "per_topic": per_topic}
    src = Strait(f"source-{total}", workdir).start()
    t = time.monotonic()
    create_topics(src.bootstrap, topics, per_topic)
    res["source_create_s"] = round(time.monotonic() - t, 2)
    log(f"{total}: source topics created in {res['source_create_s']} s")

    # Reference: same topics on a destination with no link.
    ref = Strait(f"ref-{total}", workdir).start()
    create_topics(ref.bootstrap, topics, per_topic)
    time.sleep(settle_s)
    res["reference"] = dict(measure({"dest": ref, "source": src}, window_s), load=loadavg())
    log(f"{total}: reference {json.dumps(res['reference'])}")
    ref.stop()

    dst = Strait(f"dest-{total}", workdir).start()
    cmd = [common.strait_bin("cluster-links"), "create", "--link", "idle", "--bootstrap-server", dst.bootstrap,
           "--config", f"bootstrap.servers={src.bootstrap}", "--config", "auto.create.mirror.topics.enable=true",
           "--topic-filters-json",
           json.dumps({"topicFilters": [{"name": "idle-", "patternType": "PREFIXED", "filterType": "INCLUDE"}]})]
    for c in link_configs:
        cmd += ["--config", c]
    log(" ".join(cmd))
    t = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=120)
    n = wait_until(lambda: (lambda k: k if k >= res["partitions"] else None)(mirrored_partitions(dst)),
                   600, f"{res['partitions']} ACTIVE mirror partitions", interval=1.0)
    res["link_setup_s"] = round(time.monotonic() - t, 2)
    log(f"{total}: {n} mirror partitions ACTIVE after {res['link_setup_s']} s")
    time.sleep(settle_s)
    res["link"] = dict(measure({"dest": dst, "source": src}, window_s), load=loadavg())
    log(f"{total}: link {json.dumps(res['link'])}")
    if perf:
        # After the measured window, so perf's own cost is not in it.
        for who, b in (("dest", dst), ("source", src)):
            data = os.path.join(workdir, f"idle-{total}.{who}.perf.data")
            subprocess.run(["perf", "record", "-F", "999", "-g", "-p", str(b.pid), "-o", data, "--", "sleep",
                            str(window_s)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            txt = data.replace(".data", ".txt")
            with open(txt, "w") as f:
                subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "symbol", "--stdio",
                                "--percent-limit", "0.5", "-g", "none"], stdout=f, stderr=subprocess.DEVNULL)
            res[f"perf_{who}"] = txt
            log(f"{total}: perf report of the {who} in {txt}")
    dst.stop()
    src.stop()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", default="1000,5000,10000", help="comma list of mirrored partition counts")
    ap.add_argument("--per-topic", type=int, default=100, help="partitions per topic")
    ap.add_argument("--settle-s", type=float, default=5.0, help="wait before each window")
    ap.add_argument("--window-s", type=float, default=30.0, help="measurement window")
    ap.add_argument("--link-config", action="append", default=[], help="extra link config k=v (repeatable)")
    ap.add_argument("--perf", action="store_true",
                    help="perf record both brokers for one more window after each link measurement (use --keep)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    if args.keep:
        os.environ["BENCH_KEEP"] = "1"
    for b in ("strait", "cluster-links", "mirrors"):
        if not os.path.exists(common.strait_bin(b)):
            raise SystemExit(f"{common.strait_bin(b)} missing: cargo build --release --bins")
    # Brokers inherit it: every partition costs one open file per segment per broker.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    workdir = temp_dir("bench-idle-", args.workdir)
    log(f"workdir {workdir}, binaries {common.strait_bin()}")
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "argv": sys.argv[1:], "load_start": loadavg(),
              "sizes": []}
    for total in (int(x) for x in args.partitions.split(",")):
        result["sizes"].append(run_size(workdir, total, args.per_topic, args.settle_s, args.window_s,
                                        args.link_config, args.perf))
    result["load_end"] = loadavg()
    print("| mirrored partitions | dest CPU % (link / no link) | dest RSS MB (link / no link) "
          "| source CPU % (link / no link) | source RSS MB | load |")
    print("|---|---|---|---|---|---|")
    for s in result["sizes"]:
        L, R = s["link"], s["reference"]
        print(f"| {s['partitions']:,} | {L['dest']['cpu_pct']} / {R['dest']['cpu_pct']} "
              f"| {L['dest']['rss_mb']} / {R['dest']['rss_mb']} "
              f"| {L['source']['cpu_pct']} / {R['source']['cpu_pct']} | {L['source']['rss_mb']} | {L['load']} |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
