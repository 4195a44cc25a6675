"""What every part of the bench shares: paths, the credentials of the stand-ins, /proc readings,
tests/support without pytest, and the session mix the CPU figures use.

Only os and sys at the top: the poll worker imports this module, and its peak RSS is one of the
figures, so it must not pay for what only the parent needs.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYZ = os.path.join(ROOT, "dist", "plex-helper.pyz")
FLOOR_IMPORT = "import dependency_injector.containers, marshmallow, urllib3"
PLEX_TOKEN = "bench-plex-token-5c1e"
QBT_USER, QBT_PASS = "admin", "bench-qbt-pass-123"
STREAMING_KBPS = 500
UNINHERITED_ENV = ("NOTIFY_SOCKET", "JOURNAL_STREAM")  # systemd's: a measured daemon must not talk to it


def stop_process(proc) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def status_kb(field: str, pid: str = "self") -> int:
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def meminfo_total_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def minor_faults() -> int:
    """Minor page faults of this process so far (/proc/self/stat, field 10)."""
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def import_support():
    """tests/support, without requiring pytest (it only decorates fixtures there)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    try:
        import pytest  # noqa: F401
    except ImportError:
        import types

        stub = types.ModuleType("pytest")
        stub.fixture = lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f))  # type: ignore[attr-defined]

        def skip(reason: str = "") -> None:
            raise RuntimeError(reason)

        stub.skip = skip  # type: ignore[attr-defined]
        stub.TempPathFactory = object  # type: ignore[attr-defined]
        sys.modules["pytest"] = stub
    from tests.support import fake_qbittorrent, plex_payloads, plex_server, qbittorrent_nox

    return plex_server, plex_payloads, fake_qbittorrent, qbittorrent_nox


def session_mix(payloads, n: int):
    """n realistic sessions: 60 % remote movies, 20 % LAN tracks, 20 % relayed episodes."""
    items = []
    for i in range(n):
        kind = i % 5
        if kind in (0, 1, 2):
            items.append(payloads.remote_movie(user="friend%d" % i, address="203.0.113.%d" % (i % 250 + 1)))
        elif kind == 3:
            items.append(payloads.lan_track(user="owner%d" % i))
        else:
            items.append(payloads.relayed_episode(user="relay%d" % i))
    return items
