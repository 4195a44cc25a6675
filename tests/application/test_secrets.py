"""No secret ever leaves plex-helper: not in a log line at any level, an error message, `--check` output or
a traceback. The fault matrix runs at DEBUG (`--verbose`) with recognisable secrets, and the captured
stdout/stderr is searched for them (also URL-encoded), and for every qBittorrent session cookie the
fake server handed out. The Plex token travels in the X-Plex-Token header only, never in a URL."""
from __future__ import annotations

import json
import os
import signal

from tests.application.daemon import run, wait_until, write_config
from tests.application.fault_support import (
    KIB,
    Daemon,
    QbtWebClient,
    RestartablePlex,
    none_of,
    wait_for_count,
)
from tests.support.fake_qbittorrent import FakeQBittorrent
from tests.support.plex_payloads import container as plex_container
from tests.support.plex_payloads import remote_movie

PLEX_TOKEN = "PLEXTOKEN-7f3a9"
QBT_PASSWORD = "QBTPASS-91c2e"
API_KEY = "qbt_" + "S3cr3tK3yV4lu3Abcdefghijklmn"  # "qbt_" + 28 letters and digits, as 5.2 makes them
assert len(API_KEY) == 32
SECRETS = (PLEX_TOKEN, QBT_PASSWORD, API_KEY)


def sids_handed_out(fake: FakeQBittorrent) -> set:
    """Every session id the fake saw in a Cookie header (the daemon's SIDs)."""
    values = set()
    for request in fake.requests:
        for part in request.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == fake.cookie_name and value:
                values.add(value)
    return values


def assert_token_only_in_header(plex) -> None:
    requests = plex.requests
    assert requests
    for request in requests:
        assert PLEX_TOKEN not in request.target and "token" not in request.target.lower(), request.target
        if request.path != "/identity":
            assert request.headers.get("X-Plex-Token") == PLEX_TOKEN


def polls(plex) -> int:
    return plex.request_count["/status/sessions"]


def next_polls(plex, count: int = 1, timeout: float = 8.0) -> None:
    assert wait_for_count(lambda: polls(plex), polls(plex) + count, timeout=timeout)


# ------------------------------------------------------------------- the matrix, real qbittorrent-nox


def test_fault_matrix_at_debug_never_shows_the_token_or_the_password(tmp_path, qbt_nox_factory):
    instance = qbt_nox_factory(password=QBT_PASSWORD, max_fail=0, session_timeout=1)
    client = QbtWebClient(instance)
    with RestartablePlex(token=PLEX_TOKEN) as plex:
        plex.set_sessions([remote_movie()])
        path = write_config(tmp_path, plex, instance, plex_down_restore_after_sec=2, reconcile_interval_sec=1,
                            http_timeout_sec=1, login_retry_sec=1)
        with Daemon("--config", path, "--verbose") as daemon:
            assert wait_until(lambda: client.upload_limit() == 500 * KIB), daemon.stderr
            # Plex: 5xx, HTML, truncated JSON, timeout, token rejected, down; each for a poll or two
            plex.set_status(502)
            next_polls(plex)
            plex.set_payload(b"<html><body>proxy error</body></html>", "text/html", 200)
            next_polls(plex)
            plex.set_payload(json.dumps(plex_container([remote_movie()])).encode()[:-9])
            next_polls(plex)
            plex.set_delay(2)
            next_polls(plex, 2)
            plex.set_delay(0)
            plex.token = "someone-elses-token"
            next_polls(plex)
            plex.token = PLEX_TOKEN
            plex.stop()
            assert daemon.wait_for("Plex has not answered for too long", timeout=6), daemon.stderr
            plex.start()
            plex.set_sessions([remote_movie()])
            assert wait_until(lambda: client.upload_limit() == 500 * KIB, timeout=5), daemon.stderr
            # qBittorrent: changed behind our back, sessions expiring (1 s), restarting, down, back
            client.set_upload_limit(1000 * KIB)
            assert daemon.wait_for("outside plex-helper", timeout=5), daemon.stderr
            instance.restart()
            client = QbtWebClient(instance)
            client.set_upload_limit(2000 * KIB)
            assert daemon.wait_for("outside plex-helper", count=2, timeout=5), daemon.stderr
            instance.stop()
            assert daemon.wait_for("qBittorrent not reachable", timeout=5), daemon.stderr
            instance.restart()
            assert daemon.wait_for("qBittorrent answers again", timeout=5), daemon.stderr
            # a reload to a wrong password, an invalid reload, then SIGTERM with the limit lowered
            config = json.loads(open(path).read())
            open(path, "w").write(json.dumps(dict(config, qbittorrent_password="Wr0ng-" + QBT_PASSWORD)))
            daemon.process.send_signal(signal.SIGHUP)
            assert daemon.wait_for("config reloaded", timeout=5), daemon.stderr
            client.set_upload_limit(30 * KIB)  # makes the daemon talk to qBittorrent, i.e. log in
            assert daemon.wait_for("rejected the username or password", timeout=5), daemon.stderr
            open(path, "w").write(json.dumps(dict(config, plex_token=[PLEX_TOKEN], qbittorrent_password=7)))
            daemon.process.send_signal(signal.SIGHUP)
            assert daemon.wait_for("config reload failed", timeout=5), daemon.stderr
            assert daemon.stop() == 0
        assert_token_only_in_header(plex)
    output = daemon.stderr + daemon.stdout
    for expected in ("Plex answered 502", "an HTML page", "invalid or truncated JSON", "no complete answer within",
                     "Plex rejected the token (401)", "connection refused", "logging in again",
                     "qBittorrent not reachable", "rejected the username or password", "config reload failed",
                     "DEBUG poll:"):
        assert expected in output, expected  # the matrix really ran
    assert none_of(SECRETS + ("Wr0ng-" + QBT_PASSWORD,), output) == []
    assert "Traceback" not in output


