"""qBittorrent's limit controls, both directions, against a real qbittorrent-nox (4.5.2 here), and the
reading of its limit bodies (hypothesis)."""
from __future__ import annotations

import pytest
from hypothesis import example, given, strategies as st

from adapters.clients.qbittorrent.client import MAX_LIMIT_BYTES, QBittorrentClient
from adapters.clients.qbittorrent.limit import parse_limit_body
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, LimitControl, DownloadClientError
from tests.support.qbittorrent_nox import QbtInstance

URL = "http://127.0.0.1:1"


def limiter(qbt: QbtInstance) -> QBittorrentClient:
    return QBittorrentClient(qbt.url, username=qbt.username, password=qbt.password, timeout_sec=5.0)


@pytest.mark.parametrize("direction", list(Direction))
def test_is_a_limit_control_for_both_directions(qbt_nox: QbtInstance, direction: Direction) -> None:
    control = limiter(qbt_nox).limit_control(direction)
    assert isinstance(control, LimitControl) and control.direction is direction


@pytest.mark.parametrize("requested, stored", [(512_000, 512_000), (300_000, 299_008), (1, 1024), (0, 0)])
def test_download_limit_read_and_write_on_the_real_daemon(qbt_nox: QbtInstance, requested: int, stored: int) -> None:
    qbt = limiter(qbt_nox)
    qbt.set_upload_limit(0)
    qbt.set_download_limit(requested)
    assert qbt.current_download_limit() == stored
    assert qbt.current_upload_limit() == 0  # the other direction is left alone
    assert qbt.read_download_limit() == SpeedLimit.from_bytes(stored)


@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("users", [0, 1024, 299_008, 7 * 1024 * 1024])
def test_read_write_restore_round_trip_is_exact(qbt_nox: QbtInstance, direction: Direction, users: int) -> None:
    qbt = limiter(qbt_nox)
    control = qbt.limit_control(direction)
    control.restore_limit(users)  # what the user had
    held = control.read_limit()
    assert held == HeldLimit(SpeedLimit.from_bytes(users), users)
    control.write_limit(SpeedLimit(50))  # plex-helper's throttle
    assert control.read_limit() == HeldLimit(SpeedLimit(50), 50 * 1024)
    control.restore_limit(held.native)
    assert control.read_limit() == held


@pytest.mark.parametrize("native", ["1024", 1024.0, None, True, {"bytes": 1024}, -1, MAX_LIMIT_BYTES + 1])
def test_restore_refuses_what_qbittorrent_could_not_have_given(native: object) -> None:
    control = QBittorrentClient(URL).limit_control(Direction.DOWNLOAD)
    with pytest.raises(DownloadClientError) as info:
        control.restore_limit(native)  # refused before anything is sent (port 1 would be unreachable)
    assert info.value.kind is FailureKind.MALFORMED


@given(st.text(max_size=40))
@example("512000")
@example(" 0\n")
@example("-1")
@example("<html>")
def test_limit_body_parser_takes_any_text(body: str) -> None:
    try:
        value = parse_limit_body(body, "download", URL)
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
        assert "download limit" in str(err)
    else:
        assert value >= 0 and body.strip().lstrip("-").isdigit()
