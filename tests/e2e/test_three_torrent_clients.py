"""qBittorrent, Transmission and Deluge at once (the real daemons, started by the project's fixtures),
sharing one 1000 KiB/s streaming budget by weights 2:1:1: each client holds its share while a remote
stream plays (read back through each client's own adapter), all are restored to unlimited on idle
and on SIGTERM, and after `kill -9` while throttled a restart with Plex idle restores them all. A
client stopped mid-run never holds back the others, and gets its limit once it is back."""
from __future__ import annotations

import json
import os
import signal
from typing import Any, Callable, Dict, Iterator, Optional

import pytest

from adapters.clients.deluge.client import DelugeClient
from adapters.clients.qbittorrent.client import QBittorrentClient
from adapters.clients.transmission.client import TransmissionClient
from domain.policies import SpeedLimit
from domain.ports import DownloadClientError
from tests.application.daemon import start, stop, wait_until
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer

BUDGET_KIB = 1000
SHARES = {"qbittorrent": 500, "transmission": 250, "deluge": 250}  # 2:1:1 of 1000 KiB/s
UNLIMITED = 0


class Clients:
    """The three daemons and a reader of each one's upload limit (KiB/s, 0 = unlimited) through the
    project's own adapter for it, as a second, independent session."""

    def __init__(self, qbt, transmission, deluge) -> None:
        self.qbt, self.transmission, self.deluge = qbt, transmission, deluge
        # one session each, kept (each adapter logs in again, or redoes Transmission's 409, by itself)
        self._qbt = QBittorrentClient(qbt.url, username=qbt.username, password=qbt.password, timeout_sec=5)
        self._transmission = TransmissionClient(transmission.url, timeout_sec=5)
        self._deluge = DelugeClient(deluge.url, password=deluge.password, timeout_sec=5)
        self._readers: Dict[str, Callable[[], int]] = {
            "qbittorrent": lambda: self._qbt.current_upload_limit() // 1024,
            "transmission": lambda: self._transmission.read_upload_limit().kib_per_sec,
            "deluge": lambda: self._deluge.read_upload_limit().kib_per_sec,
        }

    def close(self) -> None:
        for adapter in (self._qbt, self._transmission, self._deluge):
            adapter.close()

    def limit(self, name: str) -> Optional[int]:
        """None while the client cannot be read (stopped)."""
        try:
            return self._readers[name]()
        except DownloadClientError:
            return None

    def limits(self) -> Dict[str, Optional[int]]:
        return {name: self.limit(name) for name in self._readers}


def within_rounding(value: Optional[int], share: int) -> bool:
    """The client's rounding may take a limit down a little, never up, never to unlimited."""
    return value is not None and share - 2 <= value <= share


def all_at_shares(clients: Clients, names=tuple(SHARES)) -> bool:
    return all(within_rounding(clients.limit(name), SHARES[name]) for name in names)


def all_unlimited(clients: Clients, names=tuple(SHARES)) -> bool:
    return all(clients.limit(name) == UNLIMITED for name in names)


def write_config(tmp_path, plex: PlexTestServer, clients: Clients, **overrides: Any) -> str:
    qbt, tr, dl = clients.qbt, clients.transmission, clients.deluge
    config: Dict[str, Any] = {
        "media_servers": [{"name": "plex", "type": "plex", "url": plex.url, "token": plex.token, "events": False}],
        "download_clients": [
            {"name": "qbittorrent", "type": "qbittorrent", "url": qbt.url, "username": qbt.username,
             "password": qbt.password, "weight": 2},
            {"name": "transmission", "type": "transmission", "url": tr.url, "weight": 1},
            {"name": "deluge", "type": "deluge", "url": dl.url, "password": dl.password, "weight": 1},
        ],
        "streaming_upload_kbps": BUDGET_KIB,
        "idle_upload_kbps": 0,
        "poll_interval_sec": 1,
        "streaming_threshold": 1,
        "idle_threshold": 1,
        "http_timeout_sec": 2,
        "plex_down_restore_after_sec": 3600,
        "state_dir": str(tmp_path / "state"),
    }
    config.update(overrides)
    config = {key: value for key, value in config.items() if value is not None}  # None: leave it unset
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    os.chmod(path, 0o600)
    return str(path)


@pytest.fixture(scope="module")
def clients(qbt_nox_module, transmission_session, deluge_session) -> Iterator[Clients]:
    three = Clients(qbt_nox_module(max_fail=0), transmission_session(), deluge_session())
    try:
        yield three
    finally:
        three.close()


@pytest.fixture
def idle_clients(clients: Clients) -> Clients:
    """Every client running and unlimited before the test (a test before may have stopped one)."""
    if clients.limit("transmission") is None:
        clients.transmission.restart()
    assert wait_until(lambda: all_unlimited(clients), timeout=10), clients.limits()
    return clients


def test_weighted_shares_while_streaming_unlimited_on_idle_and_after_sigterm(tmp_path, idle_clients):
    clients = idle_clients
    with PlexTestServer() as plex:
        daemon = start("--config", write_config(tmp_path, plex, clients))
        stderr = ""
        try:
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: all_at_shares(clients), timeout=20), "not split 2:1:1: %s" % clients.limits()
            plex.set_sessions([])
            assert wait_until(lambda: all_unlimited(clients), timeout=15), "not restored on idle: %s" % clients.limits()
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: all_at_shares(clients), timeout=15), "not throttled again: %s" % clients.limits()
        finally:
            _, stderr = stop(daemon, signal.SIGTERM)
    assert daemon.returncode == 0, stderr
    assert all_unlimited(clients), "SIGTERM left limits: %s\n%s" % (clients.limits(), stderr)