def test_wrong_password_and_ban_messages_never_show_the_password(tmp_path, plex_server, qbt_nox_factory):
    instance = qbt_nox_factory(password="the-real-one", max_fail=1)
    path = write_config(tmp_path, plex_server, instance, qbittorrent_password=QBT_PASSWORD)
    rejected = run("--config", path, "--once", "--verbose")
    banned = run("--config", path, "--once", "--verbose")
    assert "rejected the username or password" in rejected.stderr
    assert "banned this IP" in banned.stderr
    assert none_of(SECRETS, rejected.stderr, rejected.stdout, banned.stderr, banned.stdout) == []


# --------------------------------------------------------------------- session cookies, API keys (5.2)


def test_session_cookies_and_password_never_logged_fake_52(tmp_path):
    with RestartablePlex(token=PLEX_TOKEN) as plex, FakeQBittorrent(username="admin", password=QBT_PASSWORD) as fake:
        plex.set_sessions([remote_movie()])
        path = write_config(tmp_path, plex, fake, reconcile_interval_sec=1, login_retry_sec=1)
        with Daemon("--config", path, "--verbose") as daemon:
            assert wait_until(lambda: fake.upload_limit == 500 * KIB), daemon.stderr
            for _ in range(2):  # two expiries: two more SIDs
                fake.expire_sessions()
                fake.upload_limit = 0
                assert wait_until(lambda: fake.upload_limit == 500 * KIB, timeout=5), daemon.stderr
            fake.fail_with("transfer/uploadLimit", 500, "internal error " + QBT_PASSWORD, times=1)
            fake.fail_with("auth/login", 200, "Fails.", times=1)
            fake.expire_sessions()
            assert daemon.wait_for("qBittorrent answered 500", timeout=5) or daemon.wait_for("rejected", timeout=5)
            fake.go_down()
            assert daemon.wait_for("qBittorrent not reachable", timeout=5), daemon.stderr
            fake.come_up()
            assert daemon.wait_for("qBittorrent answers again", timeout=5), daemon.stderr
            assert daemon.stop() == 0
        sids = sids_handed_out(fake)
        assert len(sids) >= 3
        assert_token_only_in_header(plex)
    output = daemon.stderr + daemon.stdout
    assert "logging in again" in output and "DEBUG poll:" in output
    assert none_of(SECRETS + tuple(sids), output) == []
    assert "Traceback" not in output


def test_api_key_never_logged_right_or_wrong_fake_52(tmp_path):
    with RestartablePlex(token=PLEX_TOKEN) as plex, FakeQBittorrent(api_key=API_KEY) as fake:
        plex.set_sessions([remote_movie()])
        path = write_config(tmp_path, plex, fake, qbittorrent_username="", qbittorrent_password="",
                            qbittorrent_api_key=API_KEY, reconcile_interval_sec=1)
        with Daemon("--config", path, "--verbose") as daemon:
            assert wait_until(lambda: fake.upload_limit == 500 * KIB), daemon.stderr
            fake.api_key = "qbt_" + "R" * 28  # the key was revoked
            fake.upload_limit = 0
            assert daemon.wait_for("rejected the API key", timeout=5), daemon.stderr
            fake.api_key = API_KEY
            assert wait_until(lambda: fake.upload_limit == 500 * KIB, timeout=5), daemon.stderr
            assert daemon.stop() == 0
        assert all(r.headers.get("authorization") == "Bearer " + API_KEY for r in fake.requests)
        check = run("--config", path, "--check")
    output = daemon.stderr + daemon.stdout + check.stdout + check.stderr
    assert "authenticated with the API key" in check.stdout
    assert none_of(SECRETS, output) == []


