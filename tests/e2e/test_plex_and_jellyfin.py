"""Plex and Jellyfin at once, against the real qbittorrent-nox: the daemon as a subprocess, with
`media_servers` naming a Plex stand-in and a Jellyfin stand-in and `download_clients` one real
qBittorrent. A remote stream on either server throttles, stopping both restores, Jellyfin down while
Plex streams keeps the throttle, Jellyfin down while Plex is idle holds the state (no evidence either
way), SIGTERM restores; and with Jellyfin's push channel on, a `Sessions` message changes the limit
long before the next poll."""
from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional

import pytest

from adapters.media.jellyfin.source import JELLYFIN
from tests.application.daemon import start, stop, wait_until
from tests.application.fault_support import QbtWebClient
from tests.support.jellyfin_payloads import direct_play_remote
from tests.support.jellyfin_server import JellyfinTestServer, StoppableJellyfin
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer
from tests.support.ports import free_port

KIB = 1024
THROTTLED = 500 * KIB
UNLIMITED = 0


def jellyfin_remote() -> Dict[str, Any]:
    """A fresh (checked in just now) direct-play session from a public address."""
    return direct_play_remote(now=time.time(), user="jf-friend")


def write_config(tmp_path, plex: PlexTestServer, jellyfin: JellyfinTestServer, qbt, status_port: int,
                 jellyfin_events: bool = False, **overrides: Any) -> str:
    config: Dict[str, Any] = {
        "media_servers": [
            {"name": "plex", "type": "plex", "url": plex.url, "token": plex.token, "events": False},
            {"name": "jellyfin", "type": "jellyfin", "url": jellyfin.url, "api_key": jellyfin.api_key,
             "events": jellyfin_events},
        ],
        "download_clients": [
            {"name": "seedbox", "type": "qbittorrent", "url": qbt.url, "username": qbt.username,
             "password": qbt.password},
        ],
        "streaming_upload_kbps": 500,
        "idle_upload_kbps": 0,
        "poll_interval_sec": 1,
        "streaming_threshold": 1,
        "idle_threshold": 1,
        "plex_down_restore_after_sec": 3600,
        "http_timeout_sec": 2,
        "status_listen": "127.0.0.1:%d" % status_port,
        "state_dir": str(tmp_path / "state"),
    }
    config.update(overrides)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    os.chmod(path, 0o600)
    return str(path)


def health(port: int) -> Optional[Dict[str, Any]]:
    """/health's body (200 or 503), or None while the status server does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read())
    except (OSError, ValueError):
        return None


def server_entry(body: Optional[Dict[str, Any]], name: str) -> Optional[Dict[str, Any]]:
    if not body:
        return None
    return next((s for s in body.get("servers", []) if s.get("name") == name), None)


def remote_users(body: Optional[Dict[str, Any]], name: str) -> List[str]:
    entry = server_entry(body, name)
    return sorted(s.get("user") for s in (entry or {}).get("sessions", []) if s.get("remote"))


def holds(read, value: int, seconds: float) -> bool:
    """`read()` stays `value` for `seconds` (several polls at 1 s): nothing changes it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if read() != value:
            return False
        time.sleep(0.2)
    return read() == value


@pytest.fixture
def qbt(qbt_nox_factory):
    return qbt_nox_factory(max_fail=0)


