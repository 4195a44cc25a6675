"""What the history costs (issue 15): per poll, and in memory at rest.

    python3 bench/run.py --only history

Per poll. A worker process builds the daemon from a config (Plex stand-in + the real qbittorrent-nox,
10 sessions, streaming) as bench/run.py's poll worker does, then wires the history as
`cli.run_daemon` does (the container's HistoryRecorder, started, and a HistoryObserver in the
runner's observers). The observer's wall clock is virtual and moves on by the poll interval (10 s,
the default) at every poll, so it makes a Sample every 6 polls, as in the daemon; the polls
themselves run back to back.
  * A/B: blocks of polls with and without the observer, interleaved; process CPU (every thread,
    the writer's included: each history block ends with `flush()`, so its commit falls inside it).
  * The breakdown at the daemon's real cadence: the poll path (`HistoryObserver.report` and
    `HistoryRecorder.record`, main-thread CPU, timed around the call), the writer thread's CPU per
    commit of one sample (record + flush, its own CPU clock) and its CPU per second when idle (it
    wakes once a second). Per poll at an interval of I seconds:
        poll path + commit x I/60 + idle wake-ups x I.
At rest. Workers that run 6 simulated hours of polls (2,160 polls, 10 s apart on the virtual
clock; a state change and a limit every 30 minutes), with the recorder started (committing each
sample, as at the real cadence) or without history; then VmRSS after gc. Also with a database that
already holds 30 days (43,200 samples), as a daemon that has run for a month opens it at start.
Medians of the repeats; the difference on vs off is the figure.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTERVAL_SEC = 10.0  # the default poll_interval_sec
SAMPLE_EVERY_SEC = 60.0


def _median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _memory():
    """VmRSS, RssAnon, RssFile (kB) now."""
    return {k: _status_kb(k) for k in ("VmRSS", "RssAnon", "RssFile")}


# =============================================================================================
# Workers
# =============================================================================================

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
    out = {"stages": stages, "history": bool(args.history), "polls": polls, "errors": errors, "vmrss_kb": _status_kb("VmRSS"),
           "vmhwm_kb": _status_kb("VmHWM"), "rss_anon_kb": _status_kb("RssAnon"), "rss_file_kb": _status_kb("RssFile"),
           "threads": _status_kb("Threads"), "modules": len(sys.modules), "recorder_status": status,
           "sqlite3_loaded": "sqlite3" in sys.modules}
    sys.stdout.write(json.dumps(out) + "\n")
    if recorder is not None:
        recorder.stop()
    return 0


# =============================================================================================
# The section, run from bench/run.py's Bench
# =============================================================================================

class HistoryCost:
    def __init__(self, bench, sides) -> None:
        self.b, self.s, self.args = bench, sides, bench.args
        self.quick = bool(bench.args.quick)

    def worker(self, mode: str, config: str, *extra: str):
        import json
        import subprocess

        cmd = [self.b.python, "-c", "import sys; from bench.history_cost import main; sys.exit(main(sys.argv[1:]))",
               "--worker", mode, "--config", config] + list(extra)
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")})
        lines = p.stdout.strip().splitlines()
        if p.returncode != 0 or not lines:
            raise RuntimeError("history worker %s failed (%s): %s" % (mode, p.returncode, p.stderr[-800:]))
        return json.loads(lines[-1])

    def config(self, state_dir=None) -> str:
        from bench.multi import write_list_config

        return write_list_config(self.b, [self.s.plex_entry()], [self.s.qbt_entry(weight=1)],
                                 **({"state_dir": state_dir} if state_dir else {}))

    def month_database(self) -> str:
        """A history database holding 30 days: a sample a minute, 4 state changes and limits a day."""
        import tempfile
        import time

        from adapters.history.store import HistoryRecorder, LimitApplied, Sample, StateChange

        path = os.path.join(tempfile.mkdtemp(prefix="history-month-", dir=self.b.tmp), "history.sqlite3")
        recorder = HistoryRecorder(path, keep_days=30, max_queue=5000).start()
        start = time.time() - 29.9 * 86400
        for i in range(43200):
            at = start + i * 60
            remote = 1 if (i // 360) % 2 else 0
            recorder.record(Sample(at=at, remote_streams=remote, limits={"qbittorrent": 500 if remote else 0},
                                   servers={"plex": True}, clients={"qbittorrent": True}))
            if i % 360 == 0:
                recorder.record(StateChange(at, "idle" if remote else "streaming", "streaming" if remote else "idle",
                                            "remote streams" if remote else "no remote streams"))
                recorder.record(LimitApplied(at, "qbittorrent", 500 if remote else 0))
            if i % 2000 == 1999:
                recorder.flush(timeout_sec=30)
        recorder.flush(timeout_sec=30)
        rows = recorder.status()["rows"]
        recorder.stop()
        return path, rows

    def run(self) -> None:
        self.s.set_sessions(10)
        pairs, block = (4, 100) if self.quick else (10, 200)
        self.b.log("history: per poll, %d pairs of %d-poll blocks with and without history (Plex + qbittorrent-nox, "
                   "10 sessions)" % (pairs, block))
        cost = self.worker("cost", self.config(), "--pairs", str(pairs), "--block", str(block),
                           "--idle-sec", "2" if self.quick else "8", "--commits", "20" if self.quick else "50",
                           "--interval", str(INTERVAL_SEC), "--paced-pairs", "1" if self.quick else "2",
                           "--paced-polls", "3" if self.quick else "5")
        path_us = _median(cost["path_us_per_poll"])
        commit_us = _median(cost["writer_commit_us"])
        idle_us = cost["writer_idle_us_per_sec"]
        diff_us = _median(cost["diff_us_per_poll"])

        def per_poll(interval):
            return path_us + commit_us * interval / SAMPLE_EVERY_SEC + idle_us * interval

        at = {str(i): per_poll(i) for i in (1, 10, 60)}
        paced = cost["paced_1s_us_per_poll"]
        paced_diff = (_median(paced["with"]) or 0) - (_median(paced["without"]) or 0)
        cost.update(median_path_us=path_us, median_commit_us=commit_us, median_ab_diff_us=diff_us,
                    per_poll_us_by_interval=at, with_ms_median=_median(cost["with_ms_per_poll"]),
                    without_ms_median=_median(cost["without_ms_per_poll"]),
                    formula="poll path + commit x interval/60 + idle wake-ups/s x interval")
        self.b.details["history"] = {"per_poll": cost}
        self.b.row("history per poll, 10 s polls (the default)",
                   "%.1f us = poll path %.1f us (observer.report + record) + writer %.1f us (a commit %.0f us every "
                   "6 polls, %.1f us/s of idle wake-ups); A/B back to back: %+.1f us (%.3f vs %.3f ms)"
                   % (at["10"], path_us, at["10"] - path_us, commit_us, idle_us, diff_us,
                      cost["with_ms_median"], cost["without_ms_median"]),
                   "< 0.1 ms", at["10"] < 100.0)
        cost["paced_1s_diff_us"] = paced_diff
        self.b.row("history per poll, 1 s polls (the shortest interval)",
                   "%.1f us (commit every 60 polls, one idle wake-up per poll); checked at a real 1 s cadence: "
                   "%+.0f us per poll (%.0f vs %.0f us, process CPU)"
                   % (at["1"], paced_diff, _median(paced["with"]) or 0, _median(paced["without"]) or 0),
                   "< 0.1 ms", at["1"] < 100.0)
        self.at_rest()

    def at_rest(self) -> None:
        import shutil
        import tempfile

        repeats = self.args.mem_repeats
        minutes = 120 if self.quick else 360
        month, month_rows = self.month_database()
        self.b.log("history at rest: %d simulated minutes, %d repeat(s): off / on (new database) / on (30 days "
                   "recorded, %d rows)" % (minutes, repeats, month_rows))
        variants = {"off": [], "on, new database": [], "on, 30 days recorded": []}
        for _ in range(repeats):
            for label in variants:
                state_dir = tempfile.mkdtemp(prefix="history-rest-", dir=self.b.tmp)
                if label == "on, 30 days recorded":
                    shutil.copy(month, os.path.join(state_dir, "history.sqlite3"))
                extra = ["--sim-minutes", str(minutes), "--interval", str(INTERVAL_SEC)]
                if label != "off":
                    extra.append("--history")
                variants[label].append(self.worker("rest", self.config(state_dir), *extra))
                shutil.rmtree(state_dir, ignore_errors=True)
        rss = {k: _median([r["vmrss_kb"] for r in v]) / 1024 for k, v in variants.items()}
        hwm = {k: _median([r["vmhwm_kb"] for r in v]) / 1024 for k, v in variants.items()}
        anon = {k: _median([r["rss_anon_kb"] for r in v]) / 1024 for k, v in variants.items()}
        on = variants["on, new database"][0]["stages"] if variants["on, new database"] else {}
        month_on = variants["on, 30 days recorded"][0]["stages"] if variants["on, 30 days recorded"] else {}

        def steps(st):
            """MB added by each stage of the first run (VmRSS), in order."""
            out, prev = [], None
            for name, mem in st.items():
                if prev is not None:
                    out.append((name, (mem["VmRSS"] - prev["VmRSS"]) / 1024, (mem["RssAnon"] - prev["RssAnon"]) / 1024))
                prev = mem
            return out

        self.b.details["history"]["at_rest"] = {
            "stages_mb_new_database": steps(on), "stages_mb_30_days": steps(month_on),
            "simulated_minutes": minutes, "interval_sec": INTERVAL_SEC, "repeats": repeats,
            "month_database_rows": month_rows, "vmrss_mb": rss, "vmhwm_mb": hwm, "rss_anon_mb": anon,
            "extra_mb": {k: rss[k] - rss["off"] for k in rss if k != "off"}, "runs": variants}
        for label in ("on, new database", "on, 30 days recorded"):
            extra = rss[label] - rss["off"]
            self.b.row("history at rest, %s (%d simulated minutes)" % (label[4:], minutes),
                       "+%.2f MB RSS (%.1f vs %.1f MB; anon +%.2f, peak +%.2f); by stage: %s"
                       % (extra, rss[label], rss["off"], anon[label] - anon["off"], hwm[label] - hwm["off"],
                          ", ".join("%s %+.2f" % (name, mb) for name, mb, _ in
                                    steps(on if label == "on, new database" else month_on))),
                       "< 2 MB", extra < 2.0)


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="history cost workers (run through bench/run.py --only history)")
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
