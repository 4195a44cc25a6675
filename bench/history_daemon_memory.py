"""What history costs in memory in the running daemon (#15: under 2 MB at rest).

The in-process section (`bench/run.py --only history`) charges history with every module its import
pulls in; the daemon has most of them loaded already. This starts the daemon itself (status server
on, events off) against the Plex stand-in and the fake qBittorrent, with history off, on with a new
database, and on with 30 days of samples, and compares RSS after a few polls (median of `--repeat`).

    python3 bench/history_daemon_memory.py [--repeat 3] [--settle 8]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from adapters.history.store import HistoryRecorder  # noqa: E402
from adapters.history.events import Sample  # noqa: E402
from tests.support.fake_qbittorrent import FakeQBittorrent  # noqa: E402
from tests.support.plex_server import PlexTestServer  # noqa: E402


def rss_mb(pid: int) -> float:
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def seed(state_dir: str, days: int = 30) -> None:
    """A database as 30 days of minute samples leave it."""
    now = time.time()
    recorder = HistoryRecorder(os.path.join(state_dir, "history.sqlite3"), keep_days=days, max_queue=100000).start()
    for i in range(days * 1440):
        recorder.record(Sample(at=now - days * 86400 + i * 60, remote_streams=i % 3, limits={"qbittorrent": 500},
                               servers={"plex": True}, clients={"qbittorrent": True}))
        if i % 5000 == 0:
            recorder.flush(30)
    recorder.flush(60)
    recorder.stop()


def daemon_rss(plex, qbt, history_days: int, state_dir: str, settle: float, port: int) -> float:
    config = {"plex_url": plex.url, "plex_token": plex.token, "qbittorrent_url": qbt.url,
              "qbittorrent_username": qbt.username, "qbittorrent_password": qbt.password, "poll_interval_sec": 1,
              "status_listen": "127.0.0.1:%d" % port, "history_days": history_days, "state_dir": state_dir,
              "plex_events": False}
    path = os.path.join(state_dir, "config.json")
    with open(path, "w") as handle:
        json.dump(config, handle)
    os.chmod(path, 0o600)
    process = subprocess.Popen([sys.executable, "-m", "application", "--config", path], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle)
        return rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds of polling before RSS is read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, PlexTestServer() as plex, FakeQBittorrent() as qbt:
        dirs = {name: os.path.join(tmp, name) for name in ("off", "new", "30 days")}
        for directory in dirs.values():
            os.makedirs(directory)
        seed(dirs["30 days"])
        found = {name: [] for name in dirs}
        for _ in range(args.repeat):
            for name, directory in dirs.items():
                fresh = name == "new" and os.path.exists(os.path.join(directory, "history.sqlite3"))
                if fresh:
                    os.remove(os.path.join(directory, "history.sqlite3"))
                found[name].append(daemon_rss(plex, qbt, 0 if name == "off" else 30, directory, args.settle, 19913))
        off = statistics.median(found["off"])
        for name in ("new", "30 days"):
            extra = statistics.median(found[name]) - off
            print("history at rest in the daemon, %s database: +%.2f MB RSS (%.1f vs %.1f MB) | < 2 MB | %s"
                  % (name, extra, statistics.median(found[name]), off, "PASS" if extra < 2 else "FAIL"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
