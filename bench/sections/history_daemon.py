"""History at rest in the running daemon: its RSS with history off, on with a new database, and on
with 30 days of samples, after a few seconds of polling (status server on, events off).

The history section charges history with every module its import pulls in; the daemon has most of
them loaded already, so this is the figure a user sees.
"""
from __future__ import annotations

import os

from bench.common import PLEX_TOKEN, QBT_PASS, QBT_USER, ROOT, UNINHERITED_ENV, median, status_kb, stop_process

DETAIL_KEYS = ("history_daemon",)
DAYS = 30


def seed(state_dir: str, days: int = DAYS) -> None:
    """A database as `days` days of minute samples leave it."""
    import time

    from adapters.history.events import Sample
    from adapters.history.store import HistoryRecorder

    now = time.time()
    recorder = HistoryRecorder(os.path.join(state_dir, "history.sqlite3"), keep_days=days, max_queue=100000).start()
    for i in range(days * 1440):
        recorder.record(Sample(at=now - days * 86400 + i * 60, remote_streams=i % 3, limits={"qbittorrent": 500},
                               servers={"plex": True}, clients={"qbittorrent": True}))
        if i % 5000 == 0:
            recorder.flush(30)
    recorder.flush(60)
    recorder.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_rss_mb(bench, history_days: int, state_dir: str, settle: float) -> float:
    """VmRSS of `python -m application` after `settle` seconds of polling every second."""
    import json
    import subprocess
    import time

    config = {"plex_url": bench.plex.url, "plex_token": PLEX_TOKEN, "qbittorrent_url": bench.qbt.url,
              "qbittorrent_username": QBT_USER, "qbittorrent_password": QBT_PASS, "poll_interval_sec": 1,
              "status_listen": "127.0.0.1:%d" % free_port(), "history_days": history_days, "state_dir": state_dir,
              "plex_events": False}
    path = os.path.join(state_dir, "config.json")
    with open(path, "w") as handle:
        json.dump(config, handle)
    os.chmod(path, 0o600)
    env = {k: v for k, v in os.environ.items() if k not in UNINHERITED_ENV}
    process = subprocess.Popen([bench.python, "-m", "application", "--config", path], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle)  # the measurement: the daemon polls meanwhile
        if process.poll() is not None:
            raise RuntimeError("the daemon exited with %s (history_days %d)" % (process.returncode, history_days))
        return status_kb("VmRSS", str(process.pid)) / 1024
    finally:
        stop_process(process)


def run(bench) -> None:
    quick = bool(bench.args.quick)
    repeats, settle = (1, 3.0) if quick else (3, 8.0)
    bench.log("history at rest in the daemon: off / new database / %d days, %d repeats, %g s of polling each"
              % (DAYS, repeats, settle))
    bench.plex.set_sessions([])
    dirs = {name: os.path.join(bench.tmp, "history-daemon", name) for name in ("off", "new", "%d days" % DAYS)}
    for directory in dirs.values():
        os.makedirs(directory)
    seed(dirs["%d days" % DAYS])
    found = {name: [] for name in dirs}
    for _ in range(repeats):  # interleaved: drift from other work falls on every variant alike
        for name, directory in dirs.items():
            database = os.path.join(directory, "history.sqlite3")
            if name == "new" and os.path.exists(database):
                os.remove(database)
            found[name].append(daemon_rss_mb(bench, 0 if name == "off" else DAYS, directory, settle))
    off = median(found["off"])
    bench.details["history_daemon"] = {"repeats": repeats, "settle_sec": settle, "rss_mb": found}
    for name in ("new", "%d days" % DAYS):
        extra = median(found[name]) - off
        bench.row("history at rest in the daemon, %s database" % name,
                  "+%.2f MB RSS (%.1f vs %.1f MB)" % (extra, median(found[name]), off), "< 2 MB", extra < 2.0)
