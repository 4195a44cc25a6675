import io
import time

from application.check import run_check
from tests.application.builders import settings
from tests.application.daemon import run, write_config
from tests.support.fake_qbittorrent import FakeQBittorrent
from tests.support.plex_payloads import lan_track, remote_movie


def test_check_against_the_real_qbittorrent_and_the_test_plex_server(tmp_path, plex_server, qbt_nox):
    plex_server.set_sessions([remote_movie(), lan_track()])
    result = run("--config", write_config(tmp_path, plex_server, qbt_nox), "--check")
    assert result.returncode == 0, result.stderr
    plex_line, qbt_line, limits_line, share_line = result.stdout.strip().splitlines()
    assert limits_line == "limits: idle unlimited; streaming 500 KiB/s (4.1 Mbit/s)"
    assert share_line.startswith("while streaming: qbittorrent upload limit ")
    assert plex_line == "Plex OK: version %s at %s; 2 session(s), 1 remote stream (friend)" % (plex_server.version, plex_server.url)
    assert qbt_line.startswith("qBittorrent OK: v4.5.2 (Web API 2.8.19) at %s, logged in with the password; upload limit " % qbt_nox.url)
    assert qbt_nox.password not in result.stdout + result.stderr
    assert plex_server.token not in result.stdout + result.stderr


def test_check_reports_each_failing_side_and_exits_1(plex_server):
    with FakeQBittorrent(password="right") as qbt:
        s = settings(
            plex_url=plex_server.url, plex_token="wrong-token-SECRET", qbittorrent_url=qbt.url,
            qbittorrent_username="admin", qbittorrent_password="wrong-pw-SECRET",
        )
        out = io.StringIO()
        assert run_check(s, out=out) == 1
    plex_line, qbt_line, limits_line = out.getvalue().strip().splitlines()
    assert limits_line.startswith("limits: ")
    assert plex_line == "Plex FAILED: Plex rejected the token (401) at %s" % plex_server.url
    assert qbt_line.startswith("qBittorrent FAILED: qBittorrent rejected the username or password")
    assert "SECRET" not in out.getvalue()


def test_check_prints_limits_given_with_units_as_understood(tmp_path, plex_server, fake_qbt):
    """The config says "20 Mbit/s"; --check says what that is in KiB/s, the unit qBittorrent shows."""
    path = write_config(tmp_path, plex_server, fake_qbt, streaming_upload_kbps="20 Mbit/s", idle_upload_kbps="unlimited")
    result = run("--config", path, "--check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "limits: idle unlimited; streaming 2441 KiB/s (20.0 Mbit/s)"
    assert lines[-1] == "while streaming: qbittorrent upload limit 2441 KiB/s (20.0 Mbit/s)"


def test_check_with_api_key_on_52(plex_server):
    from tests.support.fake_qbittorrent import make_api_key

    key = make_api_key()
    with FakeQBittorrent(api_key=key) as qbt:
        s = settings(plex_url=plex_server.url, plex_token=plex_server.token, qbittorrent_url=qbt.url, qbittorrent_api_key=key)
        out = io.StringIO()
        assert run_check(s, out=out) == 0
    assert "qBittorrent OK: v5.2.0 (Web API 2.15.1)" in out.getvalue() and "API key" in out.getvalue()
    assert key not in out.getvalue()


def test_check_says_one_line_per_server_and_client_of_the_lists(tmp_path, fake_qbt):
    import json

    from application.check import run_check
    from application.config.load import load_settings
    from tests.support.jellyfin_payloads import direct_play_remote, lan_session, proxied_sessions
    from tests.support.jellyfin_server import JellyfinTestServer
    from tests.support.sabnzbd_server import SabnzbdStandIn

    with JellyfinTestServer() as jellyfin, SabnzbdStandIn() as sab:
        now = time.time()  # the daemon judges check-ins against the real clock
        jellyfin.set_sessions([direct_play_remote(now=now), lan_session(now=now)])
        config = {
            "media_servers": [{"name": "den", "type": "jellyfin", "url": jellyfin.url, "api_key": jellyfin.api_key}],
            "download_clients": [
                {"name": "seedbox", "type": "qbittorrent", "url": fake_qbt.url, "username": fake_qbt.username,
                 "password": fake_qbt.password},
                {"name": "sab", "type": "sabnzbd", "url": sab.url, "api_key": sab.api_key}],
        }
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        out = io.StringIO()
        assert run_check(load_settings(str(path), {}), out) == 0
        text = out.getvalue()
        assert "Jellyfin 'den' OK: Jellyfin Server 10.10.7" in text
        assert "remote" in text and "LAN = " in text
        assert "qBittorrent 'seedbox' OK: v5.2.0" in text
        assert "SABnzbd 'sab': not touched (set streaming_download_kbps" in text
        jellyfin.set_sessions(proxied_sessions())  # the proxy warning looks at addresses, fresh or not
        out = io.StringIO()
        run_check(load_settings(str(path), {}), out)
        assert "a reverse proxy may hide the clients" in out.getvalue()
        assert jellyfin.api_key not in out.getvalue() and sab.api_key not in out.getvalue()
