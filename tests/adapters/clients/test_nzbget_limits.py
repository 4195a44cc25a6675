"""NZBGet's limit control against a real NZBGet (21.0 here): the native value is `status`'s
DownloadLimit bytes, restored through `rate` in the KiB that read back as exactly those bytes."""
from __future__ import annotations

import pytest

from adapters.clients.nzbget import MAX_RATE_KIB, NzbgetClient
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, LimitControl, DownloadClientError
from tests.support.nzbget_daemon import NzbgetInstance  # its fixtures come from tests/conftest.py


def control(nzb: NzbgetInstance) -> LimitControl:
    return NzbgetClient(nzb.url, nzb.username, nzb.password, timeout_sec=5.0).limit_control(Direction.DOWNLOAD)


def test_a_download_only_limit_control(nzbget_daemon):
    c = control(nzbget_daemon)
    assert isinstance(c, LimitControl) and c.direction is Direction.DOWNLOAD
    with pytest.raises(ValueError, match="only downloads"):
        NzbgetClient(nzbget_daemon.url).limit_control(Direction.UPLOAD)


@pytest.mark.parametrize("users_rate", [0, 1, 777, 5000, MAX_RATE_KIB])
def test_read_write_restore_round_trip_is_exact(nzbget_daemon, users_rate):
    assert nzbget_daemon.rpc("rate", users_rate)["result"] is True  # the user's own, in KiB/s
    c = control(nzbget_daemon)
    held = c.read_limit()
    assert held == HeldLimit(SpeedLimit(users_rate), users_rate * 1024)
    c.write_limit(SpeedLimit(100))
    assert nzbget_daemon.download_limit_bytes() == 100 * 1024
    c.restore_limit(held.native)
    assert nzbget_daemon.download_limit_bytes() == users_rate * 1024
    assert c.read_limit() == held


def test_a_wrapped_limit_is_kept_as_read_and_restored_as_unlimited(nzbget_daemon):
    nzbget_daemon.rpc("rate", 2097152)  # wraps to -2**31 in NZBGet, which then does not throttle
    held = control(nzbget_daemon).read_limit()
    assert held == HeldLimit(SpeedLimit(0), -(2**31))
    control(nzbget_daemon).write_limit(SpeedLimit(100))
    control(nzbget_daemon).restore_limit(held.native)
    assert nzbget_daemon.download_limit_bytes() == 0


@pytest.mark.parametrize("native", [None, "1024", 1024.0, True, 1000, 2**31, {"bytes": 1024}])
def test_restore_refuses_what_nzbget_could_not_have_given(native):
    c = NzbgetClient("http://127.0.0.1:1").limit_control(Direction.DOWNLOAD)
    with pytest.raises(DownloadClientError) as info:
        c.restore_limit(native)  # refused before anything is sent (port 1 would be unreachable)
    assert info.value.kind is FailureKind.MALFORMED
