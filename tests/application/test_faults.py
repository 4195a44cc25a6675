"""Issue 5, "survives the real world": every fault of the matrix, against the local Plex test server and a
real qbittorrent-nox 4.5.2 (the fake 5.2 server only where 4.5.2 cannot show something, e.g. exact
request counts). In-process tests (real adapters, a manual clock, the real TickLogger) pin the log
lines deterministically; subprocess tests drive the daemon with real signals, timings and logs."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from typing import Callable, Dict, List

import pytest

from application.container import Container
from application.config.settings import Settings
from domain.state import StreamState
from tests.application.builders import ManualClock
from tests.application.daemon import ROOT, command, environment, wait_until, write_config
from tests.application.fault_support import (
    KIB,
    Daemon,
    QbtWebClient,
    RestartablePlex,
    failed_logins,
    sigcont,
    wait_for_count,
)
from tests.support.fake_qbittorrent import FakeQBittorrent
from tests.support.plex_payloads import container as plex_container
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer
from tests.support.qbittorrent_nox import QbtInstance

# ------------------------------------------------------------------------------------------ helpers


class Records(logging.Handler):
    """Every record of the "plex_helper" logger tree, at DEBUG and up."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def at(self, level: int, containing: str = "") -> List[str]:
        return [r.getMessage() for r in self.records if r.levelno == level and containing in r.getMessage()]

    def at_least(self, level: int) -> List[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]

    def clear(self) -> None:
        self.records.clear()


@pytest.fixture
def logs():
    logger = logging.getLogger("plex_helper")
    handler, old_level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def qbt(qbt_nox: QbtInstance) -> QbtInstance:
    """The module's real qbittorrent-nox, its upload limit back at unlimited."""
    QbtWebClient(qbt_nox).set_upload_limit(0)
    return qbt_nox


def in_process(plex, qbt, clock: ManualClock, **overrides) -> Container:
    """The real container (real adapters, real TickLogger) on a manual clock."""
    values = dict(
        plex_url=plex.url, plex_token=plex.token, qbittorrent_url=qbt.url,
        qbittorrent_username=qbt.username, qbittorrent_password=qbt.password,
        streaming_upload_kbps=500, idle_upload_kbps=0, streaming_threshold=1, idle_threshold=1,
        plex_down_restore_after_sec=2, reconcile_interval_sec=0, http_timeout_sec=2, login_retry_sec=300,
    )
    values.update(overrides)
    container = Container(settings=Settings(**values))
    container.override_providers(clock=clock)
    return container


def tick(container: Container, clock: ManualClock, at: float):
    clock.now = at
    return container.runner().run_once()


# --------------------------------------------------------------------------- Plex fails, recovers

TRUNCATED = json.dumps(plex_container([remote_movie()])).encode()[:-25]


def _unreachable(plex: RestartablePlex) -> Callable[[], None]:
    plex.stop()
    return plex.start


def _status(plex: RestartablePlex) -> Callable[[], None]:
    plex.set_status(503)
    return lambda: None


def _timeout(plex: RestartablePlex) -> Callable[[], None]:
    plex.set_delay(5)
    return lambda: plex.set_delay(0)


def _html(plex: RestartablePlex) -> Callable[[], None]:
    plex.set_payload(b"<!DOCTYPE html><html><body>Bad gateway</body></html>", "text/html", 200)
    return lambda: None


def _truncated(plex: RestartablePlex) -> Callable[[], None]:
    plex.set_payload(TRUNCATED)
    return lambda: None


PLEX_FAULTS = {
    "unreachable": (_unreachable, "Plex not reachable at {url}: connection refused"),
    "5xx": (_status, "Plex answered 503 at {url}"),
    "timeout": (_timeout, "Plex not reachable at {url}: no complete answer within 0.5 s (timed out)"),
    "html": (_html, "Plex returned something that is not session JSON (an HTML page)"),
    "truncated-json": (_truncated, "Plex returned something that is not session JSON (invalid or truncated JSON)"),
}


