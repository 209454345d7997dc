"""The `broker` and `link` scenarios: kill -9 cycles while the writers write, with
deadline-bounded waits for the restart and for progress, periodic and final checks, and
the one-line JSON summary.
"""

from __future__ import annotations

import json
import random
import time
import traceback
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from .common import CODECS, LINK, TOPIC, HarnessError, client_log, dist, log, pct, wait_until
from .procs import Broker, cli
from .rawwire import high_watermarks, watermarks
from .verify import check
from .writer import Writer



def create_topic(addr: str, partitions: int) -> None:
    a = AdminClient({"bootstrap.servers": addr, "logger": client_log()})
    fs = a.create_topics([NewTopic(TOPIC, num_partitions=partitions, replication_factor=1)], operation_timeout=15, request_timeout=20)
    fs[TOPIC].result(timeout=30)
    wait_until(lambda: watermarks(addr, TOPIC, partitions), 30, "the topic to serve")


def start_writers(args, addr: str, rng: random.Random) -> list[Writer]:
    ws = []
    for i in range(args.writers):
        pad = bytes(rng.randrange(97, 123) for _ in range(args.record_bytes))
        w = Writer(i, addr, args.partitions, args.rate / args.writers, CODECS[i % len(CODECS)], pad)
        ws.append(w)
    for w in ws:
        w.thread.start()
    return ws


def acked_total(ws: list[Writer]) -> int:
    return sum(w.n_acked for w in ws)


