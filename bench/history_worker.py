"""The history section's workers (bench/sections/history.py runs them in their own processes):
`--worker cost` times the history's share of a poll, `--worker rest` simulates hours of polls and
reports the memory at rest."""
from __future__ import annotations

import sys

from bench.common import ROOT, status_kb

INTERVAL_SEC = 10.0  # the default poll_interval_sec
SAMPLE_EVERY_SEC = 60.0


def _memory():
    """VmRSS, RssAnon, RssFile (kB) now."""
    return {k: status_kb(k) for k in ("VmRSS", "RssAnon", "RssFile")}


class _Wall:
    """A wall clock the harness moves on."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _build(config: str):
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from application.config.load import load_settings
    from application.container import Container
    from adapters.system.logging import configure_logging

    configure_logging(False)
    container = Container(settings=load_settings(config))
    return container, container.runner()


def _writer_clock():
    """The history writer thread's CPU clock (ns)."""
    import threading
    import time

    thread = next((t for t in threading.enumerate() if t.name == "plex-helper-history"), None)
    if thread is None:
        raise RuntimeError("the history writer thread is not running")
    clock_id = time.pthread_getcpuclockid(thread.ident)
    return lambda: time.clock_gettime_ns(clock_id)


def worker_cost(args) -> int:
    import json
    import time
    import types

    container, runner = _build(args.config)
    for _ in range(10):
        runner.run_once()
    from adapters.history.store import HistoryObserver, Sample

    recorder = container.history_recorder().start()
    wall = _Wall(time.time())
    observer = HistoryObserver(recorder, wall_clock=wall)
    T, P = time.thread_time_ns, time.process_time_ns
    path_ns = [0]

    def timed_report(report):
        t0 = T()
        observer.report(report)
        path_ns[0] += T() - t0

    timed = types.SimpleNamespace(report=timed_report)
    recorder.flush()
    writer = _writer_clock()
    errors = [0]

    def block(n: int, history: bool):
        if history:
            runner.observers.append(timed)
        p0, w0, o0 = P(), writer(), path_ns[0]
        for _ in range(n):
            wall.now += args.interval
            report = runner.run_once()
            if report.source_error is not None or report.limiter_error is not None:
                errors[0] += 1
        if history:
            recorder.flush()
            runner.observers.remove(timed)
        return {"process_ns": P() - p0, "writer_ns": writer() - w0, "path_ns": path_ns[0] - o0}

    block(args.block, True)  # warm-up, not measured
    block(args.block, False)
    pairs = []
    for i in range(args.pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        got = {h: block(args.block, h) for h in order}
        pairs.append({"with": got[True], "without": got[False]})

    # the writer at rest: it wakes once a second
    w0, t0 = writer(), time.monotonic()
    time.sleep(args.idle_sec)
    idle_ns_per_sec = (writer() - w0) / (time.monotonic() - t0)
    # one sample, committed on its own: what the writer does once a minute
    commits = []
    for _ in range(args.commits):
        wall.now += SAMPLE_EVERY_SEC
        w0 = writer()
        recorder.record(Sample(at=wall.now, remote_streams=2, limits={"qbittorrent": 500}, servers={"plex": True},
                               clients={"qbittorrent": True}))
        recorder.flush()
        commits.append(writer() - w0)
    # A check at a real cadence: polls a second apart, the recorder running (observer on) or stopped
    # (history off), alternately; process CPU per poll. The writer's wake-ups fall in here as in the daemon.
    paced = {"with": [], "without": []}
    for i in range(args.paced_pairs):
        for history in ((True, False) if i % 2 == 0 else (False, True)):
            if history:
                recorder.start()
                runner.observers.append(timed)
            time.sleep(0.2)
            p0, start = P(), time.monotonic()
            for k in range(args.paced_polls):
                wall.now += 1.0
                runner.run_once()
                time.sleep(max(0.0, start + (k + 1) * 1.0 - time.monotonic()))
            paced["with" if history else "without"].append((P() - p0) / args.paced_polls / 1e3)
            if history:
                runner.observers.remove(timed)
                recorder.flush()
                recorder.stop()
    status = recorder.status()
    recorder.stop()
    n = args.block
    out = {
        "block_polls": n, "pairs": args.pairs, "interval_sec": args.interval, "errors": errors[0],
        "with_ms_per_poll": [p["with"]["process_ns"] / n / 1e6 for p in pairs],
        "without_ms_per_poll": [p["without"]["process_ns"] / n / 1e6 for p in pairs],
        "diff_us_per_poll": [(p["with"]["process_ns"] - p["without"]["process_ns"]) / n / 1e3 for p in pairs],
        "path_us_per_poll": [p["with"]["path_ns"] / n / 1e3 for p in pairs],
        "writer_us_per_poll_back_to_back": [p["with"]["writer_ns"] / n / 1e3 for p in pairs],
        "writer_idle_us_per_sec": idle_ns_per_sec / 1e3,
        "writer_commit_us": [c / 1e3 for c in commits],
        "recorder_status": status,
        "paced_1s_us_per_poll": paced,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def worker_rest(args) -> int:
    import gc
    import json
    import time

    container, runner = _build(args.config)
    for _ in range(20):
        runner.run_once()
    recorder = observer = None
    wall = _Wall(time.time())
    stages = {"after polls": _memory()}
    if args.history:
        import importlib

        importlib.import_module("sqlite3")  # its own line in the stages: the library and the module
        stages["import sqlite3"] = _memory()
        from adapters.history.store import HistoryObserver, LimitApplied, StateChange

        stages["import adapters.history.store"] = _memory()
        recorder = container.history_recorder().start()
        observer = HistoryObserver(recorder, wall_clock=wall)
        recorder.flush()
        stages["recorder started (database open)"] = _memory()
    polls = int(args.sim_minutes * 60 / args.interval)
    per_sample = int(SAMPLE_EVERY_SEC / args.interval)
    errors = 0
    for i in range(polls):
        wall.now += args.interval
        report = runner.run_once()
        if report.source_error is not None or report.limiter_error is not None:
            errors += 1
        if observer is not None:
            observer.report(report)
            if i % 180 == 179:  # every 30 simulated minutes, as if the state had changed
                recorder.record(StateChange(wall.now, "streaming", "idle", "no remote streams"))
                recorder.record(LimitApplied(wall.now, "qbittorrent", 0))
            if i % per_sample == per_sample - 1:
                recorder.flush()  # one commit a sample, as at the real cadence
    status = None
    if recorder is not None:
        recorder.flush()
        status = recorder.status()
    gc.collect()
    time.sleep(0.3)
    stages["end"] = _memory()
    out = {"stages": stages, "history": bool(args.history), "polls": polls, "errors": errors, "vmrss_kb": status_kb("VmRSS"),
           "vmhwm_kb": status_kb("VmHWM"), "rss_anon_kb": status_kb("RssAnon"), "rss_file_kb": status_kb("RssFile"),
           "threads": status_kb("Threads"), "modules": len(sys.modules), "recorder_status": status,
           "sqlite3_loaded": "sqlite3" in sys.modules}
    sys.stdout.write(json.dumps(out) + "\n")
    if recorder is not None:
        recorder.stop()
    return 0


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="history cost workers (run through python3 -m bench.run --only history)")
    p.add_argument("--worker", choices=("cost", "rest"), required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--block", type=int, default=200)
    p.add_argument("--idle-sec", type=float, default=4.0)
    p.add_argument("--commits", type=int, default=50)
    p.add_argument("--interval", type=float, default=INTERVAL_SEC)
    p.add_argument("--sim-minutes", type=float, default=360)
    p.add_argument("--history", action="store_true")
    p.add_argument("--paced-pairs", type=int, default=2)
    p.add_argument("--paced-polls", type=int, default=5)
    args = p.parse_args(argv)
    return worker_cost(args) if args.worker == "cost" else worker_rest(args)


if __name__ == "__main__":
    sys.exit(main())