@pytest.mark.parametrize("kind", list(PLEX_FAULTS))
def test_plex_failure_warns_once_holds_the_state_restores_idle_after_the_limit_and_reports_recovery(
    kind, qbt, logs
):
    fault, warning = PLEX_FAULTS[kind]
    client = QbtWebClient(qbt)
    clock = ManualClock(1000.0)
    with RestartablePlex() as plex:
        plex.set_sessions([remote_movie()])
        app = in_process(plex, qbt, clock, plex_down_restore_after_sec=2, http_timeout_sec=0.5)
        assert tick(app, clock, 1000.0).after.state is StreamState.STREAMING
        assert client.upload_limit() == 500 * KIB
        logs.clear()

        recover = fault(plex)
        for now in (1001.0, 1002.0, 1003.0):  # failing for 2 s: not longer than the limit yet
            report = tick(app, clock, now)
            assert report.source_error is not None
            assert report.after.state is StreamState.STREAMING  # state held
        assert client.upload_limit() == 500 * KIB  # throttle held
        assert logs.at(logging.WARNING) == [warning.format(url=plex.url)]  # once, not per poll
        assert len(logs.at(logging.DEBUG, "Plex still failing")) == 2

        report = tick(app, clock, 1003.5)  # failing for 2.5 s > plex_down_restore_after_sec
        assert report.after.state is StreamState.IDLE
        assert client.upload_limit() == 0
        assert logs.at(logging.INFO, "state streaming -> idle") == [
            "state streaming -> idle: Plex has not answered for too long, so the throttle is lifted"
        ]
        tick(app, clock, 1004.5)
        assert len(logs.at(logging.WARNING)) == 1 and logs.at(logging.ERROR) == []

        recover()
        plex.set_sessions([remote_movie()])
        report = tick(app, clock, 1005.5)
        assert report.source_error is None and report.after.state is StreamState.STREAMING
        assert logs.at(logging.INFO, "answers again") == ["Plex answers again"]
        assert client.upload_limit() == 500 * KIB
        assert len(logs.at(logging.WARNING)) == 1 and logs.at(logging.ERROR) == []


def test_plex_down_restore_after_zero_never_lifts_the_throttle(qbt, logs):
    client = QbtWebClient(qbt)
    clock = ManualClock(1000.0)
    with RestartablePlex() as plex:
        plex.set_sessions([remote_movie()])
        app = in_process(plex, qbt, clock, plex_down_restore_after_sec=0)
        tick(app, clock, 1000.0)
        plex.set_status(500)
        for step in range(1, 6):
            assert tick(app, clock, 1000.0 + step * 1000).after.state is StreamState.STREAMING
        assert client.upload_limit() == 500 * KIB


def test_plex_unreachable_subprocess_warns_once_restores_idle_and_recovers(tmp_path, qbt):
    """The same row with the real daemon and real time: Plex goes away for ~4 s, then comes back."""
    client = QbtWebClient(qbt)
    with RestartablePlex() as plex:
        plex.set_sessions([remote_movie()])
        path = write_config(tmp_path, plex, qbt, plex_down_restore_after_sec=2, reconcile_interval_sec=0)
        with Daemon("--config", path) as daemon:
            assert wait_until(lambda: client.upload_limit() == 500 * KIB), daemon.stderr
            plex.stop()
            assert daemon.wait_for("Plex has not answered for too long", timeout=8), daemon.stderr
            assert wait_until(lambda: client.upload_limit() == 0, timeout=3)
            plex.start()
            assert daemon.wait_for("Plex answers again", timeout=5), daemon.stderr
            assert wait_until(lambda: client.upload_limit() == 500 * KIB, timeout=3)
            assert daemon.stop() == 0
    assert daemon.messages("WARNING") == ["Plex not reachable at %s: connection refused" % plex.url], daemon.stderr
    assert daemon.messages("ERROR") == []
    info = daemon.messages("INFO")
    assert info.count("Plex answers again") == 1
    assert "state streaming -> idle: Plex has not answered for too long, so the throttle is lifted" in info
    assert "Traceback" not in daemon.stderr


# ------------------------------------------------------------------------------- Plex rejects token


def test_plex_401_logs_an_error_with_the_fix_once_and_keeps_polling(qbt, logs):
    clock = ManualClock(1000.0)
    with PlexTestServer(token="the-right-token") as plex:
        app = in_process(plex, qbt, clock, plex_token="a-stale-token")
        for step in range(5):
            report = tick(app, clock, 1000.0 + step)
            assert report.source_error is not None
        assert plex.request_count["/status/sessions"] == 5  # asked again on every poll
        assert logs.at(logging.ERROR) == ["Plex rejected the token (401) at %s; check plex_token" % plex.url]
        assert logs.at(logging.WARNING) == []


def test_plex_401_subprocess_keeps_retrying_at_the_poll_interval_and_never_crashes(tmp_path, qbt):
    with PlexTestServer(token="the-right-token") as plex:
        url = plex.url
        path = write_config(tmp_path, plex, qbt, plex_token="a-stale-token")
        with Daemon("--config", path) as daemon:
            started = time.monotonic()
            assert wait_for_count(lambda: plex.request_count["/status/sessions"], 4, timeout=8), daemon.stderr
            elapsed = time.monotonic() - started
            assert daemon.alive()
            assert daemon.stop() == 0
    # 4 polls at a 1 s interval take at least 3 s: no hammering
    assert elapsed >= 2.9
    assert daemon.messages("ERROR") == ["Plex rejected the token (401) at %s; check plex_token" % url]
    assert "Traceback" not in daemon.stderr