def test_either_server_throttles_both_idle_restores_jellyfin_down_holds_and_sigterm_restores(tmp_path, qbt):
    seedbox = QbtWebClient(qbt)
    assert seedbox.upload_limit() == UNLIMITED
    status_port = free_port()
    with PlexTestServer() as plex, StoppableJellyfin(JELLYFIN) as jellyfin:
        daemon = start("--config", write_config(tmp_path, plex, jellyfin, qbt, status_port))
        stderr = ""
        try:
            # both idle: the first observation decides idle
            assert wait_until(lambda: (health(status_port) or {}).get("state") == "idle", timeout=15), "never idle"
            assert seedbox.upload_limit() == UNLIMITED

            # a remote stream on Plex alone throttles; it ends: restored
            plex.set_sessions([remote_movie(user="plex-friend")])
            assert wait_until(lambda: seedbox.upload_limit() == THROTTLED, timeout=10), "Plex stream: no throttle"
            plex.set_sessions([])
            assert wait_until(lambda: seedbox.upload_limit() == UNLIMITED, timeout=10), "Plex idle: not restored"

            # a remote stream on Jellyfin alone throttles; it ends: restored
            jellyfin.set_sessions([jellyfin_remote()])
            assert wait_until(lambda: seedbox.upload_limit() == THROTTLED, timeout=10), "Jellyfin stream: no throttle"
            jellyfin.set_sessions([])
            assert wait_until(lambda: seedbox.upload_limit() == UNLIMITED, timeout=10), "Jellyfin idle: not restored"

            # both stream: throttled, and /health lists both servers with their sessions
            plex.set_sessions([remote_movie(user="plex-friend")])
            jellyfin.set_sessions([jellyfin_remote()])
            assert wait_until(lambda: seedbox.upload_limit() == THROTTLED, timeout=10)
            assert wait_until(lambda: (health(status_port) or {}).get("remote_streams") == 2, timeout=10), \
                health(status_port)
            body = health(status_port)
            assert body is not None
            assert {s["name"]: s["type"] for s in body["servers"]} == {"plex": "plex", "jellyfin": "jellyfin"}, body
            assert remote_users(body, "plex") == ["plex-friend"], body
            assert remote_users(body, "jellyfin") == ["jf-friend"], body
            assert [c["name"] for c in body["clients"]] == ["seedbox"], body
            assert body["clients"][0]["limit_kib"] == 500, body

            # stopping both restores
            plex.set_sessions([])
            jellyfin.set_sessions([])
            assert wait_until(lambda: seedbox.upload_limit() == UNLIMITED, timeout=10), "both idle: not restored"
            assert wait_until(lambda: (health(status_port) or {}).get("remote_streams") == 0, timeout=10)

            # Plex streams, then Jellyfin goes down: a remote stream is evidence enough, the throttle stays
            plex.set_sessions([remote_movie(user="plex-friend")])
            assert wait_until(lambda: seedbox.upload_limit() == THROTTLED, timeout=10)
            jellyfin.go_down()
            assert wait_until(lambda: (server_entry(health(status_port), "jellyfin") or {}).get("error"),
                              timeout=10), "Jellyfin down never showed in /health: %s" % health(status_port)
            assert holds(seedbox.upload_limit, THROTTLED, 3.0), "Jellyfin down while Plex streams lifted the throttle"
            body = health(status_port)
            assert body is not None and body["state"] == "streaming", body
            assert remote_users(body, "plex") == ["plex-friend"], body

            # Plex stops while Jellyfin is still down: no evidence either way, the state is held
            plex.set_sessions([])
            assert wait_until(lambda: "jellyfin" in ((health(status_port) or {}).get("why") or ""), timeout=10), \
                health(status_port)
            assert holds(seedbox.upload_limit, THROTTLED, 3.0), "Jellyfin down while Plex is idle restored the limit"
            body = health(status_port)
            assert body is not None and body["state"] == "streaming", body
        finally:
            _, stderr = stop(daemon, signal.SIGTERM)
    # SIGTERM restores what plex-helper lowered
    assert daemon.returncode == 0, stderr
    assert seedbox.upload_limit() == UNLIMITED, stderr
    assert jellyfin.api_key not in stderr and plex.token not in stderr


def test_jellyfin_push_changes_the_limit_long_before_the_next_poll(tmp_path, qbt):
    seedbox = QbtWebClient(qbt)
    assert seedbox.upload_limit() == UNLIMITED
    status_port = free_port()
    with PlexTestServer() as plex, StoppableJellyfin(JELLYFIN) as jellyfin:
        daemon = start("--config", write_config(tmp_path, plex, jellyfin, qbt, status_port,
                                                jellyfin_events=True, poll_interval_sec=60))
        stderr = ""
        try:
            assert wait_until(lambda: (health(status_port) or {}).get("state") == "idle", timeout=15), "never idle"
            assert wait_until(lambda: jellyfin.push_client_count() == 1, timeout=15), "never listened on /socket"
            # the listener subscribes to Sessions messages (and may trigger once for what it missed)
            assert jellyfin.next_client_message(timeout=5) is not None
            time.sleep(0.5)  # let a connect-time trigger settle before the change

            polls_before = sum(1 for path, _ in jellyfin.requests if path.endswith("/Sessions"))
            entry = jellyfin_remote()
            jellyfin.set_sessions([entry])
            pushed_at = time.monotonic()
            assert jellyfin.push_sessions([entry]) == 1
            assert wait_until(lambda: seedbox.upload_limit() == THROTTLED, timeout=10), \
                "a pushed Sessions message did not change the limit within 10 s"
            reacted_in = time.monotonic() - pushed_at
            assert reacted_in < 30, reacted_in  # far from the 60 s poll: the push did it
            assert sum(1 for path, _ in jellyfin.requests if path.endswith("/Sessions")) > polls_before

            # and back: playback stops, pushed, restored without waiting for a poll
            jellyfin.set_sessions([])
            assert jellyfin.push_sessions([]) == 1
            assert wait_until(lambda: seedbox.upload_limit() == UNLIMITED, timeout=10), \
                "a pushed stop did not restore the limit within 10 s"
            body = health(status_port)
            assert body is not None and {s["name"] for s in body["servers"]} == {"plex", "jellyfin"}, body
        finally:
            _, stderr = stop(daemon, signal.SIGTERM)
    assert daemon.returncode == 0, stderr
    assert seedbox.upload_limit() == UNLIMITED, stderr
    assert jellyfin.api_key not in stderr
