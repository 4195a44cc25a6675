"""Each download client's one conversion between the domain's SpeedLimit and the client's own unit.

The promises: no intended limit ever becomes the client's "unlimited" value, rounding never raises a
limit above what was meant (the one documented exception: the smallest value the client can hold),
and reading back what we wrote gives exactly the limit we meant, so reconciling never rewrites.
(Transmission, Deluge, qBittorrent and the fake here, in both directions, with the restore of each
client's native value; SABnzbd and NZBGet have their own file.)
"""
from __future__ import annotations

import struct
from typing import Any

from hypothesis import example, given, strategies as st

from adapters.clients.deluge.client import MAX_KIB, UNLIMITED, from_deluge_kib, to_deluge_kib
from adapters.clients.deluge.rpc import native_kib, parse_kib
from adapters.clients.qbittorrent.client import MAX_LIMIT_BYTES as QBT_MAX, QBittorrentClient
from adapters.clients.transmission.client import MAX_LIMIT_BYTES, from_transmission_units, to_transmission_units
from adapters.clients.transmission.limit import KEYS as TRANSMISSION_KEYS
from adapters.clients.transmission.rpc import native_limit_fields, parse_limit_fields
from adapters.fakes import RecordingQBittorrent
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import HeldLimit, DownloadClientError

limits = st.builds(SpeedLimit, st.integers(min_value=1, max_value=10**12))
any_limit = st.builds(SpeedLimit, st.integers(min_value=0, max_value=10**12))
real_units = st.sampled_from([1000, 1024])  # what Transmission versions report in units.speed-bytes
any_units = st.integers(min_value=1, max_value=1 << 20)


# ---------------------------------------------------------------------------------- Transmission


@given(limits, any_units)
@example(SpeedLimit(1), 1000)
@example(SpeedLimit(1), 1024)
def test_transmission_never_turns_a_limit_into_unlimited_or_zero(limit, speed_bytes):
    units = to_transmission_units(limit, speed_bytes)
    assert units is not None  # None means `speed-limit-up-enabled: false`
    assert units >= 1  # an enabled 0 stops uploads altogether
    assert units * speed_bytes <= MAX_LIMIT_BYTES  # more would wrap around in Transmission's 32-bit field


@given(limits, any_units)
def test_transmission_rounding_never_raises_a_limit_except_to_the_one_unit_minimum(limit, speed_bytes):
    units = to_transmission_units(limit, speed_bytes)
    assert units * speed_bytes <= limit.bytes_per_sec or units == 1


@given(limits, real_units)
def test_transmission_never_needs_the_minimum_exception_with_real_units(limit, speed_bytes):
    assert to_transmission_units(limit, speed_bytes) * speed_bytes <= limit.bytes_per_sec


def test_transmission_unlimited_is_none():
    assert to_transmission_units(SpeedLimit(0), 1000) is None
    assert from_transmission_units(256, False, 1000) == SpeedLimit(0)