# --------------------------------------------------------------------------- qBittorrent down / up


def test_qbittorrent_down_and_restarting_warns_once_tracks_state_and_applies_when_back(
    tmp_path, plex_server, qbt_nox_factory
):
    instance = qbt_nox_factory()
    client = QbtWebClient(instance)
    path = write_config(tmp_path, plex_server, instance, reconcile_interval_sec=1)
    with Daemon("--config", path) as daemon:
        assert daemon.wait_for("state unknown -> idle"), daemon.stderr
        instance.stop()
        plex_server.set_sessions([remote_movie()])
        assert daemon.wait_for("state idle -> streaming", timeout=5), daemon.stderr  # tracking goes on
        count = plex_server.request_count["/status/sessions"]
        assert wait_for_count(lambda: plex_server.request_count["/status/sessions"], count + 2, timeout=5)
        instance.restart()  # same port, sessions lost: the daemon has to log in again too
        assert wait_until(lambda: client.upload_limit() == 500 * KIB, timeout=5), daemon.stderr
        assert daemon.wait_for("qBittorrent answers again", timeout=3)
        assert daemon.stop() == 0
    warnings = daemon.messages("WARNING")
    assert warnings == ["qBittorrent not reachable at %s: connection refused" % instance.url], daemon.stderr
    assert daemon.messages("ERROR") == []
    assert "upload limit set to 500 KiB/s: 1 remote stream (friend)" in daemon.messages("INFO")


# ----------------------------------------------------------------------- qBittorrent session expired


def test_expired_session_relogs_in_once_retries_once_and_logs_only_debug(tmp_path, plex_server, qbt_nox_factory):
    instance = qbt_nox_factory(session_timeout=1)  # qBittorrent forgets an idle session after 1 s
    client = QbtWebClient(instance)
    plex_server.set_sessions([remote_movie()])
    path = write_config(tmp_path, plex_server, instance, reconcile_interval_sec=2)
    with Daemon("--config", path, "--verbose") as daemon:
        assert wait_until(lambda: client.upload_limit() == 500 * KIB), daemon.stderr
        # 2 s between reconcile reads > 1 s session timeout: every read meets a 403
        assert daemon.wait_for("logging in again", timeout=6), daemon.stderr
        client.set_upload_limit(1000 * KIB)  # raised behind its back: lowered to the share again
        assert wait_until(lambda: client.upload_limit() == 500 * KIB, timeout=6), daemon.stderr
        assert daemon.stop() == 0
    relogins = daemon.messages("DEBUG", "qBittorrent answered 403 to transfer/uploadLimit; logging in again")
    logins = daemon.messages("DEBUG", "logged in to qBittorrent")
    # the first request finds no session either: every login follows exactly one 403 (the first, then one
    # per expiry), and each 403 costs exactly one login
    assert len(relogins) >= 2
    assert len(logins) == len(relogins)
    assert daemon.messages("WARNING") == [] and daemon.messages("ERROR") == []
    qbt_info = [m for m in daemon.messages("INFO") if "qBittorrent" in m]
    assert qbt_info == ["qBittorrent's upload limit was changed to 1000 KiB/s outside plex-helper; set it back to 500 KiB/s"]


def test_expired_session_costs_exactly_one_login_and_one_retried_request(logs):
    """Exact request counts need the fake (5.2 rules: an expired SID gets 403)."""
    clock = ManualClock(1000.0)
    with PlexTestServer() as plex, FakeQBittorrent(username="admin", password="pw") as fake:
        plex.set_sessions([remote_movie()])
        app = in_process(plex, fake, clock, reconcile_interval_sec=10)
        tick(app, clock, 1000.0)
        assert fake.upload_limit == 500 * KIB and fake.logins == 1
        fake.expire_sessions()
        fake.reset_counts()
        logs.clear()
        report = tick(app, clock, 1010.0)  # reconcile read
        assert report.limiter_error is None and report.limiter_checked
        assert fake.logins == 1
        assert fake.count("transfer/uploadLimit") == 2  # the 403, then the one retry
        assert [r.status for r in fake.requests] == [403, 204, 200]
        assert logs.at_least(logging.INFO) == []


# ------------------------------------------------------------------------ limit changed behind back


def test_limit_changed_behind_our_back_is_set_again_at_the_reconcile_interval(tmp_path, plex_server, qbt):
    client = QbtWebClient(qbt)
    plex_server.set_sessions([remote_movie()])
    path = write_config(tmp_path, plex_server, qbt, reconcile_interval_sec=1)
    with Daemon("--config", path) as daemon:
        assert wait_until(lambda: client.upload_limit() == 500 * KIB), daemon.stderr
        client.set_upload_limit(1234 * KIB)
        assert wait_until(lambda: client.upload_limit() == 500 * KIB, timeout=4), daemon.stderr
        assert daemon.wait_for("outside plex-helper")
        assert daemon.stop() == 0
    assert daemon.messages("INFO", "outside plex-helper") == [
        "qBittorrent's upload limit was changed to 1234 KiB/s outside plex-helper; set it back to 500 KiB/s"
    ], daemon.stderr


