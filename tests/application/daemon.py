"""Running plex-helper as a subprocess against the local test servers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import List

from tests.support.daemon_process import track_child
from tests.support.waiting import wait_until as _wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_config(tmp_path, plex, qbt, **overrides) -> str:
    config = {
        "plex_url": plex.url,
        "plex_token": plex.token,
        "qbittorrent_url": qbt.url,
        "qbittorrent_username": qbt.username,
        "qbittorrent_password": qbt.password,
        "streaming_upload_kbps": 500,
        "idle_upload_kbps": 0,
        "poll_interval_sec": 1,
        "streaming_threshold": 1,
        "idle_threshold": 1,
        "http_timeout_sec": 2,
        # each test its own: a throttle remembered by another test's daemon is not this one's
        "state_dir": str(tmp_path / "state"),
    }
    config.update(overrides)
    config = {key: value for key, value in config.items() if value is not None}  # None: leave it unset
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    os.chmod(path, 0o600)
    return str(path)


def command(*args: str) -> List[str]:
    return [sys.executable, "-m", "application", *args]


def environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLEX_", "QBITTORRENT_", "JOURNAL_STREAM", "NOTIFY_SOCKET"))}
    env["PYTHONPATH"] = ROOT
    env.update(extra)
    return env


def run(*args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), cwd=ROOT, env=environment(**env), capture_output=True, text=True, timeout=timeout)


def start(*args: str, **env: str) -> subprocess.Popen:
    return track_child(subprocess.Popen(command(*args), cwd=ROOT, env=environment(**env), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True))


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM):
    """Signal the daemon and collect its output; kill it if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """The daemon tests' default: a subprocess takes longer than a thread."""
    return _wait_until(condition, timeout, interval)
