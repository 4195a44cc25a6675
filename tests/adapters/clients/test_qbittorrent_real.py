"""QBittorrentClient against a real qbittorrent-nox (4.5.2 here) on 127.0.0.1."""
from __future__ import annotations

import logging
from typing import Callable, Optional

import pytest

from adapters.clients.qbittorrent.client import AUTH_BYPASS, AUTH_PASSWORD, QBittorrentClient
from domain.ports import FailureKind, DownloadClientError
from tests.support.clock import ManualClock
from tests.support.qbittorrent_nox import QbtInstance

Factory = Callable[..., QbtInstance]


def limiter(qbt: QbtInstance, password: str = "", clock: Optional[ManualClock] = None) -> QBittorrentClient:
    return QBittorrentClient(
        qbt.url, username=qbt.username, password=password or qbt.password, timeout_sec=5.0,
        login_retry_sec=300.0, clock=clock or ManualClock(),
    )


def error_of(call: Callable[[], object]) -> DownloadClientError:
    with pytest.raises(DownloadClientError) as info:
        call()
    return info.value


@pytest.mark.parametrize(
    "requested, stored",
    [(512_000, 512_000), (300_000, 299_008), (1, 1024), (1500, 1024), (2048, 2048), (0, 0)],
)
def test_set_and_read_limit_in_whole_kib(qbt_nox: QbtInstance, requested: int, stored: int) -> None:
    qbt = limiter(qbt_nox)
    qbt.set_upload_limit(requested)
    assert qbt.current_upload_limit() == stored


def test_zero_is_unlimited_and_fresh_default(qbt_nox: QbtInstance) -> None:
    qbt = limiter(qbt_nox)
    qbt.set_upload_limit(0)
    assert qbt.current_upload_limit() == 0


def test_describe(qbt_nox: QbtInstance) -> None:
    info = limiter(qbt_nox).describe()
    assert info.version.startswith("v4.") or info.version.startswith("v5.")
    assert info.webapi_version.count(".") >= 1
    assert info.auth == AUTH_PASSWORD


def test_session_expiry_by_restart_logs_in_again(
    qbt_nox_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    instance = qbt_nox_factory()
    qbt = limiter(instance)
    qbt.set_upload_limit(102_400)
    instance.restart()  # clean stop: the limit is saved, the SID is not
    with caplog.at_level(logging.DEBUG, logger="plex_helper.qbittorrent"):
        assert qbt.current_upload_limit() == 102_400
        qbt.set_upload_limit(204_800)
        assert qbt.current_upload_limit() == 204_800
    relogins = [r for r in caplog.records if "logging in again" in r.getMessage()]
    assert len(relogins) == 1 and relogins[0].levelno == logging.DEBUG
    instance.stop()
    err = error_of(qbt.current_upload_limit)
    assert err.kind is FailureKind.UNREACHABLE
    assert str(err) == "qBittorrent not reachable at %s: connection refused" % instance.url


def test_wrong_password_is_clear_and_never_causes_a_ban(qbt_nox_factory: Factory) -> None:
    instance = qbt_nox_factory(max_fail=2)
    clock = ManualClock()
    wrong = limiter(instance, password="Wr0ng-pass-9", clock=clock)
    err = error_of(wrong.current_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert str(err) == "qBittorrent rejected the username or password at %s" % instance.url
    for _ in range(30):  # many polls inside login_retry_sec: no further login is sent
        clock.now += 5
        held = error_of(lambda: wrong.set_upload_limit(10_240))
        assert held.kind is FailureKind.REJECTED and "next attempt in" in str(held)
        assert "Wr0ng-pass-9" not in str(held) and instance.password not in str(held)
    # with MaxAuthenticationFailCount=2 a second failed login would have banned 127.0.0.1
    right = limiter(instance)
    assert right.current_upload_limit() >= 0


def test_ban_is_reported_and_not_retried_early(qbt_nox_factory: Factory) -> None:
    instance = qbt_nox_factory(max_fail=1)
    clock = ManualClock()
    wrong = limiter(instance, password="bad-pass-1", clock=clock)
    first = error_of(wrong.current_upload_limit)  # this failure starts the ban
    assert "rejected the username or password" in str(first)
    clock.now += 300
    banned = error_of(wrong.current_upload_limit)
    assert banned.kind is FailureKind.REJECTED
    assert str(banned).startswith("qBittorrent has banned this IP after failed logins")
    assert "bad-pass-1" not in str(banned)
    clock.now += 299
    held = error_of(wrong.current_upload_limit)
    assert "banned" in str(held) and "next attempt in 1 s" in str(held)
    # the right password cannot get in either while the ban lasts, which proves it is real
    right_err = error_of(limiter(instance).current_upload_limit)
    assert "banned this IP" in str(right_err) and instance.password not in str(right_err)


def test_bypass_on_localhost_without_credentials(qbt_nox_module: Factory) -> None:
    instance = qbt_nox_module(localhost_auth=False)
    qbt = QBittorrentClient(instance.url, timeout_sec=5.0)
    qbt.set_upload_limit(20_480)
    assert qbt.current_upload_limit() == 20_480
    assert qbt.describe().auth == AUTH_BYPASS
    # with credentials configured, bypass still works and is what describe() reports
    assert limiter(instance).describe().auth == AUTH_BYPASS


def test_login_required_without_credentials(qbt_nox: QbtInstance) -> None:
    err = error_of(QBittorrentClient(qbt_nox.url, timeout_sec=5.0).current_upload_limit)
    assert err.kind is FailureKind.REJECTED and "requires a login" in str(err)


def test_api_key_against_4x_is_rejected_clearly(qbt_nox: QbtInstance) -> None:
    key = "qbt_" + "A" * 28
    err = error_of(QBittorrentClient(qbt_nox.url, api_key=key, timeout_sec=5.0).current_upload_limit)
    assert err.kind is FailureKind.REJECTED and "rejected the API key (403)" in str(err)
    assert key not in str(err)