def test_kill_9_while_throttled_then_a_restart_with_plex_idle_restores_every_client(tmp_path, idle_clients):
    clients = idle_clients
    with PlexTestServer() as plex:
        config = write_config(tmp_path, plex, clients)
        plex.set_sessions([remote_movie()])
        daemon = start("--config", config)
        try:
            assert wait_until(lambda: all_at_shares(clients), timeout=20), "not split 2:1:1: %s" % clients.limits()
        finally:
            stop(daemon, signal.SIGKILL)
        assert daemon.returncode == -signal.SIGKILL
        assert all_at_shares(clients), "kill -9 cannot have restored anything: %s" % clients.limits()

        plex.set_sessions([])
        daemon = start("--config", config)
        stderr = ""
        try:
            assert wait_until(lambda: all_unlimited(clients), timeout=20), \
                "a restart with Plex idle left limits: %s" % clients.limits()
        finally:
            _, stderr = stop(daemon, signal.SIGTERM)
    assert daemon.returncode == 0, stderr
    assert all_unlimited(clients), "%s\n%s" % (clients.limits(), stderr)


def test_a_stopped_client_never_holds_back_the_others_and_gets_its_limit_once_back(tmp_path, idle_clients):
    clients = idle_clients
    others = ("qbittorrent", "deluge")
    with PlexTestServer() as plex:
        daemon = start("--config", write_config(tmp_path, plex, clients))
        stderr = ""
        try:
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: all_at_shares(clients), timeout=20), "not split 2:1:1: %s" % clients.limits()

            clients.transmission.stop()  # a clean stop: it saves the 250 it holds, and has it when back
            assert clients.limit("transmission") is None
            plex.set_sessions([])  # the state changes while it is down: the others are still enforced
            assert wait_until(lambda: all_unlimited(clients, others), timeout=15), \
                "held back by the stopped client: %s" % clients.limits()
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: all_at_shares(clients, others), timeout=15), \
                "held back by the stopped client: %s" % clients.limits()
            plex.set_sessions([])
            assert wait_until(lambda: all_unlimited(clients, others), timeout=15), clients.limits()

            clients.transmission.restart()  # same port and settings: it still holds the old throttle
            assert wait_until(lambda: all_unlimited(clients), timeout=15), \
                "Transmission did not get the idle limit once back: %s" % clients.limits()
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: all_at_shares(clients), timeout=15), \
                "Transmission did not get its share once back: %s" % clients.limits()
        finally:
            if clients.limit("transmission") is None:
                clients.transmission.restart()
            _, stderr = stop(daemon, signal.SIGTERM)
    assert daemon.returncode == 0, stderr
    assert all_unlimited(clients), "SIGTERM left limits: %s\n%s" % (clients.limits(), stderr)
    # the client that failed is named in the log, once when it fails and once when it is back
    assert "Transmission not reachable" in stderr and "Transmission answers again" in stderr, stderr


USER_CAPS = {"qbittorrent": 2000, "transmission": 1500, "deluge": 1200}  # KiB/s, set in each client's UI


def set_user_caps(clients: Clients) -> None:
    clients._qbt.set_upload_limit(USER_CAPS["qbittorrent"] * 1024)
    clients._transmission.write_upload_limit(SpeedLimit(USER_CAPS["transmission"]))
    clients._deluge.write_upload_limit(SpeedLimit(USER_CAPS["deluge"]))


def at_user_caps(clients: Clients) -> bool:
    return clients.limits() == USER_CAPS


def test_without_an_idle_limit_the_users_caps_come_back_exactly_also_after_kill_9(tmp_path, idle_clients):
    clients = idle_clients
    set_user_caps(clients)
    try:
        with PlexTestServer() as plex:
            config = write_config(tmp_path, plex, clients, idle_upload_kbps=None)
            plex.set_sessions([remote_movie()])
            daemon = start("--config", config)
            try:
                assert wait_until(lambda: all_at_shares(clients), timeout=20), clients.limits()
                plex.set_sessions([])
                assert wait_until(lambda: at_user_caps(clients), timeout=15), "caps not restored: %s" % clients.limits()
                plex.set_sessions([remote_movie()])
                assert wait_until(lambda: all_at_shares(clients), timeout=15), clients.limits()
            finally:
                stop(daemon, signal.SIGKILL)
            assert all_at_shares(clients)  # killed while throttled: nothing restored yet
            plex.set_sessions([])
            daemon = start("--config", config)
            stderr = ""
            try:
                assert wait_until(lambda: at_user_caps(clients), timeout=20), \
                    "caps not restored after kill -9: %s" % clients.limits()
            finally:
                _, stderr = stop(daemon, signal.SIGTERM)
        assert daemon.returncode == 0, stderr
        assert at_user_caps(clients), stderr
    finally:
        clients._qbt.set_upload_limit(0)
        clients._transmission.write_upload_limit(SpeedLimit(0))
        clients._deluge.write_upload_limit(SpeedLimit(0))
