"""The limit plan against real qbittorrent-nox and transmission-daemon, the daemon run as users run it:
a client the user holds below its share keeps its own limit while the other takes the rest; torrent
download limits are lowered to their share of streaming_download_kbps and come back exactly, in the
client's own terms (Transmission's 1234 kB/s as 1234, with its enabled flag), on idle, on SIGTERM,
and after kill -9 with a restart."""
from __future__ import annotations

import json
import os
import signal
from typing import Any, Dict, Iterator

import pytest

from adapters.clients.qbittorrent.client import QBittorrentClient
from adapters.clients.transmission.client import TransmissionClient
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from tests.application.daemon import start, stop, wait_until
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer

UP, DOWN = Direction.UPLOAD, Direction.DOWNLOAD


class Pair:
    """qBittorrent and Transmission, read and set through the project's adapters (a second session)."""

    def __init__(self, qbt, transmission) -> None:
        self.qbt, self.transmission = qbt, transmission
        self.q = QBittorrentClient(qbt.url, username=qbt.username, password=qbt.password, timeout_sec=5)
        self.t = TransmissionClient(transmission.url, timeout_sec=5)

    def native(self, name: str, direction: Direction) -> Any:
        adapter = self.q if name == "qbittorrent" else self.t
        return adapter.limit_control(direction).read_limit().native

    def kib(self, name: str, direction: Direction) -> int:
        adapter = self.q if name == "qbittorrent" else self.t
        return adapter.limit_control(direction).read_limit().limit.kib_per_sec

    def set_native(self, name: str, direction: Direction, native: Any) -> None:
        adapter = self.q if name == "qbittorrent" else self.t
        adapter.limit_control(direction).restore_limit(native)

    def close(self) -> None:
        self.q.close()
        self.t.close()


@pytest.fixture(scope="module")
def pair(qbt_nox_module, transmission_session) -> Iterator[Pair]:
    two = Pair(qbt_nox_module(max_fail=0), transmission_session())
    try:
        yield two
    finally:
        two.close()


def config(tmp_path, plex: PlexTestServer, pair: Pair, **overrides: Any) -> str:
    qbt = pair.qbt
    body: Dict[str, Any] = {
        "media_servers": [{"name": "plex", "type": "plex", "url": plex.url, "token": plex.token, "events": False}],
        "download_clients": [
            {"name": "qbittorrent", "type": "qbittorrent", "url": qbt.url, "username": qbt.username,
             "password": qbt.password, "directions": ["upload", "download"]},
            {"name": "transmission", "type": "transmission", "url": pair.transmission.url,
             "directions": ["upload", "download"]},
        ],
        "streaming_upload_kbps": 1000,
        "streaming_download_kbps": 2000,
        "poll_interval_sec": 1,
        "streaming_threshold": 1,
        "idle_threshold": 1,
        "http_timeout_sec": 2,
        "plex_down_restore_after_sec": 3600,
        "state_dir": str(tmp_path / "state"),
    }
    body.update(overrides)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(body))
    os.chmod(path, 0o600)
    return str(path)


# the users' own limits: Transmission capped at 100 KiB/s up (below its 500 share) and 1234 kB/s down
# (above its 1000 KiB/s share); qBittorrent unlimited both ways
OWN = {
    ("qbittorrent", UP): 0, ("qbittorrent", DOWN): 0,
    ("transmission", UP): {"value": 103, "enabled": True},  # 103 kB/s = 100 KiB/s
    ("transmission", DOWN): {"value": 1234, "enabled": True},
}


def readings(pair: Pair) -> Dict[str, Any]:
    return {"%s %s" % (name, d.value): (pair.kib(name, d), pair.native(name, d)) for name, d in OWN}


def set_own(pair: Pair) -> None:
    for (name, direction), native in OWN.items():
        pair.set_native(name, direction, native)


def own_back(pair: Pair) -> bool:
    return all(pair.native(name, direction) == native for (name, direction), native in OWN.items())


def throttled(pair: Pair) -> bool:
    return (pair.native("transmission", UP) == OWN[("transmission", UP)]  # its own 100: left alone
            # the rest of the 1000 (its own 103 kB/s reads as 101 KiB/s), up to its own (unlimited)
            and pair.kib("qbittorrent", UP) == 1000 - pair.kib("transmission", UP)
            and pair.kib("qbittorrent", DOWN) == 1000 and 990 <= pair.kib("transmission", DOWN) <= 1000)


def test_own_limits_kept_shares_both_ways_and_exact_restore_on_idle_and_sigterm(tmp_path, pair):
    set_own(pair)
    with PlexTestServer() as plex:
        plex.set_sessions([remote_movie()])
        daemon = start("--config", config(tmp_path, plex, pair))
        stderr = ""
        try:
            assert wait_until(lambda: throttled(pair), timeout=20), readings(pair)
            plex.set_sessions([])
            assert wait_until(lambda: own_back(pair), timeout=15), readings(pair)
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: throttled(pair), timeout=15), readings(pair)
        finally:
            _, stderr = stop(daemon, signal.SIGTERM)
    assert daemon.returncode == 0, stderr
    assert own_back(pair), stderr
    assert "download limit of Transmission set to" in stderr, stderr  # the log names the direction


def test_kill_9_while_throttled_then_a_restart_puts_back_every_own_limit_exactly(tmp_path, pair):
    set_own(pair)
    with PlexTestServer() as plex:
        path = config(tmp_path, plex, pair)
        plex.set_sessions([remote_movie()])
        daemon = start("--config", path)
        try:
            assert wait_until(lambda: throttled(pair), timeout=20)
        finally:
            daemon.kill()
            daemon.wait(timeout=10)
        assert throttled(pair)  # kill -9 left the throttle in place
        plex.set_sessions([])
        restarted = start("--config", path)
        try:
            assert wait_until(lambda: own_back(pair), timeout=15), "the restart did not restore"
        finally:
            _, stderr = stop(restarted, signal.SIGTERM)
    assert own_back(pair), stderr


def test_a_transmission_limit_of_1234_kb_comes_back_as_exactly_1234(tmp_path, pair):
    pair.set_native("transmission", UP, {"value": 1234, "enabled": True})
    with PlexTestServer() as plex:
        plex.set_sessions([remote_movie()])
        path = config(tmp_path, plex, pair, download_clients=[
            {"name": "transmission", "type": "transmission", "url": pair.transmission.url}])
        daemon = start("--config", path)
        try:
            assert wait_until(lambda: pair.kib("transmission", UP) == SpeedLimit(1000).kib_per_sec
                              or pair.native("transmission", UP)["value"] < 1234, timeout=20)
            plex.set_sessions([])
            assert wait_until(lambda: pair.native("transmission", UP) == {"value": 1234, "enabled": True}, timeout=15)
        finally:
            _, stderr = stop(daemon, signal.SIGTERM)
    assert pair.native("transmission", UP) == {"value": 1234, "enabled": True}, stderr