# -------------------------------------------------------------------------------------- --check


def test_check_output_never_shows_secrets_ok_or_failed(tmp_path, qbt_nox_factory):
    instance = qbt_nox_factory(password=QBT_PASSWORD, max_fail=0)
    with RestartablePlex(token=PLEX_TOKEN) as plex:
        plex.set_sessions([remote_movie()])
        good = write_config(tmp_path, plex, instance)
        ok = run("--config", good, "--check", "--verbose")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith("Plex OK:") and "qBittorrent OK:" in ok.stdout
        bad_dir = tmp_path / "bad"
        bad_dir.mkdir()
        bad = write_config(bad_dir, plex, instance)
        plex.token = "not-" + PLEX_TOKEN
        failed = run("--config", bad, "--check", "--verbose", QBITTORRENT_PASSWORD="Wr0ng-" + QBT_PASSWORD)
        assert failed.returncode == 1
        assert "Plex FAILED: Plex rejected the token (401)" in failed.stdout
        assert "qBittorrent FAILED: qBittorrent rejected the username or password" in failed.stdout
        assert_token_only_in_header_or_rejected(plex)
    assert none_of(SECRETS + ("Wr0ng-" + QBT_PASSWORD,),
                   ok.stdout, ok.stderr, failed.stdout, failed.stderr) == []


def assert_token_only_in_header_or_rejected(plex) -> None:
    for request in plex.requests:
        assert PLEX_TOKEN not in request.target and "token" not in request.target.lower(), request.target


# ------------------------------------------------------------------------------ config errors


def test_config_errors_never_show_secrets(tmp_path, plex_server):
    token_file = tmp_path / "token"
    token_file.write_text(PLEX_TOKEN + "\n")
    config = {
        "plex_url": "ftp://nope", "plex_token": [PLEX_TOKEN], "qbittorrent_url": "http://127.0.0.1:1",
        "qbittorrent_username": "admin", "qbittorrent_password": {"value": QBT_PASSWORD},
        "qbittorrent_api_key": 5, "poll_interval_sec": 0, "plex_tokn": PLEX_TOKEN,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    os.chmod(path, 0o644)
    results = [
        run("--config", str(path)),
        run("--config", str(path), "--check", QBITTORRENT_API_KEY=API_KEY, PLEX_TOKEN_FILE=str(token_file)),
    ]
    broken = tmp_path / "broken.json"
    broken.write_text('{"plex_token": "%s", "qbittorrent_password": "%s" "x": 1}' % (PLEX_TOKEN, QBT_PASSWORD))
    results.append(run("--config", str(broken)))
    results.append(run("--config", str(path), PLEX_TOKEN=PLEX_TOKEN, PLEX_TOKEN_FILE=str(token_file)))
    for result in results:
        assert result.returncode == 2, result.stderr
        assert none_of(SECRETS, result.stdout, result.stderr) == [], result.stderr
        assert "Traceback" not in result.stderr
    assert "plex_token: must be a string" in results[0].stderr
    assert "not valid JSON" in results[2].stderr
    assert "PLEX_TOKEN and PLEX_TOKEN_FILE are both set" in results[3].stderr
    assert sum(plex_server.request_count.values()) == 0


def test_api_key_that_cannot_go_in_a_header_is_a_config_error_not_a_traceback_with_the_key(tmp_path, plex_server):
    # (this used to pass validation and crash in http.client with "Invalid header value b'Bearer <key>'")
    with FakeQBittorrent(api_key=API_KEY) as fake:
        broken_key = API_KEY[:16] + "\n" + API_KEY[16:]
        path = write_config(tmp_path, plex_server, fake, qbittorrent_username="", qbittorrent_password="",
                            qbittorrent_api_key=broken_key)
        result = run("--config", path, "--once", "--verbose")
    leaked = none_of((API_KEY[:16], API_KEY[16:]), result.stdout, result.stderr)
    assert leaked == [] and "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert "qbittorrent_api_key" in result.stderr