def test_a_limit_lowered_by_the_user_during_a_stream_is_theirs_and_comes_back_at_exit(tmp_path, plex_server, qbt):
    """Setting it back to the share would raise the user's new limit: it is left, and it is what
    plex-helper puts back, since it is the user's own limit now."""
    client = QbtWebClient(qbt)
    client.set_upload_limit(2000 * KIB)
    plex_server.set_sessions([remote_movie()])
    path = write_config(tmp_path, plex_server, qbt, reconcile_interval_sec=1)
    with Daemon("--config", path) as daemon:
        assert wait_until(lambda: client.upload_limit() == 500 * KIB), daemon.stderr
        client.set_upload_limit(123 * KIB)
        count = plex_server.request_count["/status/sessions"]
        assert wait_for_count(lambda: plex_server.request_count["/status/sessions"], count + 3, timeout=6)
        assert client.upload_limit() == 123 * KIB
        assert daemon.stop() == 0
    assert client.upload_limit() == 123 * KIB


def test_reconcile_interval_zero_never_reads_the_limit_again(tmp_path, plex_server, qbt):
    client = QbtWebClient(qbt)
    plex_server.set_sessions([remote_movie()])
    path = write_config(tmp_path, plex_server, qbt, reconcile_interval_sec=0)
    with Daemon("--config", path) as daemon:
        assert wait_until(lambda: client.upload_limit() == 500 * KIB), daemon.stderr
        client.set_upload_limit(123 * KIB)
        count = plex_server.request_count["/status/sessions"]
        assert wait_for_count(lambda: plex_server.request_count["/status/sessions"], count + 2, timeout=6)
        assert client.upload_limit() == 123 * KIB
        assert daemon.stop() == 0
    assert daemon.messages("INFO", "outside plex-helper") == []


def test_reconcile_reads_only_at_the_interval(logs):
    """Read counts need the fake: one read per reconcile_interval_sec, none in between, no write."""
    clock = ManualClock(1000.0)
    with PlexTestServer() as plex, FakeQBittorrent(username="admin", password="pw") as fake:
        plex.set_sessions([remote_movie()])
        app = in_process(plex, fake, clock, reconcile_interval_sec=5)
        tick(app, clock, 1000.0)
        fake.reset_counts()
        for step in range(1, 21):  # 20 polls, 1 s apart
            tick(app, clock, 1000.0 + step)
        assert fake.reads == 4 and fake.writes == 0  # at +5, +10, +15, +20
        fake.upload_limit = 777 * KIB
        tick(app, clock, 1025.0)
        assert fake.upload_limit == 500 * KIB and fake.writes == 1
        assert logs.at(logging.INFO, "outside plex-helper") == [
            "qBittorrent's upload limit was changed to 777 KiB/s outside plex-helper; set it back to 500 KiB/s"
        ]


# ------------------------------------------------------------------------------ wrong password, ban


def test_wrong_password_errors_and_never_gets_banned_over_many_polls(tmp_path, plex_server, qbt_nox_factory):
    instance = qbt_nox_factory(max_fail=2)  # a second failed login would ban 127.0.0.1
    path = write_config(tmp_path, plex_server, instance, qbittorrent_password="Wr0ng-pass-9", login_retry_sec=30)
    with Daemon("--config", path) as daemon:
        # bounded waits, not timings: a loaded machine may be slow to poll and qBittorrent to log
        assert wait_for_count(lambda: plex_server.request_count["/status/sessions"], 4, timeout=20), daemon.stderr
        assert daemon.alive()
        assert daemon.stop() == 0
    errors = daemon.messages("ERROR")
    assert errors and errors[0] == (
        "qBittorrent rejected the username or password at %s; "
        "check qbittorrent_username/qbittorrent_password or qbittorrent_api_key" % instance.url
    )
    wait_until(lambda: len(failed_logins(instance, "invalid credentials")) >= 1, timeout=5)
    assert len(failed_logins(instance, "invalid credentials")) == 1
    status, body = QbtWebClient(instance).login()  # the right password still gets in: no ban
    assert (status, body) == (200, "Ok.")


def test_wrong_password_sends_at_most_one_login_per_login_retry_sec(plex_server, qbt_nox_factory):
    instance = qbt_nox_factory(max_fail=0)
    clock = ManualClock(1000.0)
    app = in_process(plex_server, instance, clock, qbittorrent_password="Wr0ng-pass-9", login_retry_sec=2)
    for step in range(21):  # 10 s of polls every 0.5 s
        report = tick(app, clock, 1000.0 + step * 0.5)
        assert report.limiter_error is not None
    # logins at +0, +2, +4, +6, +8, +10
    assert wait_until(lambda: len(failed_logins(instance, "invalid credentials")) >= 6, timeout=3)
    time.sleep(0.2)
    assert len(failed_logins(instance, "invalid credentials")) == 6


