"""What the history costs: per poll, and in memory at rest.

    python3 -m bench.run --only history

Per poll. A worker process builds the daemon from a config (Plex stand-in + the real qbittorrent-nox,
10 sessions, streaming) as bench/poll_worker.py does, then wires the history as
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

from bench.common import ROOT, median
from bench.history_worker import INTERVAL_SEC, SAMPLE_EVERY_SEC
from bench.sides import write_list_config

DETAIL_KEYS = ("history",)


class HistoryCost:
    def __init__(self, bench, sides) -> None:
        self.b, self.s, self.args = bench, sides, bench.args
        self.quick = bool(bench.args.quick)

    def worker(self, mode: str, config: str, *extra: str):
        import json
        import subprocess

        cmd = [self.b.python, "-c", "import sys; from bench.history_worker import main; sys.exit(main(sys.argv[1:]))",
               "--worker", mode, "--config", config] + list(extra)
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")})
        lines = p.stdout.strip().splitlines()
        if p.returncode != 0 or not lines:
            raise RuntimeError("history worker %s failed (%s): %s" % (mode, p.returncode, p.stderr[-800:]))
        return json.loads(lines[-1])

    def config(self, state_dir=None) -> str:
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
        path_us = median(cost["path_us_per_poll"])
        commit_us = median(cost["writer_commit_us"])
        idle_us = cost["writer_idle_us_per_sec"]
        diff_us = median(cost["diff_us_per_poll"])

        def per_poll(interval):
            return path_us + commit_us * interval / SAMPLE_EVERY_SEC + idle_us * interval

        at = {str(i): per_poll(i) for i in (1, 10, 60)}
        paced = cost["paced_1s_us_per_poll"]
        paced_diff = (median(paced["with"]) or 0) - (median(paced["without"]) or 0)
        cost.update(median_path_us=path_us, median_commit_us=commit_us, median_ab_diff_us=diff_us,
                    per_poll_us_by_interval=at, with_ms_median=median(cost["with_ms_per_poll"]),
                    without_ms_median=median(cost["without_ms_per_poll"]),
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
                   % (at["1"], paced_diff, median(paced["with"]) or 0, median(paced["without"]) or 0),
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
        rss = {k: median([r["vmrss_kb"] for r in v]) / 1024 for k, v in variants.items()}
        hwm = {k: median([r["vmhwm_kb"] for r in v]) / 1024 for k, v in variants.items()}
        anon = {k: median([r["rss_anon_kb"] for r in v]) / 1024 for k, v in variants.items()}
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


def run(bench) -> None:
    HistoryCost(bench, bench.sides()).run()
