"""QBittorrentClient against a fake qBittorrent 5.2 (204 login, 401, QBT_SID_<port>, API keys)."""
from __future__ import annotations

import logging
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.clients.qbittorrent.client import (
    AUTH_API_KEY,
    AUTH_BYPASS,
    AUTH_PASSWORD,
    QBittorrentInfo,
    QBittorrentClient,
)
from domain.ports import FailureKind, DownloadClientError
from tests.support.clock import ManualClock as FakeClock
from tests.support.fake_qbittorrent import BAN_BODY, FakeQBittorrent, make_api_key, stored_upload_limit

PASSWORD = "s3cret-Pa55word"


@pytest.fixture
def fake() -> Iterator[FakeQBittorrent]:
    with FakeQBittorrent(username="admin", password=PASSWORD, webui_port=18080) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def limiter(server: FakeQBittorrent, clock: FakeClock, **kwargs: object) -> QBittorrentClient:
    options = {"username": "admin", "password": PASSWORD, "timeout_sec": 2.0, "login_retry_sec": 300.0}
    options.update(kwargs)
    return QBittorrentClient(server.url, clock=clock, **options)  # type: ignore[arg-type]


def error_of(call: object) -> DownloadClientError:
    with pytest.raises(DownloadClientError) as info:
        call()  # type: ignore[operator]
    return info.value