def test_wrong_password_logs_one_error_not_one_per_poll(plex_server, qbt_nox_factory, logs):
    instance = qbt_nox_factory(max_fail=0)
    clock = ManualClock(1000.0)
    app = in_process(plex_server, instance, clock, qbittorrent_password="Wr0ng-pass-9", login_retry_sec=300)
    for step in range(10):
        tick(app, clock, 1000.0 + step)
    assert len(logs.at(logging.ERROR)) == 1, logs.at(logging.ERROR)


def test_banned_ip_is_reported_and_no_login_is_tried_before_login_retry_sec(plex_server, qbt_nox_factory, logs):
    instance = qbt_nox_factory(max_fail=1)
    assert QbtWebClient(instance, password="not-it").login()[1] == "Fails."  # this bans 127.0.0.1
    clock = ManualClock(1000.0)
    app = in_process(plex_server, instance, clock, login_retry_sec=5)
    report = tick(app, clock, 1000.0)
    assert report.limiter_error is not None
    assert logs.at(logging.ERROR)[0] == (
        "qBittorrent has banned this IP after failed logins; fix the password and wait for the ban to expire "
        "or restart qBittorrent (%s); check qbittorrent_username/qbittorrent_password or qbittorrent_api_key"
        % instance.url
    )
    for step in range(1, 10):  # 4.5 s of polls inside login_retry_sec
        report = tick(app, clock, 1000.0 + step * 0.5)
        assert "next attempt in" in str(report.limiter_error)
    tick(app, clock, 1005.0)  # login_retry_sec has passed: one more attempt
    assert wait_until(lambda: len(failed_logins(instance, "IP has been banned")) >= 2, timeout=3)
    time.sleep(0.2)
    assert len(failed_logins(instance, "IP has been banned")) == 2


def test_banned_ip_logs_one_error_not_one_per_poll(plex_server, qbt_nox_factory, logs):
    instance = qbt_nox_factory(max_fail=1)
    QbtWebClient(instance, password="not-it").login()
    clock = ManualClock(1000.0)
    app = in_process(plex_server, instance, clock, login_retry_sec=300)
    for step in range(10):
        tick(app, clock, 1000.0 + step)
    assert len(logs.at(logging.ERROR)) == 1, logs.at(logging.ERROR)


def test_banned_ip_subprocess_says_so(tmp_path, plex_server, qbt_nox_factory):
    instance = qbt_nox_factory(max_fail=1)
    QbtWebClient(instance, password="not-it").login()
    path = write_config(tmp_path, plex_server, instance, login_retry_sec=60)
    with Daemon("--config", path, "--once") as daemon:
        assert daemon.process.wait(timeout=15) == 1
    assert daemon.messages("ERROR")[0].startswith("qBittorrent has banned this IP after failed logins")
    assert len(failed_logins(instance, "IP has been banned")) == 1


# ------------------------------------------------------------------------------ signals mid-request


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_plex_delays_its_answer_restores_and_exits_within_timeout(tmp_path, qbt, sig):
    client = QbtWebClient(qbt)
    with PlexTestServer() as plex:
        plex.set_sessions([remote_movie()])
        path = write_config(tmp_path, plex, qbt, http_timeout_sec=1, reconcile_interval_sec=0)
        with Daemon("--config", path) as daemon:
            assert wait_until(lambda: client.upload_limit() == 500 * KIB), daemon.stderr
            plex.set_delay(30)
            count = plex.request_count["/status/sessions"]
            assert wait_for_count(lambda: plex.request_count["/status/sessions"], count + 1, timeout=3)
            time.sleep(0.3)  # the request is in flight, the answer 30 s away
            status = daemon.stop(sig)
    assert status == 0, daemon.stderr
    assert daemon.exited_after < 1 + 1, daemon.exited_after  # http_timeout_sec + 1 s
    assert client.upload_limit() == 0
    assert "stopping; upload limit restored to unlimited" in daemon.messages("INFO")
    assert "Traceback" not in daemon.stderr


def test_sigterm_while_idle_does_not_touch_the_limit(tmp_path, plex_server, qbt):
    """restore_on_exit restores only what plex-helper lowered: a limit the user set stays."""
    client = QbtWebClient(qbt)
    client.set_upload_limit(0)
    path = write_config(tmp_path, plex_server, qbt, reconcile_interval_sec=0)
    with Daemon("--config", path) as daemon:
        assert daemon.wait_for("state unknown -> idle"), daemon.stderr
        assert daemon.stop() == 0
    assert daemon.messages("INFO")[-1] == "stopping"