def run_scenario(kind: str, args, workdir: Path, bins: dict[str, Path]) -> dict:
    rng = random.Random(f"{args.seed}-{kind}")
    t_start = time.monotonic()
    P = args.partitions
    source = Broker(bins["strait"], workdir, f"{kind}-source")
    source.start()
    create_topic(source.bootstrap, P)
    victim = source
    dest = None
    if kind == "link":
        dest = Broker(bins["strait"], workdir, "link-dest")
        dest.start()
        filt = json.dumps({"topicFilters": [{"name": TOPIC, "patternType": "LITERAL", "filterType": "INCLUDE"}]})
        cli(bins["cluster-links"], "create", "--link", LINK, "--bootstrap-server", dest.bootstrap,
            "--config", f"bootstrap.servers={source.bootstrap},metadata.max.age.ms=500,replica.fetch.max.bytes={args.link_fetch_bytes}",
            "--config", "auto.create.mirror.topics.enable=true", "--topic-filters-json", filt)
        wait_until(lambda: watermarks(dest.bootstrap, TOPIC, P), 60, "the mirror topic on the destination")
        victim = dest
    writers = start_writers(args, source.bootstrap, rng)
    wait_until(lambda: all(w.n_acked > 0 for w in writers), 60, "first acknowledgements")

    restart_s: list[float] = []  # SIGKILL -> ListOffsets answered on every partition
    ready_s: list[float] = []  # SIGKILL -> ready line
    resume_s: list[float] = []  # SIGKILL -> progress again (new acks / the mirror advances)
    in_flight_at_kill: list[int] = []  # records handed to the producers and not yet acknowledged
    lag_at_kill: list[int] = []  # link: source HWM - mirror HWM, summed over partitions, right before the kill
    hwm_regressions: list[str] = []
    mirror_hwm_regressions = 0
    checks: list[dict] = []
    failure = None
    cycles_log = open(workdir / f"{kind}-cycles.jsonl", "w")
    cycles_done = 0
    try:
        for cycle in range(1, args.cycles + 1):
            if args.max_wall_s and time.monotonic() - t_start > args.max_wall_s:
                log(f"{kind}: --max-wall-s {args.max_wall_s} reached after {cycles_done} cycles")
                break
            delay = rng.uniform(0, args.max_delay)
            burst = args.burst if rng.random() < 0.5 else 0
            time.sleep(delay)  # the only sleep: the random moment of the kill, drawn from the seed
            if burst:
                if kind == "link":
                    src_his_at_burst = high_watermarks(source.bootstrap, TOPIC, P)
                for w in writers:
                    w.burst_done.clear()
                    w.burst = burst
                for w in writers:
                    if not w.burst_done.wait(30):
                        raise HarnessError(f"cycle {cycle}: writer {w.wid} did not take its burst")
            in_flight = sum(w.in_flight() for w in writers)
            if kind == "link":
                if burst:
                    # Kill while the link copies the burst: wait until part of it is on the source.
                    src0 = sum(src_his_at_burst)
                    wait_until(lambda: sum(high_watermarks(source.bootstrap, TOPIC, P)) >= src0 + burst, 30,
                               f"cycle {cycle}: the burst to reach the source", interval=0.002)
                before = high_watermarks(dest.bootstrap, TOPIC, P)
                src_now = high_watermarks(source.bootstrap, TOPIC, P)
                lag_at_kill.append(sum(max(0, a - b) for a, b in zip(src_now, before)))
            t_kill = time.monotonic()
            victim.kill9()
            max_acked = [max(w.max_acked[p] for w in writers) for p in range(P)]
            victim.start()
            ready_s.append(time.monotonic() - t_kill)
            seq_after = [w.produced for w in writers]  # records handed to the client from here on
            his = wait_until(lambda: high_watermarks(victim.bootstrap, TOPIC, P), 60, f"cycle {cycle}: broker serving")
            restart_s.append(time.monotonic() - t_kill)
            if kind == "broker":
                # Recovery alone must keep every ack issued before the kill.
                for p in range(P):
                    if his[p] < max_acked[p] + 1:
                        hwm_regressions.append(f"cycle {cycle}: {TOPIC}-{p} HWM {his[p]} after restart, offset {max_acked[p]} was acked")
                # Progress: a record handed to the client after the restart is acknowledged
                # (late delivery reports of records written before the kill do not count).
                wait_until(lambda: any(w.max_acked_seq >= s for w, s in zip(writers, seq_after)), 120,
                           f"cycle {cycle}: acks to resume")
            else:
                mirror_hwm_regressions += sum(1 for p in range(P) if his[p] < before[p])
                wait_until(lambda: any(h > x for h, x in zip(high_watermarks(dest.bootstrap, TOPIC, P), his)), 120,
                           f"cycle {cycle}: the mirror to advance")
            resume_s.append(time.monotonic() - t_kill)
            in_flight_at_kill.append(in_flight)
            fatal = sum(len(w.fatal) for w in writers)
            cycles_log.write(json.dumps({"cycle": cycle, "delay": round(delay, 3), "burst": burst, "in_flight": in_flight,
                                         "restart_s": round(restart_s[-1], 3), "resume_s": round(resume_s[-1], 3),
                                         "acked": acked_total(writers), "hwm": his, "fatal": fatal}) + "\n")
            cycles_log.flush()
            cycles_done = cycle
            if cycle % args.progress_every == 0:
                log(f"{kind}: cycle {cycle}/{args.cycles}, {acked_total(writers)} acked, restart p50 {pct(restart_s, 50)} s, max {max(restart_s):.3f} s")
            if args.verify_every and cycle % args.verify_every == 0 and cycle != args.cycles:
                chk = check(kind, source, dest, P, writers, final=False)
                chk["cycle"] = cycle
                checks.append(chk)
                log(f"{kind}: check at cycle {cycle}: {json.dumps({k: v for k, v in chk.items() if k not in ('high_watermarks',)})}")
                if not chk["ok"]:
                    failure = f"check at cycle {cycle} failed"
                    break
            if hwm_regressions or any(w.fatal for w in writers) or any(w.reacked for w in writers):
                failure = f"cycle {cycle}: " + ("HWM below an acked offset after restart" if hwm_regressions else
                                                 "fatal producer error" if any(w.fatal for w in writers) else "duplicate delivery report")
                break
    except Exception as e:  # noqa: BLE001 - a deadline, a refused connection: stop cycling, still judge the data
        failure = f"harness: {e if isinstance(e, HarnessError) else traceback.format_exc()}"
        log(failure)
        log(f"{victim.name} stderr tail:\n{victim.stderr_tail()}")
    finally:
        cycles_log.close()

    # Drain: every queued record acknowledged (or failed), then judge everything.
    undelivered = [w.finish(120) for w in writers]
    final = None
    try:
        if kind == "link":
            src_his = high_watermarks(source.bootstrap, TOPIC, P)
            wait_until(lambda: high_watermarks(dest.bootstrap, TOPIC, P) == src_his, 300, "the mirror to catch up with the source",
                       interval=0.1)
        final = check(kind, source, dest, P, writers, final=True)
    except Exception as e:  # noqa: BLE001
        failure = failure or f"harness: {e}"
        log(f"final check: {e}")
    describe = None
    if kind == "link":
        try:
            out = cli(bins["mirrors"], "--describe", "--topics", TOPIC, "--bootstrap-server", dest.bootstrap, "--output", "json")
            d = json.loads(out)
            ms = d["mirrors"] if isinstance(d, dict) else d
            describe = [m.get("state") for m in ms if m.get("mirror_topic") == TOPIC]
        except Exception as e:  # noqa: BLE001 - informational
            describe = f"error: {e}"
    for b in (source, dest):
        if b:
            b.stop()

    acked = acked_total(writers)
    produced = sum(w.produced for w in writers)
    summary = {
        "scenario": kind,
        "cycles": cycles_done,
        "cycles_requested": args.cycles,
        "seed": args.seed,
        "partitions": P,
        "writers": [f"w{w.wid}:{w.codec}" for w in writers],
        "produced": produced,
        "acknowledged": acked,
        "unacknowledged": produced - acked,
        "delivery_failures": {k: v for w in writers for k, v in w.failures.items()},
        "undelivered_at_end": sum(undelivered),
        "lost": final["lost"] if final else None,
        "duplicated": final["duplicated"] if final else None,
        "misplaced": final["misplaced"] if final else None,
        "gaps": final["gaps"] if final else None,
        "unacknowledged_present": final["unacknowledged_present"] if final else None,
        "hwm_below_acked_after_restart": len(hwm_regressions),
        "producer_fatal_errors": [f for w in writers for f in w.fatal],
        "client_errors": {k: sum(w.errors.get(k, 0) for w in writers) for k in sorted({k for w in writers for k in w.errors})},
        "duplicate_delivery_reports": sum(w.reacked for w in writers),
        "records_in_log": final["records"] if final else None,
        "restart_s": dist(restart_s),
        "ready_line_s": dist(ready_s),
        "resume_s": dist(resume_s),
        "periodic_checks": len(checks),
        "periodic_checks_failed": sum(1 for c in checks if not c["ok"]),
    }
    if kind == "broker":
        summary["in_flight_at_kill"] = dist([float(x) for x in in_flight_at_kill]) | {
            "kills_with_unacked": sum(1 for x in in_flight_at_kill if x > 0)}
    if kind == "link":
        summary.update({
            "byte_identical": final["byte_identical"] if final else False,
            "batches_compared": final["raw"]["batches"] if final else 0,
            "bytes_compared": final["raw"]["bytes"] if final else 0,
            "divergence": final["raw"]["divergence"] if final else None,
            "lost_in_mirror": final["mirror"]["lost"] if final else None,
            "mirror_hwm_regressions_after_restart": mirror_hwm_regressions,
            "mirror_lag_at_kill": dist([float(x) for x in lag_at_kill]) | {"kills_with_lag": sum(1 for x in lag_at_kill if x > 0)},
            "mirror_state": describe,
        })
    examples = (final or {}).get("examples", []) + [e for c in checks for e in c.get("examples", [])] + hwm_regressions[:5]
    if examples:
        summary["examples"] = examples[:10]
    ok = (failure is None and final is not None and final["ok"] and not hwm_regressions
          and not summary["producer_fatal_errors"] and not summary["duplicate_delivery_reports"]
          and summary["undelivered_at_end"] == 0)
    summary["failure"] = failure
    summary["violation"] = bool(
        (final and not final["ok"]) or hwm_regressions or summary["producer_fatal_errors"]
        or summary["duplicate_delivery_reports"] or any(not c["ok"] for c in checks))
    summary["ok"] = ok
    summary["wall_s"] = round(time.monotonic() - t_start, 1)
    return summary

