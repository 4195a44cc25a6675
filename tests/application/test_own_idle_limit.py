"""Without an idle limit in the config, idle is the user's own limit: restored exactly as found after
a throttle (also after kill -9), and left alone while idle."""
from __future__ import annotations

import json
import os
import signal

from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
from application.container import Container
from tests.application.builders import REMOTE, ManualClock, settings
from tests.application.daemon import start, stop, wait_until
from tests.application.fault_support import QbtWebClient
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer
from tests.support.stand_ins import use_stand_ins

KIB = 1024


def runner_with(limiter, script, tmp_path):
    container = Container(settings=settings(idle_upload_kbps=None, streaming_threshold=1, idle_threshold=1,
                                            state_dir=str(tmp_path)))
    use_stand_ins(container, plex=ScriptedStreamSource(script), qbittorrent=limiter, clock=ManualClock())
    return container.runner(interval_sec=0)


def test_the_users_cap_is_restored_as_found_and_left_alone_while_idle(tmp_path):
    limiter = RecordingQBittorrent(initial_bytes_per_sec=2000 * KIB)
    runner = runner_with(limiter, [[], [REMOTE], [], [], [REMOTE], []], tmp_path)
    runner.run_once()  # idle at start: the user's limit is read (to show it) and not touched
    assert limiter.history == [] and limiter.reads == 1
    runner.run_once()
    assert limiter.limit_bytes == 500 * KIB
    runner.run_once()
    assert limiter.limit_bytes == 2000 * KIB  # back to the user's cap, not "unlimited"
    limiter.set_upload_limit(1500 * KIB)  # the user changes it in the client's UI while idle
    writes = len(limiter.history)
    runner.run_once()
    assert len(limiter.history) == writes  # theirs: left alone
    runner.run_once()
    assert limiter.limit_bytes == 500 * KIB
    runner.run_once()
    assert limiter.limit_bytes == 1500 * KIB  # what they set is what comes back


def test_an_explicit_idle_limit_keeps_its_meaning(tmp_path):
    limiter = RecordingQBittorrent(initial_bytes_per_sec=2000 * KIB)
    container = Container(settings=settings(idle_upload_kbps=0, streaming_threshold=1, idle_threshold=1,
                                            state_dir=str(tmp_path)))
    use_stand_ins(container, plex=ScriptedStreamSource([[]]), qbittorrent=limiter, clock=ManualClock())
    container.runner(interval_sec=0).run_once()
    assert limiter.limit_bytes == 0  # enforced, as before


def test_kill_9_while_throttled_then_a_restart_restores_the_users_cap_exactly(tmp_path, qbt_nox):
    client = QbtWebClient(qbt_nox)
    client.set_upload_limit(2000 * KIB)
    with PlexTestServer() as plex:
        plex.set_sessions([remote_movie()])
        config = {"plex_url": plex.url, "plex_token": plex.token, "qbittorrent_url": qbt_nox.url,
                  "qbittorrent_username": qbt_nox.username, "qbittorrent_password": qbt_nox.password,
                  "poll_interval_sec": 1, "streaming_threshold": 1, "idle_threshold": 1, "plex_events": False,
                  "state_dir": str(tmp_path / "state")}
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        os.chmod(path, 0o600)
        daemon = start("--config", str(path))
        try:
            assert wait_until(lambda: client.upload_limit() == 500 * KIB, timeout=15)
        finally:
            stop(daemon, signal.SIGKILL)
        plex.set_sessions([])
        daemon = start("--config", str(path))
        try:
            assert wait_until(lambda: client.upload_limit() == 2000 * KIB, timeout=15), "not restored as found"
        finally:
            _, stderr = stop(daemon)
    assert daemon.returncode == 0, stderr
    assert client.upload_limit() == 2000 * KIB
    client.set_upload_limit(0)