def test_sigterm_while_qbittorrent_hangs_exits_within_timeout(tmp_path, plex_server, qbt_nox_factory):
    instance = qbt_nox_factory()
    client = QbtWebClient(instance)
    plex_server.set_sessions([remote_movie()])
    path = write_config(tmp_path, plex_server, instance, http_timeout_sec=2, reconcile_interval_sec=1)
    try:
        with Daemon("--config", path) as daemon:
            assert wait_until(lambda: client.upload_limit() == 500 * KIB), daemon.stderr
            os.kill(instance.pid, signal.SIGSTOP)  # qBittorrent hangs: requests get no answer
            plex_server.set_sessions([])  # the daemon now wants to lift the limit
            count = plex_server.request_count["/status/sessions"]
            assert wait_for_count(lambda: plex_server.request_count["/status/sessions"], count + 1, timeout=3)
            time.sleep(0.2)  # the write to qBittorrent is in flight, 1.8 s before it times out
            status = daemon.stop()
    finally:
        sigcont(instance.pid)
    assert status == 0, daemon.stderr
    assert daemon.exited_after < 2 + 1, (daemon.exited_after, daemon.stderr)


# ------------------------------------------------------------------------------- bad configurations


def _valid(plex, fake) -> Dict[str, object]:
    return {"plex_url": plex.url, "plex_token": "tok", "qbittorrent_url": fake.url,
            "qbittorrent_username": "admin", "qbittorrent_password": "pw", "poll_interval_sec": 1}


WRONG_TYPES = {
    "plex_url": (5, "must be a string"),
    "plex_token": (["x"], "must be a string"),
    "qbittorrent_url": (True, "must be a string"),
    "qbittorrent_username": (1, "must be a string"),
    "qbittorrent_password": ({}, "must be a string"),
    "qbittorrent_api_key": (2, "must be a string"),
    "idle_upload_kbps": ("0", "must be a whole number (KiB/s) or have a unit: needs a unit, for example \"0 KiB/s\" or \"0 Mbit/s\" (units: KiB/s, MiB/s, kB/s, MB/s, kbit/s, Mbit/s, unlimited)"),
    "streaming_upload_kbps": (1.5, "must be a whole number"),
    "poll_interval_sec": ("10", "must be a number"),
    "streaming_threshold": (True, "must be a whole number"),
    "idle_threshold": (2.0, "must be a whole number"),
    "count_states": ("playing", "must be a list"),
    "plex_down_restore_after_sec": (False, "must be a number"),
    "restore_on_exit": ("yes", "must be true or false"),
    "reconcile_interval_sec": ([], "must be a number"),
    "http_timeout_sec": (None, "must not be null"),
    "login_retry_sec": ("300", "must be a number"),
    "plex_verify_tls": (1, "must be true or false"),
    "qbittorrent_verify_tls": ("true", "must be true or false"),
    "plex_ca_file": (5, "must be a string"),
    "qbittorrent_ca_file": ([], "must be a string"),
    "lan_networks": ("10.0.0.0/8", "must be a list"),
    "ignore_users": ("bob", "must be a list"),
}

WRONG_VALUES = {
    "plex_url": ("ftp://plex", "must be an http:// or https:// URL with a host, for example http://192.168.1.10:8080"),
    "plex_token": ("", "must not be empty"),
    "qbittorrent_url": ("http://user:pw@127.0.0.1:1", "must not contain a user name or password; use the separate fields"),
    "idle_upload_kbps": (-1, "must be at least 0"),
    "streaming_upload_kbps": (-5, "must be at least 0"),
    "poll_interval_sec": (0.5, "must be at least 1"),
    "streaming_threshold": (0, "must be at least 1"),
    "idle_threshold": (0, "must be at least 1"),
    "count_states": ([], "must name at least one state"),
    "plex_down_restore_after_sec": (-1, "must be at least 0"),
    "reconcile_interval_sec": (-0.5, "must be at least 0"),
    "http_timeout_sec": (0, "must be greater than 0"),
    "login_retry_sec": (0.5, "must be at least 1"),
    "plex_ca_file": ("/nonexistent/ca.pem", "file /nonexistent/ca.pem does not exist or cannot be read"),
    "qbittorrent_ca_file": ("/nonexistent/qca.pem", "file /nonexistent/qca.pem does not exist or cannot be read"),
    "lan_networks": (["nope"], "'nope' is not a network such as 192.168.1.0/24"),
}

MORE_WRONG_VALUES = {
    "plex_url": ("127.0.0.1:32400", "must be an http:// or https:// URL with a host, for example http://192.168.1.10:8080"),
    "qbittorrent_url": ("http://127.0.0.1:99999", "has an invalid port"),
    "http_timeout_sec": (31, "must be at most 30"),
    "count_states": (["playing", "streaming"], "must be one of playing, paused, buffering"),
    "lan_networks": (["10.0.0.0/33"], "'10.0.0.0/33' is not a network such as 192.168.1.0/24"),
}


