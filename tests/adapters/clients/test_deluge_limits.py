"""Deluge's limit controls, both directions, against a real deluged + deluge-web (2.0.3 here): the
native value is Deluge's own KiB/s float, restored as it was."""
from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import example, given, strategies as st

from adapters.clients.deluge.client import DelugeClient
from adapters.clients.deluge.limit import KEYS
from adapters.clients.deluge.rpc import native_kib, parse_kib
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, LimitControl, DownloadClientError
from tests.support.deluge_daemon import DelugeInstance, deluge, deluge_session  # noqa: F401  (fixtures)


def client(instance: DelugeInstance) -> DelugeClient:
    return DelugeClient(instance.url, instance.password, timeout_sec=5.0)


def held_by_daemon(instance: DelugeInstance, direction: Direction) -> Any:
    key = KEYS[direction]
    return instance.json("core.get_config_values", [key])["result"][key]


@pytest.mark.parametrize("direction", list(Direction))
def test_is_a_limit_control_for_both_directions(deluge: DelugeInstance, direction: Direction) -> None:
    control = client(deluge).limit_control(direction)
    assert isinstance(control, LimitControl) and control.direction is direction


@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("users, meaning", [(-1.0, SpeedLimit(0)), (2.5, SpeedLimit(2)), (1234.0, SpeedLimit(1234)),
                                            (0.0, SpeedLimit(0))])
def test_read_write_restore_round_trip_is_exact(
    deluge: DelugeInstance, direction: Direction, users: float, meaning: SpeedLimit
) -> None:
    deluge.json("core.set_config", {KEYS[direction]: users})  # the user's own
    control = client(deluge).limit_control(direction)
    held = control.read_limit()
    assert held == HeldLimit(meaning, users)
    control.write_limit(SpeedLimit(100))  # plex-helper's throttle
    assert held_by_daemon(deluge, direction) == 100.0
    control.restore_limit(held.native)
    assert held_by_daemon(deluge, direction) == users
    assert control.read_limit() == held


def test_download_limit_leaves_the_upload_limit_alone(deluge: DelugeInstance) -> None:
    deluge.json("core.set_config", {"max_upload_speed": 77.0, "max_download_speed": -1.0})
    control = client(deluge).limit_control(Direction.DOWNLOAD)
    held = control.read_limit()
    control.write_limit(SpeedLimit(300))
    control.restore_limit(held.native)
    assert held_by_daemon(deluge, Direction.DOWNLOAD) == -1.0
    assert held_by_daemon(deluge, Direction.UPLOAD) == 77.0


@pytest.mark.parametrize("native", [None, "5", True, [5.0], {"kib": 5.0}, float("nan"), float("inf")])
def test_restore_refuses_what_deluge_could_not_have_given(native: Any) -> None:
    control = DelugeClient("http://127.0.0.1:1", "x").limit_control(Direction.UPLOAD)
    with pytest.raises(DownloadClientError) as info:
        control.restore_limit(native)  # refused before anything is sent (port 1 would be unreachable)
    assert info.value.kind is FailureKind.MALFORMED and "max_upload_speed" in str(info.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(["max_download_speed", "other"]), json_values) | json_values)
@example({"max_download_speed": -1.0})
@example({"max_download_speed": 10**400})
def test_kib_parser_gives_the_exact_number_or_malformed(result: Any) -> None:
    try:
        value = parse_kib(result, "max_download_speed")
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
    else:
        assert math.isfinite(value) and value == result["max_download_speed"]
        assert native_kib(value, "max_download_speed") == value  # what was read is restored unchanged
