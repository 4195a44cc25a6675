"""Transmission's limit controls, both directions, against a real transmission-daemon (3.00 here):
the native value is the daemon's own kB/s and enabled flag, restored exactly."""
from __future__ import annotations

from typing import Any, Dict

import pytest
from hypothesis import example, given, strategies as st

from adapters.clients.transmission.client import MAX_LIMIT_BYTES, TransmissionClient
from adapters.clients.transmission.limit import KEYS
from adapters.clients.transmission.rpc import native_limit_fields, parse_limit_fields
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, LimitControl, DownloadClientError
from tests.support.transmission_daemon import TransmissionDaemon, transmission, transmission_session  # noqa: F401


def client(daemon: TransmissionDaemon) -> TransmissionClient:
    return TransmissionClient(daemon.url, daemon.username, daemon.password, timeout_sec=5.0)


def held_by_daemon(daemon: TransmissionDaemon, direction: Direction) -> Dict[str, Any]:
    key, enabled_key = KEYS[direction]
    arguments = daemon.rpc("session-get", {"fields": [key, enabled_key]})["json"]["arguments"]
    return {"value": arguments[key], "enabled": arguments[enabled_key]}


@pytest.mark.parametrize("direction", list(Direction))
def test_is_a_limit_control_for_both_directions(transmission: TransmissionDaemon, direction: Direction) -> None:
    control = client(transmission).limit_control(direction)
    assert isinstance(control, LimitControl) and control.direction is direction


@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("enabled", [True, False])
def test_1234_kb_read_and_restored_comes_back_as_exactly_1234(
    transmission: TransmissionDaemon, direction: Direction, enabled: bool
) -> None:
    key, enabled_key = KEYS[direction]
    transmission.rpc("session-set", {key: 1234, enabled_key: enabled})  # the user's own, in kB/s
    control = client(transmission).limit_control(direction)
    held = control.read_limit()
    # 1206 KiB/s: the largest limit that plex-helper would write as 1234 kB/s (1234944 // 1000)
    assert held == HeldLimit(SpeedLimit(1206) if enabled else SpeedLimit(0), {"value": 1234, "enabled": enabled})
    control.write_limit(SpeedLimit(100))  # plex-helper's throttle: 102 kB/s, switched on
    assert held_by_daemon(transmission, direction) == {"value": 102, "enabled": True}
    control.restore_limit(held.native)
    assert held_by_daemon(transmission, direction) == {"value": 1234, "enabled": enabled}
    assert control.read_limit() == held


def test_download_limit_read_write_restore_leaves_the_upload_limit_alone(transmission: TransmissionDaemon) -> None:
    transmission.rpc("session-set", {"speed-limit-up": 77, "speed-limit-up-enabled": True,
                                     "speed-limit-down": 5000, "speed-limit-down-enabled": True})
    control = client(transmission).limit_control(Direction.DOWNLOAD)
    held = control.read_limit()
    control.write_limit(SpeedLimit(0))
    assert held_by_daemon(transmission, Direction.DOWNLOAD) == {"value": 5000, "enabled": False}
    control.restore_limit(held.native)
    assert held_by_daemon(transmission, Direction.DOWNLOAD) == {"value": 5000, "enabled": True}
    assert held_by_daemon(transmission, Direction.UPLOAD) == {"value": 77, "enabled": True}


@pytest.mark.parametrize("native", [
    1234, None, {"value": 1234}, {"value": "1234", "enabled": True}, {"value": 1234, "enabled": 1},
    {"value": -1, "enabled": True}, {"value": MAX_LIMIT_BYTES, "enabled": True},
    {"value": 1, "enabled": True, "extra": 0}, {"value": True, "enabled": True},
])
def test_restore_refuses_what_transmission_could_not_have_given(transmission: TransmissionDaemon, native: Any) -> None:
    before = held_by_daemon(transmission, Direction.UPLOAD)
    with pytest.raises(DownloadClientError) as info:
        client(transmission).limit_control(Direction.UPLOAD).restore_limit(native)
    assert info.value.kind is FailureKind.MALFORMED and "speed-limit-up" in str(info.value)
    assert held_by_daemon(transmission, Direction.UPLOAD) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(["speed-limit-down", "speed-limit-down-enabled", "units"]), json_values))
@example({"speed-limit-down": 1234, "speed-limit-down-enabled": False})
def test_limit_fields_parser_gives_the_exact_fields_or_malformed(arguments: Dict[str, Any]) -> None:
    try:
        value, enabled = parse_limit_fields(arguments, "speed-limit-down", "speed-limit-down-enabled")
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
    else:
        assert (value, enabled) == (arguments["speed-limit-down"], arguments["speed-limit-down-enabled"])
        assert native_limit_fields({"value": value, "enabled": enabled}, "speed-limit-down",
                                   "speed-limit-down-enabled", 1) == arguments


@given(json_values, st.sampled_from([1000, 1024]))
def test_native_fields_take_any_json_and_never_write_more_than_transmission_holds(native: Any, speed_bytes: int) -> None:
    try:
        fields = native_limit_fields(native, "speed-limit-up", "speed-limit-up-enabled", speed_bytes)
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
    else:
        assert fields == {"speed-limit-up": native["value"], "speed-limit-up-enabled": native["enabled"]}
        assert 0 <= fields["speed-limit-up"] * speed_bytes <= MAX_LIMIT_BYTES