# list fields name the bad element
FIELD_PATHS = {
    ("lan_networks", "['nope']"): "lan_networks[0]",
    ("lan_networks", "['10.0.0.0/33']"): "lan_networks[0]",
    ("count_states", "['playing', 'streaming']"): "count_states[1]",
}


class BadConfigCase:
    def __init__(self, name, make, expected, env=None, args=("--config", "{path}"), exact=True):
        self.name, self.make, self.expected = name, make, expected
        self.env, self.args, self.exact = env or {}, args, exact


def _fields_case(table):
    def make(valid):
        valid.update({name: value for name, (value, _) in table.items()})
        return valid
    return make, ["{path}: %s: %s" % (FIELD_PATHS.get((name, repr(value)), name), message)
                  for name, (value, message) in table.items()]


def _bad_config_cases() -> List[BadConfigCase]:
    cases = []
    for name, table in (("wrong-types", WRONG_TYPES), ("wrong-values", WRONG_VALUES),
                        ("more-wrong-values", MORE_WRONG_VALUES)):
        make, expected = _fields_case(table)
        cases.append(BadConfigCase(name, make, expected))
    cases += [
        BadConfigCase("unknown-key", lambda v: dict(v, plex_tokn="x", poll_interval=5),
                      ["{path}: plex_tokn: is not a known setting (a typo?)",
                       "{path}: poll_interval: is not a known setting (a typo?)"]),
        BadConfigCase("bad-json", lambda v: '{"plex_url": "http://x",}',
                      ["{path}: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 25"]),
        BadConfigCase("not-an-object", lambda v: "[1, 2]", ["{path}: must hold a JSON object {{...}} at the top level"]),
        BadConfigCase("empty-file", lambda v: "", ["{path}: not valid JSON: Expecting value at line 1 column 1"]),
        BadConfigCase("not-utf8", lambda v: b'{"plex_url": "\xff"}', ["{path}: cannot read the config file: "],
                      exact=False),
        BadConfigCase("missing-file", None, ["{path}: config file not found"]),
        BadConfigCase("directory", "dir", ["{path}: cannot read the config file: Is a directory"]),
        BadConfigCase("secrets-missing", lambda v: {k: x for k, x in v.items() if k not in ("plex_token", "qbittorrent_password")},
                      ["{path}: plex_token: is required (or set PLEX_TOKEN or PLEX_TOKEN_FILE)",
                       "{path}: qbittorrent_password: required when qbittorrent_username is set (or set QBITTORRENT_PASSWORD)"]),
        BadConfigCase("secret-file-missing", lambda v: {k: x for k, x in v.items() if k != "plex_token"},
                      ["PLEX_TOKEN_FILE: cannot read /nonexistent/plex-token: No such file or directory"],
                      env={"PLEX_TOKEN_FILE": "/nonexistent/plex-token"}),
        BadConfigCase("secret-twice", lambda v: v,
                      ["QBITTORRENT_PASSWORD and QBITTORRENT_PASSWORD_FILE are both set; use one"],
                      env={"QBITTORRENT_PASSWORD": "x", "QBITTORRENT_PASSWORD_FILE": "/etc/hostname"}),
        BadConfigCase("password-without-username", lambda v: dict(v, qbittorrent_username=""),
                      ["{path}: qbittorrent_username: required when a password is set"]),
        BadConfigCase("check-mode", lambda v: dict(v, poll_interval_sec=0),
                      ["{path}: poll_interval_sec: must be at least 1"], args=("--config", "{path}", "--check")),
        BadConfigCase("once-mode", lambda v: dict(v, idle_threshold=-1),
                      ["{path}: idle_threshold: must be at least 1"], args=("--config", "{path}", "--once")),
    ]
    return cases


BAD_CONFIG_CASES = _bad_config_cases()


