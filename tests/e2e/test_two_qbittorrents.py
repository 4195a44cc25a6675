"""Two real qbittorrent-nox at once share one budget by weight; one stopped mid-run never holds back
the other, and gets its limit when it is back."""
from __future__ import annotations

import json
import os
import signal

from tests.application.daemon import start, stop, wait_until
from tests.application.fault_support import QbtWebClient
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer

KIB = 1024


def write(tmp_path, plex, a, b) -> str:
    config = {
        "media_servers": [{"name": "plex", "type": "plex", "url": plex.url, "token": plex.token, "events": False}],
        "download_clients": [
            {"name": "seedbox", "type": "qbittorrent", "url": a.url, "username": a.username, "password": a.password,
             "weight": 2},
            {"name": "vpn", "type": "qbittorrent", "url": b.url, "username": b.username, "password": b.password},
        ],
        "streaming_upload_kbps": 900, "poll_interval_sec": 1, "streaming_threshold": 1, "idle_threshold": 1,
        "http_timeout_sec": 2, "state_dir": str(tmp_path / "state"),
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    os.chmod(path, 0o600)
    return str(path)


def test_weights_two_to_one_one_client_down_and_back_and_both_restored(tmp_path, qbt_nox_factory):
    a, b = qbt_nox_factory(max_fail=0), qbt_nox_factory(max_fail=0)
    seedbox, vpn = QbtWebClient(a), QbtWebClient(b)
    with PlexTestServer() as plex:
        plex.set_sessions([remote_movie()])
        daemon = start("--config", write(tmp_path, plex, a, b))
        try:
            assert wait_until(lambda: seedbox.upload_limit() == 600 * KIB and vpn.upload_limit() == 300 * KIB,
                              timeout=20), "never split 2:1"
            b.stop()
            plex.set_sessions([])  # idle while vpn is down: seedbox is still enforced
            assert wait_until(lambda: seedbox.upload_limit() == 0, timeout=15), "seedbox held back by vpn"
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: seedbox.upload_limit() == 600 * KIB, timeout=15)
            b.restart()  # back on the same port and profile, still holding 300 from before
            plex.set_sessions([])
            assert wait_until(lambda: seedbox.upload_limit() == 0 and QbtWebClient(b).upload_limit() == 0,
                              timeout=20), "vpn did not get its limit once back"
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: QbtWebClient(b).upload_limit() == 300 * KIB, timeout=15)
        finally:
            _, stderr = stop(daemon, signal.SIGTERM)
    assert daemon.returncode == 0, stderr
    assert seedbox.upload_limit() == 0 and QbtWebClient(b).upload_limit() == 0, stderr
    assert "qBittorrent 'vpn'" in stderr  # each client is named in the log
