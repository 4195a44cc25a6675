"""SABnzbd's limit control against the SABnzbd 5.0 stand-in: a user's percentage comes back as the
same percentage, an absolute limit as the same bytes, no limit as no limit."""
from __future__ import annotations

from typing import Iterator

import pytest

from adapters.clients.sabnzbd import SabnzbdClient
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, LimitControl, DownloadClientError
from tests.support.sabnzbd_server import SabnzbdStandIn, sab_limit_speed

KEY = "5ec12e7a9b0c4d1f8a3b6c7d8e9f0a1b"
TEN_M = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def standin() -> Iterator[SabnzbdStandIn]:
    with SabnzbdStandIn(api_key=KEY) as sab:
        yield sab


@pytest.fixture
def sab(standin: SabnzbdStandIn) -> SabnzbdStandIn:
    return standin.reset()


def control(sab: SabnzbdStandIn) -> LimitControl:
    return SabnzbdClient(sab.url, KEY, timeout_sec=3.0).limit_control(Direction.DOWNLOAD)


def throttle_and_restore(sab: SabnzbdStandIn, held: HeldLimit) -> None:
    c = control(sab)
    c.write_limit(SpeedLimit(100))  # plex-helper's throttle, absolute as ever
    assert sab.limit_values[-1] == "100K" and sab.bandwidth_limit == 100 * 1024
    c.restore_limit(held.native)


def test_a_download_only_limit_control(sab):
    c = control(sab)
    assert isinstance(c, LimitControl) and c.direction is Direction.DOWNLOAD
    with pytest.raises(ValueError, match="only downloads"):
        SabnzbdClient(sab.url, KEY).limit_control(Direction.UPLOAD)


def test_a_users_percentage_comes_back_as_the_same_percentage(sab):
    sab.speed.line_speed_text = "10M"  # Config > General > Maximum line speed
    sab_limit_speed(sab.speed, "30%")  # what SABnzbd's own web UI sets
    held = control(sab).read_limit()
    assert held == HeldLimit(SpeedLimit(3072), {"percent": 30})
    throttle_and_restore(sab, held)
    assert sab.limit_values[-1] == "30%"
    assert (sab.speed.bandwidth_perc, sab.bandwidth_limit) == (30, int(TEN_M * 30 / 100))
    assert control(sab).read_limit() == held


def test_a_bare_percentage_is_read_as_a_percentage_too(sab):
    sab.speed.bandwidth_max = 1000 * 1024
    sab_limit_speed(sab.speed, "25")  # a bare 1-100 is a percentage in SABnzbd
    assert control(sab).read_limit() == HeldLimit(SpeedLimit(250), {"percent": 25})


@pytest.mark.parametrize("line_speed", ["", "10M"])
def test_an_absolute_limit_comes_back_as_the_same_bytes(sab, line_speed):
    sab.speed.line_speed_text = line_speed
    sab_limit_speed(sab.speed, "3000K")  # 3072000 B/s: 29 % of 10M, whose int(...) is not 3072000
    held = control(sab).read_limit()
    assert held == HeldLimit(SpeedLimit(3000), {"bytes": 3072000})
    throttle_and_restore(sab, held)
    assert sab.limit_values[-1] == "3072000"
    assert sab.bandwidth_limit == 3072000
    assert control(sab).read_limit() == held


def test_an_odd_absolute_limit_is_kept_to_the_byte(sab):
    sab_limit_speed(sab.speed, "123457")
    held = control(sab).read_limit()
    assert held.native == {"bytes": 123457}
    throttle_and_restore(sab, held)
    assert sab.bandwidth_limit == 123457


@pytest.mark.parametrize("older", [False, True])
def test_no_limit_comes_back_as_no_limit(sab, older):
    sab.empty_for_none = older  # 4.x said "" where 5.0 says "0"
    held = control(sab).read_limit()
    assert held == HeldLimit(SpeedLimit(0), {"none": True})
    assert [r["mode"] for r in sab.requests] == ["queue"]  # no limit: the line speed is not asked for
    throttle_and_restore(sab, held)
    assert sab.limit_values[-1] == "0" and sab.bandwidth_limit == 0
    assert control(sab).read_limit() == held


def test_a_percentage_is_not_restored_once_the_line_speed_is_gone(sab):
    sab.speed.line_speed_text = "10M"
    sab_limit_speed(sab.speed, "50%")
    held = control(sab).read_limit()
    control(sab).write_limit(SpeedLimit(100))
    sab.speed.line_speed_text = ""  # the user cleared Maximum line speed meanwhile
    with pytest.raises(DownloadClientError) as info:
        control(sab).restore_limit(held.native)
    assert info.value.kind is FailureKind.REJECTED and "Maximum line speed" in str(info.value)
    assert sab.limit_values == ["100K"]  # SABnzbd would only have warned and kept the throttle
    assert sab.speed.warnings == 0


@pytest.mark.parametrize("native", [
    None, 5, {"percent": 0}, {"percent": 101}, {"percent": "30"}, {"bytes": 100}, {"bytes": 2048.0},
    {"bytes": True}, {"none": False}, {"percent": 30, "bytes": 3}, {},
])
def test_restore_refuses_what_sabnzbd_could_not_have_given(sab, native):
    with pytest.raises(DownloadClientError) as info:
        control(sab).restore_limit(native)
    assert info.value.kind is FailureKind.MALFORMED
    assert sab.limit_values == []


def test_the_line_speed_question_is_sabnzbds_get_config(sab):
    sab.speed.line_speed_text = "10M"
    sab_limit_speed(sab.speed, "30%")
    control(sab).read_limit()
    asked = sab.requests[-1]
    assert (asked["mode"], asked["section"], asked["keyword"], asked["apikey"]) == (
        "get_config", "misc", "bandwidth_max", KEY)
