#!/usr/bin/env python3
"""kill -9 soak for Strait (issue 11 item 8). Opt-in; not part of CI.

Scenario `broker`: one Strait broker, acks=all idempotent confluent-kafka producers
writing sequence-numbered records to a few partitions without pause. Every cycle kills
the broker with SIGKILL at a random moment (the delay comes from --seed), restarts it on
the same port and data dir, waits (with a deadline) until it serves and the producers are
acknowledged again, and goes on. Every --verify-every cycles and at the end, every
partition is read back from offset 0 (read_uncommitted) and checked: each acknowledged
record exactly once, at its acknowledged offset; offsets dense; high watermarks never
below an acknowledged offset after a restart.

Scenario `link`: the same producers write to a source broker that a destination broker
mirrors through a cluster link (`cluster-links create`, auto-created mirror topic). Every
cycle kills the destination. Periodically and at the end: the mirror's raw record batches
(Fetch v4, as stored) equal the source's byte for byte, and every acknowledged record is
in the mirror at its source offset.

    protocol-tests/.venv/bin/python tools/soak/soak.py --cycles 1000 --scenario both --seed 1

Prints one JSON summary line per scenario; exits 1 on any loss, duplicate, misplaced
record, gap or divergence (and 2 on a harness error such as a deadline passing).
See tools/soak/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

try:
    import confluent_kafka  # noqa: F401
except ImportError:  # pragma: no cover
    sys.exit("confluent-kafka is missing: run with protocol-tests/.venv/bin/python "
             "(STRAIT_INSTALL_ONLY=1 bash protocol-tests/run-all.sh creates it)")

from soaklib.common import REPO, log, set_client_log  # noqa: E402
from soaklib.procs import cleanup  # noqa: E402
from soaklib.scenario import run_scenario  # noqa: E402
from soaklib.selftest import self_test  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=1000, help="kill -9 cycles per scenario (default 1000)")
    ap.add_argument("--scenario", choices=["broker", "link", "both", "self-test"], default="both",
                    help="self-test: inject a duplicate, a lost ack and a diverging log and check each is reported")
    ap.add_argument("--seed", type=int, default=1, help="seeds the kill delays and payloads (default 1)")
    ap.add_argument("--bin", default=str(REPO / "target" / "release"),
                    help="directory with strait, cluster-links, mirrors (default target/release); copied before the run")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--writers", type=int, default=2, help="idempotent producers; codecs none, lz4, zstd, snappy, gzip in turn")
    ap.add_argument("--rate", type=float, default=3000, help="records/s offered by all writers together (default 3000)")
    ap.add_argument("--record-bytes", type=int, default=100, help="payload padding per record (default 100)")
    ap.add_argument("--max-delay", type=float, default=1.0, help="kill delay drawn uniformly from [0, this] s after progress resumes (default 1.0)")
    ap.add_argument("--burst", type=int, default=500,
                    help="on a seeded half of the kills, each writer hands this many records to the client just before the kill (default 500)")
    ap.add_argument("--link-fetch-bytes", type=int, default=16384,
                    help="link option replica.fetch.max.bytes (small: a burst takes many fetches, so kills land mid-copy; default 16384)")
    ap.add_argument("--verify-every", type=int, default=100, help="full read-back check every N cycles (0: only at the end)")
    ap.add_argument("--max-wall-s", type=float, default=0,
                    help="stop starting new cycles after this many seconds per scenario, then verify (0: no limit); "
                         "the summary's cycles says how many ran")
    ap.add_argument("--progress-every", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (broker logs, data, per-cycle log) even on success")
    args = ap.parse_args()

    bindir = Path(args.bin)
    workdir = Path(tempfile.mkdtemp(prefix="strait-soak-"))
    # Snapshot the binaries: others may rebuild target/release during a long run.
    bins = {}
    (workdir / "bin").mkdir()
    for name in ("strait", "cluster-links", "mirrors"):
        src = bindir / name
        if not src.exists():
            sys.exit(f"{src} is missing: cargo build --release -p strait-broker --bin strait && cargo build --release -p strait-tools")
        bins[name] = workdir / "bin" / name
        try:
            # A hard link pins this inode: cargo and the linker write a new file when they rebuild.
            os.link(src, bins[name])
        except OSError:  # another filesystem
            shutil.copy2(src, bins[name])
    set_client_log(workdir / "librdkafka.log")
    sha = hashlib.sha256(bins["strait"].read_bytes()).hexdigest()[:12]
    log(f"work dir {workdir}; strait sha256 {sha} (from {bindir}, mtime {time.strftime('%Y-%m-%d %H:%M', time.gmtime((bindir / 'strait').stat().st_mtime))} UTC)")

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    kinds = ["broker", "link"] if args.scenario == "both" else [args.scenario]
    if args.scenario == "self-test":
        try:
            r = self_test(args, workdir, bins)
        finally:
            cleanup()
        print(json.dumps(r), flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
        return 0 if r["ok"] else 1
    all_ok = True
    violation = False
    try:
        for kind in kinds:
            s = run_scenario(kind, args, workdir, bins)
            s["strait_sha256"] = sha
            print(json.dumps(s), flush=True)
            all_ok &= s["ok"]
            violation |= s["violation"]
    except KeyboardInterrupt:
        log("interrupted; stopping brokers")
        cleanup()
        return 130
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        cleanup()
        log(f"work dir kept: {workdir}")
        return 2
    finally:
        cleanup()
    if all_ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"work dir kept: {workdir}")
    if all_ok:
        return 0
    return 1 if violation else 2


if __name__ == "__main__":
    sys.exit(main())