@pytest.fixture(scope="module")
def bad_config_runs(tmp_path_factory):
    """Every bad config at once, each against its own Plex and qBittorrent, in parallel processes."""
    runs = {}
    servers = []
    try:
        for case in BAD_CONFIG_CASES:
            plex, fake = PlexTestServer().start(), FakeQBittorrent(username="admin", password="pw").start()
            servers += [plex, fake]
            directory = tmp_path_factory.mktemp(case.name)
            path = directory / "config.json"
            if case.make == "dir":
                path = directory / "config.d"
                path.mkdir()
            elif case.make is not None:
                content = case.make(_valid(plex, fake))
                if isinstance(content, dict):
                    content = json.dumps(content)
                path.write_bytes(content if isinstance(content, bytes) else content.encode())
                os.chmod(path, 0o600)
            args = [a.format(path=path) for a in case.args]
            process = subprocess.Popen(command(*args), cwd=ROOT, env=environment(**case.env),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            runs[case.name] = (case, str(path), process, plex, fake)
        results = {}
        for name, (case, path, process, plex, fake) in runs.items():
            try:
                out, err = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
            time.sleep(0)  # counters are read after the process is gone
            results[name] = (case, path, process.returncode, out, err, sum(plex.request_count.values()), fake.total)
        yield results
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize("name", [case.name for case in BAD_CONFIG_CASES])
def test_bad_config_exits_2_with_one_line_per_problem_and_sends_nothing(bad_config_runs, name):
    case, path, status, out, err, plex_requests, qbt_requests = bad_config_runs[name]
    assert status == 2, err
    lines = err.splitlines()
    expected = [line.format(path=path) for line in case.expected]
    if case.exact:
        assert sorted(lines) == sorted(expected)
    else:
        assert len(lines) == len(expected) and all(line.startswith(e) for line, e in zip(lines, expected))
    assert out == ""
    assert "Traceback" not in err
    assert plex_requests == 0 and qbt_requests == 0


@pytest.mark.parametrize("token", ["PLEX TOKEN", "PLEXT\u00f6KEN", "PLEX\tTOKEN"], ids=["space", "non-ascii", "tab"])
def test_plex_token_unusable_in_a_header_is_a_config_error(tmp_path, plex_server, qbt, token):
    path = write_config(tmp_path, plex_server, qbt, plex_token=token)
    with Daemon("--config", path) as daemon:
        status = daemon.process.wait(timeout=15)
    assert status == 2, daemon.stderr
    assert daemon.lines == ["%s: plex_token: must contain only printable ASCII characters without spaces" % path] \
        or (len(daemon.lines) == 1 and daemon.lines[0].startswith("%s: plex_token: " % path))
    assert sum(plex_server.request_count.values()) == 0


# ------------------------------------------------------------------------------ config permissions


def test_config_with_secrets_readable_by_others_warns_to_chmod_600(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt)
    os.chmod(path, 0o644)
    with Daemon("--config", path, "--once") as daemon:
        assert daemon.process.wait(timeout=15) == 0, daemon.stderr
    assert daemon.messages("WARNING") == [
        "%s holds secrets and other users can read it; run: chmod 600 %s" % (path, path)
    ]


def test_group_readable_config_with_secrets_warns_too(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt)
    os.chmod(path, 0o640)
    with Daemon("--config", path, "--once") as daemon:
        assert daemon.process.wait(timeout=15) == 0, daemon.stderr
    assert daemon.messages("WARNING", "chmod 600")


def test_readable_config_without_secrets_does_not_warn(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt, plex_token="", qbittorrent_password="")
    config = json.loads(open(path).read())
    del config["plex_token"], config["qbittorrent_password"]
    open(path, "w").write(json.dumps(config))
    os.chmod(path, 0o644)
    with Daemon("--config", path, "--once", PLEX_TOKEN=plex_server.token, QBITTORRENT_PASSWORD=qbt.password) as daemon:
        assert daemon.process.wait(timeout=15) == 0, daemon.stderr
    assert daemon.messages("WARNING") == []


# ------------------------------------------------------------------------------ signal during start-up


# Runs the daemon with load_settings held until the test lets it go: a deterministic "during
# start-up" (a FIFO config did this before; it is refused now, so nothing can hang start-up).
_HELD_START = """
import os, sys, time
import application.config.load as config
original = config.load_settings
def held(*args, **kwargs):
    open(os.environ["HELD_MARKER"], "w").close()
    end = time.monotonic() + 10
    while time.monotonic() < end and not os.path.exists(os.environ["HELD_RELEASE"]):
        time.sleep(0.01)
    return original(*args, **kwargs)
config.load_settings = held
from application.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_startup_exits_0_quietly_and_sends_nothing(tmp_path, plex_server, sig):
    with FakeQBittorrent(username="admin", password="pw") as fake:
        path = write_config(tmp_path, plex_server, fake)
        marker, release = tmp_path / "held", tmp_path / "release"
        env = environment(HELD_MARKER=str(marker), HELD_RELEASE=str(release))
        process = subprocess.Popen([*command()[:1], "-c", _HELD_START, "--config", path], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_until(marker.exists, timeout=10), "start-up never reached the config"
            process.send_signal(sig)  # the daemon is inside load_settings
            status = process.wait(timeout=10)
        finally:
            release.touch()
            if process.poll() is None:
                process.kill()
            _, stderr = process.communicate()
        assert status == 0, (status, stderr)
        assert "Traceback" not in stderr
        assert sum(plex_server.request_count.values()) == 0 and fake.total == 0