def test_login_204_then_session_reused(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = limiter(fake, clock)
    assert qbt.current_upload_limit() == 0
    qbt.set_upload_limit(300_000)
    assert qbt.current_upload_limit() == 299_008  # whole KiB, rounded down
    qbt.set_upload_limit(1)
    assert qbt.current_upload_limit() == 1024
    qbt.set_upload_limit(0)
    assert qbt.current_upload_limit() == 0
    for _ in range(20):
        qbt.current_upload_limit()
    assert fake.logins == 1
    assert fake.writes == 3
    assert all(r.headers.get("referer") == fake.url + "/" for r in fake.requests)


def test_cookie_named_after_qbittorrents_own_port_is_kept_and_sent(fake: FakeQBittorrent, clock: FakeClock) -> None:
    assert fake.cookie_name == "QBT_SID_18080" and fake.port != 18080
    qbt = limiter(fake, clock)
    qbt.current_upload_limit()
    qbt.current_upload_limit()
    last = fake.requests[-1]
    assert last.status == 200
    assert last.headers["cookie"].startswith("QBT_SID_18080=")
    assert "SID=" not in last.headers["cookie"].replace("QBT_SID_18080=", "")


def test_describe_with_password(fake: FakeQBittorrent, clock: FakeClock) -> None:
    info = limiter(fake, clock).describe()
    assert info == QBittorrentInfo(version="v5.2.0", webapi_version="2.15.1", auth=AUTH_PASSWORD)


def test_wrong_password_401_is_clear_and_held_back(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = limiter(fake, clock, password="wrong-password-xyz")
    err = error_of(qbt.current_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert "rejected the username or password" in str(err)
    assert "wrong-password-xyz" not in str(err)
    for _ in range(10):
        clock.now += 10
        held = error_of(lambda: qbt.set_upload_limit(5000))
        assert held.kind is FailureKind.REJECTED
        assert "last login" in str(held) and "next attempt in" in str(held)
    assert "next attempt in 200 s" in str(held)
    assert fake.logins == 1
    before = fake.total
    error_of(qbt.current_upload_limit)
    assert fake.total == before  # held back: nothing sent at all
    clock.now += 200
    error_of(qbt.current_upload_limit)
    assert fake.logins == 2  # one more attempt once login_retry_sec has passed


def test_fixed_password_recovers_after_hold_back(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = limiter(fake, clock)
    fake.password = "changed"
    fake.expire_sessions()
    error_of(qbt.current_upload_limit)
    fake.password = PASSWORD
    error_of(qbt.current_upload_limit)  # still held back
    clock.now += 301
    assert qbt.current_upload_limit() == 0


def test_ban_reported_and_not_retried(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.max_fail = 1
    qbt = limiter(fake, clock, password="nope")
    assert "rejected the username or password" in str(error_of(qbt.current_upload_limit))
    assert fake.banned
    clock.now += 301
    err = error_of(qbt.current_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert "banned this IP" in str(err) and "nope" not in str(err)
    assert fake.logins == 2
    held = error_of(qbt.current_upload_limit)
    assert "banned" in str(held) and "next attempt in" in str(held)
    assert fake.logins == 2


def test_login_403_body_means_ban(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.fail_with("auth/login", 403, BAN_BODY)
    err = error_of(limiter(fake, clock).current_upload_limit)
    assert "banned this IP" in str(err)


def test_expired_session_relogin_once_then_retry_once(
    fake: FakeQBittorrent, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    qbt = limiter(fake, clock)
    qbt.current_upload_limit()
    fake.expire_sessions()
    fake.reset_counts()
    with caplog.at_level(logging.DEBUG, logger="plex_helper.qbittorrent"):
        qbt.set_upload_limit(102_400)
    assert [(r.endpoint, r.status) for r in fake.requests] == [
        ("transfer/setUploadLimit", 403),
        ("auth/login", 204),
        ("transfer/setUploadLimit", 200),
    ]
    assert fake.upload_limit == 102_400
    relogin = [r for r in caplog.records if "logging in again" in r.getMessage()]
    assert relogin and all(r.levelno == logging.DEBUG for r in relogin)


def test_persistent_403_after_fresh_login_is_an_error_not_a_loop(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = limiter(fake, clock)
    qbt.current_upload_limit()
    fake.reset_counts()
    fake.fail_with("transfer/uploadLimit", 403, "Forbidden")
    err = error_of(qbt.current_upload_limit)
    assert err.kind is FailureKind.REJECTED and "403" in str(err)
    assert fake.count("transfer/uploadLimit") == 2 and fake.logins == 1


def test_api_key_uses_bearer_and_never_logs_in(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.api_key = make_api_key()
    assert fake.api_key.startswith("qbt_") and len(fake.api_key) == 32
    qbt = QBittorrentClient(fake.url, api_key=fake.api_key, timeout_sec=2.0, clock=clock)
    qbt.set_upload_limit(51_200)
    assert qbt.current_upload_limit() == 51_200
    assert qbt.describe().auth == AUTH_API_KEY
    assert fake.logins == 0
    assert fake.requests[0].headers["authorization"] == "Bearer " + fake.api_key


def test_rejected_api_key_is_clear_and_does_not_log_in(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.api_key = make_api_key()
    wrong = make_api_key()
    qbt = QBittorrentClient(
        fake.url, username="admin", password=PASSWORD, api_key=wrong, timeout_sec=2.0, clock=clock
    )
    err = error_of(qbt.current_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert "rejected the API key (403)" in str(err)
    assert wrong not in str(err) and PASSWORD not in str(err)
    assert fake.logins == 0 and fake.total == 1


def test_bypass_without_credentials_keeps_the_cookie(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.bypass_auth = True
    qbt = QBittorrentClient(fake.url, timeout_sec=2.0, clock=clock)
    for _ in range(5):
        qbt.current_upload_limit()
    assert qbt.describe().auth == AUTH_BYPASS
    assert fake.logins == 0
    assert fake.sessions_created == 1  # the cookie of the first answer was sent back afterwards


def test_bypass_with_credentials_configured_sends_no_login(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.bypass_auth = True
    qbt = limiter(fake, clock)
    assert qbt.describe().auth == AUTH_BYPASS
    assert fake.logins == 0


def test_no_credentials_but_login_required(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = QBittorrentClient(fake.url, timeout_sec=2.0, clock=clock)
    err = error_of(qbt.current_upload_limit)
    assert err.kind is FailureKind.REJECTED and "requires a login" in str(err)
    assert fake.logins == 0


def test_host_port_mismatch_401_gives_a_hint(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.host_header_validation = True  # qBittorrent thinks it is on 18080 (Docker -p <port>:18080)
    err = error_of(limiter(fake, clock).current_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert "401" in str(err) and "host/port" in str(err)


def test_server_down_is_unreachable_then_recovers(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = limiter(fake, clock)
    qbt.current_upload_limit()
    fake.go_down()
    err = error_of(qbt.current_upload_limit)
    assert err.kind is FailureKind.UNREACHABLE
    assert str(err) == "qBittorrent not reachable at %s: connection refused" % fake.url
    fake.come_up()
    assert qbt.current_upload_limit() == 0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(fake: FakeQBittorrent, clock: FakeClock, status: int) -> None:
    fake.fail_with("transfer/uploadLimit", status, "oops")
    err = error_of(limiter(fake, clock).current_upload_limit)
    assert err.kind is FailureKind.UNREACHABLE and "qBittorrent answered %d" % status in str(err)


def test_server_error_on_login_does_not_hold_back(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.fail_with("auth/login", 503, times=1)
    qbt = limiter(fake, clock)
    assert "answered 503" in str(error_of(qbt.current_upload_limit))
    assert qbt.current_upload_limit() == 0


@pytest.mark.parametrize("body", ["garbage", "", "12.5", "<html>login</html>", "1_000"])
def test_garbage_upload_limit_is_malformed(fake: FakeQBittorrent, clock: FakeClock, body: str) -> None:
    fake.fail_with("transfer/uploadLimit", 200, body or " ")
    err = error_of(limiter(fake, clock).current_upload_limit)
    assert err.kind is FailureKind.MALFORMED
    assert "not an upload limit" in str(err)


def test_unknown_endpoint_404_is_malformed(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.fail_with("transfer/uploadLimit", 404, "Not Found")
    assert error_of(limiter(fake, clock).current_upload_limit).kind is FailureKind.MALFORMED


def test_timeout_is_unreachable(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.bypass_auth = True
    fake.response_delay = 0.6
    qbt = QBittorrentClient(fake.url, timeout_sec=0.2, clock=clock)
    err = error_of(qbt.current_upload_limit)
    assert err.kind is FailureKind.UNREACHABLE and "timed out" in str(err)


def test_negative_or_non_int_limit_refused_without_request(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = limiter(fake, clock)
    for bad in (-1, 1.5, True, "100"):
        assert isinstance(error_of(lambda: qbt.set_upload_limit(bad)), DownloadClientError)  # type: ignore[arg-type]
    assert fake.total == 0


def test_userinfo_is_stripped_from_messages(fake: FakeQBittorrent, clock: FakeClock) -> None:
    url = fake.url.replace("http://", "http://admin:%s@" % PASSWORD)
    fake.fail_with("transfer/uploadLimit", 500)
    qbt = QBittorrentClient(url, username="admin", password=PASSWORD, timeout_sec=2.0, clock=clock)
    err = error_of(qbt.current_upload_limit)
    assert PASSWORD not in str(err)
    assert fake.url in str(err)


def test_no_secret_or_cookie_in_any_message(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = limiter(fake, clock)
    qbt.current_upload_limit()
    sid = fake.requests[-1].headers["cookie"].split("=", 1)[1]
    messages = []
    fake.fail_with("transfer/uploadLimit", 200, "nonsense")
    messages.append(str(error_of(qbt.current_upload_limit)))
    fake.clear_faults()
    fake.host_header_validation = True
    messages.append(str(error_of(qbt.current_upload_limit)))
    fake.host_header_validation = False
    fake.password = "other"
    fake.expire_sessions()
    messages.append(str(error_of(qbt.current_upload_limit)))
    messages.append(str(error_of(qbt.current_upload_limit)))
    for message in messages:
        assert PASSWORD not in message and sid not in message


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-10, max_value=10**12))
def test_fake_rounding_matches_the_facts(limit: int) -> None:
    stored = stored_upload_limit(limit)
    if limit <= 0:
        assert stored == 0
    else:
        assert stored % 1024 == 0 and 1024 <= stored and (stored <= limit or limit < 1024)
        assert stored == max(1024, limit // 1024 * 1024)


def test_limits_below_one_kib_are_sent_as_one_kib(fake: FakeQBittorrent, clock: FakeClock) -> None:
    qbt = limiter(fake, clock)
    qbt.set_upload_limit(100)
    assert [r.form["limit"] for r in fake.requests if r.endpoint == "transfer/setUploadLimit"][-1] == "1024"
    assert qbt.current_upload_limit() == 1024


def test_403_right_after_a_login_is_not_followed_by_another_login(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.password = "changed"
    qbt = limiter(fake, clock)
    error_of(qbt.current_upload_limit)  # 403, login refused, held back
    fake.password = PASSWORD
    clock.now += 301
    fake.fail_with("transfer/uploadLimit", 403, "Forbidden")
    fake.reset_counts()
    err = error_of(qbt.current_upload_limit)
    assert "403" in str(err)
    assert [r.endpoint for r in fake.requests] == ["auth/login", "transfer/uploadLimit"]


def test_html_instead_of_a_limit_is_described_not_quoted(fake: FakeQBittorrent, clock: FakeClock) -> None:
    fake.fail_with("transfer/uploadLimit", 200, "<html>secret-ish page</html>")
    err = error_of(limiter(fake, clock).current_upload_limit)
    assert err.kind is FailureKind.MALFORMED and "HTML page" in str(err) and "secret-ish" not in str(err)