@given(st.integers(min_value=1, max_value=MAX_LIMIT_BYTES // 1024), real_units)
@example(7, 1000)
@example(250, 1000)
@example(22, 1000)
def test_transmission_what_we_write_reads_back_exactly(kib, speed_bytes):
    units = to_transmission_units(SpeedLimit(kib), speed_bytes)
    assert from_transmission_units(units, True, speed_bytes) == SpeedLimit(kib)


@given(any_limit, any_units)
def test_transmission_reading_and_writing_again_changes_nothing(limit, speed_bytes):
    units = to_transmission_units(limit, speed_bytes)
    read = from_transmission_units(units if units is not None else 5, units is not None, speed_bytes)
    assert to_transmission_units(read, speed_bytes) == units


@given(st.integers(min_value=0, max_value=MAX_LIMIT_BYTES), any_units)
@example(42, 1000)  # 42 kB/s is no whole KiB: reads as 41 KiB/s, which writes back as 41 kB/s
def test_transmission_a_users_value_read_and_restored_is_never_raised(value, speed_bytes):
    value = min(value, MAX_LIMIT_BYTES // speed_bytes)
    read = from_transmission_units(value, True, speed_bytes)
    assert read.kib_per_sec >= 1  # an enabled value, even 0, is a limit
    # never above the user's own value, except that SpeedLimit's smallest limit is 1 KiB/s
    assert to_transmission_units(read, speed_bytes) <= max(value, to_transmission_units(SpeedLimit(1), speed_bytes))


@given(st.integers(min_value=0, max_value=MAX_LIMIT_BYTES), real_units)
def test_transmission_a_users_value_reads_within_one_unit(value, speed_bytes):
    value = min(value, MAX_LIMIT_BYTES // speed_bytes)
    read = from_transmission_units(value, True, speed_bytes)
    if value >= 1:
        assert abs(read.bytes_per_sec - value * speed_bytes) < max(speed_bytes, 1024)


def test_transmission_units_seen_on_3_00():
    # speed-bytes 1000 ("kB/s"): 250 KiB/s is 256 kB/s, as the facts file says
    assert to_transmission_units(SpeedLimit(250), 1000) == 256
    assert to_transmission_units(SpeedLimit(7), 1000) == 7
    assert from_transmission_units(50, True, 1000) == SpeedLimit(49)  # the default alt-speed-up
    assert from_transmission_units(0, True, 1000) == SpeedLimit(1)


# ---------------------------------------------------------------------------------- Deluge


def _float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


@given(limits)
@example(SpeedLimit(1))
def test_deluge_never_turns_a_limit_into_unlimited_or_zero(limit):
    kib = to_deluge_kib(limit)
    assert kib >= 1.0  # never -1 (unlimited) and never 0 (libtorrent's unlimited)
    assert int(kib * 1024) >= 1024  # what Deluge hands libtorrent, in bytes/s
    assert int(kib * 1024) <= 2**31 - 1  # libtorrent's field is a signed 32-bit int


@given(limits)
def test_deluge_rounding_never_raises_a_limit(limit):
    kib = to_deluge_kib(limit)
    assert _float32(kib) == kib  # the value reaches deluged as a 32-bit float: nothing rounds up there
    assert kib * 1024 <= limit.bytes_per_sec


def test_deluge_unlimited_is_minus_one():
    assert to_deluge_kib(SpeedLimit(0)) == UNLIMITED == -1.0


@given(st.integers(min_value=1, max_value=MAX_KIB))
def test_deluge_what_we_write_reads_back_exactly(kib):
    assert from_deluge_kib(_float32(to_deluge_kib(SpeedLimit(kib)))) == SpeedLimit(kib)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30))
@example(-1.0)
@example(0.0)
@example(0.0005)  # int(0.512) = 0 bytes/s: libtorrent's unlimited
@example(2.700000047683716)
def test_deluge_reading_a_users_value(value):
    read = from_deluge_kib(value)
    applied = int(min(value, 2.0**53) * 1024)  # what Deluge gives libtorrent
    assert read.unlimited == (applied <= 0)
    if not read.unlimited:
        restored = to_deluge_kib(read)
        # never above the user's own value, except that a value below 1 KiB/s becomes 1 KiB/s
        assert restored * 1024 <= max(applied, 1024) or restored == MAX_KIB


@given(any_limit)
def test_deluge_reading_and_writing_again_changes_nothing(limit):
    kib = to_deluge_kib(limit)
    assert to_deluge_kib(from_deluge_kib(kib)) == kib


# ---------------------------------------------------------------------------------- both directions, and natives

directions = st.sampled_from(list(Direction))


@given(limits)
def test_qbittorrent_never_turns_a_limit_into_unlimited_in_either_direction(limit):
    # one check guards transfer/setUploadLimit and transfer/setDownloadLimit alike
    sent = QBittorrentClient._checked_limit(min(limit.bytes_per_sec, QBT_MAX))
    assert 1024 <= sent <= max(limit.bytes_per_sec, 1024)


@given(st.integers(min_value=0, max_value=QBT_MAX // 1024))
def test_qbittorrent_a_native_it_gave_is_written_back_unchanged(kib):
    assert QBittorrentClient._checked_limit(kib * 1024) == kib * 1024  # it only ever gives whole KiB


@given(directions, st.integers(min_value=0, max_value=MAX_LIMIT_BYTES // 1000), st.booleans(), real_units)
def test_transmission_a_read_limit_is_restored_to_the_same_fields_in_either_direction(direction, value, enabled, units):
    key, enabled_key = TRANSMISSION_KEYS[direction]
    value = min(value, MAX_LIMIT_BYTES // units)
    read = {key: value, enabled_key: enabled}
    native_value, native_enabled = parse_limit_fields(read, key, enabled_key)
    assert native_limit_fields({"value": native_value, "enabled": native_enabled}, key, enabled_key, units) == read


@given(directions, limits, real_units)
def test_transmission_a_meant_limit_is_switched_on_in_either_direction(direction, limit, units):
    # write_limit goes through to_transmission_units for both directions: never None (off) nor 0
    assert (to_transmission_units(limit, units) or 0) >= 1


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(min_value=-(2**60), max_value=2**60))
@example(-1.0)
@example(2.5)
def test_deluge_a_read_value_is_restored_unchanged(value):
    for key in ("max_upload_speed", "max_download_speed"):
        read = parse_kib({key: value}, key)
        restored = native_kib(read, key)
        assert restored == value and from_deluge_kib(restored) == from_deluge_kib(read)


@given(directions, st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**9))
def test_the_fake_restores_its_natives_in_both_directions(direction, users, throttle):
    fake = RecordingQBittorrent(initial_bytes_per_sec=users // 1024 * 1024,
                                  initial_download_bytes_per_sec=users // 1024 * 1024)
    control = fake.limit_control(direction)
    held = control.read_limit()
    assert held == HeldLimit(SpeedLimit.from_bytes(held.native), users // 1024 * 1024)
    control.write_limit(SpeedLimit.from_bytes(throttle))
    if throttle >= 1024:
        assert control.read_limit().limit == SpeedLimit.from_bytes(throttle)  # a meant limit stays a limit
    control.restore_limit(held.native)
    assert control.read_limit() == held


@given(st.none() | st.booleans() | st.floats() | st.text(max_size=5) | st.integers(max_value=-1))
def test_the_fake_refuses_natives_it_could_not_have_given(native: Any):
    try:
        RecordingQBittorrent().limit_control(Direction.DOWNLOAD).restore_limit(native)
    except DownloadClientError:
        pass
    else:
        raise AssertionError("restored %r" % (native,))
