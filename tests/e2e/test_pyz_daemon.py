"""The built .pyz doing its job: against the test Plex server and a real qbittorrent-nox."""
import json
import os
import subprocess
import sys

from tests.application.daemon import stop
from tests.support.plex_payloads import remote_movie
from tests.support.waiting import wait_until

KIB = 1024


def config(tmp_path, plex, qbt, **fields):
    data = {
        "plex_url": plex.url, "plex_token": plex.token, "qbittorrent_url": qbt.url,
        "qbittorrent_username": qbt.username, "qbittorrent_password": qbt.password,
        "streaming_threshold": 1, "idle_threshold": 1, "poll_interval_sec": 1, "http_timeout_sec": 2,
        "plex_events": False,
    }
    data.update(fields)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)
    return str(path)


def upload_limit(qbt):
    from adapters.clients.qbittorrent.client import QBittorrentClient

    return QBittorrentClient(qbt.url, username=qbt.username, password=qbt.password).current_upload_limit()


def set_upload_limit(qbt, value):
    from adapters.clients.qbittorrent.client import QBittorrentClient

    QBittorrentClient(qbt.url, username=qbt.username, password=qbt.password).set_upload_limit(value)


def test_once_dry_run_decides_without_writing(run_pyz, tmp_path, plex_server, qbt_nox):
    set_upload_limit(qbt_nox, 0)
    plex_server.set_sessions([remote_movie()])
    result = run_pyz("--config", config(tmp_path, plex_server, qbt_nox), "--once", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run: would set the upload limit to 500 KiB/s: 1 remote stream (friend)" in result.stderr
    assert upload_limit(qbt_nox) == 0


def test_once_applies_the_limit(run_pyz, tmp_path, plex_server, qbt_nox):
    set_upload_limit(qbt_nox, 0)
    plex_server.set_sessions([remote_movie()])
    result = run_pyz("--config", config(tmp_path, plex_server, qbt_nox), "--once")
    assert result.returncode == 0, result.stderr
    assert upload_limit(qbt_nox) == 500 * KIB
    set_upload_limit(qbt_nox, 0)


def test_the_daemon_restores_the_limit_on_sigterm(pyz, clean_env, tmp_path, plex_server, qbt_nox):
    set_upload_limit(qbt_nox, 0)
    plex_server.set_sessions([remote_movie()])
    process = subprocess.Popen(
        [sys.executable, str(pyz), "--config", config(tmp_path, plex_server, qbt_nox)],
        env=clean_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert wait_until(lambda: upload_limit(qbt_nox) == 500 * KIB, timeout=20, interval=0.1)
    finally:
        _, stderr = stop(process)
    assert process.returncode == 0, stderr
    assert upload_limit(qbt_nox) == 0
    assert "stopping; upload limit restored to unlimited" in stderr
